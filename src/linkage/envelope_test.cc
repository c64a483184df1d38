#include "linkage/envelope.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/hash.h"
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

TEST(EnvelopeTest, KeyIdIsTheSha256PrefixOfThePublicKey) {
  ASSERT_OK_AND_ASSIGN(crypto::Bytes seed, crypto::FromHex(std::string(64, '0')));
  ASSERT_OK_AND_ASSIGN(crypto::SigningKey k,
                       crypto::SigningKey::FromSeed(crypto::SecretBytes::FromBytes(seed)));
  // RFC 8032 key of the all-zero seed starts 3b6a27bc.
  EXPECT_EQ(crypto::ToHex(k.verify_key().bytes()).substr(0, 8), "3b6a27bc");
  EXPECT_EQ(KeyIdOf(k.verify_key()),
            crypto::ToHex(crypto::Sha256(k.verify_key().bytes())).substr(0, 16));
  EXPECT_TRUE(IsKeyId(KeyIdOf(k.verify_key())));
  EXPECT_FALSE(IsKeyId("0123456789ABCDEF"));
  EXPECT_FALSE(IsKeyId("0123456789abcde"));
}

TEST(EnvelopeTest, AKeyIdChoosesTheKeyAndAnEnvelopeWithoutOneTriesEach) {
  crypto::SigningKey old_key = crypto::SigningKey::Generate();
  crypto::SigningKey new_key = crypto::SigningKey::Generate();
  const std::vector<OrgVerifyKey> both = {{KeyIdOf(new_key.verify_key()), new_key.verify_key()},
                                          {KeyIdOf(old_key.verify_key()), old_key.verify_key()}};
  crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();
  Envelope e = SampleEnvelope(reply);
  // Made before key ids: no "kid" field, byte for byte the old document; still verifies.
  SignedDocument legacy = SignEnvelope(e, old_key);
  EXPECT_EQ(legacy.document.find("kid"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::string kid, EnvelopeKeyId(legacy));
  EXPECT_EQ(kid, "");
  ASSERT_OK_AND_ASSIGN(Envelope parsed, VerifyEnvelopeWithKeys(legacy, both));
  EXPECT_EQ(parsed.kid, "");
  // With a kid: that key only.
  e.kid = KeyIdOf(old_key.verify_key());
  SignedDocument named = SignEnvelope(e, old_key);
  ASSERT_OK_AND_ASSIGN(kid, EnvelopeKeyId(named));
  EXPECT_EQ(kid, e.kid);
  ASSERT_OK_AND_ASSIGN(parsed, VerifyEnvelopeWithKeys(named, both));
  EXPECT_EQ(parsed.kid, e.kid);
  // The old key no longer accepted: refused by its id, without trying the other key.
  EXPECT_THAT(VerifyEnvelopeWithKeys(named, {both[0]}),
              StatusIs(StatusCode::kUnauthenticated,
                       "envelope: signed with key " + e.kid + ", which is not accepted"));
  EXPECT_THAT(VerifyEnvelopeWithKeys(legacy, {both[0]}),
              StatusIs(StatusCode::kUnauthenticated, "envelope: signature verification failed"));
  EXPECT_THAT(VerifyEnvelopeWithKeys(legacy, {}), StatusIs(StatusCode::kUnauthenticated));
  // A kid naming the new key on a document the old key signed: the named key's verdict.
  e.kid = KeyIdOf(new_key.verify_key());
  EXPECT_THAT(VerifyEnvelopeWithKeys(SignEnvelope(e, old_key), both),
              StatusIs(StatusCode::kUnauthenticated, "envelope: signature verification failed"));
  // A malformed kid is refused when read and when parsed.
  e.kid = "XYZ";
  SignedDocument bad = SignEnvelope(e, old_key);
  EXPECT_THAT(EnvelopeKeyId(bad), StatusIs(StatusCode::kInvalidArgument, HasSubstr("kid")));
  EXPECT_THAT(VerifyEnvelope(bad, old_key.verify_key()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"kid\"")));
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
