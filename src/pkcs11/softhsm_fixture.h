// Test support: a fresh SoftHSM2 token in a temporary directory per test
// (its own softhsm2.conf, SOFTHSM2_CONF pointing at it, initialised with
// softhsm2-util), the module loaded and a Pkcs11Token opened on it.
// Header-only so that it is compiled into the test binary only.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "pkcs11/module_impl.h"
#include "rampart/pkcs11/pkcs11_token.h"

namespace rampart::pkcs11::testing {

inline constexpr char kSoftHsmPath[] = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr char kUserPin[] = "4711-user";
inline constexpr char kSoPin[] = "4711-so";

class SoftHsmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kSoftHsmPath) ||
        std::system("command -v softhsm2-util >/dev/null") != 0) {
      GTEST_SKIP() << "SoftHSM2 is not installed (scripts/install-deps.sh)";
    }
    char tmpl[] = "/tmp/rampart-softhsm-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directory(dir_ + "/tokens");
    std::ofstream(dir_ + "/softhsm2.conf") << "directories.tokendir = " << dir_ << "/tokens\n"
                                           << "objectstore.backend = file\n"
                                           << "log.level = ERROR\n";
    ASSERT_EQ(setenv("SOFTHSM2_CONF", (dir_ + "/softhsm2.conf").c_str(), 1), 0);
    std::string cmd = std::string("softhsm2-util --init-token --free --label ") + label_ +
                      " --pin " + kUserPin + " --so-pin " + kSoPin + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    auto module = Module::Load(kSoftHsmPath, LoadOptions{.serialize_calls = serialize_calls_});
    ASSERT_TRUE(module.ok()) << module.status().ToString();
    module_ = *module;
  }

  void TearDown() override {
    token_.reset();
    module_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Opens the test token (kept in token_).
  void OpenToken(size_t max_sessions = 4) {
    TokenOptions opts;
    opts.selector.label = label_;
    opts.user_pin = SecretBytes(kUserPin);
    opts.max_sessions = max_sessions;
    auto token = Pkcs11Token::Open(module_, std::move(opts));
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    token_ = std::move(*token);
  }

  ck_function_list* fns() const { return module_->impl().fns; }

  // A session outside the pool, as another part of the process would have.
  ck_session_handle_t RawSession() {
    ck_session_handle_t s = 0;
    EXPECT_EQ(fns()->C_OpenSession(token_->slot_id(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                   nullptr, &s),
              CKR_OK);
    return s;
  }

  std::string dir_;
  std::string label_ = "rampart-test";
  bool serialize_calls_ = false;  // set in a subclass constructor
  std::shared_ptr<Module> module_;
  std::unique_ptr<Pkcs11Token> token_;
};

}  // namespace rampart::pkcs11::testing
