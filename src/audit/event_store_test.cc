// The audit tables, LookupEvents filtering and pagination, and the sink's
// durability rules (records inside the handler's transaction, synchronous
// writes for mutations, group commit for reads).
#include "rampart/audit/event_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "audit/event_chunk.h"
#include "audit/lookup.h"
#include "rampart/audit/advisor.h"
#include "rampart/audit/store_sink.h"
#include "rampart/core/arn.h"
#include "rampart/core/encoding.h"

namespace rampart::audit {
namespace {

constexpr std::string_view kAcct = "111122223333";
constexpr std::string_view kOther = "444455556666";

// Test events are named by short tags; their ids are real version 7 UUIDs
// (the store finds an event id through the time it carries) whose random
// part is the tag, so that ties at one millisecond sort by tag.
std::map<std::string, std::string>& TagOfId() {
  static std::map<std::string, std::string> tags;
  return tags;
}

std::string IdOf(std::string_view tag) {
  for (const auto& [id, t] : TagOfId()) {
    if (t == tag) return id;
  }
  return "00000000-0000-7000-8000-000000000000";
}

std::string TestId(int64_t time_ms, std::string_view tag) {
  std::string id = NewEventId(TimePoint(std::chrono::milliseconds(time_ms)));
  std::string tail = HexEncode(tag);
  tail.resize(12, '0');
  id = id.substr(0, 14) + "7000-8000-" + tail;
  TagOfId()[id] = std::string(tag);
  return id;
}

Event MakeEvent(std::string tag, std::string_view account, int64_t time_ms, std::string name,
                bool read_only, std::string user, std::vector<EventResource> res = {}) {
  Event ev;
  ev.event_id = TestId(time_ms, tag);
  ev.account_id = std::string(account);
  ev.time_ms = time_ms;
  ev.event_name = std::move(name);
  ev.event_source = "iam.amazonaws.com";
  ev.read_only = read_only;
  ev.username = std::move(user);
  ev.access_key_id = "AKIA" + ev.username;
  ev.resources = std::move(res);
  ev.region = "us-east-1";
  return ev;
}

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(MigrateEventStore(*db_).ok());
  }
  void Insert(const Event& ev) {
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return InsertEvent(tx, ev); }).ok());
  }
  // Ten events in kAcct, one a second, alternating users and kinds, and
  // two in kOther.
  void Populate() {
    for (int i = 0; i < 10; ++i) {
      bool ro = i % 2 == 0;
      Insert(MakeEvent("e" + std::to_string(i), kAcct, 1000 * (i + 1),
                       ro ? "GetUser" : "CreateUser", ro, i < 5 ? "alice" : "bob",
                       {{"AWS::IAM::User", "u" + std::to_string(i % 3)}}));
    }
    Insert(MakeEvent("x1", kOther, 500, "CreateUser", false, "mallory"));
    Insert(MakeEvent("x2", kOther, 20000, "GetUser", true, "alice"));
  }
  std::vector<std::string> Ids(const LookupQuery& q) {
    auto page = LookupEvents(*db_, q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> out;
    if (page.ok()) {
      for (const auto& e : page->events) out.push_back(TagOfId()[e.event_id]);
    }
    return out;
  }
  LookupQuery Query(LookupKey key = LookupKey::kNone, std::string value = "") {
    LookupQuery q;
    q.account_id = std::string(kAcct);
    q.key = key;
    q.value = std::move(value);
    return q;
  }
  std::unique_ptr<store::Database> db_;
};

using IdList = std::vector<std::string>;

TEST_F(EventStoreTest, NewestFirstAndOwnAccountOnly) {
  Populate();
  EXPECT_EQ(Ids(Query()), (IdList{"e9", "e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1", "e0"}));
  LookupQuery other = Query();
  other.account_id = std::string(kOther);
  EXPECT_EQ(Ids(other), (IdList{"x2", "x1"}));
}

TEST_F(EventStoreTest, EveryAttributeKey) {
  Populate();
  EXPECT_EQ(Ids(Query(LookupKey::kEventId, IdOf("e3"))), (IdList{"e3"}));
  EXPECT_EQ(Ids(Query(LookupKey::kEventId, IdOf("x1"))), IdList{});  // another account's
  EXPECT_EQ(Ids(Query(LookupKey::kEventName, "CreateUser")), (IdList{"e9", "e7", "e5", "e3", "e1"}));
  EXPECT_EQ(Ids(Query(LookupKey::kReadOnly, "true")), (IdList{"e8", "e6", "e4", "e2", "e0"}));
  EXPECT_EQ(Ids(Query(LookupKey::kReadOnly, "false")), (IdList{"e9", "e7", "e5", "e3", "e1"}));
  EXPECT_EQ(Ids(Query(LookupKey::kUsername, "bob")), (IdList{"e9", "e8", "e7", "e6", "e5"}));
  EXPECT_EQ(Ids(Query(LookupKey::kAccessKeyId, "AKIAalice")), (IdList{"e4", "e3", "e2", "e1", "e0"}));
  EXPECT_EQ(Ids(Query(LookupKey::kEventSource, "iam.amazonaws.com")).size(), 10u);
  EXPECT_EQ(Ids(Query(LookupKey::kEventSource, "kms.amazonaws.com")), IdList{});
  EXPECT_EQ(Ids(Query(LookupKey::kResourceName, "u1")), (IdList{"e7", "e4", "e1"}));
  EXPECT_EQ(Ids(Query(LookupKey::kResourceType, "AWS::IAM::User")).size(), 10u);
  EXPECT_EQ(Ids(Query(LookupKey::kResourceType, "AWS::KMS::Key")), IdList{});
}

TEST_F(EventStoreTest, TimeRangeIsInclusive) {
  Populate();
  LookupQuery q = Query();
  q.start_ms = 3000;
  q.end_ms = 5000;
  EXPECT_EQ(Ids(q), (IdList{"e4", "e3", "e2"}));
}

TEST_F(EventStoreTest, PaginationVisitsEveryEventOnce) {
  Populate();
  // Two events at the same millisecond: the event id breaks the tie.
  Insert(MakeEvent("e5b", kAcct, 6000, "GetUser", true, "bob"));
  LookupQuery q = Query();
  q.max_results = 3;
  std::vector<std::string> seen;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = LookupEvents(*db_, q);
    ASSERT_TRUE(page.ok());
    for (const auto& e : page->events) seen.push_back(TagOfId()[e.event_id]);
    json::Value out = LookupOutput(q, *page);
    std::string_view token = out.get_string("NextToken");
    if (token.empty()) {
      EXPECT_FALSE(page->more);
      break;
    }
    LookupQuery next = Query();
    next.max_results = 3;
    ASSERT_TRUE(DecodeLookupToken(token, next).ok());
    q = next;
  }
  EXPECT_EQ(seen, (IdList{"e9", "e8", "e7", "e6", "e5b", "e5", "e4", "e3", "e2", "e1", "e0"}));
}

TEST_F(EventStoreTest, PaginationByAttributeAndResource) {
  Populate();
  for (auto [key, value, expected] :
       {std::tuple{LookupKey::kResourceType, std::string("AWS::IAM::User"), 10},
        std::tuple{LookupKey::kUsername, std::string("alice"), 5},
        std::tuple{LookupKey::kResourceName, std::string("u0"), 4}}) {
    LookupQuery q = Query(key, value);
    q.max_results = 2;
    std::vector<std::string> seen;
    while (true) {
      auto page = LookupEvents(*db_, q);
      ASSERT_TRUE(page.ok());
      for (const auto& e : page->events) seen.push_back(e.event_id);
      if (!page->more) break;
      q.after = std::make_pair(page->events.back().time_ms, page->events.back().event_id);
    }
    EXPECT_EQ(static_cast<int>(seen.size()), expected) << value;
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size()) << value;
  }
}

TEST_F(EventStoreTest, OutputShape) {
  Populate();
  LookupQuery q = Query(LookupKey::kEventId, IdOf("e4"));
  auto page = LookupEvents(*db_, q);
  ASSERT_TRUE(page.ok());
  json::Value out = LookupOutput(q, *page);
  const json::Value& e = out.find("Events")->as_array().at(0);
  EXPECT_EQ(e.get_string("EventId"), IdOf("e4"));
  EXPECT_EQ(e.get_string("EventName"), "GetUser");
  EXPECT_EQ(e.get_string("ReadOnly"), "true");
  EXPECT_EQ(e.get_string("Username"), "alice");
  EXPECT_EQ(e.get_string("AccessKeyId"), "AKIAalice");
  EXPECT_EQ(e.get_string("EventSource"), "iam.amazonaws.com");
  EXPECT_DOUBLE_EQ(e.find("EventTime")->as_double(), 5.0);
  EXPECT_EQ(e.find("Resources")->as_array().at(0).get_string("ResourceName"), "u1");
  auto record = json::Parse(std::string(e.get_string("CloudTrailEvent")));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->get_string("eventID"), IdOf("e4"));
  EXPECT_EQ(out.find("NextToken"), nullptr);
}

// A data directory written before events were chunked: its rows become
// one-event chunks, found by every attribute, and a trail's delivery
// position still points after the events it delivered.
TEST(EventStoreMigrationTest, RowsOfVersionTwoBecomeChunks) {
  auto opened = store::OpenSqlite({.path = ":memory:"});
  ASSERT_TRUE(opened.ok());
  store::Database& db = **opened;
  ASSERT_TRUE(db.Migrate("audit", internal::EventStoreMigrations().first(2)).ok());
  std::string first = TestId(1000, "m1"), second = TestId(2000, "m2");
  std::string sql =
      "INSERT INTO audit_events (seq, event_id, account_id, region, event_time, event_name, "
      "event_source, read_only, username, access_key_id, resources, complete, record) VALUES "
      "(7, '" + first + "', '111122223333', 'us-east-1', 1000, 'CreateUser', 'iam.amazonaws.com', "
      "0, 'alice', 'AKIAALICE', '[]', 1, '{\"eventID\":\"" + first + "\"}'), "
      "(9, '" + second + "', '111122223333', 'eu-west-1', 2000, 'GetUser', 'iam.amazonaws.com', "
      "1, '', '', '[]', 1, '{\"eventID\":\"" + second + "\"}');"
      "INSERT INTO audit_event_resources VALUES ('" + first + "', '111122223333', 1000, "
      "'AWS::IAM::User', 'bob');"
      "INSERT INTO audit_trails VALUES ('111122223333', 'us-east-1', 't', 'b', '', 1, 1, 1, "
      "'[]', 0, 0, 0, 0, 0, '', 7);";
  ASSERT_TRUE(db.Write([&](store::Tx& tx) { return tx.Exec(sql); }).ok());
  ASSERT_TRUE(MigrateEventStore(db).ok());

  auto lookup = [&](LookupKey key, std::string value) {
    LookupQuery q;
    q.account_id = "111122223333";
    q.key = key;
    q.value = std::move(value);
    auto page = LookupEvents(db, q);
    EXPECT_TRUE(page.ok());
    std::vector<std::string> tags;
    for (const StoredEvent& e : page->events) tags.push_back(TagOfId()[e.event_id]);
    return tags;
  };
  EXPECT_EQ(lookup(LookupKey::kNone, ""), (IdList{"m2", "m1"}));
  EXPECT_EQ(lookup(LookupKey::kEventName, "CreateUser"), IdList{"m1"});
  EXPECT_EQ(lookup(LookupKey::kReadOnly, "true"), IdList{"m2"});
  EXPECT_EQ(lookup(LookupKey::kUsername, "alice"), IdList{"m1"});
  EXPECT_EQ(lookup(LookupKey::kAccessKeyId, "AKIAALICE"), IdList{"m1"});
  EXPECT_EQ(lookup(LookupKey::kResourceName, "bob"), IdList{"m1"});
  EXPECT_EQ(lookup(LookupKey::kEventId, second), IdList{"m2"});

  int64_t delivered = 0;
  ASSERT_TRUE(db.Read([&](store::Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT delivered_seq FROM audit_trails"));
                  ASSIGN_OR_RETURN(bool row, s->Step());
                  if (row) delivered = s->Int(0);
                  return Status::Ok();
                }).ok());
  auto after = EventsAfter(db, delivered, 100);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].region, "eu-west-1");
  EXPECT_EQ((*after)[0].record, "{\"eventID\":\"" + second + "\"}");
}

// More events than one chunk holds: every one is found, in order, and
// delivery sees each exactly once.
TEST_F(EventStoreTest, ManyEventsSpanSeveralChunks) {
  std::vector<Event> events;
  for (int i = 0; i < 150; ++i) {
    events.push_back(MakeEvent("n" + std::to_string(i), kAcct, 10000 + i, "GetUser", true,
                               i % 2 ? "alice" : "bob"));
  }
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return InsertEvents(tx, events, false); }).ok());
  LookupQuery q = Query(LookupKey::kUsername, "alice");
  q.max_results = 50;
  auto page = LookupEvents(*db_, q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 50u);
  EXPECT_TRUE(page->more);
  EXPECT_EQ(TagOfId()[page->events.front().event_id], "n149");
  EXPECT_EQ(TagOfId()[page->events.back().event_id], "n51");
  auto all = EventsAfter(*db_, 0, 1000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 150u);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].seq, (*all)[i].seq);
  auto tail = EventsAfter(*db_, (*all)[99].seq, 1000);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->size(), 50u);
}

// (attribute, value, chunks covered) of every posting of account, in key order.
std::vector<std::tuple<int64_t, std::string, int64_t>> Postings(store::Database& db,
                                                                std::string_view account) {
  std::vector<std::tuple<int64_t, std::string, int64_t>> out;
  EXPECT_TRUE(db.Read([&](store::Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare(
                      "SELECT attr, value, chunks FROM audit_postings WHERE account_id = ? "
                      "ORDER BY attr, value, chunk"));
                  s->Bind(1, account);
                  while (true) {
                    ASSIGN_OR_RETURN(bool row, s->Step());
                    if (!row) break;
                    out.emplace_back(s->Int(0), s->Text(1), s->Int(2));
                  }
                  return Status::Ok();
                })
                  .ok());
  return out;
}

// Postings that point at no stored chunk (left behind by a deletion).
int64_t OrphanPostings(store::Database& db) {
  int64_t n = -1;
  EXPECT_TRUE(db.Read([&](store::Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare(
                      "SELECT COUNT(*) FROM audit_postings p WHERE NOT EXISTS "
                      "(SELECT 1 FROM audit_chunks c WHERE c.chunk = p.chunk)"));
                  ASSIGN_OR_RETURN(bool row, s->Step());
                  if (row) n = s->Int(0);
                  return Status::Ok();
                })
                  .ok());
  return n;
}

// Every page of a lookup, newest first.
std::vector<std::string> AllPages(store::Database& db, LookupQuery q) {
  std::vector<std::string> seen;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = LookupEvents(db, q);
    EXPECT_TRUE(page.ok());
    if (!page.ok()) break;
    for (const auto& e : page->events) seen.push_back(TagOfId()[e.event_id]);
    if (!page->more) break;
    q.after = std::make_pair(page->events.back().time_ms, page->events.back().event_id);
  }
  return seen;
}

// One transaction's chunks that share a value share one posting covering
// the run of them, so a group commit of many chunks writes a handful of
// postings; lookups still find every event, including through a time
// range that ends inside a run.
TEST_F(EventStoreTest, PostingsCoverRunsOfChunks) {
  std::vector<Event> events;
  for (int i = 0; i < 320; ++i) {  // five chunks
    events.push_back(MakeEvent("r" + std::to_string(i), kAcct, 10000 + i,
                               i == 150 ? "CreateUser" : "GetUser", i != 150,
                               i % 2 ? "alice" : "bob"));
  }
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return InsertEvents(tx, events, false); }).ok());
  using P = std::tuple<int64_t, std::string, int64_t>;
  EXPECT_EQ(Postings(*db_, kAcct),
            (std::vector<P>{{0, "", 5},
                            {1, "CreateUser", 1},
                            {1, "GetUser", 5},
                            {2, "false", 1},
                            {2, "true", 5},
                            {3, "alice", 5},
                            {3, "bob", 5},
                            {4, "AKIAalice", 5},
                            {4, "AKIAbob", 5},
                            {5, "iam.amazonaws.com", 5}}));
  EXPECT_EQ(Ids(Query(LookupKey::kEventName, "CreateUser")), IdList{"r150"});
  EXPECT_EQ(Ids(Query(LookupKey::kReadOnly, "false")), IdList{"r150"});
  // alice between 10,100 and 10,200 (both inclusive): the odd ones.
  LookupQuery q = Query(LookupKey::kUsername, "alice");
  q.start_ms = 10100;
  q.end_ms = 10200;
  q.max_results = 7;
  IdList expected;
  for (int i = 199; i >= 101; i -= 2) expected.push_back("r" + std::to_string(i));
  EXPECT_EQ(AllPages(*db_, q), expected);
  // Every event once, newest first, through pages that end mid-chunk.
  q = Query();
  q.max_results = 50;
  expected.clear();
  for (int i = 319; i >= 0; --i) expected.push_back("r" + std::to_string(i));
  EXPECT_EQ(AllPages(*db_, q), expected);
}

// A run ends at the first chunk without the value; the next chunk that
// has it starts another. Separate transactions never share a run.
TEST_F(EventStoreTest, RunsEndAtAChunkWithoutTheValue) {
  std::vector<Event> events;
  for (int i = 0; i < 256; ++i) {  // chunks 0, 2 and 3 have carol; chunk 1 has none
    bool carol = i / 64 != 1 && i % 8 == 0;
    events.push_back(MakeEvent("c" + std::to_string(i), kAcct, 20000 + i, "GetUser", true,
                               carol ? "carol" : "dave"));
  }
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return InsertEvents(tx, events, false); }).ok());
  Insert(MakeEvent("c-late", kAcct, 30000, "GetUser", true, "carol"));
  using P = std::tuple<int64_t, std::string, int64_t>;
  std::vector<P> carol;
  for (const P& p : Postings(*db_, kAcct)) {
    if (std::get<1>(p) == "carol") carol.push_back(p);
  }
  EXPECT_EQ(carol, (std::vector<P>{{3, "carol", 1}, {3, "carol", 2}, {3, "carol", 1}}));
  IdList expected = {"c-late"};
  for (int i = 255; i >= 0; --i) {
    if (i / 64 != 1 && i % 8 == 0) expected.push_back("c" + std::to_string(i));
  }
  LookupQuery q = Query(LookupKey::kUsername, "carol");
  q.max_results = 5;
  EXPECT_EQ(AllPages(*db_, q), expected);
}

// A data directory from before migration 7 (postings one per chunk, with
// an index by chunk, and postings for incomplete chunks too) keeps every
// lookup; the index is gone after it, and recovering an incomplete chunk
// of then leaves none of its postings behind.
TEST(EventStoreMigrationTest, PostingsOfVersionSixStillFindTheirEvents) {
  auto opened = store::OpenSqlite({.path = ":memory:"});
  ASSERT_TRUE(opened.ok());
  store::Database& db = **opened;
  ASSERT_TRUE(db.Migrate("audit", internal::EventStoreMigrations().first(6)).ok());
  // As the version 6 writer stored them: one complete chunk of two events
  // and, left by a crash, an incomplete one.
  std::vector<Event> events = {MakeEvent("v6a", kAcct, 1000, "GetUser", true, "alice"),
                               MakeEvent("v6b", kAcct, 2000, "CreateUser", false, "bob")};
  Event in_flight = MakeEvent("v6c", kAcct, 3000, "DeleteUser", false, "bob",
                              {{"AWS::IAM::User", "carol"}});
  in_flight.complete = false;
  for (int complete : {1, 0}) {
    internal::ChunkBuilder builder;
    if (complete == 1) {
      for (const Event& ev : events) builder.Add(ev);
    } else {
      builder.Add(in_flight);
    }
    internal::BuiltChunk built = builder.Take(complete == 1);
    ASSERT_TRUE(db.Write([&](store::Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto chunk, tx.Prepare(
                      "INSERT INTO audit_chunks (min_time, max_time, complete, meta, records, "
                      "format) VALUES (?, ?, ?, '', ?, 1)"));
                  chunk->Bind(1, built.encoded.min_time).Bind(2, built.encoded.max_time);
                  chunk->Bind(3, int64_t{complete});
                  RETURN_IF_ERROR(chunk->BindBlob(4, built.encoded.records).Run());
                  ASSIGN_OR_RETURN(auto posting, tx.Prepare(
                      "INSERT INTO audit_postings (account_id, attr, value, max_time, chunk, "
                      "min_time) VALUES (?, ?, ?, ?, last_insert_rowid(), ?)"));
                  for (const internal::ChunkPosting& p : built.postings) {
                    RETURN_IF_ERROR(posting->Reset());
                    posting->Bind(1, p.account).Bind(2, static_cast<int64_t>(p.attr));
                    posting->Bind(3, p.value).Bind(4, p.max_time).Bind(5, p.min_time);
                    RETURN_IF_ERROR(posting->Run());
                  }
                  return Status::Ok();
                })
                    .ok());
  }
  ASSERT_TRUE(MigrateEventStore(db).ok());
  LookupQuery q;
  q.account_id = std::string(kAcct);
  EXPECT_EQ(AllPages(db, q), (IdList{"v6c", "v6b", "v6a"}));
  q.key = LookupKey::kUsername;
  q.value = "alice";
  EXPECT_EQ(AllPages(db, q), IdList{"v6a"});
  ASSERT_TRUE(RecoverIncompleteEvents(db).ok());
  EXPECT_EQ(OrphanPostings(db), 0);
  q.value = "bob";
  EXPECT_EQ(AllPages(db, q), (IdList{"v6c", "v6b"}));
  q.key = LookupKey::kResourceName;
  q.value = "carol";
  EXPECT_EQ(AllPages(db, q), IdList{"v6c"});
  int64_t indexes = -1;
  ASSERT_TRUE(db.Read([&](store::Tx& tx) -> Status {
                  ASSIGN_OR_RETURN(auto s, tx.Prepare(
                      "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_postings_by_chunk'"));
                  ASSIGN_OR_RETURN(bool row, s->Step());
                  if (row) indexes = s->Int(0);
                  return Status::Ok();
                })
                  .ok());
  EXPECT_EQ(indexes, 0);
}

json::Value Attr(std::string_view key, std::string_view value) {
  json::Value a = json::Value::MakeObject();
  a.set("AttributeKey", key);
  a.set("AttributeValue", value);
  return a;
}

TEST(LookupInputTest, Errors) {
  json::Value two = json::Value::MakeObject();
  json::Value list = json::Value::MakeArray();
  list.push(Attr("EventName", "A"));
  list.push(Attr("Username", "b"));
  two.set("LookupAttributes", list);
  EXPECT_EQ(ParseLookupInput(two, kAcct).status().modeled(), "InvalidLookupAttributesException");

  json::Value ro = json::Value::MakeObject();
  json::Value one = json::Value::MakeArray();
  one.push(Attr("ReadOnly", "maybe"));
  ro.set("LookupAttributes", one);
  EXPECT_EQ(ParseLookupInput(ro, kAcct).status().modeled(), "InvalidLookupAttributesException");

  json::Value times = json::Value::MakeObject();
  times.set("StartTime", int64_t{2000});
  times.set("EndTime", int64_t{1000});
  EXPECT_EQ(ParseLookupInput(times, kAcct).status().modeled(), "InvalidTimeRangeException");

  json::Value max = json::Value::MakeObject();
  max.set("MaxResults", int64_t{51});
  EXPECT_EQ(ParseLookupInput(max, kAcct).status().modeled(), "InvalidMaxResultsException");

  for (std::string_view bad : std::vector<std::string_view>{"!!!", "bm90IGpzb24=", "e30=", "A"}) {
    json::Value tok = json::Value::MakeObject();
    tok.set("NextToken", bad);
    EXPECT_EQ(ParseLookupInput(tok, kAcct).status().modeled(), "InvalidNextTokenException")
        << bad;
  }
}

TEST(LookupInputTest, TokenBelongsToItsLookup) {
  LookupQuery by_name;
  by_name.key = LookupKey::kEventName;
  by_name.value = "CreateUser";
  std::string token = EncodeLookupToken(by_name, 1234, "ev");
  LookupQuery same = by_name;
  ASSERT_TRUE(DecodeLookupToken(token, same).ok());
  EXPECT_EQ(same.after->first, 1234);
  EXPECT_EQ(same.after->second, "ev");
  LookupQuery other;
  other.key = LookupKey::kUsername;
  other.value = "CreateUser";
  EXPECT_FALSE(DecodeLookupToken(token, other).ok());
}

TEST(LookupInputTest, DefaultsAndTimes) {
  json::Value in = json::Value::MakeObject();
  in.set("StartTime", 1.5);
  in.set("EndTime", int64_t{3});
  auto q = ParseLookupInput(in, kAcct);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->start_ms, 1500);
  EXPECT_EQ(q->end_ms, 3000);
  EXPECT_EQ(q->max_results, 50);
  EXPECT_EQ(q->account_id, kAcct);
}

// The sink, with a table standing in for a service's data.
class SinkTest : public EventStoreTest {
 protected:
  void SetUp() override {
    EventStoreTest::SetUp();
    ASSERT_TRUE(MigrateAdvisor(*db_).ok());
    ASSERT_TRUE(db_->Write([](store::Tx& tx) { return tx.Exec("CREATE TABLE things (n TEXT);"); })
                    .ok());
    principal_.account_id = std::string(kAcct);
    principal_.arn = RootArn(kAcct);
    principal_.type = "Root";
    principal_.principal_id = principal_.account_id;
    principal_.access_key_id = "AKIAROOT";
    sink_ = std::make_unique<StoreAuditSink>(
        *db_, StoreAuditSink::Options{.default_region = "us-east-1",
                                      .fallback_account = "999999999999",
                                      .flush_interval = std::chrono::milliseconds(50)});
  }
  server::AuditRecord Rec(std::string_view op, const Status* err = nullptr,
                          bool authenticated = true) {
    server::AuditRecord r{};
    r.time = TimePoint(std::chrono::seconds(1700000000));
    r.request_id = "req";
    r.service = "iam";
    r.operation = op;
    r.region = "us-east-1";
    r.principal = authenticated ? &principal_ : nullptr;
    r.access_key_id = "AKIAROOT";
    r.input = &input_;
    r.error = err;
    return r;
  }
  Status InsertThing() {
    return db_->Write([](store::Tx& tx) { return tx.Exec("INSERT INTO things VALUES ('x');"); });
  }
  // (event name, complete) of every stored event, in delivery order.
  std::vector<std::pair<std::string, int64_t>> Rows() {
    std::vector<std::pair<std::string, int64_t>> out;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
                      ASSIGN_OR_RETURN(auto s, tx.Prepare(
                          "SELECT records, complete FROM audit_chunks ORDER BY chunk"));
                      while (true) {
                        ASSIGN_OR_RETURN(bool row, s->Step());
                        if (!row) break;
                        ASSIGN_OR_RETURN(std::vector<Event> events,
                                         internal::DecodeChunk(internal::ChunkFormat::kBinary,
                                                               "", s->Text(0)));
                        for (const Event& e : events) out.emplace_back(e.event_name, s->Int(1));
                      }
                      return Status::Ok();
                    })
                    .ok());
    return out;
  }
  // "event name@account" of every stored event, chunk by chunk.
  std::vector<std::vector<std::string>> ChunkContents() {
    std::vector<std::vector<std::string>> out;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
                      ASSIGN_OR_RETURN(auto s, tx.Prepare(
                          "SELECT records FROM audit_chunks ORDER BY chunk"));
                      while (true) {
                        ASSIGN_OR_RETURN(bool row, s->Step());
                        if (!row) break;
                        ASSIGN_OR_RETURN(std::vector<Event> events,
                                         internal::DecodeChunk(internal::ChunkFormat::kBinary,
                                                               "", s->Text(0)));
                        std::vector<std::string>& chunk = out.emplace_back();
                        for (const Event& e : events) chunk.push_back(e.event_name + "@" + e.account_id);
                      }
                      return Status::Ok();
                    })
                    .ok());
    return out;
  }
  using Rows_t = std::vector<std::pair<std::string, int64_t>>;
  server::Principal principal_;
  json::Value input_ = json::Value::MakeObject();
  std::unique_ptr<StoreAuditSink> sink_;
};

TEST_F(SinkTest, MutationCommitsWithItsRecord) {
  sink_->Begin(Rec("CreateUser"));
  ASSERT_TRUE(InsertThing().ok());
  // A crash here (after the commit, before Record) still leaves a record.
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 0}}));
  sink_->Record(Rec("CreateUser"));
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 1}}));
  EXPECT_EQ(sink_->synchronous_writes(), 1u);
}

TEST_F(SinkTest, SeveralTransactionsInOneRequestKeepOneRecord) {
  sink_->Begin(Rec("CreateUser"));
  ASSERT_TRUE(InsertThing().ok());
  ASSERT_TRUE(InsertThing().ok());
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 0}}));
  sink_->Record(Rec("CreateUser"));
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 1}}));
}

TEST_F(SinkTest, RolledBackMutationTakesItsRecordAlong) {
  sink_->Begin(Rec("CreateUser"));
  Status st = db_->Write([](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO things VALUES ('x');"));
    return Status::Modeled("EntityAlreadyExistsException", "exists");
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(Rows(), Rows_t{});
  sink_->Record(Rec("CreateUser", &st));
  // Not read-only: written synchronously even though nothing changed.
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 1}}));
}

TEST_F(SinkTest, HookOnlyDuringTheRequest) {
  sink_->Begin(Rec("CreateUser"));
  sink_->Record(Rec("CreateUser"));
  ASSERT_TRUE(InsertThing().ok());  // outside any request: no record
  EXPECT_EQ(Rows().size(), 1u);
}

TEST_F(SinkTest, ReadOnlyCallsAreGroupCommitted) {
  sink_->Begin(Rec("GetUser"));
  sink_->Record(Rec("GetUser"));
  Status bad = Status::Error(ErrorCode::kInvalidSignature, "bad");
  sink_->Record(Rec("CreateUser", &bad, /*authenticated=*/false));
  EXPECT_EQ(Rows(), Rows_t{});
  EXPECT_EQ(sink_->queued_writes(), 2u);
  ASSERT_TRUE(sink_->Flush().ok());
  EXPECT_EQ(Rows(), (Rows_t{{"GetUser", 1}, {"CreateUser", 1}}));
}

TEST_F(SinkTest, BackgroundThreadFlushesAndStopDrains) {
  sink_->Start();
  sink_->Record(Rec("ListUsers"));
  for (int i = 0; i < 100 && Rows().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Rows().size(), 1u);
  sink_->Record(Rec("ListRoles"));
  sink_->Stop();
  EXPECT_EQ(Rows().size(), 2u);
}

// The access advisor's last-accessed data is stored with the records, in
// the same transactions: queued calls at the group commit, mutations
// synchronously; an authentication failure leaves none.
TEST_F(SinkTest, RecordsLastAccessWithTheEvents) {
  auto access = [&] {
    std::vector<std::string> out;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
                      ASSIGN_OR_RETURN(auto rows, AccessOfEntities(tx, kAcct, {}, 0));
                      for (const AccessRecord& r : rows) out.push_back(r.service + ":" + r.action);
                      return Status::Ok();
                    })
                    .ok());
    return out;
  };
  sink_->Record(Rec("GetUser"));
  Status bad = Status::Error(ErrorCode::kInvalidSignature, "bad");
  sink_->Record(Rec("ListUsers", &bad, /*authenticated=*/false));
  EXPECT_EQ(access(), std::vector<std::string>{});
  ASSERT_TRUE(sink_->Flush().ok());
  EXPECT_EQ(access(), std::vector<std::string>{"iam:GetUser"});
  sink_->Begin(Rec("CreateUser"));
  ASSERT_TRUE(InsertThing().ok());
  sink_->Record(Rec("CreateUser"));
  EXPECT_EQ(access(), (std::vector<std::string>{"iam:CreateUser", "iam:GetUser"}));
}

// A batch's events are grouped before their last-accessed data is read:
// the latest time of each (entity, action, region) wins, whatever the order
// in the queue, and a failure with another error code does not hide it.
TEST_F(SinkTest, GroupedLastAccessKeepsTheLatestCall) {
  auto last = [&](std::string_view action) {
    int64_t out = -1;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
                      ASSIGN_OR_RETURN(auto rows, AccessOfEntities(tx, kAcct, {}, 0));
                      for (const AccessRecord& r : rows) {
                        if (r.action == action) out = r.time_ms;
                      }
                      return Status::Ok();
                    })
                    .ok());
    return out;
  };
  for (int64_t t : {1700000300, 1700000100, 1700000500, 1700000200}) {
    server::AuditRecord r = Rec("GetUser");
    r.time = TimePoint(std::chrono::seconds(t));
    sink_->Record(r);
  }
  Status denied = Status::Error(ErrorCode::kAccessDenied, "no");
  server::AuditRecord older_denied = Rec("GetUser", &denied);
  older_denied.time = TimePoint(std::chrono::seconds(1700000050));
  sink_->Record(older_denied);
  ASSERT_TRUE(sink_->Flush().ok());
  EXPECT_EQ(last("GetUser"), int64_t{1700000500} * 1000);
}

// A read-only cross-account call goes through the group commit with its
// resource owner's copy: one record in each account, sharing an id, the
// owner's showing the caller as an account.
TEST_F(SinkTest, CrossAccountReadOnlyCallIsRecordedInBothAccounts) {
  const std::vector<std::string> owners = {"444455556666"};
  server::AuditRecord r = Rec("GetUser");
  r.resource_accounts = owners;
  sink_->Record(r);
  EXPECT_EQ(sink_->synchronous_writes(), 0u);
  EXPECT_EQ(sink_->queued_writes(), 1u);
  ASSERT_TRUE(sink_->Flush().ok());
  auto record_in = [&](std::string_view account) {
    LookupQuery q;
    q.account_id = std::string(account);
    auto page = LookupEvents(*db_, q);
    EXPECT_TRUE(page.ok());
    EXPECT_EQ(page->events.size(), 1u);
    auto parsed = json::Parse(page->events.empty() ? "" : page->events[0].record);
    EXPECT_TRUE(parsed.ok());
    return parsed.ok() ? *parsed : json::Value();
  };
  json::Value caller = record_in(kAcct);
  json::Value owner = record_in("444455556666");
  EXPECT_FALSE(caller.get_string("sharedEventID").empty());
  EXPECT_EQ(caller.get_string("sharedEventID"), owner.get_string("sharedEventID"));
  EXPECT_NE(caller.get_string("eventID"), owner.get_string("eventID"));
  EXPECT_EQ(owner.get_string("recipientAccountId"), "444455556666");
  EXPECT_EQ(owner.find("userIdentity")->get_string("type"), "AWSAccount");
  EXPECT_EQ(owner.find("userIdentity")->get_string("accountId"), kAcct);
}

// Each worker thread fills a chunk of its own; a flush takes every one of
// them, full or not.
TEST_F(SinkTest, RecordsOfEveryThreadAreStored) {
  constexpr int kThreads = 4;
  constexpr int kEach = 150;  // two full chunks and a partial one per thread
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < kEach; ++i) sink_->Record(Rec("GetUser"));
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(sink_->queued_writes(), size_t{kThreads * kEach});
  ASSERT_TRUE(sink_->Flush().ok());
  EXPECT_EQ(Rows().size(), size_t{kThreads * kEach});
  std::set<std::string> ids;
  LookupQuery q;
  q.account_id = std::string(kAcct);
  q.max_results = kThreads * kEach;
  auto page = LookupEvents(*db_, q);
  ASSERT_TRUE(page.ok());
  for (const StoredEvent& e : page->events) ids.insert(e.event_id);
  EXPECT_EQ(ids.size(), size_t{kThreads * kEach});
}

// Review finding: a cross-account record arriving when its thread's chunk
// had room for one more event was split, the caller's event sealed with
// the full chunk and the owner's copy left for the next one (another
// transaction). The chunk is now sealed first.
TEST_F(SinkTest, RecordAndItsCopiesShareAChunk) {
  for (size_t i = 0; i + 1 < internal::kChunkEvents; ++i) sink_->Record(Rec("GetUser"));
  const std::vector<std::string> owners = {std::string(kOther)};
  server::AuditRecord r = Rec("ListUsers");
  r.resource_accounts = owners;
  sink_->Record(r);
  ASSERT_TRUE(sink_->Flush().ok());
  std::vector<std::vector<std::string>> chunks = ChunkContents();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], std::vector<std::string>(internal::kChunkEvents - 1,
                                                "GetUser@" + std::string(kAcct)));
  EXPECT_EQ(chunks[1], (std::vector<std::string>{"ListUsers@" + std::string(kAcct),
                                                 "ListUsers@" + std::string(kOther)}));
  EXPECT_EQ(sink_->synchronous_writes(), 0u);
}

// A record with more copies than a chunk holds is written at once, whole.
TEST_F(SinkTest, RecordLargerThanAChunkIsWrittenSynchronously) {
  std::vector<std::string> owners;
  for (size_t i = 0; i < internal::kChunkEvents; ++i) {
    owners.push_back(std::to_string(100000000000 + i));
  }
  server::AuditRecord r = Rec("ListUsers");
  r.resource_accounts = owners;
  sink_->Record(r);
  EXPECT_EQ(sink_->queued_writes(), 0u);
  EXPECT_EQ(sink_->synchronous_writes(), 1u);
  EXPECT_EQ(Rows().size(), internal::kChunkEvents + 1);
}

// Review finding: a flush took the sealed chunks before the threads' open
// ones, so a chunk sealed in between waited for the next flush while the
// thread's later records, in its new open chunk, were stored before it
// (with lower seqs). Each thread's records must be stored in the order it
// made them, whatever the flushes running meanwhile. The race is narrow:
// this test finds the old order only sometimes.
TEST_F(SinkTest, ConcurrentFlushesKeepEachThreadsOrder) {
  constexpr int kThreads = 2;
  constexpr int kEach = 3000;
  const std::string_view names[kThreads] = {"GetUser", "ListUsers"};
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done.load()) EXPECT_TRUE(sink_->Flush().ok());
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, &names, t] {
      for (int i = 0; i < kEach; ++i) {
        server::AuditRecord r = Rec(names[t]);
        r.time = TimePoint(std::chrono::seconds(1700000000) + std::chrono::milliseconds(i));
        sink_->Record(r);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  done.store(true);
  flusher.join();
  ASSERT_TRUE(sink_->Flush().ok());
  std::map<std::string, int64_t> last;  // event name -> time of its latest event so far
  size_t total = 0;
  ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT records FROM audit_chunks ORDER BY chunk"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      ASSIGN_OR_RETURN(std::vector<Event> events,
                       internal::DecodeChunk(internal::ChunkFormat::kBinary, "", s->Text(0)));
      for (const Event& e : events) {
        auto it = last.find(e.event_name);
        if (it != last.end()) {
          EXPECT_GT(e.time_ms, it->second) << e.event_name;
        }
        last[e.event_name] = e.time_ms;
        ++total;
      }
    }
    return Status::Ok();
  }).ok());
  EXPECT_EQ(total, size_t{kThreads * kEach});
}

// Completing a mutation's record replaces its first version, postings
// included: none is left pointing at the deleted chunk, and the record is
// found by its user. The same after a crash, through recovery.
TEST_F(SinkTest, CompletedRecordsLeaveNoPostingBehind) {
  principal_.type = "IAMUser";
  principal_.user_name = "alice";
  principal_.arn = "arn:aws:iam::111122223333:user/alice";
  input_.set("UserName", "bob");
  sink_->Begin(Rec("CreateUser"));
  ASSERT_TRUE(InsertThing().ok());
  ASSERT_TRUE(InsertThing().ok());  // a second transaction replaces the first version
  // The first version, in flight, has no postings: lookups do not see it.
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 0}}));
  EXPECT_TRUE(Postings(*db_, kAcct).empty());
  sink_->Record(Rec("CreateUser"));
  EXPECT_EQ(OrphanPostings(*db_), 0);
  // A request whose process dies after its commit: recovery completes it.
  std::thread crashed([this] {
    server::AuditRecord later = Rec("DeleteUser");
    later.time += std::chrono::seconds(1);
    sink_->Begin(later);
    ASSERT_TRUE(InsertThing().ok());
  });
  crashed.join();
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 1}, {"DeleteUser", 0}}));
  ASSERT_TRUE(RecoverIncompleteEvents(*db_).ok());
  EXPECT_EQ(Rows(), (Rows_t{{"CreateUser", 1}, {"DeleteUser", 1}}));
  EXPECT_EQ(OrphanPostings(*db_), 0);
  LookupQuery q;
  q.account_id = std::string(kAcct);
  q.key = LookupKey::kResourceName;
  q.value = "bob";
  auto page = LookupEvents(*db_, q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].event_name, "DeleteUser");
  EXPECT_EQ(page->events[1].event_name, "CreateUser");
  using P = std::tuple<int64_t, std::string, int64_t>;
  std::vector<P> users;
  for (const P& p : Postings(*db_, kAcct)) {
    if (std::get<0>(p) == 3) users.push_back(p);
  }
  EXPECT_EQ(users, (std::vector<P>{{3, "alice", 1}, {3, "alice", 1}}));
}

// The sink encodes a run of records without comparing each with the one
// before when the builds say what changed. Whatever interrupts the run (a
// synchronous write, a resource owner's copy, a flush), every stored
// event is the one BuildEvent makes of its request.
TEST_F(SinkTest, StoredEventsAreWhatBuildEventMakes) {
  server::Principal user = principal_;
  user.type = "IAMUser";
  user.user_name = "alice";
  user.arn = "arn:aws:iam::111122223333:user/alice";
  user.principal_id = "AIDAALICE";
  user.access_key_id = "AKIAALICE";
  Status denied = Status::Error(ErrorCode::kAccessDenied, "no");
  Status bad = Status::Error(ErrorCode::kInvalidSignature, "bad");
  const std::vector<std::string> owners = {std::string(kOther)};
  std::vector<server::AuditRecord> recs;
  auto add = [&](server::AuditRecord r, int second, std::string_view agent) {
    r.time = TimePoint(std::chrono::seconds(1700000000 + second));
    r.user_agent = agent;
    recs.push_back(r);
  };
  add(Rec("GetUser"), 1, "agent-x");
  add(Rec("GetUser"), 2, "agent-x");
  add(Rec("CreateUser"), 3, "agent-y");  // written synchronously
  add(Rec("GetUser"), 4, "agent-y");     // the same agent as the build before, not the chunk's
  server::AuditRecord cross = Rec("ListUsers");
  cross.resource_accounts = owners;
  add(cross, 5, "agent-y");
  add(Rec("ListUsers"), 6, "agent-y");   // after a copy
  add(Rec("ListUsers", &denied), 7, "agent-y");
  add(Rec("ListUsers", &bad, /*authenticated=*/false), 8, "agent-y");
  server::AuditRecord as_user = Rec("GetUser");
  as_user.principal = &user;
  add(as_user, 9, "agent-x");
  add(as_user, 10, "agent-x");
  for (size_t i = 0; i < recs.size(); ++i) {
    sink_->Record(recs[i]);
    if (i == 6) {
      ASSERT_TRUE(sink_->Flush().ok());  // a chunk ends mid-run
    }
  }
  ASSERT_TRUE(sink_->Flush().ok());
  std::vector<Event> stored;
  ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT records FROM audit_chunks ORDER BY chunk"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      ASSIGN_OR_RETURN(std::vector<Event> events,
                       internal::DecodeChunk(internal::ChunkFormat::kBinary, "", s->Text(0)));
      for (Event& e : events) stored.push_back(std::move(e));
    }
    return Status::Ok();
  }).ok());
  // Delivery order: the synchronous CreateUser first (its own chunk), then
  // the queued records with the owner's copy after its caller's.
  std::vector<Event> expected;
  auto expect = [&](const server::AuditRecord& r) {
    Event ev = BuildEvent(r, {"", "us-east-1", "999999999999"});
    std::vector<Event> copies = ResourceOwnerCopies(r, ev);
    expected.push_back(ev);
    for (Event& c : copies) expected.push_back(std::move(c));
  };
  expect(recs[2]);
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i != 2) expect(recs[i]);
  }
  ASSERT_EQ(stored.size(), expected.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    // Ids are fresh each time: take the stored ones, compare the rest.
    expected[i].event_id = stored[i].event_id;
    expected[i].shared_event_id = stored[i].shared_event_id;
    EXPECT_EQ(RenderRecord(stored[i]), RenderRecord(expected[i])) << i;
    EXPECT_EQ(stored[i].username, expected[i].username) << i;
    EXPECT_EQ(stored[i].access_key_id, expected[i].access_key_id) << i;
    EXPECT_EQ(stored[i].read_only, expected[i].read_only) << i;
  }
  EXPECT_EQ(stored[3].event_name, "GetUser");
  EXPECT_EQ(stored[3].user_agent, "agent-y");
  EXPECT_FALSE(stored[4].shared_event_id.empty());
  EXPECT_EQ(stored[4].shared_event_id, stored[5].shared_event_id);
  EXPECT_EQ(stored[5].account_id, kOther);
  EXPECT_TRUE(stored[6].shared_event_id.empty());
}

// The same while another thread flushes all the time, so that chunks are
// sealed between one record's build and its encoding: every stored event
// still has its own request's members (here its user agent, which changes
// every few records), never the previous event's.
TEST_F(SinkTest, RecordsStayIntactWhileFlushesSealChunks) {
  constexpr int kThreads = 2;
  constexpr int kEach = 2000;
  const std::string agents[3] = {"agent-a", "agent-bb", "agent-a"};
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done.load()) EXPECT_TRUE(sink_->Flush().ok());
  });
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> request_ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      request_ids[t].push_back("req-" + std::to_string(t) + "-" + std::to_string(i));
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, &agents, &request_ids, t] {
      for (int i = 0; i < kEach; ++i) {
        server::AuditRecord r = Rec(i % 5 == 4 ? "ListUsers" : "GetUser");
        r.request_id = request_ids[t][i];
        r.user_agent = agents[(i / 3) % 3];
        sink_->Record(r);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  done.store(true);
  flusher.join();
  ASSERT_TRUE(sink_->Flush().ok());
  size_t total = 0;
  ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT records FROM audit_chunks ORDER BY chunk"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      ASSIGN_OR_RETURN(std::vector<Event> events,
                       internal::DecodeChunk(internal::ChunkFormat::kBinary, "", s->Text(0)));
      for (const Event& e : events) {
        int t = 0, i = 0;
        EXPECT_EQ(std::sscanf(e.request_id.c_str(), "req-%d-%d", &t, &i), 2) << e.request_id;
        EXPECT_EQ(e.user_agent, agents[(i / 3) % 3]) << e.request_id;
        EXPECT_EQ(e.event_name, i % 5 == 4 ? "ListUsers" : "GetUser") << e.request_id;
        ++total;
      }
    }
    return Status::Ok();
  }).ok());
  EXPECT_EQ(total, size_t{kThreads * kEach});
}

TEST_F(SinkTest, FullQueueWritesSynchronously) {
  sink_ = std::make_unique<StoreAuditSink>(
      *db_, StoreAuditSink::Options{.fallback_account = "999999999999", .max_queue = 1});
  sink_->Record(Rec("GetUser"));
  sink_->Record(Rec("ListUsers"));
  EXPECT_EQ(sink_->queued_writes(), 1u);
  EXPECT_EQ(sink_->synchronous_writes(), 1u);
}

}  // namespace
}  // namespace rampart::audit
