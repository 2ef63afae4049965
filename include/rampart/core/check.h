// Always-on invariant checks for "cannot happen" conditions. Never use on a
// value derived from a request: handle those with Status.
#pragma once

namespace rampart::internal {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace rampart::internal

#define RAMPART_CHECK(cond) \
  ((cond) ? (void)0 : ::rampart::internal::CheckFailed(#cond, __FILE__, __LINE__))

#ifdef NDEBUG
#define RAMPART_DCHECK(cond) ((void)0)
#else
#define RAMPART_DCHECK(cond) RAMPART_CHECK(cond)
#endif
