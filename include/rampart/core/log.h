// Structured logs: one JSON object per line on stderr, written with a single
// write(2) so lines from different threads never interleave.
//
// Never pass secrets (keys, signatures, passwords, plaintexts, session
// tokens) as fields: there is no level at which that is acceptable.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

namespace rampart::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };

using Field = std::pair<std::string_view, std::string_view>;

void SetLevel(Level level);
bool Enabled(Level level);
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

}  // namespace rampart::log
