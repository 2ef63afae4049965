#include "crypto/sha256_mb.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"

namespace rampart::crypto {
namespace {

using Kernel = Sha256MultiBuffer::Kernel;

std::string Digest(const std::array<uint8_t, 32>& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class Sha256MultiBufferTest : public ::testing::TestWithParam<Kernel> {
 protected:
  void SetUp() override {
    if (!Sha256MultiBuffer::Supported(GetParam())) GTEST_SKIP() << "kernel not on this CPU";
  }
};

TEST_P(Sha256MultiBufferTest, EveryLengthUpTo300MatchesOpenSsl) {
  std::mt19937 rng(1);
  Sha256MultiBuffer mb(GetParam());
  // 16 lengths at a time, one per lane, each fed whole.
  for (size_t base = 0; base <= 300; base += Sha256MultiBuffer::kMaxLanes) {
    std::vector<std::string> msgs;
    msgs.reserve(mb.width());  // lanes read the strings: no reallocation
    for (size_t lane = 0; lane < mb.width(); ++lane) {
      msgs.push_back(RandomBytes(rng, base + lane));
      mb.Start(lane);
      mb.Feed(lane, msgs.back());
    }
    mb.Run();
    for (size_t lane = 0; lane < mb.width(); ++lane) {
      EXPECT_EQ(Digest(mb.Finish(lane)), Sha256(msgs[lane])) << "length " << base + lane;
    }
  }
}

TEST_P(Sha256MultiBufferTest, KnownAnswers) {
  Sha256MultiBuffer mb(GetParam());
  mb.Start(3);
  EXPECT_EQ(HexEncode(Digest(mb.Finish(3))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  mb.Start(0);
  mb.Feed(0, "abc");
  mb.Run();
  EXPECT_EQ(HexEncode(Digest(mb.Finish(0))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  mb.Start(15);
  mb.Feed(15, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(HexEncode(Digest(mb.Finish(15))),  // Finish without Run
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// Lanes take pieces of random sizes (many not whole blocks), end at
// different times and start new messages while the others go on.
TEST_P(Sha256MultiBufferTest, RandomPiecesLanesEndAndRefill) {
  std::mt19937 rng(7);
  Sha256MultiBuffer mb(GetParam());
  struct Job {
    std::string msg;
    size_t offset = 0;
  };
  std::vector<Job> lanes(mb.width());
  std::vector<std::string> pieces(mb.width());
  size_t done = 0;
  auto start = [&](size_t lane) {
    size_t len = rng() % 4 == 0 ? rng() % 200 : rng() % 20000;
    lanes[lane] = Job{RandomBytes(rng, len), 0};
    mb.Start(lane);
  };
  for (size_t lane = 0; lane < mb.width(); ++lane) start(lane);
  while (done < 200) {
    for (size_t lane = 0; lane < mb.width(); ++lane) {
      Job& job = lanes[lane];
      if (job.offset == job.msg.size() || rng() % 8 == 0) {
        if (job.offset == job.msg.size()) {
          ASSERT_EQ(Digest(mb.Finish(lane)), Sha256(job.msg)) << "message " << done;
          ++done;
          start(lane);
        }
        continue;  // this lane sits out a step now and then
      }
      size_t n = std::min<size_t>(job.msg.size() - job.offset, rng() % 3 == 0 ? rng() % 64
                                                                              : rng() % 5000);
      // A copy the lane reads until Run: the caller's buffer may be reused after.
      pieces[lane] = job.msg.substr(job.offset, n);
      job.offset += n;
      mb.Feed(lane, pieces[lane]);
    }
    mb.Run();
    for (size_t lane = 0; lane < mb.width(); ++lane) ASSERT_EQ(mb.Pending(lane), 0u);
  }
}

// A lane may finish with its last piece still pending, while other lanes
// keep theirs for the next Run.
TEST_P(Sha256MultiBufferTest, FinishWithPendingPieceLeavesOthersPending) {
  std::mt19937 rng(3);
  Sha256MultiBuffer mb(GetParam());
  std::string a = RandomBytes(rng, 1000), b = RandomBytes(rng, 777);
  mb.Start(0);
  mb.Start(1);
  mb.Feed(0, std::string_view(a).substr(0, 130));
  mb.Feed(1, b);
  mb.Run();
  mb.Feed(0, std::string_view(a).substr(130));
  EXPECT_EQ(mb.Pending(0), 870u);
  EXPECT_EQ(Digest(mb.Finish(0)), Sha256(a));
  EXPECT_FALSE(mb.busy(0));
  EXPECT_EQ(Digest(mb.Finish(1)), Sha256(b));
}

TEST_P(Sha256MultiBufferTest, LongMessageAcrossManyRuns) {
  std::mt19937 rng(5);
  Sha256MultiBuffer mb(GetParam());
  std::string big = RandomBytes(rng, 3 << 20);
  std::string small = RandomBytes(rng, 100);
  mb.Start(9);
  mb.Start(2);
  mb.Feed(2, small);
  for (size_t off = 0; off < big.size(); off += 256 * 1024) {
    mb.Feed(9, std::string_view(big).substr(off, 256 * 1024));
    mb.Run();
  }
  EXPECT_EQ(Digest(mb.Finish(9)), Sha256(big));
  EXPECT_EQ(Digest(mb.Finish(2)), Sha256(small));
}

TEST(Sha256MultiBufferKernels, BestIsSupported) {
  EXPECT_TRUE(Sha256MultiBuffer::Supported(Sha256MultiBuffer::Best()));
  EXPECT_TRUE(Sha256MultiBuffer::Supported(Kernel::kScalar));
}

INSTANTIATE_TEST_SUITE_P(Kernels, Sha256MultiBufferTest,
                         ::testing::Values(Kernel::kScalar, Kernel::kAvx512, Kernel::kShaNi),
                         [](const ::testing::TestParamInfo<Kernel>& info) {
                           switch (info.param) {
                             case Kernel::kScalar: return "Scalar";
                             case Kernel::kAvx512: return "Avx512";
                             case Kernel::kShaNi: return "ShaNi";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace rampart::crypto
