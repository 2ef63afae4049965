// KMS operations through the service handler in process (registry lookup,
// key cache, key-policy evaluation through the real policy engine, the
// cryptography, JSON in and out), each next to the raw OpenSSL operation it
// wraps, measured in the same run. No HTTP, SigV4 or audit: see
// bench/kms_load.sh for the whole server. Needs rampart_kms.
//
//   ninja -C build-x kms_bench && build-x/kms_bench --benchmark_min_time=1s
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "rampart/core/arn.h"
#include "rampart/core/check.h"
#include "rampart/core/clock.h"
#include "rampart/crypto/pkey.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/iam/iam_service.h"
#include "rampart/kms/kms_service.h"
#include "rampart/server/config.h"
#include "rampart/server/identity.h"

namespace {

using namespace rampart;

json::Value Obj(std::initializer_list<std::pair<std::string_view, json::Value>> members) {
  json::Value v = json::Value::MakeObject();
  for (const auto& [k, m] : members) v.set(k, m);
  return v;
}

// A KMS service over a fresh SQLite database, called as the account root.
class Fixture {
 public:
  Fixture() {
    dir_ = std::filesystem::temp_directory_path() / ("rampart_kms_bench_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto db = store::OpenSqlite({.path = (dir_ / "db.sqlite").string()});
    RAMPART_CHECK(db.ok());
    db_ = std::move(db).value();
    RAMPART_CHECK(server::CredentialStore::Migrate(*db_).ok());
    RAMPART_CHECK(iam::IamService::Migrate(*db_).ok());
    RAMPART_CHECK(kms::KmsService::Migrate(*db_).ok());
    authorizer_ = std::make_unique<iam::EngineAuthorizer>(*db_, cache_);
    service_ = std::make_unique<kms::KmsService>(*db_, root_key_, *authorizer_);
    service_->Register(registry_);
    root_.account_id = "111122223333";
    root_.arn = RootArn(root_.account_id);
    root_.type = "Root";
    root_.principal_id = root_.account_id;
  }
  ~Fixture() { std::filesystem::remove_all(dir_); }

  json::Value Call(std::string_view op, const json::Value& in) {
    const server::OperationHandler* h = registry_.Find("kms", op);
    RAMPART_CHECK(h != nullptr);
    server::RequestContext ctx({&root_, "kms", op, "us-east-1", "req", "127.0.0.1", "bench", true,
                                clock_.Now(), &config_, db_.get(), authorizer_.get(), &clock_});
    auto r = (*h)(ctx, in);
    RAMPART_CHECK(r.ok());
    return std::move(r).value();
  }

  std::string NewKey(std::string_view spec, std::string_view usage) {
    json::Value out = Call("CreateKey", Obj({{"KeySpec", spec}, {"KeyUsage", usage}}));
    return std::string(out.find("KeyMetadata")->get_string("KeyId"));
  }

 private:
  std::filesystem::path dir_;
  SecretBytes root_key_{std::string(32, 'k')};
  std::unique_ptr<store::Database> db_;
  iam::PolicyCache cache_;
  std::unique_ptr<iam::EngineAuthorizer> authorizer_;
  std::unique_ptr<kms::KmsService> service_;
  server::Registry registry_;
  server::Config config_;
  SystemClock clock_;
  server::Principal root_;
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

const std::string& SymmetricKey() {
  static const std::string k = F().NewKey("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
  return k;
}

const std::string kPlain256(256, 'p');

// --- through the handler ---

void BM_Kms_Encrypt256(benchmark::State& state) {
  json::Value in = Obj({{"KeyId", SymmetricKey()}, {"Plaintext", kPlain256}});
  for (auto _ : state) benchmark::DoNotOptimize(F().Call("Encrypt", in));
}
BENCHMARK(BM_Kms_Encrypt256);

void BM_Kms_Decrypt256(benchmark::State& state) {
  json::Value enc = F().Call("Encrypt", Obj({{"KeyId", SymmetricKey()}, {"Plaintext", kPlain256}}));
  json::Value in = Obj({{"CiphertextBlob", enc.get_string("CiphertextBlob")}});
  for (auto _ : state) benchmark::DoNotOptimize(F().Call("Decrypt", in));
}
BENCHMARK(BM_Kms_Decrypt256);

void BM_Kms_GenerateDataKey(benchmark::State& state) {
  json::Value in = Obj({{"KeyId", SymmetricKey()}, {"KeySpec", "AES_256"}});
  for (auto _ : state) benchmark::DoNotOptimize(F().Call("GenerateDataKey", in));
}
BENCHMARK(BM_Kms_GenerateDataKey);

void SignThroughKms(benchmark::State& state, std::string_view spec, std::string_view algorithm) {
  std::string key = F().NewKey(spec, "SIGN_VERIFY");
  json::Value in = Obj({{"KeyId", key}, {"Message", std::string(256, 'm')},
                        {"SigningAlgorithm", algorithm}});
  for (auto _ : state) benchmark::DoNotOptimize(F().Call("Sign", in));
}
void BM_Kms_SignP256(benchmark::State& state) {
  SignThroughKms(state, "ECC_NIST_P256", "ECDSA_SHA_256");
}
BENCHMARK(BM_Kms_SignP256);
void BM_Kms_SignRsa2048(benchmark::State& state) {
  SignThroughKms(state, "RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256");
}
BENCHMARK(BM_Kms_SignRsa2048);

// --- raw OpenSSL ---

// AES-256-GCM with a random 12-byte nonce and 16-byte tag, as KMS uses.
void GcmSeal(const unsigned char* key, const std::string& plain, std::string& out) {
  unsigned char iv[12];
  RAMPART_CHECK(RAND_bytes(iv, sizeof iv) == 1);
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  out.resize(plain.size() + 28);
  int n = 0;
  int tail = 0;
  RAMPART_CHECK(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, iv) == 1);
  RAMPART_CHECK(EVP_EncryptUpdate(c, reinterpret_cast<unsigned char*>(out.data()) + 12, &n,
                                  reinterpret_cast<const unsigned char*>(plain.data()),
                                  static_cast<int>(plain.size())) == 1);
  RAMPART_CHECK(EVP_EncryptFinal_ex(c, reinterpret_cast<unsigned char*>(out.data()) + 12 + n,
                                    &tail) == 1);
  RAMPART_CHECK(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16,
                                    out.data() + 12 + plain.size()) == 1);
  std::copy(iv, iv + 12, out.begin());
  EVP_CIPHER_CTX_free(c);
}

bool GcmOpen(const unsigned char* key, const std::string& sealed, std::string& out) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  size_t len = sealed.size() - 28;
  out.resize(len);
  int n = 0;
  int tail = 0;
  auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  RAMPART_CHECK(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, in) == 1);
  RAMPART_CHECK(EVP_DecryptUpdate(c, reinterpret_cast<unsigned char*>(out.data()), &n, in + 12,
                                  static_cast<int>(len)) == 1);
  RAMPART_CHECK(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
                                    const_cast<unsigned char*>(in + 12 + len)) == 1);
  bool ok = EVP_DecryptFinal_ex(c, reinterpret_cast<unsigned char*>(out.data()) + n, &tail) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok;
}

const unsigned char kAesKey[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

void BM_OpenSsl_AesGcmSeal256(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    GcmSeal(kAesKey, kPlain256, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_OpenSsl_AesGcmSeal256);

void BM_OpenSsl_AesGcmOpen256(benchmark::State& state) {
  std::string sealed;
  GcmSeal(kAesKey, kPlain256, sealed);
  std::string out;
  for (auto _ : state) benchmark::DoNotOptimize(GcmOpen(kAesKey, sealed, out));
}
BENCHMARK(BM_OpenSsl_AesGcmOpen256);

// A data key: 32 random bytes, sealed.
void BM_OpenSsl_RandomAndSeal32(benchmark::State& state) {
  std::string data_key(32, '\0');
  std::string out;
  for (auto _ : state) {
    RAMPART_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(data_key.data()), 32) == 1);
    GcmSeal(kAesKey, data_key, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_OpenSsl_RandomAndSeal32);

// SHA-256 of the message and the signature, through EVP_DigestSign.
void SignRaw(benchmark::State& state, EVP_PKEY* pkey, bool rsa) {
  std::string msg(256, 'm');
  unsigned char sig[512];
  for (auto _ : state) {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    RAMPART_CHECK(EVP_DigestSignInit(md, &pctx, EVP_sha256(), nullptr, pkey) == 1);
    if (rsa) RAMPART_CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1);
    size_t n = sizeof sig;
    RAMPART_CHECK(EVP_DigestSign(md, sig, &n, reinterpret_cast<const unsigned char*>(msg.data()),
                                 msg.size()) == 1);
    benchmark::DoNotOptimize(n);
    EVP_MD_CTX_free(md);
  }
}

EVP_PKEY* Generate(const char* type, const char* param, unsigned int bits) {
  EVP_PKEY* pkey = nullptr;
  if (param != nullptr) {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, type, param);
  } else {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, type, static_cast<size_t>(bits));
  }
  RAMPART_CHECK(pkey != nullptr);
  return pkey;
}

void BM_OpenSsl_SignP256(benchmark::State& state) {
  static EVP_PKEY* key = Generate("EC", "P-256", 0);
  SignRaw(state, key, false);
}
BENCHMARK(BM_OpenSsl_SignP256);

void BM_OpenSsl_SignRsa2048(benchmark::State& state) {
  static EVP_PKEY* key = Generate("RSA", nullptr, 2048);
  SignRaw(state, key, true);
}
BENCHMARK(BM_OpenSsl_SignRsa2048);

// What `openssl speed ecdsap256` / `rsa2048` time: EVP_PKEY_sign over a
// fixed digest with one context set up once, no message digest, no
// context per call. The floor for KMS's Sign.
void SignLikeSpeed(benchmark::State& state, EVP_PKEY* pkey, bool rsa) {
  unsigned char digest[32] = {1, 2, 3};
  unsigned char sig[512];
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  RAMPART_CHECK(ctx != nullptr && EVP_PKEY_sign_init(ctx) == 1);
  RAMPART_CHECK(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1);
  if (rsa) RAMPART_CHECK(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1);
  for (auto _ : state) {
    size_t n = sizeof sig;
    RAMPART_CHECK(EVP_PKEY_sign(ctx, sig, &n, digest, sizeof digest) == 1);
    benchmark::DoNotOptimize(n);
  }
  EVP_PKEY_CTX_free(ctx);
}

void BM_OpenSsl_SignP256OneContext(benchmark::State& state) {
  static EVP_PKEY* key = Generate("EC", "P-256", 0);
  SignLikeSpeed(state, key, false);
}
BENCHMARK(BM_OpenSsl_SignP256OneContext);

void BM_OpenSsl_SignRsa2048OneContext(benchmark::State& state) {
  static EVP_PKEY* key = Generate("RSA", nullptr, 2048);
  SignLikeSpeed(state, key, true);
}
BENCHMARK(BM_OpenSsl_SignRsa2048OneContext);

}  // namespace
