#include "rampart/crypto/random.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace rampart::crypto {
namespace {

// RandomBytes is covered by RandomTest.LengthsAndBounds in aead_test.cc.

TEST(RandomTest, RandomSecretHasTheAskedLengthBufferedOrNot) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{16}, size_t{32}, kMaxBufferedSecret,
                   kMaxBufferedSecret + 1, size_t{5000}}) {
    auto r = RandomSecret(n);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), n);
  }
  EXPECT_EQ(RandomSecret(kMaxRandomBytes + 1).status().code(), ErrorCode::kValidation);
}

// Buffered bytes are handed out once: across several refills of one
// thread's buffer and across threads, no two 32-byte keys are equal, and
// none is all zeros (what a wiped but reused region would give).
TEST(RandomTest, RandomSecretNeverRepeatsAcrossRefillsAndThreads) {
  constexpr int kThreads = 4;
  constexpr int kEach = 600;  // 600 x 32 bytes: several 4 KiB refills
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = RandomSecret(i % 7 == 0 ? 1000 : 32);  // odd sizes force early refills
        if (r.ok()) drawn[t].emplace_back(r->reveal());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::string> distinct;
  size_t total = 0;
  for (const auto& keys : drawn) {
    total += keys.size();
    for (const std::string& k : keys) {
      EXPECT_NE(k, std::string(k.size(), '\0'));
      distinct.insert(k);
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(distinct.size(), total);
}

// A forked child must not hand out the secret bytes its parent buffered.
TEST(RandomTest, ForkedChildDrawsOtherSecrets) {
  ASSERT_TRUE(RandomSecret(32).ok());  // fills this thread's buffer
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = RandomSecret(32);
    std::string bytes = r.ok() ? std::string(r->reveal()) : std::string();
    ssize_t n = write(fds[1], bytes.data(), bytes.size());
    _exit(n == 32 ? 0 : 1);
  }
  close(fds[1]);
  auto parent = RandomSecret(32);
  ASSERT_TRUE(parent.ok());
  char buf[32];
  ASSERT_EQ(read(fds[0], buf, sizeof buf), 32);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(std::string(buf, sizeof buf), parent->reveal());
  // A page wiped on fork must be refilled, not handed out as zeros.
  EXPECT_NE(std::string(buf, sizeof buf), std::string(sizeof buf, '\0'));
}

// Draws n public random bytes, or "" on failure.
std::string Public(size_t n) {
  std::string out(n, '\0');
  if (!FillPublicRandom(reinterpret_cast<unsigned char*>(out.data()), n)) return "";
  return out;
}

TEST(RandomTest, FillPublicRandomFillsBufferedAndDirectRequests) {
  EXPECT_TRUE(FillPublicRandom(nullptr, 0));
  for (size_t n : {size_t{1}, size_t{12}, kMaxBufferedPublic, kMaxBufferedPublic + 1,
                   size_t{5000}}) {
    std::string a = Public(n);
    ASSERT_EQ(a.size(), n);
    if (n >= 12) {
      EXPECT_NE(a, std::string(n, '\0'));
      EXPECT_NE(a, Public(n));
    }
  }
}

// Public bytes are handed out once too: across refills and threads no two
// 12-byte draws (a nonce's size) are equal.
TEST(RandomTest, FillPublicRandomNeverRepeatsAcrossRefillsAndThreads) {
  constexpr int kThreads = 4;
  constexpr int kEach = 1000;  // 12 KB per thread: a few 4 KiB refills
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) drawn[t].push_back(Public(i % 9 == 0 ? 61 : 12));
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::string> distinct;
  size_t total = 0;
  for (const auto& draws : drawn) {
    for (const std::string& d : draws) {
      ASSERT_FALSE(d.empty());
      distinct.insert(d);
      ++total;
    }
  }
  EXPECT_EQ(distinct.size(), total);
}

// A forked child must not hand out the public bytes its parent buffered.
TEST(RandomTest, ForkedChildDrawsOtherPublicBytes) {
  ASSERT_EQ(Public(12).size(), 12u);  // fills this thread's buffer
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string bytes = Public(32);
    ssize_t n = write(fds[1], bytes.data(), bytes.size());
    _exit(n == 32 ? 0 : 1);
  }
  close(fds[1]);
  std::string parent = Public(32);
  char buf[32];
  ASSERT_EQ(read(fds[0], buf, sizeof buf), 32);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(std::string(buf, sizeof buf), parent);
}

}  // namespace
}  // namespace rampart::crypto
