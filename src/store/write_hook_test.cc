// The per-thread WriteHook: joins only transactions that changed rows, on
// its own thread, and rolls back with them.
#include <gtest/gtest.h>

#include <thread>

#include "rampart/store/store.h"

namespace rampart::store {
namespace {

class CountingHook final : public WriteHook {
 public:
  Status BeforeCommit(Tx& tx) override {
    ++calls;
    if (fail) return Status::Internal("hook failed");
    return tx.Exec("INSERT INTO log VALUES ('hooked');");
  }
  int calls = 0;
  bool fail = false;
};

int64_t Count(Database& db, std::string_view table) {
  int64_t n = -1;
  EXPECT_TRUE(db.Read([&](Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT COUNT(*) FROM " + std::string(table)));
                  ASSIGN_OR_RETURN(bool row, s->Step());
                  if (row) n = s->Int(0);
                  return Status::Ok();
                })
                  .ok());
  return n;
}

class WriteHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->Write([](Tx& tx) {
                     return tx.Exec("CREATE TABLE t (n INTEGER); CREATE TABLE log (s TEXT);");
                   })
                    .ok());
  }
  Status Insert() { return db_->Write([](Tx& tx) { return tx.Exec("INSERT INTO t VALUES (1);"); }); }
  std::unique_ptr<Database> db_;
};

TEST_F(WriteHookTest, JoinsChangingTransactionsOnly) {
  CountingHook hook;
  {
    ScopedWriteHook scope(&hook);
    EXPECT_EQ(CurrentWriteHook(), &hook);
    ASSERT_TRUE(db_->Write([](Tx& tx) { return tx.Exec("SELECT 1;"); }).ok());
    EXPECT_EQ(hook.calls, 0);
    ASSERT_TRUE(Insert().ok());
    EXPECT_EQ(hook.calls, 1);
  }
  EXPECT_EQ(CurrentWriteHook(), nullptr);
  ASSERT_TRUE(Insert().ok());
  EXPECT_EQ(hook.calls, 1);
  EXPECT_EQ(Count(*db_, "log"), 1);
}

TEST_F(WriteHookTest, FailingHookRollsBackTheChange) {
  CountingHook hook;
  hook.fail = true;
  ScopedWriteHook scope(&hook);
  EXPECT_FALSE(Insert().ok());
  EXPECT_EQ(Count(*db_, "t"), 0);
}

TEST_F(WriteHookTest, FailingTransactionSkipsTheHook) {
  CountingHook hook;
  ScopedWriteHook scope(&hook);
  Status st = db_->Write([](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO t VALUES (1);"));
    return Status::Internal("handler failed");
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(hook.calls, 0);
  EXPECT_EQ(Count(*db_, "log"), 0);
}

TEST_F(WriteHookTest, OtherThreadsAreNotAffected) {
  CountingHook hook;
  ScopedWriteHook scope(&hook);
  std::thread other([&] { EXPECT_TRUE(Insert().ok()); });
  other.join();
  EXPECT_EQ(hook.calls, 0);
}

TEST_F(WriteHookTest, ScopesNest) {
  CountingHook outer, inner;
  ScopedWriteHook a(&outer);
  {
    ScopedWriteHook b(&inner);
    ASSERT_TRUE(Insert().ok());
  }
  ASSERT_TRUE(Insert().ok());
  EXPECT_EQ(inner.calls, 1);
  EXPECT_EQ(outer.calls, 1);
}

}  // namespace
}  // namespace rampart::store
