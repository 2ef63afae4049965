// Timestamps on the wire: ISO 8601 (query, URI, query string), IMF-fixdate
// (headers) and epoch seconds (JSON bodies), all decoded to epoch seconds.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kWeekdays = {"Thu", "Fri", "Sat", "Sun",
                                                       "Mon", "Tue", "Wed"};  // from 1970-01-01

struct Civil {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date, counting in 400-year
// eras of 146097 days with years starting in March (so leap days come last).
int64_t DaysFromCivil(const Civil& c) {
  const int64_t y = c.year - (c.month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;
  const int64_t shifted_month = (c.month + 9) % 12;  // March = 0
  const int64_t day_of_year = (153 * shifted_month + 2) / 5 + c.day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

Civil CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t shifted_month = (5 * day_of_year + 2) / 153;
  Civil c;
  c.day = static_cast<int>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  c.month = static_cast<int>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  c.year = year_of_era + era * 400 + (c.month <= 2 ? 1 : 0);
  return c;
}

// Reads exactly n digits at text[pos]; advances pos.
bool Digits(std::string_view text, size_t& pos, size_t n, int& out) {
  if (pos > text.size() || text.size() - pos < n) return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

struct Clock {
  int hour = 0, minute = 0, second = 0;
};

bool ValidDateTime(const Civil& d, const Clock& t) {
  return d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= DaysInMonth(d.year, d.month) &&
         t.hour <= 23 && t.minute <= 59 && t.second <= 59;
}

double EpochOf(const Civil& d, const Clock& t) {
  return static_cast<double>(DaysFromCivil(d) * 86400 + t.hour * 3600 + t.minute * 60 + t.second);
}

// ".123" -> 0.123; up to 9 digits.
bool Fraction(std::string_view text, size_t& pos, double& out) {
  out = 0;
  if (pos >= text.size() || text[pos] != '.') return true;
  ++pos;
  double scale = 0.1;
  size_t digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (++digits > 9) return false;
    out += (text[pos] - '0') * scale;
    scale /= 10;
    ++pos;
  }
  return digits > 0;
}

// "Z", "+HH:MM", "-HH:MM" or "+HHMM": offset east of UTC in seconds.
bool Zone(std::string_view text, size_t& pos, int& offset) {
  offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
    return true;
  }
  if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return false;
  const int sign = text[pos++] == '-' ? -1 : 1;
  int hh = 0, mm = 0;
  if (!Digits(text, pos, 2, hh)) return false;
  if (pos < text.size() && text[pos] == ':') ++pos;
  if (!Digits(text, pos, 2, mm) || hh > 23 || mm > 59) return false;
  offset = sign * (hh * 3600 + mm * 60);
  return true;
}

template <typename List>
int IndexOf(const List& names, std::string_view name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

void SplitEpoch(const json::Value& epoch, int64_t& whole, int& millis) {
  if (epoch.is_int()) {
    whole = epoch.as_int();
    millis = 0;
    return;
  }
  // Clamp what no calendar needs (|s| > ~300000 years) before converting.
  double s = epoch.as_double();
  if (!std::isfinite(s)) s = 0;
  s = std::fmax(-1e13, std::fmin(1e13, s));
  double floor = std::floor(s);
  whole = static_cast<int64_t>(floor);
  millis = static_cast<int>(std::lround((s - floor) * 1000));
  if (millis == 1000) {
    ++whole;
    millis = 0;
  }
}

}  // namespace

json::Value EpochValue(double seconds) {
  double whole = std::floor(seconds);
  if (whole == seconds && std::fabs(seconds) < 9.0e15)
    return json::Value(static_cast<int64_t>(whole));
  return json::Value(seconds);
}

std::optional<json::Value> ParseIso8601(std::string_view text) {
  size_t pos = 0;
  int year = 0;
  Civil d{};
  Clock t;
  if (!Digits(text, pos, 4, year) || !Expect(text, pos, '-') || !Digits(text, pos, 2, d.month) ||
      !Expect(text, pos, '-') || !Digits(text, pos, 2, d.day)) {
    return std::nullopt;
  }
  d.year = year;
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) return std::nullopt;
  ++pos;
  if (!Digits(text, pos, 2, t.hour) || !Expect(text, pos, ':') || !Digits(text, pos, 2, t.minute) ||
      !Expect(text, pos, ':') || !Digits(text, pos, 2, t.second)) {
    return std::nullopt;
  }
  double fraction = 0;
  int offset = 0;
  if (!Fraction(text, pos, fraction) || !Zone(text, pos, offset) || pos != text.size() ||
      !ValidDateTime(d, t)) {
    return std::nullopt;
  }
  return EpochValue(EpochOf(d, t) - offset + fraction);
}

std::optional<json::Value> ParseHttpDate(std::string_view text) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 bytes.
  if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT")
    return std::nullopt;
  if (IndexOf(kWeekdays, text.substr(0, 3)) < 0) return std::nullopt;
  size_t pos = 5;
  Civil d{};
  Clock t;
  int year = 0;
  if (!Digits(text, pos, 2, d.day) || !Expect(text, pos, ' ')) return std::nullopt;
  d.month = IndexOf(kMonths, text.substr(pos, 3)) + 1;
  pos += 3;
  if (!Expect(text, pos, ' ') || !Digits(text, pos, 4, year) || !Expect(text, pos, ' ') ||
      !Digits(text, pos, 2, t.hour) || !Expect(text, pos, ':') || !Digits(text, pos, 2, t.minute) ||
      !Expect(text, pos, ':') || !Digits(text, pos, 2, t.second)) {
    return std::nullopt;
  }
  d.year = year;
  if (!ValidDateTime(d, t)) return std::nullopt;
  return EpochValue(EpochOf(d, t));
}

std::string FormatIso8601(const json::Value& epoch) {
  int64_t whole = 0;
  int millis = 0;
  SplitEpoch(epoch, whole, millis);
  int64_t days = whole >= 0 ? whole / 86400 : -((-whole + 86399) / 86400);
  int64_t secs = whole - days * 86400;
  Civil d = CivilFromDays(days);
  char buf[64];
  int n =
      std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d",
                    static_cast<long long>(d.year), d.month, d.day, static_cast<int>(secs / 3600),
                    static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (millis != 0) {
    std::snprintf(buf, sizeof buf, ".%03d", millis);
    out += buf;
  }
  out += 'Z';
  return out;
}

std::string FormatHttpDate(const json::Value& epoch) {
  int64_t whole = 0;
  int millis = 0;
  SplitEpoch(epoch, whole, millis);
  int64_t days = whole >= 0 ? whole / 86400 : -((-whole + 86399) / 86400);
  int64_t secs = whole - days * 86400;
  Civil d = CivilFromDays(days);
  int64_t weekday = ((days % 7) + 7) % 7;
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04lld %02d:%02d:%02d GMT",
                        kWeekdays[static_cast<size_t>(weekday)].data(), d.day,
                        kMonths[static_cast<size_t>(d.month - 1)].data(),
                        static_cast<long long>(d.year), static_cast<int>(secs / 3600),
                        static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace rampart::protocol::internal
