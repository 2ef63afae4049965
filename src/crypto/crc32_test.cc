#include "crypto/crc32.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace rampart::crypto {
namespace {

uint32_t Zlib(uint32_t crc, std::string_view data) {
  return static_cast<uint32_t>(
      crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(Crc32Test, KnownAnswers) {
  EXPECT_EQ(Crc32(0, ""), 0u);
  EXPECT_EQ(Crc32(0, "123456789"), 0xCBF43926u);  // the check value of CRC-32/ISO-HDLC
  EXPECT_EQ(Crc32Portable(0, "123456789"), 0xCBF43926u);
  std::string zeros(4096, '\0');
  EXPECT_EQ(Crc32(0, zeros), Zlib(0, zeros));
}

// Every length across the folding thresholds (256 bytes and each further
// 128), from a zero and a non-zero starting CRC, against zlib.
TEST(Crc32Test, EveryLengthUpTo1100MatchesZlib) {
  std::mt19937 rng(11);
  std::string data = RandomBytes(rng, 1100);
  for (size_t n = 0; n <= data.size(); ++n) {
    std::string_view piece(data.data(), n);
    ASSERT_EQ(Crc32(0, piece), Zlib(0, piece)) << n;
    ASSERT_EQ(Crc32(0x12345678, piece), Zlib(0x12345678, piece)) << n;
  }
}

TEST(Crc32Test, PiecesChainLikeOneMessage) {
  std::mt19937 rng(5);
  std::string data = RandomBytes(rng, 1 << 20);
  uint32_t crc = 0;
  size_t off = 0;
  while (off < data.size()) {
    size_t n = std::min<size_t>(data.size() - off, rng() % 3 == 0 ? rng() % 300 : rng() % 70000);
    crc = Crc32(crc, std::string_view(data).substr(off, n));
    off += n;
  }
  EXPECT_EQ(crc, Zlib(0, data));
  EXPECT_EQ(Crc32Portable(0, data), Zlib(0, data));
}

// The data need not be aligned.
TEST(Crc32Test, UnalignedStarts) {
  std::mt19937 rng(9);
  std::string data = RandomBytes(rng, 5000);
  for (size_t start = 0; start < 64; ++start) {
    std::string_view piece = std::string_view(data).substr(start);
    ASSERT_EQ(Crc32(7, piece), Zlib(7, piece)) << start;
  }
}

}  // namespace
}  // namespace rampart::crypto
