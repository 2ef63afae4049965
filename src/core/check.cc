#include "rampart/core/check.h"

#include <cstdio>
#include <cstdlib>

namespace rampart::internal {

void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"check failed: %s\",\"at\":\"%s:%d\"}\n",
               expr, file, line);
  std::abort();
}

}  // namespace rampart::internal
