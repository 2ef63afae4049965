// hsm::Cluster over three SoftHSM2 tokens in one configuration (three
// slots), plus a wrapper that makes a member fail like a removed device.
#include "rampart/hsm/cluster.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "rampart/crypto/digest.h"
#include "rampart/pkcs11/pkcs11_token.h"

namespace rampart::hsm {
namespace {

using pkcs11::KeyAlgorithm;
using pkcs11::KeyKind;
using pkcs11::KeyRef;
using pkcs11::KeySpec;

constexpr char kSoftHsm[] = "/usr/lib/softhsm/libsofthsm2.so";
constexpr char kPin[] = "cluster-user-1";

// Verifies a signature over digest with OpenSSL against a DER public key
// (padding 0: ECDSA).
bool OpenSslVerify(const std::string& spki, const std::string& digest, const std::string& sig,
                   int padding) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(spki.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (pkey == nullptr) return false;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  bool ok = ctx != nullptr && EVP_PKEY_verify_init(ctx) > 0 &&
            EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0;
  if (ok && padding != 0) ok = EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0;
  ok = ok &&
       EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

// Forwards to a real token until set_down(true); then every call fails as
// a removed device does.
class FlakyToken final : public pkcs11::Token {
 public:
  explicit FlakyToken(std::shared_ptr<pkcs11::Token> inner) : inner_(std::move(inner)) {}
  void set_down(bool down) { down_ = down; }

  Result<KeyRef> GenerateKey(const KeySpec& s) override { return Down<KeyRef>([&] { return inner_->GenerateKey(s); }); }
  Result<KeyRef> FindKeyByLabel(std::string_view l) override { return Down<KeyRef>([&] { return inner_->FindKeyByLabel(l); }); }
  Status CheckKey(const KeyRef& k) override { return down_ ? Removed() : inner_->CheckKey(k); }
  Status DestroyKey(const KeyRef& k) override { return down_ ? Removed() : inner_->DestroyKey(k); }
  Result<pkcs11::GcmCiphertext> EncryptGcm(const KeyRef& k, std::string_view p, std::string_view a) override {
    return Down<pkcs11::GcmCiphertext>([&] { return inner_->EncryptGcm(k, p, a); });
  }
  Result<SecretBytes> DecryptGcm(const KeyRef& k, std::string_view iv, std::string_view c, std::string_view a) override {
    return Down<SecretBytes>([&] { return inner_->DecryptGcm(k, iv, c, a); });
  }
  Result<std::string> SignDigest(const KeyRef& k, std::string_view d, std::string_view md, pkcs11::SignScheme s) override {
    return Down<std::string>([&] { return inner_->SignDigest(k, d, md, s); });
  }
  Result<std::string> PublicKeyDer(const KeyRef& k) override { return Down<std::string>([&] { return inner_->PublicKeyDer(k); }); }
  Result<std::string> HmacSha256(const KeyRef& k, std::string_view d) override {
    return Down<std::string>([&] { return inner_->HmacSha256(k, d); });
  }
  Result<bool> VerifyHmacSha256(const KeyRef& k, std::string_view d, std::string_view m) override {
    return Down<bool>([&] { return inner_->VerifyHmacSha256(k, d, m); });
  }
  Result<std::string> WrapKey(const KeyRef& w, const KeyRef& k) override {
    return Down<std::string>([&] { return inner_->WrapKey(w, k); });
  }
  Result<KeyRef> UnwrapKey(const KeyRef& w, std::string_view b, const KeySpec& s) override {
    return Down<KeyRef>([&] { return inner_->UnwrapKey(w, b, s); });
  }
  Result<std::string> GenerateRandom(size_t n) override { return Down<std::string>([&] { return inner_->GenerateRandom(n); }); }
  Result<std::string> WrapKeyWithPublicKey(std::string_view p, const KeyRef& k) override {
    return Down<std::string>([&] { return inner_->WrapKeyWithPublicKey(p, k); });
  }
  Status MakeNonExtractable(const KeyRef& k) override { return down_ ? Removed() : inner_->MakeNonExtractable(k); }
  Result<std::vector<pkcs11::KeyListing>> ListKeys() override {
    return Down<std::vector<pkcs11::KeyListing>>([&] { return inner_->ListKeys(); });
  }
  Result<KeyRef> UnwrapKeyPair(const KeyRef& w, std::string_view b, std::string_view p,
                               const KeySpec& s) override {
    return Down<KeyRef>([&] { return inner_->UnwrapKeyPair(w, b, p, s); });
  }

 private:
  static Status Removed() { return Status::Error(ErrorCode::kUnavailable, "C_Encrypt: CKR_DEVICE_REMOVED"); }
  template <typename T, typename F>
  Result<T> Down(F f) {
    if (down_) return Removed();
    return f();
  }
  std::shared_ptr<pkcs11::Token> inner_;
  std::atomic<bool> down_{false};
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kSoftHsm) || std::system("command -v softhsm2-util >/dev/null") != 0) {
      GTEST_SKIP() << "SoftHSM2 is not installed (scripts/install-deps.sh)";
    }
    char tmpl[] = "/tmp/rampart-cluster-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directory(dir_ + "/tokens");
    std::ofstream(dir_ + "/softhsm2.conf") << "directories.tokendir = " << dir_ << "/tokens\n"
                                           << "objectstore.backend = file\nlog.level = ERROR\n";
    ASSERT_EQ(setenv("SOFTHSM2_CONF", (dir_ + "/softhsm2.conf").c_str(), 1), 0);
    for (const char* label : {"m1", "m2", "m3"}) {
      std::string cmd = std::string("softhsm2-util --init-token --free --label ") + label +
                        " --pin " + kPin + " --so-pin so-pin-1 >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0);
    }
    auto module = pkcs11::Module::Load(kSoftHsm);
    ASSERT_TRUE(module.ok()) << module.status().ToString();
    for (const char* label : {"m1", "m2", "m3"}) {
      pkcs11::TokenOptions opts;
      opts.selector.label = label;
      opts.user_pin = SecretBytes(kPin);
      auto token = pkcs11::Pkcs11Token::Open(*module, std::move(opts));
      ASSERT_TRUE(token.ok()) << token.status().ToString();
      real_.push_back(std::shared_ptr<pkcs11::Token>(std::move(*token)));
      flaky_.push_back(std::make_shared<FlakyToken>(real_.back()));
    }
  }

  void TearDown() override {
    flaky_.clear();
    real_.clear();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Cluster> Make(size_t min_members, size_t n = 3) {
    std::vector<Member> members;
    for (size_t i = 0; i < n; ++i) members.push_back({"m" + std::to_string(i + 1), flaky_[i], nullptr});
    auto c = Cluster::Create({.id = "cluster-0123456789a", .min_members = min_members}, std::move(members));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  static KeySpec Signing(KeyAlgorithm algorithm, std::string label) {
    KeySpec s;
    s.algorithm = algorithm;
    s.label = std::move(label);
    s.usage.sign = true;
    return s;
  }

  // Whether every real member holds key and none can export it any more.
  void ExpectLockedEverywhere(Cluster& cluster, const KeyRef& key) {
    KeyRef cwk{cluster.WrappingKeyId(), KeyKind::kAes};
    for (size_t i = 0; i < real_.size(); ++i) {
      EXPECT_TRUE(real_[i]->CheckKey(key).ok()) << "m" << i + 1;
      EXPECT_EQ(real_[i]->WrapKey(cwk, key).status().code(), ErrorCode::kAccessDenied) << "m" << i + 1;
    }
  }

  static KeySpec Aes(std::string label) {
    KeySpec s;
    s.algorithm = KeyAlgorithm::kAes256;
    s.label = std::move(label);
    s.usage.encrypt = true;
    return s;
  }

  std::string dir_;
  std::vector<std::shared_ptr<pkcs11::Token>> real_;
  std::vector<std::shared_ptr<FlakyToken>> flaky_;
};

TEST_F(ClusterTest, WrappingKeyReachesEveryMemberByTheTransportCeremony) {
  auto cluster = Make(2);
  ASSERT_TRUE(cluster->EnsureWrappingKey().ok());
  KeyRef cwk{cluster->WrappingKeyId(), KeyKind::kAes};
  for (auto& t : real_) EXPECT_TRUE(t->CheckKey(cwk).ok());
  // The members share one key: a key wrapped on m1 unwraps on m3.
  KeySpec moving = Aes("moving");
  moving.extractable = true;
  auto key = real_[0]->GenerateKey(moving);
  ASSERT_TRUE(key.ok());
  auto wrapped = real_[0]->WrapKey(cwk, *key);
  ASSERT_TRUE(wrapped.ok());
  KeySpec arrived = Aes("arrived");
  arrived.id = key->id;
  EXPECT_TRUE(real_[2]->UnwrapKey(cwk, *wrapped, arrived).ok());
  // No transport key pair is left behind, and running it again changes nothing.
  for (auto& t : real_) EXPECT_EQ(t->FindKeyByLabel("rampart-transport").status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(cluster->EnsureWrappingKey().ok());
}

TEST_F(ClusterTest, NewKeysExistOnEveryMemberAndAreLockedThere) {
  auto cluster = Make(2);
  auto key = cluster->GenerateKey(Aes("cks-key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  for (const auto& s : cluster->Inspect(*key)) EXPECT_TRUE(s.holds_key) << s.name;
  EXPECT_TRUE(cluster->CheckKey(*key).ok());
  // Encrypted on one member, decrypted on each other one alone.
  auto ct = real_[1]->EncryptGcm(*key, "replicated", "ctx");
  ASSERT_TRUE(ct.ok());
  for (auto& t : real_) {
    auto pt = t->DecryptGcm(*key, ct->iv, ct->ciphertext, "ctx");
    ASSERT_TRUE(pt.ok()) << pt.status().ToString();
    EXPECT_EQ(pt->reveal(), "replicated");
  }
  // Every copy is non-extractable now: it cannot be wrapped out again.
  KeyRef cwk{cluster->WrappingKeyId(), KeyKind::kAes};
  for (auto& t : real_) EXPECT_EQ(t->WrapKey(cwk, *key).status().code(), ErrorCode::kAccessDenied);
}

TEST_F(ClusterTest, OperationsFailOverWhenAMemberIsRemoved) {
  auto cluster = Make(2);
  auto key = cluster->GenerateKey(Aes("failover"));
  ASSERT_TRUE(key.ok());
  flaky_[0]->set_down(true);
  auto ct = cluster->EncryptGcm(*key, "still served", "");
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  flaky_[1]->set_down(true);
  auto pt = cluster->DecryptGcm(*key, ct->iv, ct->ciphertext, "");
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->reveal(), "still served");
  EXPECT_TRUE(cluster->GenerateRandom(16).ok());
  // A bad tag is an answer, not an outage: no failover hides it.
  std::string bad = ct->ciphertext;
  bad[0] ^= 1;
  EXPECT_EQ(cluster->DecryptGcm(*key, ct->iv, bad, "").status().code(), ErrorCode::kValidation);
  flaky_[2]->set_down(true);
  EXPECT_EQ(cluster->EncryptGcm(*key, "x", "").status().code(), ErrorCode::kUnavailable);
}

TEST_F(ClusterTest, KeyIsUsableOnlyOnceOnMinMembers) {
  auto cluster = Make(2, 2);
  ASSERT_TRUE(cluster->EnsureWrappingKey().ok());
  flaky_[1]->set_down(true);
  auto refused = cluster->GenerateKey(Aes("lonely"));
  ASSERT_EQ(refused.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("key availability"), std::string::npos);
  // The single copy was not kept.
  EXPECT_EQ(real_[0]->FindKeyByLabel("lonely").status().code(), ErrorCode::kNotFound);

  // A key on one member only (made there directly) is not available until
  // Replicate copies it to the second.
  flaky_[1]->set_down(false);
  KeySpec one = Aes("one-copy");
  one.extractable = true;
  auto key = real_[0]->GenerateKey(one);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(cluster->CheckKey(*key).code(), ErrorCode::kUnavailable);
  auto holders = cluster->Replicate(*key, Aes("one-copy"));
  ASSERT_TRUE(holders.ok()) << holders.status().ToString();
  EXPECT_EQ(*holders, 2u);
  EXPECT_TRUE(cluster->CheckKey(*key).ok());
  EXPECT_EQ(cluster->CheckKey(KeyRef{"absent", KeyKind::kAes}).code(), ErrorCode::kNotFound);
  ASSERT_TRUE(cluster->DestroyKey(*key).ok());
  for (auto& t : real_) EXPECT_EQ(t->CheckKey(*key).code(), ErrorCode::kNotFound);
}

TEST_F(ClusterTest, EcAndRsaKeyPairsAreReplicatedAndSignOnEveryMember) {
  auto cluster = Make(2);
  std::string digest = crypto::Sha256("replicated pair");
  struct Case {
    KeyAlgorithm algorithm;
    pkcs11::SignScheme scheme;
    int padding;
  };
  for (Case c : {Case{KeyAlgorithm::kEcP256, pkcs11::SignScheme::kEcdsa, 0},
                 Case{KeyAlgorithm::kEcP384, pkcs11::SignScheme::kEcdsa, 0},
                 Case{KeyAlgorithm::kRsa2048, pkcs11::SignScheme::kRsaPkcs1, RSA_PKCS1_PADDING}}) {
    auto key = cluster->GenerateKey(Signing(c.algorithm, "pair"));
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    auto spki = real_[0]->PublicKeyDer(*key);
    ASSERT_TRUE(spki.ok()) << spki.status().ToString();
    for (size_t i = 0; i < real_.size(); ++i) {
      // The same public key on every member, and each member's private half
      // signs for it.
      EXPECT_EQ(*real_[i]->PublicKeyDer(*key), *spki) << "m" << i + 1;
      auto sig = real_[i]->SignDigest(*key, digest, "SHA256", c.scheme);
      ASSERT_TRUE(sig.ok()) << sig.status().ToString();
      EXPECT_TRUE(OpenSslVerify(*spki, digest, *sig, c.padding)) << "m" << i + 1;
    }
    auto found = real_[2]->FindKeyByLabel("pair");
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->id, key->id);
    ExpectLockedEverywhere(*cluster, *key);
    ASSERT_TRUE(cluster->DestroyKey(*key).ok());
    for (auto& t : real_) EXPECT_EQ(t->CheckKey(*key).code(), ErrorCode::kNotFound);
  }
}

TEST_F(ClusterTest, UnwrapKeyPairRefusesAPublicKeyOfAnotherAlgorithm) {
  auto cluster = Make(2);
  ASSERT_TRUE(cluster->EnsureWrappingKey().ok());
  KeyRef cwk{cluster->WrappingKeyId(), KeyKind::kAes};
  KeySpec ec = Signing(KeyAlgorithm::kEcP256, "source");
  ec.extractable = true;
  auto key = real_[0]->GenerateKey(ec);
  ASSERT_TRUE(key.ok());
  auto wrapped = real_[0]->WrapKey(cwk, *key);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  auto spki = real_[0]->PublicKeyDer(*key);
  ASSERT_TRUE(spki.ok());
  KeySpec p384 = Signing(KeyAlgorithm::kEcP384, "wrong");
  EXPECT_EQ(real_[1]->UnwrapKeyPair(cwk, *wrapped, *spki, p384).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(real_[1]->UnwrapKeyPair(cwk, *wrapped, "not der", Signing(KeyAlgorithm::kEcP256, "x"))
                .status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(real_[1]->UnwrapKeyPair(cwk, "", *spki, Signing(KeyAlgorithm::kEcP256, "x")).status().code(),
            ErrorCode::kValidation);
  // Nothing half-made was left behind.
  EXPECT_EQ(real_[1]->FindKeyByLabel("wrong").status().code(), ErrorCode::kNotFound);
}

TEST_F(ClusterTest, ReturningMemberReceivesMissingKeysAndTheyAreLockedThen) {
  auto cluster = Make(2);
  ASSERT_TRUE(cluster->EnsureWrappingKey().ok());
  flaky_[2]->set_down(true);
  auto aes = cluster->GenerateKey(Aes("made-while-down"));
  ASSERT_TRUE(aes.ok()) << aes.status().ToString();
  auto ec = cluster->GenerateKey(Signing(KeyAlgorithm::kEcP256, "pair-while-down"));
  ASSERT_TRUE(ec.ok()) << ec.status().ToString();
  // Two of three hold them: usable, but the first copy is still extractable
  // so that m3 can receive it later.
  EXPECT_TRUE(cluster->CheckKey(*aes).ok());
  KeyRef cwk{cluster->WrappingKeyId(), KeyKind::kAes};
  EXPECT_TRUE(real_[0]->WrapKey(cwk, *aes).ok());
  EXPECT_EQ(real_[2]->CheckKey(*aes).code(), ErrorCode::kNotFound);

  // m3 comes back: the next operation after the probe interval resyncs.
  flaky_[2]->set_down(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto ct = cluster->EncryptGcm(*aes, "after the return", "");
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  ExpectLockedEverywhere(*cluster, *aes);
  ExpectLockedEverywhere(*cluster, *ec);
  auto pt = real_[2]->DecryptGcm(*aes, ct->iv, ct->ciphertext, "");
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->reveal(), "after the return");
  EXPECT_EQ(*real_[2]->PublicKeyDer(*ec), *real_[0]->PublicKeyDer(*ec));

  // A second resync finds nothing left to do.
  auto again = cluster->Resync();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->keys, 2u);
  EXPECT_EQ(again->copied, 0u);
  EXPECT_EQ(again->locked, 0u);
  EXPECT_TRUE(again->unreachable.empty());
}

TEST_F(ClusterTest, ExplicitResyncReportsWhatItDid) {
  auto cluster = Make(2);
  ASSERT_TRUE(cluster->EnsureWrappingKey().ok());
  flaky_[1]->set_down(true);
  auto key = cluster->GenerateKey(Aes("pending"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto locked = cluster->GenerateKey(Aes("locked-elsewhere"));
  ASSERT_TRUE(locked.ok());
  // A copy that nobody can export any more cannot reach m2.
  ASSERT_TRUE(real_[0]->MakeNonExtractable(*locked).ok());
  ASSERT_TRUE(real_[2]->MakeNonExtractable(*locked).ok());
  // A key on one member only (a destroyed key's leftover) stays where it is.
  KeySpec lone = Aes("lone");
  lone.extractable = true;
  auto leftover = real_[0]->GenerateKey(lone);
  ASSERT_TRUE(leftover.ok());

  auto down = cluster->Resync();
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  ASSERT_EQ(down->unreachable.size(), 1u);
  EXPECT_EQ(down->unreachable[0], "m2");
  // With m2 still down nothing is locked, so that m2 can still get copies.
  EXPECT_EQ(down->locked, 0u);
  EXPECT_EQ(down->stranded, 0u);

  flaky_[1]->set_down(false);
  auto report = cluster->HealthCheck();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->keys, 3u);
  EXPECT_EQ(report->copied, 1u);    // "pending" reached m2 ...
  EXPECT_EQ(report->locked, 1u);    // ... and is locked everywhere now
  EXPECT_EQ(report->stranded, 1u);  // only the one locked by hand behind the cluster's back
  EXPECT_EQ(report->below_min, 1u);
  EXPECT_TRUE(report->unreachable.empty());
  EXPECT_EQ(real_[1]->CheckKey(*leftover).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(real_[1]->CheckKey(*key).ok());
  KeyRef cwk{cluster->WrappingKeyId(), KeyKind::kAes};
  for (auto& t : real_) EXPECT_EQ(t->WrapKey(cwk, *key).status().code(), ErrorCode::kAccessDenied);
}

TEST_F(ClusterTest, AbsentMemberJoinsWhenItCanBeOpened) {
  std::atomic<bool> openable{false};
  std::vector<Member> members{{"m1", flaky_[0], nullptr}, {"m2", flaky_[1], nullptr}};
  members.push_back({"m3", nullptr, [&]() -> Result<std::shared_ptr<pkcs11::Token>> {
                       if (!openable) return Status::Error(ErrorCode::kUnavailable, "still away");
                       return std::shared_ptr<pkcs11::Token>(flaky_[2]);
                     }});
  auto c = Cluster::Create({.id = "cluster-0123456789a", .min_members = 2}, std::move(members));
  ASSERT_TRUE(c.ok());
  auto key = (*c)->GenerateKey(Aes("joins-later"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto nobody = (*c)->HealthCheck();
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ(nobody->copied, 0u);
  openable = true;
  auto report = (*c)->HealthCheck();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->copied, 1u);
  EXPECT_EQ(report->locked, 1u);
  ExpectLockedEverywhere(**c, *key);
  for (const auto& s : (*c)->Inspect(*key)) EXPECT_TRUE(s.holds_key) << s.name;
}

TEST_F(ClusterTest, RejectsBadShapes) {
  EXPECT_EQ(Cluster::Create({.id = "cluster-0123456789a", .min_members = 1}, {}).status().code(),
            ErrorCode::kValidation);
  std::vector<Member> one{{"m1", flaky_[0], nullptr}};
  EXPECT_EQ(Cluster::Create({.id = "cluster-0123456789a", .min_members = 2}, one).status().code(),
            ErrorCode::kValidation);
  // An absent member counts against availability but does not break the rest.
  std::vector<Member> members{{"m1", flaky_[0], nullptr}, {"gone", nullptr, nullptr}};
  auto c = Cluster::Create({.id = "cluster-0123456789a", .min_members = 2}, members);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->GenerateKey(Aes("k")).status().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE((*c)->GenerateRandom(8).ok());
}

}  // namespace
}  // namespace rampart::hsm
