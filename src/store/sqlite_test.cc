#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "rampart/store/store.h"

namespace rampart::store {
namespace {

constexpr Migration kMigrations[] = {
    {1, "CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL, data BLOB);"},
    {2, "ALTER TABLE items ADD COLUMN note TEXT;"},
};

std::unique_ptr<Database> OpenTemp(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("rampart_store_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto db = OpenSqlite({.path = (dir / "db.sqlite").string()});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return std::move(db).value();
}

TEST(SqliteTest, MigratesOnceAndRoundTripsValues) {
  auto db = OpenTemp("roundtrip");
  ASSERT_TRUE(db->Migrate("test", kMigrations).ok());
  ASSERT_TRUE(db->Migrate("test", kMigrations).ok());  // idempotent
  std::string blob("a\0b", 3);
  ASSERT_TRUE(db->Write([&](Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare(
                      "INSERT INTO items (id, n, data, note) VALUES (?, ?, ?, ?)"));
                  s->Bind(1, "x").Bind(2, int64_t{42}).BindBlob(3, blob).BindNull(4);
                  return s->Run();
                }).ok());
  int64_t n = 0;
  std::string data;
  bool note_null = false;
  ASSERT_TRUE(db->Read([&](Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT n, data, note FROM items WHERE id = ?"));
                  s->Bind(1, "x");
                  ASSIGN_OR_RETURN(bool row, s->Step());
                  EXPECT_TRUE(row);
                  n = s->Int(0);
                  data = s->Text(1);
                  note_null = s->IsNull(2);
                  return Status::Ok();
                }).ok());
  EXPECT_EQ(n, 42);
  EXPECT_EQ(data, blob);
  EXPECT_TRUE(note_null);
}

TEST(SqliteTest, FailedCallbackRollsBack) {
  auto db = OpenTemp("rollback");
  ASSERT_TRUE(db->Migrate("test", kMigrations).ok());
  Status st = db->Write([](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO items (id, n) VALUES ('a', 1);"));
    return Status::Validation("no");
  });
  EXPECT_EQ(st.code(), ErrorCode::kValidation);
  int64_t count = -1;
  ASSERT_TRUE(db->Read([&](Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT COUNT(*) FROM items"));
                  ASSIGN_OR_RETURN(bool row, s->Step());
                  if (row) count = s->Int(0);
                  return Status::Ok();
                }).ok());
  EXPECT_EQ(count, 0);
}

TEST(SqliteTest, ConstraintViolationIsAValidationError) {
  auto db = OpenTemp("constraint");
  ASSERT_TRUE(db->Migrate("test", kMigrations).ok());
  auto insert = [&]() {
    return db->Write([](Tx& tx) { return tx.Exec("INSERT INTO items (id, n) VALUES ('dup', 1);"); });
  };
  ASSERT_TRUE(insert().ok());
  EXPECT_FALSE(insert().ok());
}

TEST(SqliteTest, WipeKeepsSchema) {
  auto db = OpenTemp("wipe");
  ASSERT_TRUE(db->Migrate("test", kMigrations).ok());
  ASSERT_TRUE(db->Write([](Tx& tx) { return tx.Exec("INSERT INTO items (id, n) VALUES ('a', 1);"); }).ok());
  ASSERT_TRUE(db->WipeAllData().ok());
  ASSERT_TRUE(db->Write([](Tx& tx) { return tx.Exec("INSERT INTO items (id, n) VALUES ('a', 1);"); }).ok());
}

}  // namespace
}  // namespace rampart::store
