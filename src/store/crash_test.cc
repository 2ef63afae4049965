// Crash durability: a child process commits a stream of writes and
// acknowledges each one after Write returns; the parent kills it with
// SIGKILL mid-stream and checks that every acknowledged write survived.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "rampart/store/store.h"

namespace rampart::store {
namespace {

constexpr Migration kSchema[] = {{1, "CREATE TABLE acked (id INTEGER PRIMARY KEY, payload TEXT);"}};

[[noreturn]] void WriteForever(const std::string& path, int ack_fd) {
  auto db = OpenSqlite({.path = path});
  if (!db.ok() || !(*db)->Migrate("crash", kSchema).ok()) _exit(2);
  for (int64_t i = 1;; ++i) {
    Status st = (*db)->Write([&](Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO acked (id, payload) VALUES (?, ?)"));
      q->Bind(1, i).Bind(2, std::string(200, 'x'));
      return q->Run();
    });
    if (!st.ok()) _exit(3);
    if (::write(ack_fd, &i, sizeof i) != sizeof i) _exit(4);
  }
}

TEST(CrashTest, AcknowledgedWritesSurviveSigkill) {
  auto dir = std::filesystem::temp_directory_path() / ("rampart_crash_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "db.sqlite").string();

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    WriteForever(path, fds[1]);
  }
  ::close(fds[1]);

  std::set<int64_t> acked;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  int64_t id = 0;
  while (std::chrono::steady_clock::now() < deadline && ::read(fds[0], &id, sizeof id) == sizeof id) {
    acked.insert(id);
  }
  ::kill(child, SIGKILL);
  // Acknowledgements already in the pipe were sent before the kill.
  while (::read(fds[0], &id, sizeof id) == sizeof id) acked.insert(id);
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "writer exited early with " << WEXITSTATUS(wstatus);
  ASSERT_GT(acked.size(), 10u) << "too few writes to be a meaningful test";

  auto db = OpenSqlite({.path = path});
  ASSERT_TRUE(db.ok());
  std::set<int64_t> stored;
  ASSERT_TRUE((*db)->Read([&](Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT id FROM acked"));
                  while (true) {
                    ASSIGN_OR_RETURN(bool row, q->Step());
                    if (!row) return Status::Ok();
                    stored.insert(q->Int(0));
                  }
                }).ok());
  for (int64_t a : acked) ASSERT_TRUE(stored.count(a)) << "acknowledged write " << a << " lost";
}

}  // namespace
}  // namespace rampart::store
