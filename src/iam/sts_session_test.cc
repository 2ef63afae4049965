// Temporary credentials in the CredentialStore and the session-token check
// the dispatcher applies to them, with a moved clock for expiry.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "rampart/core/clock.h"
#include "rampart/crypto/digest.h"
#include "rampart/server/identity.h"

namespace rampart::server {
namespace {

int64_t Seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

class SessionKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = std::filesystem::temp_directory_path() /
               ("rampart_sts_session_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto db = store::OpenSqlite({.path = (dir / "db.sqlite").string()});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(CredentialStore::Migrate(*db_).ok());
    creds_ = std::make_unique<CredentialStore>(*db_, root_key_);
    ASSERT_TRUE(creds_->CreateAccount("111122223333", "a", true).ok());
  }

  Principal Session() {
    Principal p;
    p.account_id = "111122223333";
    p.arn = "arn:aws:sts::111122223333:assumed-role/r/s";
    p.type = "AssumedRole";
    p.principal_id = "AROAEXAMPLEEXAMPLE00:s";
    p.access_key_id = "ASIAEXAMPLEEXAMPLE00";
    p.role_arn = "arn:aws:iam::111122223333:role/r";
    return p;
  }

  SecretBytes root_key_{std::string(32, 'k')};
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<CredentialStore> creds_;
};

TEST_F(SessionKeyTest, StoredSessionAuthenticatesUntilItExpires) {
  OffsetClock clock;
  int64_t now = Seconds(clock.Now());
  ASSERT_TRUE(creds_->AddSessionKey(Session(), SecretBytes("secret"), crypto::Sha256("token"),
                                    now, now + 900)
                  .ok());
  auto cred = creds_->Find("ASIAEXAMPLEEXAMPLE00");
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  const Credential& c = **cred;
  EXPECT_EQ(c.principal.type, "AssumedRole");
  EXPECT_EQ(c.principal.role_arn, "arn:aws:iam::111122223333:role/r");
  EXPECT_EQ(c.principal.principal_id, "AROAEXAMPLEEXAMPLE00:s");
  EXPECT_EQ(c.secret.reveal(), "secret");

  EXPECT_TRUE(CheckSessionToken(c, "token", clock.Now()).ok());
  EXPECT_EQ(CheckSessionToken(c, "", clock.Now()).code(), ErrorCode::kInvalidToken);
  EXPECT_EQ(CheckSessionToken(c, "tokeN", clock.Now()).code(), ErrorCode::kInvalidToken);

  // The expiry was set from the clock's whole second, and the clock keeps
  // running in real time: a second of margin on each side (899 s failed once
  // under ASan, when the start fell late in its second).
  clock.Advance(std::chrono::seconds(898));
  EXPECT_TRUE(CheckSessionToken(c, "token", clock.Now()).ok());
  clock.Advance(std::chrono::seconds(3));
  Status expired = CheckSessionToken(c, "token", clock.Now());
  EXPECT_EQ(expired.code(), ErrorCode::kExpiredToken);
  EXPECT_EQ(expired.message(), "The security token included in the request is expired");
  // A wrong token is invalid, expired or not.
  EXPECT_EQ(CheckSessionToken(c, "other", clock.Now()).code(), ErrorCode::kInvalidToken);
}

TEST_F(SessionKeyTest, LongTermKeysRefuseATokenAndUnknownKeysAreUnrecognized) {
  Principal root;
  root.account_id = "111122223333";
  root.arn = "arn:aws:iam::111122223333:root";
  root.type = "Root";
  root.principal_id = root.account_id;
  root.access_key_id = "AKIAEXAMPLEEXAMPLE00";
  ASSERT_TRUE(creds_->AddAccessKey(root, SecretBytes("s")).ok());
  auto cred = creds_->Find("AKIAEXAMPLEEXAMPLE00");
  ASSERT_TRUE(cred.ok());
  EXPECT_TRUE((*cred)->session_token_hash.empty());
  EXPECT_TRUE(CheckSessionToken(**cred, "", TimePoint{}).ok());
  EXPECT_EQ(CheckSessionToken(**cred, "token", TimePoint{}).code(), ErrorCode::kInvalidToken);
  EXPECT_EQ(creds_->Find("ASIANOSUCHKEY0000000").status().code(), ErrorCode::kUnrecognizedClient);
}

TEST_F(SessionKeyTest, SessionContextSurvivesTheStore) {
  Principal p = Session();
  p.mfa_present = true;
  p.source_identity = "alice";
  p.session_tags = {{"team", "red"}, {"cost-center", "12"}};
  p.transitive_tag_keys = {"team"};
  p.has_session_policies = true;
  p.session_policies = {R"({"Version":"2012-10-17","Statement":[]})"};
  ASSERT_TRUE(creds_->AddSessionKey(p, SecretBytes("s"), crypto::Sha256("t"), 1000, 4000000000)
                  .ok());
  auto cred = creds_->Find(p.access_key_id);
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  const Principal& got = (*cred)->principal;
  EXPECT_EQ(got.token_issued_at, 1000);
  EXPECT_TRUE(got.mfa_present);
  EXPECT_EQ(got.source_identity, "alice");
  EXPECT_EQ(got.session_tags, p.session_tags);
  EXPECT_EQ(got.transitive_tag_keys, p.transitive_tag_keys);
  EXPECT_TRUE(got.has_session_policies);
  EXPECT_EQ(got.session_policies, p.session_policies);
}

TEST_F(SessionKeyTest, PassedButEmptySessionPoliciesStayPassed) {
  Principal p = Session();
  p.has_session_policies = true;
  ASSERT_TRUE(creds_->AddSessionKey(p, SecretBytes("s"), crypto::Sha256("t"), 1000, 4000000000)
                  .ok());
  auto cred = creds_->Find(p.access_key_id);
  ASSERT_TRUE(cred.ok());
  EXPECT_TRUE((*cred)->principal.has_session_policies);
  EXPECT_TRUE((*cred)->principal.session_policies.empty());
}

TEST_F(SessionKeyTest, CacheStaysBounded) {
  CredentialStore small(*db_, root_key_, /*max_cached=*/8);
  for (int i = 0; i < 40; ++i) {
    Principal p = Session();
    p.access_key_id = "ASIAEXAMPLEBOUND" + std::to_string(1000 + i);
    // Half the sessions ended long ago: eviction drops those first.
    int64_t expires = i % 2 == 0 ? 2000 : 4000000000;
    ASSERT_TRUE(small.AddSessionKey(p, SecretBytes("s"), crypto::Sha256("t"), 1000, expires).ok());
    ASSERT_TRUE(small.Find(p.access_key_id).ok());
    EXPECT_LE(small.cached_count(), 8u);
  }
  // Evicted entries reload from the store.
  EXPECT_TRUE(small.Find("ASIAEXAMPLEBOUND1001").ok());
}

}  // namespace
}  // namespace rampart::server
