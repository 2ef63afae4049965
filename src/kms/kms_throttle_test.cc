// KMS request throttling: the quota table, the buckets (with times given
// by the test), the all-or-none admission, and the handlers behind the
// hook with the test's clock.
#include "kms/kms_throttle.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "kms/kms_internal.h"
#include "kms/kms_test_fixture.h"

namespace rampart::kms::internal {
namespace {

using rampart::testing::Obj;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kSecond = 1000000000;
const TimePoint kT0 = TimePoint(seconds(1800000000));

QuotaId Q(std::string_view name) {
  std::optional<QuotaId> q = FindQuota(name);
  EXPECT_TRUE(q.has_value()) << name;
  return q.value_or(0);
}

TEST(KmsQuotaTableTest, DefaultsAreAwssAndVaryByRegion) {
  EXPECT_EQ(DefaultRate(kSymmetricQuota, "us-east-1"), 100000);
  EXPECT_EQ(DefaultRate(kSymmetricQuota, "eu-west-1"), 100000);
  EXPECT_EQ(DefaultRate(kSymmetricQuota, "eu-west-2"), 20000);
  EXPECT_EQ(DefaultRate(kSymmetricQuota, "ap-northeast-1"), 20000);
  EXPECT_EQ(DefaultRate(kSymmetricQuota, "ap-south-1"), 10000);
  EXPECT_EQ(DefaultRate(kRsaQuota, "us-east-1"), 1000);
  EXPECT_EQ(DefaultRate(kEccQuota, "us-east-1"), 1000);
  EXPECT_EQ(DefaultRate(kCustomKeyStoreQuota, "us-east-1"), 1800);
  EXPECT_EQ(DefaultRate(Q("CreateKey"), "us-east-1"), 5);
  EXPECT_EQ(DefaultRate(Q("DescribeKey"), "us-east-1"), 2000);
  EXPECT_EQ(DefaultRate(Q("ListKeys"), "us-east-1"), 500);
  EXPECT_EQ(DefaultRate(Q("GenerateDataKeyPair.RSA_4096"), "us-east-1"), 1);
  EXPECT_EQ(DefaultRate(Q("GenerateDataKeyPair.RSA_4096"), "cn-north-1"), 0.1);
  EXPECT_EQ(DefaultRate(Q("GenerateDataKeyPair.RSA_2048"), "cn-northwest-1"), 1);
  EXPECT_EQ(DefaultRate(Q("GenerateDataKeyPair.ECC_NIST_P256"), "cn-north-1"), 100);
  EXPECT_FALSE(FindQuota("createkey").has_value());
  EXPECT_FALSE(FindQuota("").has_value());
  for (QuotaId q = 0; q < kQuotaCount; ++q) {
    EXPECT_EQ(FindQuota(QuotaName(q)), q);
    EXPECT_GT(DefaultRate(q, "us-east-1"), 0);
  }
}

TEST(KmsQuotaTableTest, EveryOperationOfTheModelHasARule) {
  // The operations of Debian's botocore KMS model.
  const std::string_view operations[] = {
      "CancelKeyDeletion", "ConnectCustomKeyStore", "CreateAlias", "CreateCustomKeyStore",
      "CreateGrant", "CreateKey", "Decrypt", "DeleteAlias", "DeleteCustomKeyStore",
      "DeleteImportedKeyMaterial", "DescribeCustomKeyStores", "DescribeKey", "DisableKey",
      "DisableKeyRotation", "DisconnectCustomKeyStore", "EnableKey", "EnableKeyRotation",
      "Encrypt", "GenerateDataKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
      "GenerateDataKeyWithoutPlaintext", "GenerateMac", "GenerateRandom", "GetKeyPolicy",
      "GetKeyRotationStatus", "GetParametersForImport", "GetPublicKey", "ImportKeyMaterial",
      "ListAliases", "ListGrants", "ListKeyPolicies", "ListKeys", "ListResourceTags",
      "ListRetirableGrants", "PutKeyPolicy", "ReEncrypt", "ReplicateKey", "RetireGrant",
      "RevokeGrant", "ScheduleKeyDeletion", "Sign", "TagResource", "UntagResource",
      "UpdateAlias", "UpdateCustomKeyStore", "UpdateKeyDescription", "UpdatePrimaryRegion",
      "Verify", "VerifyMac"};
  for (std::string_view op : operations) EXPECT_NE(RuleFor(op), nullptr) << op;
  EXPECT_EQ(RuleFor("NoSuchOperation"), nullptr);
}

TEST(KmsQuotaTableTest, OverridesAreCheckedByNameAndRange) {
  server::KmsThrottlingConfig config;
  config.quotas = {{"CryptographicOperationsSymmetric", 100}, {"CreateKey", 0.5}};
  auto ok = ReadQuotaOverrides(config);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)[kSymmetricQuota], 100);
  EXPECT_EQ((*ok)[Q("CreateKey")], 0.5);
  EXPECT_FALSE((*ok)[Q("DescribeKey")].has_value());

  config.quotas = {{"CreateKeys", 1}};
  auto unknown = ReadQuotaOverrides(config);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("kms.throttling.quotas.CreateKeys: unknown quota"),
            std::string::npos)
      << unknown.status().message();

  for (double bad : {0.0, 0.001, -1.0, 1000001.0}) {
    config.quotas = {{"CreateKey", bad}};
    auto out = ReadQuotaOverrides(config);
    ASSERT_FALSE(out.ok()) << bad;
    EXPECT_NE(out.status().message().find("must be a number from 0.01 to 1000000"),
              std::string::npos);
  }
}

TEST(KmsRateBucketTest, HoldsOneSecondAndRefillsContinuously) {
  const Rate rate = MakeRate(5);
  RateBucket b;
  int64_t t = 1800000000 * kSecond;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.TryTake(t, rate, 1)) << i;
  EXPECT_FALSE(b.TryTake(t, rate, 1));
  EXPECT_FALSE(b.TryTake(t + kSecond / 5 - 1, rate, 1));  // not quite one token yet
  EXPECT_TRUE(b.TryTake(t + kSecond / 5, rate, 1));
  EXPECT_FALSE(b.TryTake(t + kSecond / 5, rate, 1));
  // A long pause fills the bucket, but never beyond one second's worth.
  t += 3600 * kSecond;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.TryTake(t, rate, 1)) << i;
  EXPECT_FALSE(b.TryTake(t, rate, 1));
}

TEST(KmsRateBucketTest, BurstHoldsEveryTokenOfOddRates) {
  for (double per_second : {3.0, 7.0, 13.0, 10000.0, 100000.0}) {
    const Rate rate = MakeRate(per_second);
    RateBucket b;
    int passed = 0;
    while (passed <= per_second && b.TryTake(kSecond, rate, 1)) ++passed;
    EXPECT_EQ(passed, static_cast<int>(per_second));
  }
}

TEST(KmsRateBucketTest, RatesOutOfRangeAreClamped) {
  EXPECT_EQ(MakeRate(0).interval_ns, MakeRate(0.01).interval_ns);
  EXPECT_EQ(MakeRate(-5).interval_ns, MakeRate(0.01).interval_ns);
  EXPECT_EQ(MakeRate(std::nan("")).interval_ns, MakeRate(0.01).interval_ns);
  EXPECT_EQ(MakeRate(1e12).interval_ns, 1000);
}

TEST(KmsRateBucketTest, SlowRatesHoldOneToken) {
  const Rate rate = MakeRate(0.25);  // one request in 4 s
  RateBucket b;
  int64_t t = 100 * kSecond;
  EXPECT_TRUE(b.TryTake(t, rate, 1));
  EXPECT_FALSE(b.TryTake(t + 3 * kSecond, rate, 1));
  EXPECT_TRUE(b.TryTake(t + 4 * kSecond, rate, 1));
  // A charge larger than the bucket waits for a full bucket.
  EXPECT_FALSE(b.TryTake(t + 7 * kSecond, rate, 2));
  EXPECT_TRUE(b.TryTake(t + 8 * kSecond, rate, 2));
}

TEST(KmsRateBucketTest, GiveBackReturnsTokensAndAClockSetBackStartsFull) {
  const Rate rate = MakeRate(2);
  RateBucket b;
  int64_t t = 100 * kSecond;
  EXPECT_TRUE(b.TryTake(t, rate, 2));
  EXPECT_FALSE(b.TryTake(t, rate, 1));
  b.GiveBack(rate, 1);
  EXPECT_TRUE(b.TryTake(t, rate, 1));
  EXPECT_FALSE(b.TryTake(t, rate, 1));
  // The clock set back by an hour: the bucket is not frozen for an hour.
  EXPECT_TRUE(b.TryTake(t - 3600 * kSecond, rate, 2));
}

TEST(KmsRateBucketTest, RequestsArrivingOutOfOrderDoNotRefillTheBucket) {
  // Concurrent requests carry their arrival times and reach the bucket in
  // another order: one that arrived 50 ms before the last admitted one
  // must find the bucket as empty as it is.
  const Rate rate = MakeRate(1000);
  RateBucket b;
  int64_t t = 100 * kSecond;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(b.TryTake(t, rate, 1));
  EXPECT_FALSE(b.TryTake(t - kSecond / 20, rate, 1));
  EXPECT_FALSE(b.TryTake(t - kSecond / 2, rate, 1));
  EXPECT_FALSE(b.TryTake(t, rate, 1));
  // Beyond 10 s back it is a clock set back: the bucket starts full.
  EXPECT_TRUE(b.TryTake(t - 12 * kSecond, rate, 1));
}

TEST(KmsRateBucketTest, ConcurrentTakersWithAdvancingTimesKeepTheRate) {
  // Four threads over one simulated second at 1000/s, each with its own
  // slightly lagging notion of now: at most one second's burst plus one
  // second's refill pass.
  const Rate rate = MakeRate(1000);
  RateBucket b;
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&b, &rate, &passed, i] {
      for (int j = 0; j < 20000; ++j) {
        int64_t now = 100 * kSecond + j * (kSecond / 20000) - i * (kSecond / 100);
        if (b.TryTake(now, rate, 1)) passed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(passed.load(), 2000 + 40);
  EXPECT_GE(passed.load(), 1000);
}

TEST(KmsRateBucketTest, ConcurrentTakersNeverExceedTheBucket) {
  const Rate rate = MakeRate(1000);
  RateBucket b;
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&b, &rate, &passed] {
      for (int j = 0; j < 1000; ++j) {
        if (b.TryTake(kSecond, rate, 1)) passed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(passed.load(), 1000);
}

// A throttler over two Regions whose symmetric quota is 2/s and CreateKey
// 1/s.
Throttler SmallThrottler() {
  QuotaOverrides o;
  o[kSymmetricQuota] = 2;
  o[Q("CreateKey")] = 1;
  o[kCustomKeyStoreQuota] = 1;
  return Throttler({"us-east-1", "eu-west-1"}, o);
}

Charges One(QuotaId q, std::string_view region, std::string store = {}, uint32_t cost = 1) {
  Charges c;
  c.Add({q, region, std::move(store), cost});
  return c;
}

bool IsThrottled(const Status& st) {
  return st.code() == ErrorCode::kThrottling &&
         st.message() ==
             "You have exceeded the rate at which you may call KMS. Reduce the frequency of "
             "your calls.";
}

TEST(KmsThrottlerTest, QuotasArePerAccountRegionAndQuota) {
  Throttler t = SmallThrottler();
  EXPECT_EQ(t.RateOf(kSymmetricQuota, "us-east-1"), 2);
  EXPECT_EQ(t.RateOf(Q("DescribeKey"), "eu-west-1"), 2000);
  EXPECT_EQ(t.RateOf(kSymmetricQuota, "ap-south-1"), 0);  // not served
  Charges sym = One(kSymmetricQuota, "us-east-1");
  EXPECT_TRUE(t.Admit("111122223333", sym, kT0).ok());
  EXPECT_TRUE(t.Admit("111122223333", sym, kT0).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", sym, kT0)));
  // Another account, another Region, another quota: each its own bucket.
  EXPECT_TRUE(t.Admit("444455556666", sym, kT0).ok());
  EXPECT_TRUE(t.Admit("111122223333", One(kSymmetricQuota, "eu-west-1"), kT0).ok());
  EXPECT_TRUE(t.Admit("111122223333", One(Q("CreateKey"), "us-east-1"), kT0).ok());
  EXPECT_TRUE(t.Admit("111122223333", One(kRsaQuota, "us-east-1"), kT0).ok());
  // Half a second later one symmetric token is back.
  EXPECT_TRUE(t.Admit("111122223333", sym, kT0 + milliseconds(500)).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", sym, kT0 + milliseconds(500))));
  // A Region the server does not serve is not tracked.
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(t.Admit("111122223333", One(kSymmetricQuota, "xx-none-1"), kT0).ok());
  }
}

TEST(KmsThrottlerTest, ARequestTakesEveryChargeOrNone) {
  Throttler t = SmallThrottler();
  Charges both;
  both.Add({kSymmetricQuota, "us-east-1", {}, 1});
  both.Add({kCustomKeyStoreQuota, "us-east-1", "cks-1234567890abcdef0", 1});
  both.Add({kSymmetricQuota, "us-east-1", {}, 1});  // a duplicate counts once
  EXPECT_EQ(both.size(), 2u);
  EXPECT_TRUE(t.Admit("111122223333", both, kT0).ok());
  // The store's one token is gone: the symmetric token is given back.
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", both, kT0)));
  Charges sym = One(kSymmetricQuota, "us-east-1");
  EXPECT_TRUE(t.Admit("111122223333", sym, kT0).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", sym, kT0)));
}

TEST(KmsThrottlerTest, StoresAreSharedByAccountsAndMadeOnlyFromKeys) {
  Throttler t = SmallThrottler();
  Charges named;  // a store id from a request: not tracked until a key makes it
  named.Add({kCustomKeyStoreQuota, "us-east-1", "cks-aaaaaaaaaaaaaaaaa", 1, true});
  EXPECT_TRUE(t.Admit("111122223333", named, kT0).ok());
  EXPECT_TRUE(t.Admit("111122223333", named, kT0).ok());
  Charges by_key = One(kCustomKeyStoreQuota, "us-east-1", "cks-aaaaaaaaaaaaaaaaa");
  EXPECT_TRUE(t.Admit("111122223333", by_key, kT0 + seconds(1)).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("444455556666", by_key, kT0 + seconds(1))));
  EXPECT_TRUE(IsThrottled(t.Admit("444455556666", named, kT0 + seconds(1))));
}

// Prints what one admission costs (a measurement, not an assertion):
// one account and quota, from one thread and from two at once.
TEST(KmsThrottlerTest, CostPerCheck) {
  QuotaOverrides o;
  Throttler t({"us-east-1"}, o);
  Charges sym = One(kSymmetricQuota, "us-east-1");
  constexpr int kChecks = 1000000;
  auto run = [&t, &sym](int n) {
    TimePoint now = kT0;
    for (int i = 0; i < n; ++i) {
      now += std::chrono::microseconds(20);  // 50,000/s: under the quota
      if (!t.Admit("111122223333", sym, now).ok()) std::abort();
    }
  };
  auto start = std::chrono::steady_clock::now();
  run(kChecks);
  double one = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                   .count() / kChecks;
  Throttler shared({"us-east-1"}, o);
  start = std::chrono::steady_clock::now();
  std::thread other([&shared, &sym] {
    for (int i = 0; i < kChecks; ++i) {
      (void)shared.Admit("111122223333", sym, kT0 + std::chrono::microseconds(40 * i));
    }
  });
  for (int i = 0; i < kChecks; ++i) {
    (void)shared.Admit("111122223333", sym, kT0 + std::chrono::microseconds(40 * i));
  }
  other.join();
  double two = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                   .count() / kChecks;
  std::printf("[ throttle ] Admit: %.1f ns per check on one thread; %.1f ns per pair of "
              "concurrent checks on two threads, same bucket\n",
              one, two);
}

}  // namespace
}  // namespace rampart::kms::internal

namespace rampart::kms::test {
namespace {

using std::chrono::seconds;

// The handlers with throttling on: symmetric 3/s, RSA 2/s, ECC 1/s,
// CreateKey 2/s. The clock is the fixture's OffsetClock; the requests of a
// test take far less than one token's time.
class KmsThrottleTest : public KmsServiceTest {
 protected:
  void SetUp() override {
    KmsServiceTest::SetUp();
    registry_ = server::Registry();
    service_ = std::make_unique<KmsService>(*db_, root_key_, *authorizer_);
    server::KmsThrottlingConfig throttling;
    throttling.enabled = true;
    throttling.quotas = {{"CryptographicOperationsSymmetric", 3},
                         {"CryptographicOperationsRSA", 2},
                         {"CryptographicOperationsECC", 1},
                         {"CreateKey", 2}};
    ASSERT_TRUE(service_->SetThrottling(throttling, config_.regions).ok());
    service_->Register(registry_);
  }
  static bool Throttled(const Result<json::Value>& r) {
    return !r.ok() && r.status().code() == ErrorCode::kThrottling;
  }
};

TEST_F(KmsThrottleTest, CreateKeyAndTheSymmetricQuotaThrottleSeparately) {
  std::string key = NewKey();
  NewKey();
  EXPECT_TRUE(Throttled(A("CreateKey", json::Value::MakeObject())));
  // Encrypt, Decrypt and GenerateDataKey share the symmetric quota.
  std::string blob = Encrypt(key, "one");
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  EXPECT_TRUE(A("GenerateDataKey", Obj({{"KeyId", key}, {"KeySpec", "AES_256"}})).ok());
  EXPECT_TRUE(Throttled(A("Decrypt", Obj({{"CiphertextBlob", blob}}))));
  EXPECT_TRUE(Throttled(A("GenerateRandom", Obj({{"NumberOfBytes", 16}}))));
  // Other quotas are untouched.
  EXPECT_TRUE(A("DescribeKey", Obj({{"KeyId", key}})).ok());
  // One second later the bucket is full again.
  clock_.Advance(seconds(1));
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  EXPECT_TRUE(A("CreateKey", json::Value::MakeObject()).ok());
}

TEST_F(KmsThrottleTest, AsymmetricKeysCountAgainstTheirKeyTypesQuota) {
  std::string ecc = NewKey(Obj({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "SIGN_VERIFY"}}));
  std::string sym = NewKey();
  clock_.Advance(seconds(1));
  json::Value sign = Obj({{"KeyId", ecc}, {"Message", "m"}, {"SigningAlgorithm", "ECDSA_SHA_256"}});
  EXPECT_TRUE(A("Sign", sign).ok());
  EXPECT_TRUE(Throttled(A("Sign", sign)));
  // The symmetric quota is still whole.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Encrypt(sym, "x").empty());
  EXPECT_TRUE(Throttled(A("Encrypt", Obj({{"KeyId", sym}, {"Plaintext", "x"}}))));
}

TEST_F(KmsThrottleTest, KeysNamedByAliasArnOrBlobAreClassifiedByTheirKey) {
  std::string ecc = NewKey(Obj({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "SIGN_VERIFY"}}));
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/signer"}, {"TargetKeyId", ecc}})).ok());
  clock_.Advance(seconds(1));
  json::Value by_alias =
      Obj({{"KeyId", "alias/signer"}, {"Message", "m"}, {"SigningAlgorithm", "ECDSA_SHA_256"}});
  EXPECT_TRUE(A("Sign", by_alias).ok());
  EXPECT_TRUE(Throttled(A("Sign", by_alias)));
  std::string arn = "arn:aws:kms:us-east-1:" + std::string(kAcct) + ":key/" + ecc;
  EXPECT_TRUE(Throttled(A("Verify", Obj({{"KeyId", arn}, {"Message", "m"}, {"Signature", "s"},
                                          {"SigningAlgorithm", "ECDSA_SHA_256"}}))));
  clock_.Advance(seconds(1));
  // Twice by ARN: the second from the per-thread cache, still ECC.
  json::Value by_arn =
      Obj({{"KeyId", arn}, {"Message", "m"}, {"SigningAlgorithm", "ECDSA_SHA_256"}});
  EXPECT_TRUE(A("Sign", by_arn).ok());
  EXPECT_TRUE(Throttled(A("Sign", by_arn)));
  // A symmetric blob without KeyId: the symmetric quota, not ECC's.
  std::string sym = NewKey();
  std::string blob = Encrypt(sym, "x");
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  EXPECT_TRUE(Throttled(A("Decrypt", Obj({{"CiphertextBlob", blob}}))));
}

TEST_F(KmsThrottleTest, RequestsWithAnotherAccountsKeyCountAgainstTheCaller) {
  std::string key = NewKey();
  std::string arn = "arn:aws:kms:us-east-1:" + std::string(kAcct) + ":key/" + key;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Encrypt(key, "x").empty());
  EXPECT_TRUE(Throttled(A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))));
  // The owner's quota is exhausted, but the other account's is not: it
  // gets the key policy's answer, not ThrottlingException.
  auto other = Call(Root(kOther), "Encrypt", Obj({{"KeyId", arn}, {"Plaintext", "x"}}));
  EXPECT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::kAccessDenied) << other.status().ToString();
}

TEST_F(KmsThrottleTest, ThrottledRequestsDoNoWork) {
  NewKey();
  NewKey();
  EXPECT_TRUE(Throttled(A("CreateKey", json::Value::MakeObject())));
  auto list = A("ListKeys", json::Value::MakeObject());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->find("Keys")->as_array().size(), 2u);
}

// The full hook on the hot path: an Encrypt's charges (key type through
// the key cache) and admission, printed per check.
TEST_F(KmsThrottleTest, HookCostPerEncrypt) {
  std::string key = NewKey();
  internal::QuotaOverrides none;
  internal::Throttler t(config_.regions, none);
  const internal::OperationRule* rule = internal::RuleFor("Encrypt");
  ASSERT_NE(rule, nullptr);
  server::Principal p = Root(kAcct);
  json::Value in = Obj({{"KeyId", key}, {"Plaintext", "x"}});
  // Warm the key cache through a real call.
  ASSERT_FALSE(Encrypt(key, "x").empty());
  constexpr int kChecks = 200000;
  // A Kms of the fixture's database sees the same keys.
  internal::Kms kms(*db_, root_key_, *authorizer_);
  TimePoint now = clock_.Now();
  server::RequestContext ctx({&p, "kms", "Encrypt", kRegion, "req", "127.0.0.1", "test", true,
                              now, &config_, db_.get(), authorizer_.get(), &clock_});
  ASSERT_TRUE(internal::AdmitRequest(t, kms, ctx, *rule, in).ok());  // loads the key once
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kChecks; ++i) {
    server::RequestContext c({&p, "kms", "Encrypt", kRegion, "req", "127.0.0.1", "test", true,
                              now + std::chrono::microseconds(20 * i), &config_, db_.get(),
                              authorizer_.get(), &clock_});
    ASSERT_TRUE(internal::AdmitRequest(t, kms, c, *rule, in).ok());
  }
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                  .count() / kChecks;
  std::printf("[ throttle ] hook for Encrypt (key resolved through the cache + admission): "
              "%.1f ns per request\n",
              ns);
}

}  // namespace
}  // namespace rampart::kms::test
