// Date condition operators (IAM User Guide, "Date condition operators"):
// values are ISO 8601 dates or date-times ("2020-01-01", "2020-01-01T00:00Z",
// "2020-01-01T12:00:00.000+02:00") or epoch seconds, resolved once to
// milliseconds since the epoch.
#include <chrono>
#include <vector>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {
namespace {

// Reads exactly n digits at s[pos].
bool Digits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool Expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// "Z", "+hh:mm", "-hhmm", or nothing (UTC); offset in minutes east.
bool ParseZone(std::string_view s, size_t& pos, int& offset_min) {
  offset_min = 0;
  if (pos == s.size()) return true;
  if (s[pos] == 'Z' || s[pos] == 'z') return ++pos == s.size();
  if (s[pos] != '+' && s[pos] != '-') return false;
  int sign = s[pos] == '-' ? -1 : 1;
  ++pos;
  int hh = 0, mm = 0;
  if (!Digits(s, pos, 2, hh)) return false;
  if (pos < s.size() && s[pos] == ':') ++pos;
  if (!Digits(s, pos, 2, mm) || hh > 23 || mm > 59) return false;
  offset_min = sign * (hh * 60 + mm);
  return pos == s.size();
}

// "hh:mm[:ss[.fff...]]" after the 'T'.
bool ParseTime(std::string_view s, size_t& pos, int64_t& ms) {
  int hh = 0, mi = 0, ss = 0;
  if (!Digits(s, pos, 2, hh) || !Expect(s, pos, ':') || !Digits(s, pos, 2, mi)) return false;
  int frac_ms = 0;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!Digits(s, pos, 2, ss)) return false;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      size_t digits = 0;
      for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits) {
        if (digits < 3) frac_ms = frac_ms * 10 + (s[pos] - '0');
      }
      if (digits == 0 || digits > 9) return false;
      for (size_t d = digits; d < 3; ++d) frac_ms *= 10;
    }
  }
  if (hh > 23 || mi > 59 || ss > 60) return false;
  ms = ((hh * 60 + mi) * 60 + ss) * int64_t{1000} + frac_ms;
  return true;
}

bool ParseIso(std::string_view s, int64_t& epoch_ms) {
  size_t pos = 0;
  int y = 0, mo = 0, d = 0;
  if (!Digits(s, pos, 4, y) || !Expect(s, pos, '-') || !Digits(s, pos, 2, mo) ||
      !Expect(s, pos, '-') || !Digits(s, pos, 2, d)) {
    return false;
  }
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                  std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return false;
  int64_t day_ms = 0;
  int offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't') return false;
    ++pos;
    if (!ParseTime(s, pos, day_ms) || !ParseZone(s, pos, offset_min)) return false;
  }
  int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  epoch_ms = days * 86400000 + day_ms - int64_t{offset_min} * 60000;
  return true;
}

}  // namespace

bool ParseDate(std::string_view s, int64_t& epoch_ms) {
  if (s.empty() || s.size() > 64) return false;
  if (s.size() >= 10 && s[4] == '-') return ParseIso(s, epoch_ms);
  double secs = 0;
  // Epoch seconds: bounded to years 0..9999 so the product stays exact.
  if (!ParseNumber(s, secs) || secs < -62167219200.0 || secs > 253402300799.0) return false;
  epoch_ms = static_cast<int64_t>(secs * 1000.0);
  return true;
}

namespace {

class DateMatcher final : public ConditionMatcher {
 public:
  DateMatcher(OperatorTest test, std::vector<int64_t> values)
      : test_(test), values_(std::move(values)) {}

  Pattern::Result MatchAny(std::string_view value, const ContextKeys&) const override {
    int64_t ms = 0;
    if (!ParseDate(value, ms)) return Pattern::Result::kNoMatch;
    for (int64_t v : values_) {
      if (CompareOrdered(test_, static_cast<double>(ms), static_cast<double>(v))) {
        return Pattern::Result::kMatch;
      }
    }
    return Pattern::Result::kNoMatch;
  }

 private:
  OperatorTest test_;
  std::vector<int64_t> values_;
};

}  // namespace

MatcherOrError MakeDateMatcher(OperatorTest test, std::span<const std::string> values) {
  std::vector<int64_t> parsed;
  for (const std::string& v : values) {
    int64_t ms = 0;
    if (!ParseDate(v, ms)) return "Invalid date value in Condition: " + v;
    parsed.push_back(ms);
  }
  return std::unique_ptr<const ConditionMatcher>(
      std::make_unique<DateMatcher>(test, std::move(parsed)));
}

}  // namespace rampart::iam
