// The fixture the KMS unit tests share (kms_*_test.cc): a KmsService on a
// fresh SQLite database with the real policy engine (EngineAuthorizer),
// its handlers called through the registry. Include from tests only.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "rampart/core/clock.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/iam/iam_service.h"
#include "rampart/kms/kms_service.h"
#include "rampart/server/config.h"
#include "rampart/server/identity.h"
#include "server/testing.h"

namespace rampart::kms::test {

using rampart::testing::Obj;

inline constexpr std::string_view kAcct = "111122223333";
inline constexpr std::string_view kOther = "444455556666";
inline constexpr std::string_view kRegion = "us-east-1";

inline server::Principal Root(std::string_view account) {
  return rampart::testing::RootPrincipal(account);
}

inline server::Principal User(std::string_view account, std::string_view name) {
  return rampart::testing::UserPrincipal(account, name);
}

// RSAES-OAEP-SHA256 under a DER SubjectPublicKeyInfo, as a client wrapping
// key material for import would.
inline std::string WrapForImport(std::string_view public_der, std::string_view material) {
  const auto* p = reinterpret_cast<const unsigned char*>(public_der.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(public_der.size()));
  if (pkey == nullptr) return "";
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  std::string out(512, '\0');
  size_t n = out.size();
  bool ok = ctx && EVP_PKEY_encrypt_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_encrypt(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                             reinterpret_cast<const unsigned char*>(material.data()),
                             material.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  out.resize(ok ? n : 0);
  return out;
}

class KmsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = rampart::testing::FreshDatabase("kms");
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(iam::IamService::Migrate(*db_).ok());
    ASSERT_TRUE(KmsService::Migrate(*db_).ok());
    // The regions the multi-Region tests replicate into.
    config_.regions = {"us-east-1", "eu-west-1", "us-west-2", "cn-north-1"};
    authorizer_ = std::make_unique<iam::EngineAuthorizer>(*db_, cache_);
    service_ = std::make_unique<KmsService>(*db_, root_key_, *authorizer_);
    service_->Register(registry_);
  }

  // Calls op as p in region.
  Result<json::Value> CallIn(const server::Principal& p, std::string_view region,
                             std::string_view op, const json::Value& in) {
    const server::OperationHandler* h = registry_.Find("kms", op);
    EXPECT_NE(h, nullptr) << op;
    if (h == nullptr) return Status::Internal("no handler");
    server::RequestContext ctx({&p, "kms", op, region, "req", "127.0.0.1", "test", true,
                                clock_.Now(), &config_, db_.get(), authorizer_.get(), &clock_});
    return (*h)(ctx, in);
  }
  Result<json::Value> Call(const server::Principal& p, std::string_view op, const json::Value& in) {
    return CallIn(p, kRegion, op, in);
  }
  // As the root of kAcct in us-east-1.
  Result<json::Value> A(std::string_view op, const json::Value& in) {
    return Call(Root(kAcct), op, in);
  }
  std::string NewKey(json::Value in = json::Value::MakeObject()) {
    auto r = A("CreateKey", in);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->find("KeyMetadata")->get_string("KeyId")) : "";
  }
  std::string Encrypt(const std::string& key, std::string_view plaintext,
                      json::Value context = nullptr) {
    json::Value in = Obj({{"KeyId", key}, {"Plaintext", plaintext}});
    if (!context.is_null()) in.set("EncryptionContext", context);
    auto r = A("Encrypt", in);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->get_string("CiphertextBlob")) : "";
  }

  static std::string Code(const Result<json::Value>& r) { return rampart::testing::ErrorCodeOf(r); }

  SecretBytes root_key_{std::string(32, 'k')};
  std::unique_ptr<store::Database> db_;
  iam::PolicyCache cache_;
  std::unique_ptr<iam::EngineAuthorizer> authorizer_;
  std::unique_ptr<KmsService> service_;
  server::Registry registry_;
  server::Config config_;
  OffsetClock clock_;
};

// Two SoftHSM2 tokens, k1 and k2, in a temporary directory, as the
// members of the HSM cluster kCluster of the management account: what the
// custom key store tests run on. The directory goes with the object.
class SoftHsmCluster {
 public:
  static constexpr char kModule[] = "/usr/lib/softhsm/libsofthsm2.so";
  static constexpr char kPin[] = "kmsuser-pass-9";
  static constexpr char kCluster[] = "cluster-abcdef012345";

  SoftHsmCluster() = default;
  SoftHsmCluster(const SoftHsmCluster&) = delete;
  SoftHsmCluster& operator=(const SoftHsmCluster&) = delete;
  ~SoftHsmCluster() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  static bool Available() {
    return std::filesystem::exists(kModule) &&
           std::system("command -v softhsm2-util >/dev/null") == 0;
  }

  // Makes the tokens and adds them and the cluster to hsm. Fails the test
  // (ASSERT) when a step fails.
  void Create(server::HsmConfig& hsm) {
    char tmpl[] = "/tmp/rampart-cks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directory(dir_ + "/tokens");
    std::ofstream(dir_ + "/softhsm2.conf") << "directories.tokendir = " << dir_ << "/tokens\n"
                                           << "objectstore.backend = file\nlog.level = ERROR\n";
    ASSERT_EQ(setenv("SOFTHSM2_CONF", (dir_ + "/softhsm2.conf").c_str(), 1), 0);
    ASSERT_EQ(setenv("RAMPART_CKS_TEST_PIN", kPin, 1), 0);
    for (const char* label : {"k1", "k2"}) {
      std::string cmd = std::string("softhsm2-util --init-token --free --label ") + label +
                        " --pin " + kPin + " --so-pin so-pass-9 >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0);
      hsm.backends.push_back({.name = label, .module = kModule, .token_label = label,
                              .slot = std::nullopt, .pin_file = "",
                              .pin_env = "RAMPART_CKS_TEST_PIN", .network_config = "",
                              .network_user = ""});
    }
    hsm.clusters.push_back(
        {.id = kCluster, .members = {"k1", "k2"}, .min_members = 2, .accounts = {}});
  }

 private:
  std::string dir_;
};

}  // namespace rampart::kms::test
