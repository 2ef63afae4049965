// Names the calling thread, so that `top -H`, `ps -L`, /proc/<pid>/task/*/comm
// and debuggers tell Rampart's threads apart (http workers, the audit
// writer, background jobs). Linux keeps at most 15 bytes; longer names are
// cut. Thread-safe: it touches only the calling thread.
#pragma once

#include <string_view>

namespace rampart {

void SetCurrentThreadName(std::string_view name);

}  // namespace rampart
