#include "rampart/crypto/digest.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rampart/core/encoding.h"

namespace rampart::crypto {
namespace {

std::string Hex(std::string_view raw) { return HexEncode(raw); }

TEST(DigestTest, Sha256KnownVectors) {
  // FIPS 180-2 appendix B and the empty string.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(Sha256("abc").size(), kSha256Size);
  EXPECT_EQ(Hex(Sha256("abc")), Sha256Hex("abc"));
}

struct HmacVector {
  std::string key;
  std::string data;
  const char* mac_hex;
};

TEST(DigestTest, HmacSha256Rfc4231Vectors) {
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4 += static_cast<char>(i);
  const HmacVector vectors[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {key4, std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& v : vectors) EXPECT_EQ(Hex(HmacSha256(v.key, v.data)), v.mac_hex);
  // Test case 5 is truncated to 128 bits.
  EXPECT_EQ(Hex(HmacSha256(std::string(20, '\x0c'), "Test With Truncation")).substr(0, 32),
            "a3b6167473100ee06e0c796c2955552b");
}

// Differential: our context-reusing HMAC against OpenSSL's one-shot HMAC()
// for keys on both sides of the block size and assorted data lengths.
TEST(DigestTest, HmacMatchesOpenSslOneShot) {
  std::mt19937 rng(42);
  for (size_t key_len : {0, 1, 31, 32, 63, 64, 65, 127, 200}) {
    for (size_t data_len : {0, 1, 55, 56, 64, 119, 1000}) {
      std::string key(key_len, '\0');
      std::string data(data_len, '\0');
      for (auto& c : key) c = static_cast<char>(rng());
      for (auto& c : data) c = static_cast<char>(rng());
      unsigned char ref[EVP_MAX_MD_SIZE];
      unsigned int ref_len = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), ref, &ref_len);
      ASSERT_EQ(ref_len, kSha256Size);
      EXPECT_EQ(HmacSha256(key, data), std::string(reinterpret_cast<char*>(ref), ref_len))
          << key_len << "/" << data_len;
    }
  }
}

TEST(DigestTest, IntoVariantsMatchAndInterleave) {
  unsigned char a[kSha256Size];
  unsigned char b[kSha256Size];
  Sha256Into("abc", Sha256Out(a, kSha256Size));
  HmacSha256Into("Jefe", "what do ya want for nothing?", Sha256Out(b, kSha256Size));
  EXPECT_EQ(Hex(std::string_view(reinterpret_cast<char*>(a), kSha256Size)), Sha256Hex("abc"));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), kSha256Size),
            HmacSha256("Jefe", "what do ya want for nothing?"));
}

TEST(DigestTest, ThreadsGetTheSameAnswers) {
  const std::string expect = HmacSha256("key", "data");
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (HmacSha256("key", "data") != expect) ++bad[t];
        if (Sha256Hex("abc").size() != 64) ++bad[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int b : bad) EXPECT_EQ(b, 0);
}

}  // namespace
}  // namespace rampart::crypto
