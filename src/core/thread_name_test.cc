#include "rampart/core/thread_name.h"

#include <pthread.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace rampart {
namespace {

std::string NameOfThisThread() {
  char buf[64] = {};
  EXPECT_EQ(pthread_getname_np(pthread_self(), buf, sizeof(buf)), 0);
  return buf;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = NameOfThisThread();
  std::string seen;
  std::thread t([&seen] {
    SetCurrentThreadName("http-worker-1");
    seen = NameOfThisThread();
  });
  t.join();
  EXPECT_EQ(seen, "http-worker-1");
  EXPECT_EQ(NameOfThisThread(), before);
}

TEST(ThreadNameTest, LongNamesAreCutToFifteenBytes) {
  std::string seen;
  std::thread t([&seen] {
    SetCurrentThreadName("a-name-much-longer-than-fifteen");
    seen = NameOfThisThread();
  });
  t.join();
  EXPECT_EQ(seen, "a-name-much-lon");
}

}  // namespace
}  // namespace rampart
