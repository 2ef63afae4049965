// Helpers for unit tests that run service handlers against a real SQLite
// database. Header-only; include from *_test.cc files only.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "rampart/core/arn.h"
#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::testing {

// A fresh database in a directory named after prefix, the process and the
// running test, with the identity tables migrated. Null (and a test
// failure recorded) when it cannot be opened.
inline std::unique_ptr<store::Database> FreshDatabase(std::string_view prefix) {
  auto dir = std::filesystem::temp_directory_path() /
             ("rampart_" + std::string(prefix) + "_" + std::to_string(::getpid()) + "_" +
              std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto db = store::OpenSqlite({.path = (dir / "db.sqlite").string()});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return nullptr;
  EXPECT_TRUE(server::CredentialStore::Migrate(**db).ok());
  return std::move(db).value();
}

// The root user of account as the dispatcher would present it.
inline server::Principal RootPrincipal(std::string_view account) {
  server::Principal p;
  p.account_id = std::string(account);
  p.arn = RootArn(account);
  p.type = "Root";
  p.principal_id = p.account_id;
  return p;
}

// An IAM user of account as the dispatcher would present it (no policies
// of its own until a test attaches some).
inline server::Principal UserPrincipal(std::string_view account, std::string_view name) {
  server::Principal p;
  p.account_id = std::string(account);
  p.arn = "arn:aws:iam::" + std::string(account) + ":user/" + std::string(name);
  p.type = "IAMUser";
  p.principal_id = "AIDAEXAMPLE" + std::string(name);
  p.user_name = std::string(name);
  return p;
}

// "OK", or the modeled error code of a failed handler call (the status
// text when the error is not modeled), for EXPECT_EQ.
inline std::string ErrorCodeOf(const Result<json::Value>& r) {
  if (r.ok()) return "OK";
  return r.status().modeled().empty() ? r.status().ToString() : r.status().modeled();
}

// A JSON object from name/value pairs, for handler inputs.
inline json::Value Obj(std::initializer_list<std::pair<std::string_view, json::Value>> members) {
  json::Value v = json::Value::MakeObject();
  for (const auto& [k, m] : members) v.set(k, m);
  return v;
}

}  // namespace rampart::testing
