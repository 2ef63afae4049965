// KMS request throttling: the quota table, the buckets (with times given
// by the test), the all-or-none admission, the charges of requests naming
// other accounts' keys and stores, and the handlers behind the hook, all
// on a fake monotonic clock.
#include "kms/kms_throttle.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "kms/kms_internal.h"
#include "kms/kms_test_fixture.h"
#include "rampart/server/identity.h"

namespace rampart::kms::internal {
namespace {

using rampart::testing::Obj;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kSecond = 1000000000;

}  // namespace

// A monotonic clock the test moves (thread-safe).
class FakeMonotonicClock final : public MonotonicClock {
 public:
  int64_t NowNs() const override { return now_ns_.load(); }
  void Advance(std::chrono::nanoseconds by) { now_ns_ += by.count(); }

 private:
  std::atomic<int64_t> now_ns_{1000 * kSecond};
};

namespace {

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

TEST(KmsRateBucketTest, GiveBackReturnsTokens) {
  const Rate rate = MakeRate(2);
  RateBucket b;
  int64_t t = 100 * kSecond;
  EXPECT_TRUE(b.TryTake(t, rate, 2));
  EXPECT_FALSE(b.TryTake(t, rate, 1));
  b.GiveBack(rate, 1);
  EXPECT_TRUE(b.TryTake(t, rate, 1));
  EXPECT_FALSE(b.TryTake(t, rate, 1));
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
  // However far back: the time is monotonic, an older reading is only a
  // worker that read it earlier, never a reason to refill.
  EXPECT_FALSE(b.TryTake(t - 12 * kSecond, rate, 1));
  EXPECT_FALSE(b.TryTake(t - 3600 * kSecond, rate, 1));
  EXPECT_TRUE(b.TryTake(t + kSecond / 1000, rate, 1));
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

// A throttler over two Regions whose symmetric quota is 2/s, CreateKey and
// the custom key store quota 1/s, on clock.
Throttler SmallThrottler(const MonotonicClock& clock) {
  QuotaOverrides o;
  o[kSymmetricQuota] = 2;
  o[Q("CreateKey")] = 1;
  o[kCustomKeyStoreQuota] = 1;
  return Throttler({"us-east-1", "eu-west-1"}, o, clock);
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
  FakeMonotonicClock clock;
  Throttler t = SmallThrottler(clock);
  EXPECT_EQ(t.RateOf(kSymmetricQuota, "us-east-1"), 2);
  EXPECT_EQ(t.RateOf(Q("DescribeKey"), "eu-west-1"), 2000);
  EXPECT_EQ(t.RateOf(kSymmetricQuota, "ap-south-1"), 0);  // not served
  Charges sym = One(kSymmetricQuota, "us-east-1");
  EXPECT_TRUE(t.Admit("111122223333", sym).ok());
  EXPECT_TRUE(t.Admit("111122223333", sym).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", sym)));
  // Another account, another Region, another quota: each its own bucket.
  EXPECT_TRUE(t.Admit("444455556666", sym).ok());
  EXPECT_TRUE(t.Admit("111122223333", One(kSymmetricQuota, "eu-west-1")).ok());
  EXPECT_TRUE(t.Admit("111122223333", One(Q("CreateKey"), "us-east-1")).ok());
  EXPECT_TRUE(t.Admit("111122223333", One(kRsaQuota, "us-east-1")).ok());
  // Half a second later one symmetric token is back.
  clock.Advance(milliseconds(500));
  EXPECT_TRUE(t.Admit("111122223333", sym).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", sym)));
  // A Region the server does not serve is not tracked.
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(t.Admit("111122223333", One(kSymmetricQuota, "xx-none-1")).ok());
  }
}

TEST(KmsThrottlerTest, ARequestTakesEveryChargeOrNone) {
  FakeMonotonicClock clock;
  Throttler t = SmallThrottler(clock);
  Charges both;
  both.Add({kSymmetricQuota, "us-east-1", {}, 1});
  both.Add({kCustomKeyStoreQuota, "us-east-1", "cks-1234567890abcdef0", 1});
  both.Add({kSymmetricQuota, "us-east-1", {}, 1});  // a duplicate counts once
  EXPECT_EQ(both.size(), 2u);
  EXPECT_TRUE(t.Admit("111122223333", both).ok());
  // The store's one token is gone: the symmetric token is given back.
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", both)));
  Charges sym = One(kSymmetricQuota, "us-east-1");
  EXPECT_TRUE(t.Admit("111122223333", sym).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", sym)));
}

TEST(KmsThrottlerTest, StoresAreMadeOnlyFromKeysAndTakenOnlyByTheirOwner) {
  FakeMonotonicClock clock;
  Throttler t = SmallThrottler(clock);
  Charges named;  // a store id from a request: not tracked until a key makes it
  named.Add({kCustomKeyStoreQuota, "us-east-1", "cks-aaaaaaaaaaaaaaaaa", 1, true});
  EXPECT_TRUE(t.Admit("111122223333", named).ok());
  EXPECT_TRUE(t.Admit("111122223333", named).ok());
  // The owner's key operation makes the bucket and takes its one token.
  Charges by_key = One(kCustomKeyStoreQuota, "us-east-1", "cks-aaaaaaaaaaaaaaaaa");
  EXPECT_TRUE(t.Admit("111122223333", by_key).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", by_key)));
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", named)));
  // Another account never takes from the store, by key or by name.
  clock.Advance(seconds(1));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(t.Admit("444455556666", by_key).ok()) << i;
    EXPECT_TRUE(t.Admit("444455556666", named).ok()) << i;
  }
  EXPECT_TRUE(t.Admit("111122223333", named).ok());
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", by_key)));
}

// AdmitStore (an authorized use of a key in the store) takes from the
// store's bucket whoever the caller is; the bucket keeps the store's owner,
// whose GenerateRandom by store id (a known_only charge) shares it.
TEST(KmsThrottlerTest, AuthorizedUsesOfAStoreShareItsBucket) {
  FakeMonotonicClock clock;
  Throttler t = SmallThrottler(clock);
  Charges named;
  named.Add({kCustomKeyStoreQuota, "us-east-1", "cks-bbbbbbbbbbbbbbbbb", 1, true});
  EXPECT_TRUE(t.AdmitStore("cks-bbbbbbbbbbbbbbbbb", "111122223333", "us-east-1").ok());
  EXPECT_TRUE(IsThrottled(t.AdmitStore("cks-bbbbbbbbbbbbbbbbb", "111122223333", "us-east-1")));
  EXPECT_TRUE(IsThrottled(t.Admit("111122223333", named)));
  clock.Advance(seconds(1));
  // Another account naming the store takes nothing from it.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t.Admit("444455556666", named).ok()) << i;
  EXPECT_TRUE(t.Admit("111122223333", named).ok());
  EXPECT_TRUE(IsThrottled(t.AdmitStore("cks-bbbbbbbbbbbbbbbbb", "111122223333", "us-east-1")));
  // Regions the server does not serve are not kept.
  EXPECT_TRUE(t.AdmitStore("cks-bbbbbbbbbbbbbbbbb", "111122223333", "xx-nowhere-1").ok());
}

// Prints what one admission costs (a measurement, not an assertion):
// one account and quota, from one thread and from two at once.
// On the server's clock (steady_clock, read by every check) with the
// highest rate: most checks pass, the others take the refusing path, which
// costs the same.
TEST(KmsThrottlerTest, CostPerCheck) {
  QuotaOverrides o;
  o[kSymmetricQuota] = server::KmsThrottlingConfig::kMaxRate;
  Throttler t({"us-east-1"}, o);
  Charges sym = One(kSymmetricQuota, "us-east-1");
  constexpr int kChecks = 1000000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kChecks; ++i) (void)t.Admit("111122223333", sym);
  double one = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                   .count() / kChecks;
  Throttler shared({"us-east-1"}, o);
  start = std::chrono::steady_clock::now();
  std::thread other([&shared, &sym] {
    for (int i = 0; i < kChecks; ++i) (void)shared.Admit("111122223333", sym);
  });
  for (int i = 0; i < kChecks; ++i) (void)shared.Admit("111122223333", sym);
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

using QuotaList = std::vector<std::pair<std::string, double>>;

// The handlers with throttling on: symmetric 3/s, RSA 2/s, ECC 1/s,
// CreateKey 2/s, on the fake monotonic clock mono_, which only the test
// moves (the fixture's wall clock clock_ only stamps the requests).
class KmsThrottleTest : public KmsServiceTest {
 protected:
  void SetUp() override {
    KmsServiceTest::SetUp();
    StartService({{"CryptographicOperationsSymmetric", 3},
                  {"CryptographicOperationsRSA", 2},
                  {"CryptographicOperationsECC", 1},
                  {"CreateKey", 2}});
  }
  // A new service with throttling at quotas, in registry_.
  void StartService(const QuotaList& quotas, const server::HsmConfig* hsm = nullptr) {
    registry_ = server::Registry();
    service_ = std::make_unique<KmsService>(*db_, root_key_, *authorizer_);
    if (hsm != nullptr) service_->SetHsmConfig(hsm);
    server::KmsThrottlingConfig throttling;
    throttling.enabled = true;
    throttling.quotas = quotas;
    ASSERT_TRUE(service_->SetThrottling(throttling, config_.regions, &mono_).ok());
    service_->Register(registry_);
  }
  static bool Throttled(const Result<json::Value>& r) {
    return !r.ok() && r.status().code() == ErrorCode::kThrottling;
  }
  std::string KeyArnOf(std::string_view key) {
    return "arn:aws:kms:us-east-1:" + std::string(kAcct) + ":key/" + std::string(key);
  }

  internal::FakeMonotonicClock mono_;
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
  mono_.Advance(seconds(1));
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  EXPECT_TRUE(A("CreateKey", json::Value::MakeObject()).ok());
}

TEST_F(KmsThrottleTest, AsymmetricKeysCountAgainstTheirKeyTypesQuota) {
  std::string ecc = NewKey(Obj({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "SIGN_VERIFY"}}));
  std::string sym = NewKey();
  mono_.Advance(seconds(1));
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
  mono_.Advance(seconds(1));
  json::Value by_alias =
      Obj({{"KeyId", "alias/signer"}, {"Message", "m"}, {"SigningAlgorithm", "ECDSA_SHA_256"}});
  EXPECT_TRUE(A("Sign", by_alias).ok());
  EXPECT_TRUE(Throttled(A("Sign", by_alias)));
  std::string arn = KeyArnOf(ecc);
  EXPECT_TRUE(Throttled(A("Verify", Obj({{"KeyId", arn}, {"Message", "m"}, {"Signature", "s"},
                                          {"SigningAlgorithm", "ECDSA_SHA_256"}}))));
  mono_.Advance(seconds(1));
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
  std::string arn = KeyArnOf(key);
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

TEST_F(KmsThrottleTest, TheWallClockNeitherRefillsNorFreezesTheBuckets) {
  std::string key = NewKey();
  mono_.Advance(seconds(1));
  json::Value in = Obj({{"KeyId", key}, {"Plaintext", "x"}});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(A("Encrypt", in).ok()) << i;
  EXPECT_TRUE(Throttled(A("Encrypt", in)));
  // The system time jumps an hour ahead, then two hours back: the requests
  // carry those times, the buckets do not see them.
  clock_.Advance(seconds(3600));
  EXPECT_TRUE(Throttled(A("Encrypt", in)));
  clock_.Advance(seconds(-7200));
  EXPECT_TRUE(Throttled(A("Encrypt", in)));
  // A third of a second on the monotonic clock brings one token back,
  // whatever the wall clock says.
  mono_.Advance(std::chrono::milliseconds(334));
  EXPECT_TRUE(A("Encrypt", in).ok());
  EXPECT_TRUE(Throttled(A("Encrypt", in)));
}

// What ChargesFor gives for a KeyId input, as principal p in region.
class KmsThrottleChargesTest : public KmsThrottleTest {
 protected:
  void SetUp() override {
    KmsThrottleTest::SetUp();
    // A Kms of the fixture's database sees the same keys.
    kms_ = std::make_unique<internal::Kms>(*db_, root_key_, *authorizer_);
    throttler_ = std::make_unique<internal::Throttler>(
        std::vector<std::string>{"us-east-1", "eu-west-1"}, internal::QuotaOverrides{}, mono_);
  }
  internal::Charges ChargesOf(const server::Principal& p, std::string_view region,
                              std::string_view op, const json::Value& in) {
    const internal::OperationRule* rule = internal::RuleFor(op);
    EXPECT_NE(rule, nullptr) << op;
    if (rule == nullptr) return {};
    server::RequestContext ctx({&p, "kms", op, region, "req", "127.0.0.1", "test", true,
                                clock_.Now(), &config_, db_.get(), authorizer_.get(), &clock_});
    return internal::ChargesFor(*kms_, ctx, *rule, in, throttler_->id());
  }

  std::unique_ptr<internal::Kms> kms_;
  std::unique_ptr<internal::Throttler> throttler_;
};

TEST_F(KmsThrottleChargesTest, TheKeyClassCacheIsKeptPerAccountAndRegion) {
  std::string ecc = NewKey(Obj({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "SIGN_VERIFY"}}));
  json::Value by_id = Obj({{"KeyId", ecc}, {"Message", "m"}, {"SigningAlgorithm", "ECDSA_SHA_256"}});
  server::Principal a = Root(kAcct);
  server::Principal b = Root(kOther);
  internal::Charges mine = ChargesOf(a, "us-east-1", "Sign", by_id);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].quota, internal::kEccQuota);
  // Twice, the second from the cache.
  mine = ChargesOf(a, "us-east-1", "Sign", by_id);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].quota, internal::kEccQuota);
  // The same bare key id is no key of the other account, nor of the
  // owner in another Region: it resolves to nothing there, which counts
  // as symmetric, not as what it resolved to for kAcct in us-east-1.
  internal::Charges theirs = ChargesOf(b, "us-east-1", "Sign", by_id);
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(theirs[0].quota, internal::kSymmetricQuota);
  EXPECT_EQ(theirs[0].region, "us-east-1");
  internal::Charges elsewhere = ChargesOf(a, "eu-west-1", "Sign", by_id);
  ASSERT_EQ(elsewhere.size(), 1u);
  EXPECT_EQ(elsewhere[0].quota, internal::kSymmetricQuota);
  // By ARN the other account reaches the key: its own ECC quota counts.
  json::Value by_arn =
      Obj({{"KeyId", KeyArnOf(ecc)}, {"Message", "m"}, {"SigningAlgorithm", "ECDSA_SHA_256"}});
  theirs = ChargesOf(b, "us-east-1", "Sign", by_arn);
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(theirs[0].quota, internal::kEccQuota);
}

// Throttling with a custom key store over a two-member SoftHSM2 cluster
// of kAcct (the management account): the store's quota 2/s, symmetric
// 100/s so that only the store's quota is in play.
class KmsThrottleHsmTest : public KmsThrottleTest {
 protected:
  static constexpr const char* kPin = SoftHsmCluster::kPin;
  static constexpr const char* kCluster = SoftHsmCluster::kCluster;

  void SetUp() override {
    if (!SoftHsmCluster::Available()) {
      GTEST_SKIP() << "SoftHSM2 is not installed (scripts/install-deps.sh)";
    }
    KmsServiceTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(tokens_.Create(hsm_));
    ASSERT_TRUE(db_->Write([](store::Tx& tx) {
                     return server::CredentialStore::InsertAccount(tx, kAcct, "management", true);
                   }).ok());
    StartService({{"CryptographicOperationsSymmetric", 100}, {"CustomKeyStore", 2}}, &hsm_);
  }

  void TearDown() override {
    service_.reset();  // closes the HSM sessions before the tokens go
  }

  // A connected store of kAcct.
  std::string NewConnectedStore() {
    auto r = A("CreateCustomKeyStore",
               Obj({{"CustomKeyStoreName", "throttled"}, {"CloudHsmClusterId", kCluster},
                    {"KeyStorePassword", kPin},
                    {"TrustAnchorCertificate",
                     "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "";
    std::string id(r->get_string("CustomKeyStoreId"));
    auto connected = A("ConnectCustomKeyStore", Obj({{"CustomKeyStoreId", id}}));
    EXPECT_TRUE(connected.ok()) << connected.status().ToString();
    return id;
  }

  server::HsmConfig hsm_;
  SoftHsmCluster tokens_;
};

TEST_F(KmsThrottleHsmTest, UnauthorizedAccountsNeverSpendTheStoresQuota) {
  std::string store = NewConnectedStore();
  ASSERT_FALSE(store.empty());
  std::string key = NewKey(Obj({{"Origin", "AWS_CLOUDHSM"}, {"CustomKeyStoreId", store}}));
  ASSERT_FALSE(key.empty());
  // The owner's first key operation: the store's bucket exists from now.
  std::string blob = Encrypt(key, "in the HSM");
  ASSERT_FALSE(blob.empty());
  const json::Value by_id = Obj({{"KeyId", key}, {"Plaintext", "x"}});
  struct Use {
    std::string_view what;
    std::string_view op;
    json::Value in;
  };
  const Use uses[] = {
      {"key ARN", "Encrypt", Obj({{"KeyId", KeyArnOf(key)}, {"Plaintext", "x"}})},
      {"ciphertext header", "Decrypt", Obj({{"CiphertextBlob", blob}})},
      {"bare key id", "Encrypt", by_id},
      {"store id", "GenerateRandom", Obj({{"NumberOfBytes", 16}, {"CustomKeyStoreId", store}})},
  };
  const server::Principal other = Root(kOther);
  for (const Use& use : uses) {
    mono_.Advance(seconds(1));
    // More calls than the store's bucket holds: the other account gets the
    // answer of the key policy or the lookup, never ThrottlingException.
    for (int i = 0; i < 3; ++i) {
      auto r = Call(other, use.op, use.in);
      EXPECT_FALSE(r.ok()) << use.what;
      EXPECT_FALSE(Throttled(r)) << use.what << " " << i << ": " << r.status().ToString();
    }
    // The owner still finds both tokens of its store.
    EXPECT_TRUE(A("Encrypt", by_id).ok()) << use.what;
    EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok()) << use.what;
    EXPECT_TRUE(Throttled(A("Encrypt", by_id))) << use.what;
  }
  // The owner's GenerateRandom in its store counts against the store.
  mono_.Advance(seconds(1));
  json::Value random = Obj({{"NumberOfBytes", 16}, {"CustomKeyStoreId", store}});
  EXPECT_TRUE(A("GenerateRandom", random).ok());
  EXPECT_TRUE(A("GenerateRandom", random).ok());
  EXPECT_TRUE(Throttled(A("GenerateRandom", random)));
  EXPECT_TRUE(Throttled(A("Encrypt", by_id)));
}

// The store's quota is charged after authorization, so every account the
// key policy lets use the key spends it, and is throttled by it.
TEST_F(KmsThrottleHsmTest, PermittedCrossAccountCallersSpendTheStoresQuota) {
  std::string store = NewConnectedStore();
  ASSERT_FALSE(store.empty());
  std::string key = NewKey(Obj({{"Origin", "AWS_CLOUDHSM"}, {"CustomKeyStoreId", store}}));
  ASSERT_FALSE(key.empty());
  const std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},)"
      R"("Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]})";
  ASSERT_TRUE(A("PutKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", policy}}))
                  .ok());
  const server::Principal other = Root(kOther);
  const json::Value by_arn = Obj({{"KeyId", KeyArnOf(key)}, {"Plaintext", "x"}});
  const json::Value by_id = Obj({{"KeyId", key}, {"Plaintext", "x"}});
  // The store holds 2 tokens: the other account takes both, then is
  // throttled, and so is the owner.
  mono_.Advance(seconds(1));
  auto first = Call(other, "Encrypt", by_arn);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::string blob(first->get_string("CiphertextBlob"));
  EXPECT_TRUE(Call(other, "Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  EXPECT_TRUE(Throttled(Call(other, "Encrypt", by_arn)));
  EXPECT_TRUE(Throttled(Call(other, "Decrypt", Obj({{"CiphertextBlob", blob}}))));
  EXPECT_TRUE(Throttled(A("Encrypt", by_id)));
  // A ReEncrypt within the store counts once.
  mono_.Advance(seconds(1));
  auto re = A("ReEncrypt", Obj({{"CiphertextBlob", blob}, {"DestinationKeyId", key}}));
  EXPECT_TRUE(re.ok()) << re.status().ToString();
  EXPECT_TRUE(A("Encrypt", by_id).ok());
  EXPECT_TRUE(Throttled(Call(other, "Encrypt", by_arn)));
  // Once the policy no longer names the other account, its calls are
  // denied and leave the store's tokens to the owner.
  const std::string owner_only =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]})";
  ASSERT_TRUE(A("PutKeyPolicy",
                Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", owner_only}}))
                  .ok());
  mono_.Advance(seconds(1));
  for (int i = 0; i < 3; ++i) {
    auto r = Call(other, "Encrypt", by_arn);
    EXPECT_EQ(r.status().code(), ErrorCode::kAccessDenied) << r.status().ToString();
  }
  EXPECT_TRUE(A("Encrypt", by_id).ok());
  EXPECT_TRUE(A("Encrypt", by_id).ok());
  EXPECT_TRUE(Throttled(A("Encrypt", by_id)));
}

// The full hook on the hot path: an Encrypt's charges (key type through
// the key cache) and admission, printed per check.
TEST_F(KmsThrottleTest, HookCostPerEncrypt) {
  std::string key = NewKey();
  internal::QuotaOverrides none;
  internal::FakeMonotonicClock mono;
  internal::Throttler t(config_.regions, none, mono);
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
    mono.Advance(std::chrono::microseconds(20));  // 50,000/s: under the quota
    server::RequestContext c({&p, "kms", "Encrypt", kRegion, "req", "127.0.0.1", "test", true,
                              now, &config_, db_.get(), authorizer_.get(), &clock_});
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
