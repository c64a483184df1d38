#include "linkage/permit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/canary_matchers.h"
#include "common/status_matchers.h"
#include "crypto/canonical_json.h"
#include "json/json.h"

namespace chukan::linkage {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kNowMs = 1'790'000'000'000;

ProvisionPermit SamplePermit() {
  ProvisionPermit p;
  p.id = PermitId::Parse("00112233445566778899aabbccddeeff").value();
  p.issued_at_ms = kNowMs;
  p.expires_at_ms = kNowMs + 600'000;
  p.inquirer = OrgCode::Parse("0000000000000001").value();
  p.provider = OrgCode::Parse("0000000000000002").value();
  p.procedure = JtCode::Parse("JT90000000000101").value();
  p.tm = TmCode::Parse("TM00000000000002").value();
  p.layout_version = "0001";
  p.subject = SubjectCode::Parse("ffeeddccbbaa99887766554433221100").value();
  p.reply_key = crypto::Bytes(32, 7);
  p.reference = "inq-42";
  p.query = {{"IT00000200000001", "2026"}};
  return p;
}

TimePoint At(int64_t ms) { return FromUnixMicros(ms * 1000); }

TEST(PermitTest, SignedPermitRoundTripsThroughTheWire) {
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  SignedDocument signed_permit = SignPermit(SamplePermit(), hub);
  ASSERT_OK_AND_ASSIGN(SignedDocument back, ParseSignedPermitJson(SignedPermitJson(signed_permit)));
  ASSERT_OK_AND_ASSIGN(ProvisionPermit p, VerifyPermit(back, hub.verify_key(), At(kNowMs + 1)));
  EXPECT_EQ(p.id.str(), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(p.provider.str(), "0000000000000002");
  EXPECT_EQ(p.subject.str(), "ffeeddccbbaa99887766554433221100");
  EXPECT_EQ(p.reply_key, crypto::Bytes(32, 7));
  EXPECT_EQ(p.reference, "inq-42");
  EXPECT_EQ(p.layout_version, "0001");
  EXPECT_EQ(p.query, (std::map<std::string, std::string>{{"IT00000200000001", "2026"}}));
  EXPECT_THAT(CheckQuery({{"bad key", "x"}}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckQuery({{"k", std::string(65, 'x')}}),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: condition 1 in key order: the value must be at most 64 bytes of "
                       "UTF-8"));
  // The document is canonical: sorted keys, no whitespace.
  EXPECT_EQ(signed_permit.document.substr(0, 20), R"({"expires_at_ms":179)");
}

TEST(PermitTest, ReservedQueryKeysSplitOffTheItemConditions) {
  ASSERT_OK_AND_ASSIGN(QueryConditions c, SplitQuery({{"IT00000200000001", "2026"},
                                                      {"_from", "2024-04-01"},
                                                      {"_to", "2026-03-31"},
                                                      {"_fiscal_item", "IT00000200000001"},
                                                      {"_scope", "household"}}));
  EXPECT_EQ(c.items, (std::map<std::string, std::string>{{"IT00000200000001", "2026"}}));
  EXPECT_EQ(c.from->ToString(), "2024-04-01");
  EXPECT_EQ(c.to->ToString(), "2026-03-31");
  EXPECT_EQ(c.fiscal_item, "IT00000200000001");
  EXPECT_TRUE(c.household);
  ASSERT_OK_AND_ASSIGN(QueryConditions none, SplitQuery({}));
  EXPECT_FALSE(none.from.has_value());
  EXPECT_FALSE(none.household);
  EXPECT_EQ(FiscalYear(*layout::Date::Parse("2026-04-01")), 2026);
  EXPECT_EQ(FiscalYear(*layout::Date::Parse("2026-03-31")), 2025);
}

TEST(PermitTest, ReservedQueryKeysAreCheckedWithoutQuotingValues) {
  EXPECT_THAT(
      CheckQuery({{"_from", "2024-02-30"}, {"_to", "2024-03-01"}}),
      StatusIs(StatusCode::kInvalidArgument, "query: _from: expected YYYY-MM-DD, a real day"));
  EXPECT_THAT(CheckQuery({{"_from", "2024-04-01"}}),
              StatusIs(StatusCode::kInvalidArgument, "query: _from and _to are given together"));
  EXPECT_THAT(CheckQuery({{"_from", "2024-04-02"}, {"_to", "2024-04-01"}}),
              StatusIs(StatusCode::kInvalidArgument, "query: _to is before _from"));
  EXPECT_THAT(CheckQuery({{"_fiscal_item", "IT00000200000001"}}),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: _fiscal_item needs the period (_from and _to)"));
  EXPECT_THAT(
      CheckQuery(
          {{"_fiscal_item", "it0000020000000"}, {"_from", "2024-04-01"}, {"_to", "2024-04-01"}}),
      StatusIs(StatusCode::kInvalidArgument,
               "query: _fiscal_item: expected an item code (16 of A-Z, 0-9)"));
  EXPECT_THAT(CheckQuery({{"_scope", "everyone"}}),
              StatusIs(StatusCode::kInvalidArgument, "query: _scope: expected \"household\""));
  EXPECT_THAT(CheckQuery({{"IT00000200000001", "2026"}, {"_secret", "x"}}),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: condition 2 in key order: not a reserved key (_from, _to, "
                       "_fiscal_item, _scope)"));
  // A permit with reserved keys round-trips like any other.
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  ProvisionPermit p = SamplePermit();
  p.query = {{"_from", "2025-01-01"}, {"_scope", "household"}, {"_to", "2025-12-31"}};
  ASSERT_OK_AND_ASSIGN(ProvisionPermit back,
                       VerifyPermit(SignPermit(p, hub), hub.verify_key(), At(kNowMs + 1)));
  EXPECT_EQ(back.query, p.query);
}

// Query keys are the client's text until they are checked against the layout (a name may be
// sent where an item code belongs): conditions are named by position, never by key or value.
TEST(PermitTest, QueryErrorsNeverEchoKeysOrValues) {
  const std::string name(chukan::testing::kCanaryName);
  const std::string number(chukan::testing::kCanaryAtenaNo);
  std::vector<Status> errors;
  // Sorted: "123…", "CANARY", "IT00000200000001".
  errors.push_back(CheckQuery({{"IT00000200000001", "2026"},
                               {"CANARY", number + number + number + number + number},
                               {number, "1"}}));
  EXPECT_THAT(errors.back(),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: condition 2 in key order: the value must be at most 64 bytes of "
                       "UTF-8"));
  errors.push_back(CheckQuery({{"IT00000200000001", "2026"}, {name, number}}));
  EXPECT_THAT(errors.back(), StatusIs(StatusCode::kInvalidArgument,
                                      "query: condition 1 in key order: keys are 1 to 32 of "
                                      "A-Z, a-z, 0-9, '_'"));
  errors.push_back(CheckQuery({{"CANARY", "\xE5" + name}}));
  EXPECT_THAT(errors.back(), StatusIs(StatusCode::kInvalidArgument,
                                      HasSubstr("query: condition 1 in key order: ")));

  auto parse = [](const std::string& query) {
    Result<json::JsonObject> o = json::ParseJsonObject(R"({"query":)" + query + "}");
    EXPECT_OK(o.status());
    return ParseQuery(*o).status();
  };
  errors.push_back(parse(R"({"CANARY":1,"IT00000200000001":"2026"})"));
  EXPECT_THAT(errors.back(),
              StatusIs(StatusCode::kInvalidArgument,
                       "field \"query\": condition 1 in key order: the value must be a string of "
                       "at most 64 bytes"));
  errors.push_back(parse(R"({"A":"1","CANARY_)" + number + R"(":")" + number + number + number +
                         number + number + R"("})"));
  EXPECT_THAT(errors.back(),
              StatusIs(StatusCode::kInvalidArgument,
                       "field \"query\": condition 2 in key order: the value must be a string of "
                       "at most 64 bytes"));
  errors.push_back(parse("{\"" + name + "\":\"" + name + "\"}"));
  EXPECT_THAT(errors.back(), StatusIs(StatusCode::kInvalidArgument,
                                      "query: condition 1 in key order: keys are 1 to 32 of "
                                      "A-Z, a-z, 0-9, '_'"));
  for (const Status& s : errors) EXPECT_THAT(s.message(), chukan::testing::EchoesNoCanary());
}

TEST(PermitTest, ForgedTamperedExpiredAndFuturePermitsAreRefused) {
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  crypto::SigningKey forger = crypto::SigningKey::Generate();
  // Forged: signed by another key.
  EXPECT_THAT(VerifyPermit(SignPermit(SamplePermit(), forger), hub.verify_key(), At(kNowMs)),
              StatusIs(StatusCode::kUnauthenticated, "permit: signature verification failed"));
  // Tampered: the provider-side code changed after signing (still canonical).
  SignedDocument tampered = SignPermit(SamplePermit(), hub);
  const size_t at = tampered.document.find("ffeeddcc");
  ASSERT_NE(at, std::string::npos);
  tampered.document[at] = '0';
  EXPECT_THAT(VerifyPermit(tampered, hub.verify_key(), At(kNowMs)),
              StatusIs(StatusCode::kUnauthenticated, "permit: signature verification failed"));
  // Reformatted: a signature covers the canonical bytes only.
  SignedDocument spaced = SignPermit(SamplePermit(), hub);
  spaced.document.insert(1, " ");
  EXPECT_THAT(VerifyPermit(spaced, hub.verify_key(), At(kNowMs)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not in canonical form")));
  // Expired: at expires_at_ms it is no longer valid.
  SignedDocument ok = SignPermit(SamplePermit(), hub);
  EXPECT_OK(VerifyPermit(ok, hub.verify_key(), At(kNowMs + 599'999)).status());
  EXPECT_THAT(VerifyPermit(ok, hub.verify_key(), At(kNowMs + 600'000)),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("permit 00112233445566778899aabbccddeeff: expired at")));
  // Issued in the future beyond the tolerated skew.
  EXPECT_THAT(VerifyPermit(ok, hub.verify_key(), At(kNowMs - kMaxClockSkewMs - 1)),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("issued in the future")));
}

// VerifyParsedPermit (for a receiver that parsed the document first, to see its addressee)
// refuses exactly what VerifyPermit refuses, with the same errors.
TEST(PermitTest, AParsedPermitIsVerifiedAsTheSameDocumentWouldBe) {
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  crypto::SigningKey forger = crypto::SigningKey::Generate();
  SignedDocument tampered = SignPermit(SamplePermit(), hub);
  tampered.document[tampered.document.find("ffeeddcc")] = '0';
  SignedDocument spaced = SignPermit(SamplePermit(), hub);
  spaced.document.insert(1, " ");
  const SignedDocument ok = SignPermit(SamplePermit(), hub);
  const struct {
    SignedDocument doc;
    int64_t at_ms;
  } cases[] = {{SignPermit(SamplePermit(), forger), kNowMs},
               {tampered, kNowMs},
               {spaced, kNowMs},
               {ok, kNowMs + 599'999},
               {ok, kNowMs + 600'000},
               {ok, kNowMs - kMaxClockSkewMs - 1}};
  for (const auto& c : cases) {
    ASSERT_OK_AND_ASSIGN(ProvisionPermit parsed, ParsePermitDocument(c.doc.document));
    const Result<ProvisionPermit> whole = VerifyPermit(c.doc, hub.verify_key(), At(c.at_ms));
    const Result<ProvisionPermit> split =
        VerifyParsedPermit(c.doc, parsed, hub.verify_key(), At(c.at_ms));
    EXPECT_EQ(split.status().code(), whole.status().code()) << c.doc.document;
    EXPECT_EQ(split.status().message(), whole.status().message());
    if (whole.ok()) {
      EXPECT_EQ(split->id, whole->id);
    }
  }
  EXPECT_THAT(VerifyParsedPermit(tampered, ParsePermitDocument(tampered.document).value(),
                                 hub.verify_key(), At(kNowMs)),
              StatusIs(StatusCode::kUnauthenticated, "permit: signature verification failed"));
}

TEST(PermitTest, DocumentsWithBadOrUnknownFieldsAreRefused) {
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  auto sign_text = [&](std::string text) { return SignDocument(text, hub).value(); };
  std::string doc = PermitDocument(SamplePermit());
  // An extra field, validly signed, is still refused.
  std::string extra = doc;
  extra.insert(1, R"("admin":true,)");
  EXPECT_THAT(VerifyPermit(sign_text(extra), hub.verify_key(), At(kNowMs)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unknown field #1 in key order")));
  std::string bad_tm = doc;
  bad_tm.replace(bad_tm.find("TM00000000000002"), 16, "TM0000000000000X");
  EXPECT_THAT(VerifyPermit(sign_text(bad_tm), hub.verify_key(), At(kNowMs)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("field \"tm\"")));
  EXPECT_THAT(CheckReference("has space"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSignedPermitJson(R"({"permit":"{}","signature":"***"})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("signature")));
}

// 照会側不開示 and the 委任元 codes are optional fields: a permit without them is, byte for byte,
// the document the format always had (older permits stay verifiable), and one with them carries
// them through signing and parsing.
TEST(PermitTest, NonDisclosureAndDelegatorsAreOptionalAndCarried) {
  EXPECT_EQ(PermitDocument(SamplePermit()),
            R"({"expires_at_ms":1790000600000,"format":"chukan-permit/1",)"
            R"("inquirer":"0000000000000001","issued_at_ms":1790000000000,)"
            R"("layout_version":"0001","permit_id":"00112233445566778899aabbccddeeff",)"
            R"("procedure":"JT90000000000101","provider":"0000000000000002",)"
            R"("query":{"IT00000200000001":"2026"},"reference":"inq-42",)"
            R"("reply_key":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",)"
            R"("subject_code":"ffeeddccbbaa99887766554433221100","tm":"TM00000000000002"})");
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  ProvisionPermit with = SamplePermit();
  with.non_disclosure = true;
  with.inquirer_delegator = OrgCode::Parse("0000000000000043").value();
  with.provider_delegator = OrgCode::Parse("0000000000000044").value();
  const SignedDocument signed_permit = SignPermit(with, hub);
  EXPECT_THAT(signed_permit.document,
              HasSubstr(R"("inquirer_delegator":"0000000000000043","issued_at_ms")"));
  EXPECT_THAT(signed_permit.document, HasSubstr(R"("non_disclosure":true,)"));
  ASSERT_OK_AND_ASSIGN(ProvisionPermit p,
                       VerifyPermit(signed_permit, hub.verify_key(), At(kNowMs)));
  EXPECT_TRUE(p.non_disclosure);
  EXPECT_EQ(p.inquirer_delegator, with.inquirer_delegator);
  EXPECT_EQ(p.provider_delegator, with.provider_delegator);
  EXPECT_EQ(p.legal_inquirer().str(), "0000000000000043");
  EXPECT_EQ(p.legal_provider().str(), "0000000000000044");
  ASSERT_OK_AND_ASSIGN(ProvisionPermit plain,
                       VerifyPermit(SignPermit(SamplePermit(), hub), hub.verify_key(), At(kNowMs)));
  EXPECT_FALSE(plain.non_disclosure);
  EXPECT_EQ(plain.inquirer_delegator, std::nullopt);
  EXPECT_EQ(plain.legal_inquirer().str(), "0000000000000001");
  EXPECT_EQ(plain.legal_provider().str(), "0000000000000002");

  // false is written by leaving the field out; a bad code is named by its field, not quoted.
  auto sign_text = [&](std::string text) { return SignDocument(text, hub).value(); };
  std::string doc = PermitDocument(SamplePermit());
  std::string explicit_false = doc;
  explicit_false.insert(explicit_false.find(R"("permit_id")"), R"("non_disclosure":false,)");
  EXPECT_THAT(VerifyPermit(sign_text(explicit_false), hub.verify_key(), At(kNowMs)),
              StatusIs(StatusCode::kInvalidArgument,
                       "permit: field \"non_disclosure\": present only when true"));
  std::string bad_delegator = doc;
  bad_delegator.insert(bad_delegator.find(R"("issued_at_ms")"), R"("inquirer_delegator":"98765",)");
  Result<ProvisionPermit> bad =
      VerifyPermit(sign_text(bad_delegator), hub.verify_key(), At(kNowMs));
  EXPECT_THAT(bad,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("field \"inquirer_delegator\"")));
  EXPECT_THAT(bad.status().message(), ::testing::Not(HasSubstr("98765")));
}

TEST(PermitTest, WrongProviderAndReplayedPermitsAreRefused) {
  ProvisionPermit p = SamplePermit();
  EXPECT_OK(CheckAddressedTo(p, OrgCode::Parse("0000000000000002").value()));
  EXPECT_THAT(CheckAddressedTo(p, OrgCode::Parse("0000000000000003").value()),
              StatusIs(StatusCode::kPermissionDenied,
                       "permit 00112233445566778899aabbccddeeff: addressed to 0000000000000002, "
                       "not 0000000000000003"));
  PermitLedger ledger;
  EXPECT_OK(ledger.Use(p, At(kNowMs)));
  EXPECT_THAT(ledger.Use(p, At(kNowMs + 1)),
              StatusIs(StatusCode::kAlreadyExists,
                       "permit 00112233445566778899aabbccddeeff: already used"));
  ProvisionPermit other = SamplePermit();
  other.id = PermitId::Generate();
  EXPECT_OK(ledger.Use(other, At(kNowMs)));
  EXPECT_EQ(ledger.size(), 2u);
}

}  // namespace
}  // namespace chukan::linkage
