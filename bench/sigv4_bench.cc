// SigV4 hot path: verifying (and, for the load generator, signing) an STS
// GetCallerIdentity request as the aws CLI sends it.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "rampart/crypto/digest.h"
#include "rampart/http/sigv4.h"

namespace {

using rampart::SecretBytes;
using rampart::http::Request;
namespace sigv4 = rampart::http::sigv4;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));

Request GetCallerIdentity() {
  // Built whole, not by assignment: gcc 12 at -O3 raises a false -Wrestrict
  // on short string assignments.
  return Request{
      .method = "POST",
      .target = "/",
      .headers = {{"Host", "sts.us-east-1.amazonaws.com"},
                  {"Accept-Encoding", "identity"},
                  {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"User-Agent", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.debian.12"},
                  {"Content-Length", "43"}},
      .body = "Action=GetCallerIdentity&Version=2011-06-15",
      .remote_ip = "127.0.0.1",
      .tls = true,
      .body_too_large = false,
  };
}

SecretBytes Secret() {
  return SecretBytes(std::string("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
}

// Parse + Verify, signing key cached (the steady state of a server).
void BM_SigV4Verify(benchmark::State& state) {
  Request r = GetCallerIdentity();
  const SecretBytes secret = Secret();
  sigv4::SignRequest(r, "AKIDEXAMPLE", secret, "us-east-1", "sts", kNow);
  for (auto _ : state) {
    auto auth = sigv4::Parse(r);
    if (!auth.ok()) state.SkipWithError("parse failed");
    rampart::Status st = sigv4::Verify(r, *auth, secret, kNow);
    if (!st.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(st);
  }
}
BENCHMARK(BM_SigV4Verify);

// Parse alone.
void BM_SigV4Parse(benchmark::State& state) {
  Request r = GetCallerIdentity();
  sigv4::SignRequest(r, "AKIDEXAMPLE", Secret(), "us-east-1", "sts", kNow);
  for (auto _ : state) {
    auto auth = sigv4::Parse(r);
    benchmark::DoNotOptimize(auth);
  }
}
BENCHMARK(BM_SigV4Parse);

// Verify alone, on an already parsed AuthInfo.
void BM_SigV4VerifyOnly(benchmark::State& state) {
  Request r = GetCallerIdentity();
  const SecretBytes secret = Secret();
  sigv4::SignRequest(r, "AKIDEXAMPLE", secret, "us-east-1", "sts", kNow);
  auto auth = sigv4::Parse(r);
  for (auto _ : state) {
    rampart::Status st = sigv4::Verify(r, *auth, secret, kNow);
    benchmark::DoNotOptimize(st);
  }
}
BENCHMARK(BM_SigV4VerifyOnly);

// Cycling through more secrets than the key cache holds: the signing-key
// derivation (four HMACs) runs on every call. The signature does not match
// for all but one secret; the work done is the same.
void BM_SigV4VerifyColdKey(benchmark::State& state) {
  Request r = GetCallerIdentity();
  std::vector<SecretBytes> secrets;
  for (int i = 0; i < 4096; ++i) secrets.emplace_back("secret-" + std::to_string(i));
  sigv4::SignRequest(r, "AKIDEXAMPLE", secrets[0], "us-east-1", "sts", kNow);
  auto auth = sigv4::Parse(r);
  size_t i = 0;
  for (auto _ : state) {
    rampart::Status st = sigv4::Verify(r, *auth, secrets[i++ % secrets.size()], kNow);
    benchmark::DoNotOptimize(st);
  }
}
BENCHMARK(BM_SigV4VerifyColdKey);

void BM_SigV4Sign(benchmark::State& state) {
  const Request base = GetCallerIdentity();
  const SecretBytes secret = Secret();
  for (auto _ : state) {
    Request r = base;
    sigv4::SignRequest(r, "AKIDEXAMPLE", secret, "us-east-1", "sts", kNow);
    benchmark::DoNotOptimize(r.headers.back().value.data());
  }
}
BENCHMARK(BM_SigV4Sign);

void BM_HmacSha256(benchmark::State& state) {
  const std::string key(32, 'k');
  const std::string data(130, 'd');  // about a string to sign
  for (auto _ : state) benchmark::DoNotOptimize(rampart::crypto::HmacSha256(key, data));
}
BENCHMARK(BM_HmacSha256);

void BM_Sha256(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'd');
  for (auto _ : state) benchmark::DoNotOptimize(rampart::crypto::Sha256(data));
}
BENCHMARK(BM_Sha256)->Arg(43)->Arg(400);

}  // namespace
