#include "rampart/core/thread_name.h"

#include <pthread.h>

#include <string>

namespace rampart {

void SetCurrentThreadName(std::string_view name) {
  constexpr size_t kMaxLength = 15;  // the kernel's TASK_COMM_LEN less the NUL
  const std::string cut(name.substr(0, kMaxLength));
  // Best effort: a name is a diagnostic aid, never worth failing over.
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace rampart
