#include "rampart/core/arn.h"

#include <gtest/gtest.h>

#include "rampart/core/ids.h"

namespace rampart {
namespace {

TEST(ArnTest, ParsesAndFormats) {
  auto a = Arn::Parse("arn:aws:iam::123456789012:user/division/alice");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->service, "iam");
  EXPECT_EQ(a->region, "");
  EXPECT_EQ(a->account, "123456789012");
  EXPECT_EQ(a->resource, "user/division/alice");
  EXPECT_EQ(a->ToString(), "arn:aws:iam::123456789012:user/division/alice");
  auto k = Arn::Parse("arn:aws:kms:us-east-1:123456789012:key/abc:with:colons");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->resource, "key/abc:with:colons");
}

TEST(ArnTest, RejectsMalformed) {
  for (const char* bad : {"", "arn", "arn:aws:iam::123", "xrn:aws:iam::1:r", "arn::iam::1:r",
                          "arn:aws:::1:r", "arn:aws:iam::1:"}) {
    EXPECT_FALSE(Arn::Parse(bad).has_value()) << bad;
  }
}

TEST(ArnTest, AccountIds) {
  EXPECT_TRUE(IsAccountId("123456789012"));
  EXPECT_FALSE(IsAccountId("12345678901"));
  EXPECT_FALSE(IsAccountId("12345678901a"));
  EXPECT_EQ(RootArn("123456789012"), "arn:aws:iam::123456789012:root");
}

TEST(IdsTest, Formats) {
  std::string rid = ids::RequestId();
  EXPECT_EQ(rid.size(), 36u);
  EXPECT_EQ(rid[14], '4');
  EXPECT_NE(rid, ids::RequestId());
  auto ak = ids::AccessKeyId("AKIA");
  ASSERT_TRUE(ak.ok());
  EXPECT_EQ(ak->size(), 20u);
  EXPECT_EQ(ak->substr(0, 4), "AKIA");
  auto sk = ids::SecretAccessKey();
  ASSERT_TRUE(sk.ok());
  EXPECT_EQ(sk->size(), 40u);
  auto acct = ids::AccountId();
  ASSERT_TRUE(acct.ok());
  EXPECT_TRUE(IsAccountId(*acct));
}

}  // namespace
}  // namespace rampart
