// The audit trail's per-request cost, split into its steps: building the
// CloudTrail record of a GetCallerIdentity and a KMS Encrypt call, and
// storing records in batches as the group commit does (SQLite on disk,
// synchronous=FULL, one transaction per batch).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "rampart/audit/event.h"
#include "rampart/audit/event_store.h"
#include "rampart/core/clock.h"
#include "rampart/store/store.h"
#include "rampart/server/audit.h"

namespace {

using namespace rampart;

server::Principal UserPrincipal() {
  server::Principal p;
  p.account_id = "111122223333";
  p.arn = "arn:aws:iam::111122223333:user/bench";
  p.type = "IAMUser";
  p.principal_id = "AIDAEXAMPLEEXAMPLE01";
  p.user_name = "bench";
  p.access_key_id = "AKIAEXAMPLEEXAMPLE01";
  return p;
}

// One request as the dispatcher hands it over; the values live in statics.
server::AuditRecord CallerIdentityRecord(const server::Principal& p) {
  static const json::Value input = json::Value::MakeObject();
  static const json::Value output = [] {
    json::Value v = json::Value::MakeObject();
    v.set("UserId", "AIDAEXAMPLEEXAMPLE01");
    v.set("Account", "111122223333");
    v.set("Arn", "arn:aws:iam::111122223333:user/bench");
    return v;
  }();
  return {.time = std::chrono::system_clock::now(), .request_id = "6f1c2a1e-0000-4000-8000-000000000001",
          .service = "sts", .operation = "GetCallerIdentity", .region = "us-east-1",
          .principal = &p, .access_key_id = p.access_key_id, .source_ip = "127.0.0.1",
          .user_agent = "aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12",
          .secure_transport = false, .input = &input, .output = &output, .error = nullptr,
          .http_status = 200, .host = "127.0.0.1:4566"};
}

server::AuditRecord EncryptRecord(const server::Principal& p) {
  static const json::Value input = [] {
    json::Value v = json::Value::MakeObject();
    v.set("KeyId", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    v.set("Plaintext", "SGVsbG8sIHdvcmxkIQ==");
    json::Value ctx = json::Value::MakeObject();
    ctx.set("purpose", "bench");
    v.set("EncryptionContext", std::move(ctx));
    return v;
  }();
  static const json::Value output = [] {
    json::Value v = json::Value::MakeObject();
    v.set("CiphertextBlob", "AQIDBAUGBwgJCgsMDQ4PEA==");
    v.set("KeyId", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    v.set("EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
    return v;
  }();
  server::AuditRecord r = CallerIdentityRecord(p);
  r.service = "kms";
  r.operation = "Encrypt";
  r.input = &input;
  r.output = &output;
  return r;
}

void BM_BuildEventGetCallerIdentity(benchmark::State& state) {
  server::Principal p = UserPrincipal();
  server::AuditRecord rec = CallerIdentityRecord(p);
  std::string id = audit::NewEventId(rec.time);
  for (auto _ : state) {
    audit::Event ev = audit::BuildEvent(rec, {id, "us-east-1", "111122223333"});
    benchmark::DoNotOptimize(ev);
  }
}
BENCHMARK(BM_BuildEventGetCallerIdentity);

void BM_BuildEventKmsEncrypt(benchmark::State& state) {
  server::Principal p = UserPrincipal();
  server::AuditRecord rec = EncryptRecord(p);
  std::string id = audit::NewEventId(rec.time);
  for (auto _ : state) {
    audit::Event ev = audit::BuildEvent(rec, {id, "us-east-1", "111122223333"});
    benchmark::DoNotOptimize(ev);
  }
}
BENCHMARK(BM_BuildEventKmsEncrypt);

// Rendering the CloudTrail JSON of a stored event (done only when a record
// is looked up or delivered).
void BM_RenderRecordGetCallerIdentity(benchmark::State& state) {
  server::Principal p = UserPrincipal();
  server::AuditRecord rec = CallerIdentityRecord(p);
  audit::Event ev = audit::BuildEvent(rec, {audit::NewEventId(rec.time), "us-east-1", "111122223333"});
  for (auto _ : state) {
    std::string text = audit::RenderRecord(ev);
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(BM_RenderRecordGetCallerIdentity);

// Stores batches of state.range(0) records (fresh ids) in one transaction
// each; reports per-record time.
void BM_InsertEventsBatch(benchmark::State& state) {
  std::string dir = "/tmp/rampart-audit-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto db = store::OpenSqlite({.path = dir + "/bench.db"});
  if (!db.ok() || !audit::MigrateEventStore(**db).ok()) {
    state.SkipWithError("cannot open the bench database");
    return;
  }
  server::Principal p = UserPrincipal();
  server::AuditRecord rec = CallerIdentityRecord(p);
  const size_t batch_size = static_cast<size_t>(state.range(0));
  std::vector<audit::Event> batch;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (size_t i = 0; i < batch_size; ++i) {
      rec.time = std::chrono::system_clock::now();
      batch.push_back(audit::BuildEvent(rec, {audit::NewEventId(rec.time), "us-east-1", "111122223333"}));
    }
    state.ResumeTiming();
    Status st = (*db)->Write(
        [&](store::Tx& tx) { return audit::InsertEvents(tx, batch, /*replace=*/false); });
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch_size));
  db->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_InsertEventsBatch)->Arg(1)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond);

// One million stored events: GetCallerIdentity calls by 100 users, with a
// CreateUser every 10,000 events, built once for the lookup benchmarks.
struct MillionEvents {
  std::string dir = "/tmp/rampart-audit-million-" + std::to_string(::getpid());
  std::unique_ptr<store::Database> db;
  std::string some_event_id;

  MillionEvents() {
    std::filesystem::create_directories(dir);
    auto opened = store::OpenSqlite({.path = dir + "/bench.db", .full_sync = false});
    if (!opened.ok() || !audit::MigrateEventStore(**opened).ok()) return;
    db = std::move(*opened);
    server::Principal p = UserPrincipal();
    server::AuditRecord rec = CallerIdentityRecord(p);
    TimePoint start = std::chrono::system_clock::now() - std::chrono::hours(24);
    std::vector<audit::Event> batch;
    for (int i = 0; i < 1'000'000; ++i) {
      p.user_name = "user" + std::to_string(i % 100);
      rec.operation = i % 10'000 == 5'000 ? "CreateUser" : "GetCallerIdentity";
      rec.service = i % 10'000 == 5'000 ? "iam" : "sts";
      rec.time = start + std::chrono::milliseconds(i * 50);
      batch.push_back(
          audit::BuildEvent(rec, {audit::NewEventId(rec.time), "us-east-1", "111122223333"}));
      if (i == 500'000) some_event_id = batch.back().event_id;
      if (batch.size() == 4096 || i == 999'999) {
        Status st = db->Write([&](store::Tx& tx) { return audit::InsertEvents(tx, batch, false); });
        if (!st.ok()) { db.reset(); return; }
        batch.clear();
      }
    }
  }
  ~MillionEvents() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

MillionEvents& Million() {
  static MillionEvents m;
  return m;
}

void Lookup(benchmark::State& state, audit::LookupKey key, std::string value) {
  MillionEvents& m = Million();
  if (!m.db) {
    state.SkipWithError("cannot build the million-event database");
    return;
  }
  audit::LookupQuery q;
  q.account_id = "111122223333";
  q.key = key;
  q.value = key == audit::LookupKey::kEventId ? m.some_event_id : value;
  q.max_results = 50;
  size_t found = 0;
  for (auto _ : state) {
    auto page = audit::LookupEvents(*m.db, q);
    if (!page.ok()) state.SkipWithError(page.status().ToString().c_str());
    found = page.ok() ? page->events.size() : 0;
  }
  state.counters["events"] = static_cast<double>(found);
}

void BM_LookupMillionByRareName(benchmark::State& s) { Lookup(s, audit::LookupKey::kEventName, "CreateUser"); }
void BM_LookupMillionByUser(benchmark::State& s) { Lookup(s, audit::LookupKey::kUsername, "user42"); }
void BM_LookupMillionNewest(benchmark::State& s) { Lookup(s, audit::LookupKey::kNone, ""); }
void BM_LookupMillionByEventId(benchmark::State& s) { Lookup(s, audit::LookupKey::kEventId, ""); }
BENCHMARK(BM_LookupMillionByRareName)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LookupMillionByUser)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LookupMillionNewest)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LookupMillionByEventId)->Unit(benchmark::kMillisecond);

}  // namespace
