// The per-thread write hook of store.h.
#include "rampart/store/store.h"

namespace rampart::store {
namespace {
thread_local WriteHook* current_hook = nullptr;
}  // namespace

ScopedWriteHook::ScopedWriteHook(WriteHook* hook) : previous_(current_hook) { current_hook = hook; }

ScopedWriteHook::~ScopedWriteHook() { current_hook = previous_; }

WriteHook* CurrentWriteHook() { return current_hook; }

}  // namespace rampart::store
