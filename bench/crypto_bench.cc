// Benchmarks of chukan_crypto's primitives. Compare with `openssl speed` (see
// docs/performance.md): the figures here include chukan's wrappers (length checks, allocation of
// the output, SecretBytes locking), which is what callers pay.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>  // baseline only: a plain parse + dump of the same document
#include <string>

#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/canonical_json.h"
#include "crypto/ed25519.h"
#include "crypto/hash.h"
#include "crypto/password.h"
#include "crypto/sealed_box.h"
#include "crypto/secret_bytes.h"
#include "json/json.h"

namespace chukan::crypto {
namespace {

template <typename T>
T Unwrap(Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "bench setup failed: %s\n", r.status().ToString().c_str());
    std::abort();
  }
  return std::move(r).value();
}

void BM_Ed25519Sign(benchmark::State& state) {
  const SigningKey key = SigningKey::Generate();
  const Bytes msg = RandomBytes(64);
  for (auto _ : state) benchmark::DoNotOptimize(key.Sign(msg));
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  const SigningKey key = SigningKey::Generate();
  const Bytes msg = RandomBytes(64);
  const Bytes sig = key.Sign(msg);
  for (auto _ : state) {
    if (!key.verify_key().Verify(msg, sig).ok()) state.SkipWithError("verify failed");
  }
}
BENCHMARK(BM_Ed25519Verify);

void BM_SealedBoxSealOpen(benchmark::State& state) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const Bytes plaintext = RandomBytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    const Bytes sealed = Unwrap(Seal(recipient.public_key(), plaintext));
    benchmark::DoNotOptimize(Unwrap(Open(recipient, sealed)));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SealedBoxSealOpen)->Arg(1024);

void BM_AeadEncrypt(benchmark::State& state) {
  const SecretBytes key = SecretBytes::Random(kAeadKeyBytes);
  const Bytes plaintext = RandomBytes(static_cast<size_t>(state.range(0)));
  const Bytes ad = ToBytes("tenant=t0000000000000001|table=replica|row=42");
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(Encrypt(key, plaintext, ad)));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AeadEncrypt)->Arg(1024)->Arg(64 * 1024);

void BM_AeadDecrypt(benchmark::State& state) {
  const SecretBytes key = SecretBytes::Random(kAeadKeyBytes);
  const Bytes ad = ToBytes("tenant=t0000000000000001|table=replica|row=42");
  const Bytes sealed = Unwrap(Encrypt(key, RandomBytes(static_cast<size_t>(state.range(0))), ad));
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(Decrypt(key, sealed, ad)));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AeadDecrypt)->Arg(1024)->Arg(64 * 1024);

void BM_Blake2b(benchmark::State& state) {
  const Bytes data = RandomBytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(Blake2b(data, 64));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Blake2b)->Arg(1024)->Arg(64 * 1024);

void BM_Argon2idInteractive(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(HashPassword("correct horse battery")));
}
BENCHMARK(BM_Argon2idInteractive)->Unit(benchmark::kMillisecond)->MinTime(3.0);

// A provision permit as the hub issues it (about 600 bytes, pretty-printed, keys unsorted).
constexpr char kPermit[] = R"({
  "type": "chukan.permit.v1",
  "permit_id": "P-2026-000000123",
  "issued_at": "2026-11-26T15:00:00.000000Z",
  "expires_at": "2026-11-26T15:05:00.000000Z",
  "inquirer": {"org_code": "1234567890123456", "ref": "照会-0042"},
  "provider": {"org_code": "6543210987654321"},
  "procedure": "JT00000000000012",
  "affair": "JM00000000000003",
  "tm": {"code": "TM00000000000002", "version": 3},
  "subject_code": "c3ViamVjdC1jb2RlLWZvci1wcm92aWRlci0wMDAwMDAwMQ",
  "reply_key": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80",
  "query": {"fiscal_year_kind": "1", "condition_kind": "2", "fiscal_year": 2026},
  "delegating_org": null,
  "automatic": true,
  "nonce": "Xk3kqZ8f0VfY1uQp2mJ3aA"
})";

void BM_CanonicalizePermit(benchmark::State& state) {
  const std::string text = kPermit;
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(CanonicalizeJson(text)));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
  state.counters["input_bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_CanonicalizePermit);

// Baseline for the above: nlohmann's own DOM parse and compact dump (no duplicate-key check, no
// UTF-8-order sort guarantee, no limits) of the same text.
void BM_BaselineNlohmannParseDumpPermit(benchmark::State& state) {
  const std::string text = kPermit;
  for (auto _ : state) {
    benchmark::DoNotOptimize(nlohmann::json::parse(text, nullptr, false).dump());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_BaselineNlohmannParseDumpPermit);

// The same through nlohmann's parser alone, as CanonicalizeJson ran before its fast reader
// (json/sax_reader.h): the two side by side in one run.
void BM_CanonicalizePermitNlohmannOnly(benchmark::State& state) {
  const std::string text = kPermit;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Unwrap(internal::CanonicalizeJsonWithNlohmann(text)));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_CanonicalizePermitNlohmannOnly);

// A signed envelope's shape: a few short fields and the sealed answer, base64url (here 3 KB,
// an answer of about 2 KB).
std::string EnvelopeText() {
  std::string sealed;
  for (int i = 0; i < 3000; ++i) {
    sealed.push_back(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i * 7 % 64]);
  }
  return R"({"type":"chukan.envelope.v1","permit_id":"P-2026-000000123",)"
         R"("provider":"6543210987654321","issued_at":"2026-11-26T15:00:01.000000Z",)"
         R"("sealed":")" +
         sealed + R"(","status":"answered","layout_version":"0001"})";
}

void BM_CanonicalizeEnvelope(benchmark::State& state) {
  const std::string text = EnvelopeText();
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(CanonicalizeJson(text)));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_CanonicalizeEnvelope);

void BM_CanonicalizeEnvelopeNlohmannOnly(benchmark::State& state) {
  const std::string text = EnvelopeText();
  for (auto _ : state) {
    benchmark::DoNotOptimize(Unwrap(internal::CanonicalizeJsonWithNlohmann(text)));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_CanonicalizeEnvelopeNlohmannOnly);

// ParseJsonObject (every request body and signed document is read by it), with its fast reader
// and through nlohmann alone.
void BM_ParseJsonObjectEnvelope(benchmark::State& state) {
  const std::string text = EnvelopeText();
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(json::ParseJsonObject(text)));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ParseJsonObjectEnvelope);

void BM_ParseJsonObjectEnvelopeNlohmannOnly(benchmark::State& state) {
  const std::string text = EnvelopeText();
  for (auto _ : state) {
    benchmark::DoNotOptimize(Unwrap(json::internal::ParseJsonObjectWithNlohmann(text, {})));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ParseJsonObjectEnvelopeNlohmannOnly);

void BM_ParseJsonObjectPermit(benchmark::State& state) {
  const std::string text = kPermit;
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(json::ParseJsonObject(text)));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ParseJsonObjectPermit);

void BM_ParseJsonObjectPermitNlohmannOnly(benchmark::State& state) {
  const std::string text = kPermit;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Unwrap(json::internal::ParseJsonObjectWithNlohmann(text, {})));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ParseJsonObjectPermitNlohmannOnly);

void BM_SignCanonicalPermit(benchmark::State& state) {
  const SigningKey key = SigningKey::Generate();
  const std::string text = kPermit;
  for (auto _ : state) benchmark::DoNotOptimize(Unwrap(SignCanonical(key, text)));
}
BENCHMARK(BM_SignCanonicalPermit);

}  // namespace
}  // namespace chukan::crypto

BENCHMARK_MAIN();
