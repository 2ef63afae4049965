// The root key sealed under a SoftHSM2 token.
#include "rampart/hsm/root_key.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "rampart/pkcs11/pkcs11_token.h"

namespace rampart::hsm {
namespace {

constexpr char kSoftHsm[] = "/usr/lib/softhsm/libsofthsm2.so";

class RootKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kSoftHsm) || std::system("command -v softhsm2-util >/dev/null") != 0) {
      GTEST_SKIP() << "SoftHSM2 is not installed (scripts/install-deps.sh)";
    }
    char tmpl[] = "/tmp/rampart-rootkey-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directory(dir_ + "/tokens");
    std::filesystem::create_directory(dir_ + "/data");
    std::ofstream(dir_ + "/softhsm2.conf") << "directories.tokendir = " << dir_ << "/tokens\n"
                                           << "objectstore.backend = file\nlog.level = ERROR\n";
    ASSERT_EQ(setenv("SOFTHSM2_CONF", (dir_ + "/softhsm2.conf").c_str(), 1), 0);
    ASSERT_EQ(std::system("softhsm2-util --init-token --free --label root --pin root-pin-1 --so-pin so-1 >/dev/null"), 0);
    auto module = pkcs11::Module::Load(kSoftHsm);
    ASSERT_TRUE(module.ok());
    pkcs11::TokenOptions opts;
    opts.selector.label = "root";
    opts.user_pin = SecretBytes("root-pin-1");
    auto token = pkcs11::Pkcs11Token::Open(*module, std::move(opts));
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    token_ = std::move(*token);
  }
  void TearDown() override {
    token_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string Data() const { return dir_ + "/data"; }

  std::string dir_;
  std::unique_ptr<pkcs11::Pkcs11Token> token_;
};

TEST_F(RootKeyTest, NewKeyIsSealedAndReadBack) {
  auto first = LoadOrCreateSealedRootKey(*token_, "rampart-root", Data());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->size(), 32u);
  EXPECT_FALSE(std::filesystem::exists(Data() + "/root.key"));
  struct stat st {};
  ASSERT_EQ(::stat((Data() + "/root.key.hsm").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LoadOrCreateSealedRootKey(*token_, "rampart-root", Data());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->reveal(), first->reveal());
  // The file alone says nothing: it does not contain the key.
  std::ifstream in(Data() + "/root.key.hsm", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find(first->reveal()), std::string::npos);
  // Another token key cannot open it; a missing one is named.
  EXPECT_FALSE(LoadOrCreateSealedRootKey(*token_, "other-label", Data()).ok());
}

TEST_F(RootKeyTest, ExistingPlainKeyMovesUnderTheToken) {
  std::string plain(32, '\n');  // bytes a text reader would trim
  plain[0] = 'A';
  {
    std::ofstream(Data() + "/root.key", std::ios::binary) << plain;
  }
  ::chmod((Data() + "/root.key").c_str(), 0600);
  auto moved = LoadOrCreateSealedRootKey(*token_, "rampart-root", Data());
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->reveal(), plain);  // existing data stays readable
  EXPECT_FALSE(std::filesystem::exists(Data() + "/root.key"));
  auto again = LoadOrCreateSealedRootKey(*token_, "rampart-root", Data());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->reveal(), plain);
}

TEST_F(RootKeyTest, RefusesAmbiguousOrTamperedState) {
  ASSERT_TRUE(LoadOrCreateSealedRootKey(*token_, "rampart-root", Data()).ok());
  // Without root_key in the config, the server must not make a new key.
  server::Config cfg;
  cfg.data_dir = Data();
  EXPECT_EQ(LoadOrCreateRootKey(cfg).status().code(), ErrorCode::kValidation);
  // Both files: refused.
  std::ofstream(Data() + "/root.key") << std::string(32, 'x');
  ::chmod((Data() + "/root.key").c_str(), 0600);
  EXPECT_EQ(LoadOrCreateSealedRootKey(*token_, "rampart-root", Data()).status().code(), ErrorCode::kValidation);
  std::filesystem::remove(Data() + "/root.key");
  // A flipped byte does not authenticate. (Flipped, not overwritten: a
  // fixed value written over a byte that already held it changed nothing,
  // one run in 256.)
  std::fstream f(Data() + "/root.key.hsm", std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(20);
  char byte = 0;
  f.get(byte);
  f.seekp(20);
  f.put(static_cast<char>(byte ^ 0xff));
  f.close();
  EXPECT_FALSE(LoadOrCreateSealedRootKey(*token_, "rampart-root", Data()).ok());
}

}  // namespace
}  // namespace rampart::hsm
