#include "linkage/envelope.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/sealed_box.h"

namespace chukan::linkage {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

Envelope SampleEnvelope(const crypto::BoxKeyPair& reply) {
  Envelope e;
  e.permit_id = PermitId::Parse("00112233445566778899aabbccddeeff").value();
  e.provider = OrgCode::Parse("0000000000000002").value();
  e.inquirer = OrgCode::Parse("0000000000000001").value();
  e.sealed_at_ms = 1'790'000'000'000;
  e.sealed = crypto::Seal(reply.public_key(), crypto::AsBytes("answer: 12345")).value();
  return e;
}

TEST(EnvelopeTest, SignedEnvelopeRoundTripsAndOpensOnlyWithTheReplyKey) {
  crypto::SigningKey provider = crypto::SigningKey::Generate();
  crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();
  SignedDocument s = SignEnvelope(SampleEnvelope(reply), provider);
  ASSERT_OK_AND_ASSIGN(SignedDocument wire, ParseSignedEnvelopeJson(SignedEnvelopeJson(s)));
  ASSERT_OK_AND_ASSIGN(Envelope e, VerifyEnvelope(wire, provider.verify_key()));
  EXPECT_EQ(e.permit_id.str(), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(e.inquirer.str(), "0000000000000001");
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes plain, crypto::Open(reply, e.sealed));
  EXPECT_EQ(std::string(plain.AsStringView()), "answer: 12345");
  EXPECT_THAT(crypto::Open(crypto::BoxKeyPair::Generate(), e.sealed),
              StatusIs(StatusCode::kUnauthenticated));
  // The plaintext is not in the envelope document.
  EXPECT_EQ(wire.document.find("12345"), std::string::npos);
}

TEST(EnvelopeTest, ForgedAndTamperedEnvelopesAreRefused) {
  crypto::SigningKey provider = crypto::SigningKey::Generate();
  crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();
  SignedDocument forged = SignEnvelope(SampleEnvelope(reply), crypto::SigningKey::Generate());
  EXPECT_THAT(VerifyEnvelope(forged, provider.verify_key()),
              StatusIs(StatusCode::kUnauthenticated, "envelope: signature verification failed"));
  SignedDocument tampered = SignEnvelope(SampleEnvelope(reply), provider);
  tampered.document.replace(tampered.document.find("0000000000000001"), 16, "0000000000000009");
  EXPECT_THAT(VerifyEnvelope(tampered, provider.verify_key()),
              StatusIs(StatusCode::kUnauthenticated, "envelope: signature verification failed"));
}

TEST(EnvelopeTest, ProvisionResultCarriesBothSignedDocuments) {
  ProvisionResult r;
  r.permit = {R"({"a":1})", crypto::Bytes(64, 1)};
  r.envelope = {R"({"b":2})", crypto::Bytes(64, 2)};
  ASSERT_OK_AND_ASSIGN(ProvisionResult back, ParseProvisionResultJson(ProvisionResultJson(r)));
  EXPECT_EQ(back.permit.document, R"({"a":1})");
  EXPECT_EQ(back.envelope.signature, crypto::Bytes(64, 2));
  EXPECT_THAT(ParseProvisionResultJson(R"({"permit":"x"})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("permit_signature")));
}

}  // namespace
}  // namespace chukan::linkage
