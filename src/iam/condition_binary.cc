// BinaryEquals (IAM User Guide, "Binary condition operators"): the policy
// holds base64; it is decoded once and compared byte for byte with the
// request value's raw bytes.
#include <vector>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {

bool DecodeBase64(std::string_view s, std::string& out) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.size() % 4 != 0) return false;
  out.clear();
  for (size_t i = 0; i < s.size(); i += 4) {
    bool last = i + 4 == s.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = s[i + j];
      if (c == '=' && last && j >= 2) {
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad > 0) return false;  // data after padding
      v[j] = sextet(c);
      if (v[j] < 0) return false;
    }
    uint32_t n = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | v[3];
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return true;
}

namespace {

class BinaryMatcher final : public ConditionMatcher {
 public:
  explicit BinaryMatcher(std::vector<std::string> values) : values_(std::move(values)) {}

  Pattern::Result MatchAny(std::string_view value, const ContextKeys&) const override {
    for (const std::string& v : values_) {
      if (v == value) return Pattern::Result::kMatch;
    }
    return Pattern::Result::kNoMatch;
  }

 private:
  std::vector<std::string> values_;
};

}  // namespace

MatcherOrError MakeBinaryMatcher(std::span<const std::string> values) {
  std::vector<std::string> decoded;
  for (const std::string& v : values) {
    std::string bytes;
    if (!DecodeBase64(v, bytes)) return "Invalid base64 value in Condition: " + v;
    decoded.push_back(std::move(bytes));
  }
  return std::unique_ptr<const ConditionMatcher>(
      std::make_unique<BinaryMatcher>(std::move(decoded)));
}

}  // namespace rampart::iam
