#include "rampart/crypto/aead.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rampart/core/encoding.h"
#include "rampart/crypto/random.h"

namespace rampart::crypto {
namespace {

SecretBytes Key(char fill = '\x42') { return SecretBytes(std::string(kAeadKeySize, fill)); }

TEST(AeadTest, RoundTrip) {
  for (std::string plain : {std::string(), std::string("x"), std::string(1000, 'p')}) {
    auto sealed = AeadSeal(Key(), plain, "aad");
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(sealed->size(), plain.size() + kAeadOverhead);
    auto opened = AeadOpen(Key(), *sealed, "aad");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(opened->reveal(), plain);
  }
}

TEST(AeadTest, NoncesDiffer) {
  auto a = AeadSeal(Key(), "same", "");
  auto b = AeadSeal(Key(), "same", "");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

// Nonces come from a per-thread buffer of random bytes: across refills and
// threads every seal still gets a nonce of its own.
TEST(AeadTest, NoncesAreUniqueAcrossRefillsAndThreads) {
  constexpr int kThreads = 3;
  constexpr int kEach = 1000;  // about three buffer refills per thread
  std::vector<std::vector<std::string>> nonces(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&nonces, t] {
      for (int i = 0; i < kEach; ++i) {
        auto sealed = AeadSeal(Key(), "x", "");
        if (sealed.ok()) nonces[static_cast<size_t>(t)].push_back(sealed->substr(0, kAeadNonceSize));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> distinct;
  for (const auto& list : nonces) {
    ASSERT_EQ(list.size(), static_cast<size_t>(kEach));
    distinct.insert(list.begin(), list.end());
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads * kEach));
}

// A forked child must not reuse the nonces its parent buffered.
TEST(AeadTest, ForkedChildDrawsOtherNonces) {
  ASSERT_TRUE(AeadSeal(Key(), "warm the buffer", "").ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto sealed = AeadSeal(Key(), "x", "");
    std::string nonce = sealed.ok() ? sealed->substr(0, kAeadNonceSize) : std::string();
    ssize_t n = write(fds[1], nonce.data(), nonce.size());
    _exit(n == static_cast<ssize_t>(kAeadNonceSize) ? 0 : 1);
  }
  close(fds[1]);
  auto parent = AeadSeal(Key(), "x", "");
  ASSERT_TRUE(parent.ok());
  char buf[kAeadNonceSize];
  ASSERT_EQ(read(fds[0], buf, sizeof buf), static_cast<ssize_t>(kAeadNonceSize));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_NE(std::string(buf, sizeof buf), parent->substr(0, kAeadNonceSize));
}

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 and
// 14 (AES-256, zero key, zero 96-bit IV), laid out as nonce||ct||tag.
TEST(AeadTest, OpensPublishedGcmVectors) {
  SecretBytes zero_key(std::string(32, '\0'));
  std::string nonce(12, '\0');
  auto empty = AeadOpen(zero_key, nonce + *HexDecode("530f8afbc74536b9a963b4f1c4cb738b"), "");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto block = AeadOpen(zero_key,
                        nonce + *HexDecode("cea7403d4d606b6e074ec5d3baf39d18"
                                           "d0d1c8a799996bf0265b98b5d48ab919"),
                        "");
  ASSERT_TRUE(block.ok());
  EXPECT_EQ(block->reveal(), std::string(16, '\0'));
}

TEST(AeadTest, AnyBitFlipIsRejected) {
  auto sealed = AeadSeal(Key(), "attack at dawn", "ctx");
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string t = *sealed;
      t[i] = static_cast<char>(t[i] ^ (1 << bit));
      auto r = AeadOpen(Key(), t, "ctx");
      ASSERT_FALSE(r.ok()) << i << ":" << bit;
      EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
    }
  }
}

TEST(AeadTest, WrongAadKeyOrLengthIsRejected) {
  auto sealed = AeadSeal(Key(), "secret", "ctx");
  ASSERT_TRUE(sealed.ok());
  EXPECT_FALSE(AeadOpen(Key(), *sealed, "ctx2").ok());
  EXPECT_FALSE(AeadOpen(Key(), *sealed, "").ok());
  EXPECT_FALSE(AeadOpen(Key('\x43'), *sealed, "ctx").ok());
  EXPECT_FALSE(AeadOpen(Key(), sealed->substr(0, sealed->size() - 1), "ctx").ok());
  EXPECT_FALSE(AeadOpen(Key(), *sealed + "x", "ctx").ok());
  EXPECT_FALSE(AeadOpen(Key(), "", "ctx").ok());
  EXPECT_FALSE(AeadOpen(Key(), std::string(kAeadOverhead - 1, 'a'), "ctx").ok());
  EXPECT_FALSE(AeadOpen(Key(), std::string(kAeadOverhead, 'a'), "ctx").ok());
}

TEST(AeadTest, BadKeySizeIsAnError) {
  EXPECT_FALSE(AeadSeal(SecretBytes("short"), "x", "").ok());
  EXPECT_FALSE(AeadSeal(SecretBytes(), "x", "").ok());
  EXPECT_FALSE(AeadOpen(SecretBytes(std::string(16, 'k')), std::string(40, 'a'), "").ok());
}

TEST(RandomTest, LengthsAndBounds) {
  auto a = RandomBytes(32);
  auto b = RandomBytes(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
  auto none = RandomBytes(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(RandomBytes(kMaxRandomBytes + 1).ok());
}

}  // namespace
}  // namespace rampart::crypto
