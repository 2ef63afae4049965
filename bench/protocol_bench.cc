// Protocol hot paths: decode+validate of a KMS Encrypt request (a short
// and a 256-byte plaintext), encoding of a KMS Encrypt and an STS
// GetCallerIdentity response, json::Parse/Write of a 1 KB document.
#include <benchmark/benchmark.h>

#include <string>

#include "rampart/core/encoding.h"
#include "rampart/core/json.h"
#include "rampart/protocol/protocol.h"

namespace {

using namespace rampart;

http::Request EncryptRequest() {
  http::Request r;
  r.method = std::string("POST");
  r.target = std::string("/");  // a literal here trips gcc 12 -Wrestrict (false positive)
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"X-Amz-Target", "TrentService.Encrypt"}};
  r.body =
      R"({"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",)"
      R"("Plaintext":"SGVsbG8sIHdvcmxkISBIZWxsbywgd29ybGQh","EncryptionContext":{"purpose":"bench",)"
      R"("team":"security"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})";
  return r;
}

void BM_DecodeKmsEncrypt(benchmark::State& state) {
  const protocol::ServiceModel& kms = *protocol::FindService("kms");
  http::Request request = EncryptRequest();
  for (auto _ : state) {
    auto decoded = protocol::Decode(kms, request);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK(BM_DecodeKmsEncrypt);

// The request bench/kms_load.sh sends: 256 bytes of plaintext, base64.
void BM_DecodeKmsEncrypt256(benchmark::State& state) {
  const protocol::ServiceModel& kms = *protocol::FindService("kms");
  http::Request request = EncryptRequest();
  request.body = R"({"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":")" +
                 Base64Encode(std::string(256, '\x5a')) + R"("})";
  for (auto _ : state) {
    auto decoded = protocol::Decode(kms, request);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK(BM_DecodeKmsEncrypt256);

// An Encrypt response: a ciphertext blob of a 256-byte plaintext (written
// as base64), the key ARN and the algorithm.
void BM_EncodeKmsEncrypt(benchmark::State& state) {
  const protocol::ServiceModel& kms = *protocol::FindService("kms");
  const protocol::OperationModel& op = *protocol::FindOperation(kms, "Encrypt");
  json::Value out = json::Value::MakeObject();
  std::string blob(340, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 37);
  out.set("CiphertextBlob", blob);
  out.set("KeyId", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
  out.set("EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
  for (auto _ : state) {
    http::Response response;
    protocol::EncodeOutput(kms, op, out, "c0ffee00-0000-4000-8000-000000000000", response);
    benchmark::DoNotOptimize(response.body.data());
  }
}
BENCHMARK(BM_EncodeKmsEncrypt);

void BM_EncodeGetCallerIdentity(benchmark::State& state) {
  const protocol::ServiceModel& sts = *protocol::FindService("sts");
  const protocol::OperationModel& op = *protocol::FindOperation(sts, "GetCallerIdentity");
  json::Value out = json::Value::MakeObject();
  out.set("UserId", "AIDAEXAMPLEUSERID");
  out.set("Account", "123456789012");
  out.set("Arn", "arn:aws:iam::123456789012:user/alice");
  for (auto _ : state) {
    http::Response response;
    protocol::EncodeOutput(sts, op, out, "c0ffee00-0000-4000-8000-000000000000", response);
    benchmark::DoNotOptimize(response.body.data());
  }
}
BENCHMARK(BM_EncodeGetCallerIdentity);

std::string OneKilobyteDocument() {
  std::string doc = R"({"Findings":[)";
  for (int i = 0; doc.size() < 1000; ++i) {
    if (i > 0) doc += ',';
    doc += R"({"Id":"finding-)" + std::to_string(i) +
           R"(","Severity":{"Label":"HIGH","Normalized":70},"Count":)" + std::to_string(i) +
           R"(,"Resolved":false})";
  }
  doc += "]}";
  return doc;
}

void BM_JsonParse1K(benchmark::State& state) {
  std::string doc = OneKilobyteDocument();
  for (auto _ : state) {
    auto v = json::Parse(doc);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * doc.size()));
}
BENCHMARK(BM_JsonParse1K);

void BM_JsonWrite1K(benchmark::State& state) {
  std::string doc = OneKilobyteDocument();
  json::Value v = std::move(json::Parse(doc).value());
  for (auto _ : state) {
    std::string out;
    json::Write(v, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * doc.size()));
}
BENCHMARK(BM_JsonWrite1K);

}  // namespace
