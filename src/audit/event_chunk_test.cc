// The chunk formats: binary events round-trip member for member (strings
// that repeat are written once), damaged blobs are refused, and rows of
// the JSON format written before migration 5 still decode.
#include "audit/event_chunk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "rampart/core/json.h"

namespace rampart::audit::internal {
namespace {

Event FullEvent(int i) {
  Event ev;
  ev.event_id = "0190c5a0-0000-7000-8000-00000000000" + std::to_string(i);
  ev.account_id = "111122223333";
  ev.time_ms = 1'700'000'000'123 + i;
  ev.event_name = i % 2 ? "Encrypt" : "CreateUser";
  ev.event_source = i % 2 ? "kms.amazonaws.com" : "iam.amazonaws.com";
  ev.read_only = i % 2 == 1;
  ev.username = "s1";
  ev.access_key_id = "ASIAEXAMPLE";
  ev.resources = {{"AWS::KMS::Key", "arn:aws:kms:eu-west-1:111122223333:key/k" + std::to_string(i)}};
  ev.region = "eu-west-1";
  ev.identity.kind = EventIdentity::Kind::kPrincipal;
  ev.identity.type = "AssumedRole";
  ev.identity.principal_id = "AROAEXAMPLE:s1";
  ev.identity.arn = "arn:aws:sts::111122223333:assumed-role/ops/s1";
  ev.identity.account_id = "111122223333";
  ev.identity.access_key_id = "ASIAEXAMPLE";
  ev.identity.has_session = true;
  ev.identity.role_arn = "arn:aws:iam::111122223333:role/ops";
  ev.identity.session_issued_s = 1'699'999'000;
  ev.identity.mfa = i == 0;
  ev.identity.source_identity = "alice";
  ev.source_ip = "192.0.2.7";
  ev.user_agent = "aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12";
  ev.has_error = i == 2;
  if (ev.has_error) {
    ev.error_code = "AccessDeniedException";
    ev.error_message = "not \"allowed\"\n";
  }
  ev.request_parameters = R"({"keyId":"alias/app","encryptionContext":{"a":"b"}})";
  ev.response_elements = i == 1 ? "" : R"({"user":{"userName":"x"}})";
  ev.request_id = "req-" + std::to_string(i);
  ev.shared_event_id = i == 3 ? "shared-1" : "";
  ev.secure_transport = i != 1;
  ev.tls_version = "TLSv1.3";
  ev.tls_cipher = "TLS_AES_256_GCM_SHA384";
  ev.host = "rampart.example";
  return ev;
}

void ExpectSame(const Event& a, const Event& b) {
  EXPECT_EQ(a.event_id, b.event_id);
  EXPECT_EQ(a.account_id, b.account_id);
  EXPECT_EQ(a.time_ms, b.time_ms);
  EXPECT_EQ(a.event_name, b.event_name);
  EXPECT_EQ(a.event_source, b.event_source);
  EXPECT_EQ(a.read_only, b.read_only);
  EXPECT_EQ(a.username, b.username);
  EXPECT_EQ(a.access_key_id, b.access_key_id);
  ASSERT_EQ(a.resources.size(), b.resources.size());
  for (size_t i = 0; i < a.resources.size(); ++i) {
    EXPECT_EQ(a.resources[i].type, b.resources[i].type);
    EXPECT_EQ(a.resources[i].name, b.resources[i].name);
  }
  EXPECT_EQ(a.region, b.region);
  EXPECT_EQ(a.identity.kind, b.identity.kind);
  EXPECT_EQ(a.identity.mfa, b.identity.mfa);
  EXPECT_EQ(a.identity.has_session, b.identity.has_session);
  EXPECT_EQ(a.identity.session_issued_s, b.identity.session_issued_s);
  // Every other member shows in the rendered record.
  EXPECT_EQ(RenderRecord(a), RenderRecord(b));
}

std::vector<Event> Events(int n) {
  std::vector<Event> out;
  for (int i = 0; i < n; ++i) out.push_back(FullEvent(i));
  return out;
}

TEST(EventChunkTest, BinaryRoundTripKeepsEveryMember) {
  std::vector<Event> events = Events(4);
  EncodedChunk enc = EncodeChunk(events);
  EXPECT_TRUE(enc.meta.empty());
  EXPECT_EQ(enc.min_time, events.front().time_ms);
  EXPECT_EQ(enc.max_time, events.back().time_ms);
  auto decoded = DecodeChunk(ChunkFormat::kBinary, "", enc.records);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) ExpectSame(events[i], (*decoded)[i]);
}

TEST(EventChunkTest, RepeatedStringsAreWrittenOnce) {
  std::vector<Event> one = Events(1);
  std::vector<Event> many;
  for (int i = 0; i < 64; ++i) {
    Event ev = FullEvent(0);
    ev.event_id += "-" + std::to_string(i);
    many.push_back(ev);
  }
  size_t single = EncodeChunk(one).records.size();
  size_t all = EncodeChunk(many).records.size();
  // The identity, user agent, parameters, ... appear once: each further
  // event costs its ids, times and references only.
  EXPECT_LT(all, single + 63 * 90) << single << " " << all;
  std::string agent = one[0].user_agent;
  std::string blob = EncodeChunk(many).records;
  EXPECT_EQ(blob.find(agent), blob.rfind(agent));
}

TEST(EventChunkTest, DamagedBlobsAreRefusedNotTrusted) {
  std::string blob = EncodeChunk(Events(3)).records;
  for (size_t n = 0; n < blob.size(); ++n) {
    EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", blob.substr(0, n)).ok()) << n;
  }
  std::string wrong_version = blob;
  wrong_version[0] = 9;
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", wrong_version).ok());
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", blob + "x").ok());
  // A count far beyond the bytes, and a reference to a literal not yet seen.
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", std::string("\x01\xff\xff\xff\x0f", 5)).ok());
  std::string bad_ref("\x01\x01\x00\x00\x00\x03", 6);
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", bad_ref).ok());
}

// Times outside 1970 to the clock's end (2262) are damage when stored, and
// never overflow the clock when rendered (libFuzzer found the overflow).
TEST(EventChunkTest, TimesOutOfRangeAreRefusedAndRenderSafely) {
  for (int64_t bad : {int64_t{-1}, int64_t{253402300800000}, int64_t{9223372036855}, INT64_MAX,
                      INT64_MIN}) {
    std::vector<Event> events = Events(1);
    events[0].time_ms = bad;
    EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(events).records).ok()) << bad;
    EXPECT_TRUE(json::Parse(RenderRecord(events[0])).ok());
    events = Events(1);
    events[0].identity.session_issued_s = bad;
    EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(events).records).ok()) << bad;
    EXPECT_TRUE(json::Parse(RenderRecord(events[0])).ok());
  }
  std::string meta = R"([["e1",-5,"111122223333","us-east-1","CreateUser","iam.amazonaws.com",)"
                     R"(0,"","",[],2]])";
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kJson, meta, "{}").ok());
}

TEST(EventChunkTest, JsonRowsOfEarlierVersionsKeepTheirRecords) {
  std::string record = R"({"eventID":"e1","awsRegion":"us-east-1"})";
  std::string meta = R"([["e1",1000,"111122223333","us-east-1","CreateUser","iam.amazonaws.com",)"
                     R"(0,"alice","AKIAALICE",[["AWS::IAM::User","bob"]],)" +
                     std::to_string(record.size()) + "]]";
  auto decoded = DecodeChunk(ChunkFormat::kJson, meta, record);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), 1u);
  const Event& ev = (*decoded)[0];
  EXPECT_EQ(ev.event_name, "CreateUser");
  EXPECT_EQ(ev.username, "alice");
  EXPECT_EQ(ev.region, "us-east-1");
  ASSERT_EQ(ev.resources.size(), 1u);
  EXPECT_EQ(RenderRecord(ev), record);
  // Re-encoded in the binary format (crash recovery does this), the record
  // stays exactly what it was.
  auto again = DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(*decoded).records);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(RenderRecord((*again)[0]), record);
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kJson, meta, record + "x").ok());
}

TEST(EventChunkTest, RenderedRecordsAreValidJson) {
  for (const Event& ev : Events(4)) {
    auto parsed = json::Parse(RenderRecord(ev));
    ASSERT_TRUE(parsed.ok()) << RenderRecord(ev);
    EXPECT_EQ(parsed->get_string("eventID"), ev.event_id);
    const json::Value* ctx = parsed->find("userIdentity")->find("sessionContext");
    ASSERT_NE(ctx, nullptr);
    EXPECT_EQ(ctx->find("sessionIssuer")->get_string("userName"), "ops");
    EXPECT_EQ(ctx->find("sessionIssuer")->get_string("principalId"), "AROAEXAMPLE");
    EXPECT_EQ(ctx->get_string("sourceIdentity"), "alice");
  }
}


// The postings a chunk must carry, computed the plain way: every key of
// every event with the times of the events under it.
std::map<std::tuple<std::string, int64_t, std::string>, std::pair<int64_t, int64_t>> PlainPostings(
    std::span<const Event> events) {
  std::map<std::tuple<std::string, int64_t, std::string>, std::pair<int64_t, int64_t>> out;
  std::vector<PostingKey> keys;
  for (const Event& ev : events) {
    PostingsOf(ev, keys);
    for (const PostingKey& k : keys) {
      auto key = std::make_tuple(std::string(k.account), static_cast<int64_t>(k.attr),
                                 std::string(k.value));
      auto [it, fresh] = out.try_emplace(key, ev.time_ms, ev.time_ms);
      it->second.first = std::min(it->second.first, ev.time_ms);
      it->second.second = std::max(it->second.second, ev.time_ms);
    }
  }
  return out;
}

// Strings a hostile client controls (user agent, access key id, request
// parameters, error messages) with bytes that matter to JSON and to the
// encoding: quotes, backslashes, control characters, NUL, invalid UTF-8,
// a length that needs a two-byte varint.
std::vector<Event> HostileEvents() {
  std::vector<Event> out;
  const std::string nasty[] = {std::string("a\"b\\c\n\t\x01", 8), std::string("nul\0inside", 10),
                               "\xff\xfe\xc3(", std::string(300, 'x') + "\"}", ""};
  for (int i = 0; i < 12; ++i) {
    Event ev = FullEvent(i % 4);
    ev.event_id += "-" + std::to_string(i);
    ev.time_ms += (i * 7919) % 5000;  // not in order
    const std::string& s = nasty[i % std::size(nasty)];
    ev.user_agent = s;
    ev.error_message = s;
    ev.has_error = !s.empty();
    ev.access_key_id = i % 3 ? s : ev.access_key_id;
    ev.username = i % 2 ? s : "s1";
    ev.identity.source_identity = s;
    if (i % 5 == 0) ev.resources.push_back({"AWS::IAM::User", s});
    if (i % 6 == 0) ev.resources.clear();
    ev.read_only = i % 4 < 2;
    out.push_back(ev);
  }
  return out;
}

// The builder (used by the audit sink, one event at a time) writes what a
// plain encoding of the events would carry: every member back, and the
// postings of every event with the right times, also when consecutive
// events share their lookup columns and take the builder's shortcut.
TEST(EventChunkTest, BuilderKeepsHostileStringsAndEveryPosting) {
  std::vector<Event> events = HostileEvents();
  // Runs of events with the same lookup columns, then a change.
  for (int i = 0; i < 5; ++i) {
    Event ev = events.back();
    ev.event_id += "-again" + std::to_string(i);
    ev.time_ms -= 100 * i;
    events.push_back(ev);
  }
  events.push_back(FullEvent(1));
  ChunkBuilder builder;
  for (const Event& ev : events) {
    ASSERT_TRUE(builder.Fits(ev.time_ms));
    builder.Add(ev);
  }
  BuiltChunk built = builder.Take();
  EXPECT_TRUE(builder.empty());
  EXPECT_EQ(built.events, events.size());
  auto decoded = DecodeChunk(ChunkFormat::kBinary, "", built.encoded.records);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    ExpectSame(events[i], (*decoded)[i]);
    EXPECT_EQ((*decoded)[i].user_agent, events[i].user_agent);
    EXPECT_EQ((*decoded)[i].access_key_id, events[i].access_key_id);
    auto parsed = json::Parse(RenderRecord((*decoded)[i]));
    ASSERT_TRUE(parsed.ok()) << RenderRecord((*decoded)[i]);
    if (events[i].has_error) {
      EXPECT_EQ(parsed->get_string("errorMessage"), events[i].error_message);
    }
  }
  std::map<std::tuple<std::string, int64_t, std::string>, std::pair<int64_t, int64_t>> got;
  for (const ChunkPosting& p : built.postings) {
    auto [it, fresh] = got.try_emplace(
        std::make_tuple(p.account, static_cast<int64_t>(p.attr), p.value), p.min_time, p.max_time);
    EXPECT_TRUE(fresh) << "posting twice: " << p.value;
  }
  EXPECT_EQ(got, PlainPostings(events));
  auto [lo, hi] = std::minmax_element(events.begin(), events.end(),
                                      [](const Event& a, const Event& b) { return a.time_ms < b.time_ms; });
  EXPECT_EQ(built.encoded.min_time, lo->time_ms);
  EXPECT_EQ(built.encoded.max_time, hi->time_ms);
  // A builder used again starts a fresh chunk: no reference into the last.
  builder.Add(events.back());
  auto alone = DecodeChunk(ChunkFormat::kBinary, "", builder.Take().encoded.records);
  ASSERT_TRUE(alone.ok());
  ASSERT_EQ(alone->size(), 1u);
  ExpectSame(events.back(), (*alone)[0]);
}

TEST(EventChunkTest, BuilderLimitsEventsAndTimeSpan) {
  ChunkBuilder builder;
  Event ev = FullEvent(0);
  EXPECT_TRUE(builder.Fits(ev.time_ms + 100 * kMaxChunkSpanMs));  // empty: anything fits
  builder.Add(ev);
  EXPECT_TRUE(builder.Fits(ev.time_ms + kMaxChunkSpanMs));
  EXPECT_TRUE(builder.Fits(ev.time_ms - kMaxChunkSpanMs));
  EXPECT_FALSE(builder.Fits(ev.time_ms + kMaxChunkSpanMs + 1));
  EXPECT_FALSE(builder.Fits(ev.time_ms - kMaxChunkSpanMs - 1));
  for (size_t i = 1; i < kChunkEvents; ++i) builder.Add(ev);
  EXPECT_FALSE(builder.Fits(ev.time_ms));
  EXPECT_EQ(builder.Take().events, kChunkEvents);
  EXPECT_TRUE(builder.Fits(ev.time_ms));
}

}  // namespace
}  // namespace rampart::audit::internal
