// Time source. Production uses the system clock; tests and the development
// mode can move a manual clock (scheduled deletions, expiries, rotations).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

namespace rampart {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// System time plus an adjustable offset.
class OffsetClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::system_clock::now() + std::chrono::seconds(offset_.load());
  }
  void Advance(std::chrono::seconds by) { offset_ += by.count(); }

 private:
  std::atomic<int64_t> offset_{0};
};

// ISO 8601 with seconds and Z, e.g. 2026-11-28T12:00:00Z.
std::string FormatIso8601(TimePoint t);
// Seconds since the epoch, with fractional milliseconds.
double EpochSeconds(TimePoint t);

}  // namespace rampart
