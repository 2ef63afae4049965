// Fork detection for the per-thread random buffers of random.cc
// (FillPublicRandom, and RandomSecret where the kernel cannot wipe its page
// on fork): a buffer filled before a fork() must not be used by both
// processes. Private to src/crypto; other rooms use FillPublicRandom.
//
// Thread-safety: safe from any thread.
#pragma once

#include <cstdint>
#include <optional>

namespace rampart::crypto::internal {

// The number of fork()s this process has seen so far (the parent's count
// is inherited and then bumped in the child). nullopt when the fork hook
// could not be registered: callers must then not buffer random bytes.
std::optional<uint64_t> ForkGeneration();

}  // namespace rampart::crypto::internal
