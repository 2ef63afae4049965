// The chunk formats: binary events round-trip member for member (strings
// that repeat are written once), damaged blobs are refused, and rows of
// the JSON format written before migration 5 still decode.
#include "audit/event_chunk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string_view>
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


// ---- version 2: members equal to the previous event's, UUID ids ----

// A version 1 blob as the encoder of sessions 4-6 wrote it (generated with
// that code from Events(4) and the first five HostileEvents()): rows
// written before session 7 must still decode to the same records.
constexpr std::string_view kVersion1Hex =
    "01091cf6a1abfef962b0b49fd50c4830313930633561302d303030302d373030302d383030302d303030303030303030"
    "3030301831313131323232323333333314437265617465557365722269616d2e616d617a6f6e6177732e636f6d047331"
    "16415349414558414d504c451265752d776573742d3116417373756d6564526f6c651c41524f414558414d504c453a73"
    "315a61726e3a6177733a7374733a3a3131313132323232333333333a617373756d65642d726f6c652f6f70732f733103"
    "0b004461726e3a6177733a69616d3a3a3131313132323232333333333a726f6c652f6f70730a616c696365123139322e"
    "302e322e3780016177732d636c692f322e392e313920507974686f6e2f332e31312e32204c696e75782f362e312e3020"
    "736f757263652f7838365f36342e64656269616e2e31320000667b226b65794964223a22616c6961732f617070222c22"
    "656e6372797074696f6e436f6e74657874223a7b2261223a2262227d7d327b2275736572223a7b22757365724e616d65"
    "223a2278227d7d0a7265712d30000e544c5376312e332c544c535f4145535f3235365f47434d5f5348413338341e7261"
    "6d706172742e6578616d706c6500011a4157533a3a4b4d533a3a4b65795261726e3a6177733a6b6d733a65752d776573"
    "742d313a3131313132323232333333333a6b65792f6b3009f8a1abfef962b0b49fd50c4830313930633561302d303030"
    "302d373030302d383030302d303030303030303030303031030e456e6372797074226b6d732e616d617a6f6e6177732e"
    "636f6d090b0d0f1113030b0017191b1d000023000a7265712d31002b2d2f0001335261726e3a6177733a6b6d733a6575"
    "2d776573742d313a3131313132323232333333333a6b65792f6b310efaa1abfef962b0b49fd50c483031393063356130"
    "2d303030302d373030302d383030302d303030303030303030303032030507090b0d0f1113030b0017191b1d2a416363"
    "65737344656e696564457863657074696f6e1c6e6f742022616c6c6f776564220a23250a7265712d32002b2d2f000133"
    "5261726e3a6177733a6b6d733a65752d776573742d313a3131313132323232333333333a6b65792f6b320dfca1abfef9"
    "62b0b49fd50c4830313930633561302d303030302d373030302d383030302d30303030303030303030303303393b090b"
    "0d0f1113030b0017191b1d000023250a7265712d33107368617265642d312b2d2f0001335261726e3a6177733a6b6d73"
    "3a65752d776573742d313a3131313132323232333333333a6b65792f6b331ff6a1abfef962b0b49fd50c4c3031393063"
    "3561302d303030302d373030302d383030302d3030303030303030303030302d30030507090b0d0f1113030b00171061"
    "22625c630a09011b71007123250a7265712d30002b2d2f00000bc6cfabfef962b0b49fd50c4c30313930633561302d30"
    "3030302d373030302d383030302d3030303030303030303030312d3103393b146e756c00696e736964657d0d0f111303"
    "0b00177d1b7d007d23000a7265712d31002b2d2f0001334b0e86afabfef962b0b49fd50c4c30313930633561302d3030"
    "30302d373030302d383030302d3030303030303030303030322d320305070908fffec3280d0f1113030b00178d011b8d"
    "01518d0123250a7265712d32002b2d2f0001335b0ed6dcabfef962b0b49fd50c4c30313930633561302d303030302d37"
    "3030302d383030302d3030303030303030303030332d3303393bdc047878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "78787878787878787878787878787878787878787878787878787878787878787878787878787878227d0b0d0f111303"
    "0b001799011b990100990123250a7265712d33672b2d2f0001336b1d8ebcabfef962b0b49fd50c4c3031393063356130"
    "2d303030302d373030302d383030302d3030303030303030303030302d3403050709000d0f1113030b0017001b000000"
    "23250a7265712d30002b2d2f00013335";

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

std::vector<Event> Version1FixtureEvents() {
  std::vector<Event> out = Events(4);
  std::vector<Event> hostile = HostileEvents();
  out.insert(out.end(), hostile.begin(), hostile.begin() + 5);
  return out;
}

TEST(EventChunkTest, Version1BlobsStillDecodeToTheSameRecords) {
  std::string blob = FromHex(kVersion1Hex);
  ASSERT_EQ(blob[0], 1);  // the fixture really is version 1
  std::vector<Event> events = Version1FixtureEvents();
  auto decoded = DecodeChunk(ChunkFormat::kBinary, "", blob);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    ExpectSame(events[i], (*decoded)[i]);
    EXPECT_EQ((*decoded)[i].user_agent, events[i].user_agent);
    EXPECT_EQ((*decoded)[i].request_id, events[i].request_id);
  }
  // Re-encoded (crash recovery re-encodes), it is version 2 and renders
  // the same records.
  std::string again_blob = EncodeChunk(*decoded).records;
  EXPECT_EQ(again_blob[0], 2);
  EXPECT_LT(again_blob.size(), blob.size());
  auto again = DecodeChunk(ChunkFormat::kBinary, "", again_blob);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) ExpectSame(events[i], (*again)[i]);
  // Version 1 damage is still refused.
  for (size_t n = 0; n < blob.size(); n += 7) {
    EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", blob.substr(0, n)).ok()) << n;
  }
}

TEST(EventChunkTest, UuidIdsAreStoredInSixteenBytesAndReadBackAsText) {
  std::vector<Event> events = Events(4);
  events[1].request_id = "5c3d2b1a-0f9e-4d8c-b7a6-0123456789ab";
  events[3].shared_event_id = "ffffffff-ffff-4fff-bfff-ffffffffffff";
  events[2].event_id = "00000000-0000-0000-0000-000000000000";
  std::string blob = EncodeChunk(events).records;
  for (const Event& ev : events) {
    for (const std::string* id : {&ev.event_id, &ev.request_id, &ev.shared_event_id}) {
      if (id->size() == 36) {
        EXPECT_EQ(blob.find(*id), std::string::npos) << *id;
      }
    }
  }
  auto decoded = DecodeChunk(ChunkFormat::kBinary, "", blob);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    ExpectSame(events[i], (*decoded)[i]);
    EXPECT_EQ((*decoded)[i].event_id, events[i].event_id);
    EXPECT_EQ((*decoded)[i].request_id, events[i].request_id);
    EXPECT_EQ((*decoded)[i].shared_event_id, events[i].shared_event_id);
  }
}

// Ids that look almost like UUIDs are kept as text, byte for byte: the
// binary form is only for text that reads back exactly as written.
TEST(EventChunkTest, IdsThatAreNotExactlyUuidTextStayText) {
  const std::string near[] = {
      "0190C5A0-0000-7000-8000-000000000001",   // uppercase
      "0190c5a0-0000-7000-8000-00000000000g",   // not hex
      "0190c5a00000-7000-8000-0000-00000000001",  // dashes elsewhere
      "0190c5a0-0000-7000-8000-00000000001",    // 35 characters
      "0190c5a0-0000-7000-8000-0000000000012",  // 37 characters
      "{0190c5a0-0000-7000-8000-00000000001}",
      std::string("0190c5a0-0000-7000-8000-00000000000\0", 36),
      "0190c5a0+0000-7000-8000-000000000001",
      std::string(36, '-'),
      "\xff\xfe\xc3(",
      "",
  };
  std::vector<Event> events;
  for (size_t i = 0; i < std::size(near); ++i) {
    Event ev = FullEvent(static_cast<int>(i % 4));
    ev.event_id = near[i];
    ev.request_id = near[(i + 1) % std::size(near)];
    ev.shared_event_id = near[(i + 2) % std::size(near)];
    events.push_back(ev);
  }
  auto decoded = DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(events).records);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ((*decoded)[i].event_id, events[i].event_id) << i;
    EXPECT_EQ((*decoded)[i].request_id, events[i].request_id) << i;
    EXPECT_EQ((*decoded)[i].shared_event_id, events[i].shared_event_id) << i;
    ExpectSame(events[i], (*decoded)[i]);
  }
}

// The sink's common case: the same caller again and again. Each further
// event costs its two ids, its time and a few bytes.
TEST(EventChunkTest, MembersEqualToThePreviousEventAreNotWrittenAgain) {
  std::vector<Event> events;
  for (int i = 0; i < 64; ++i) {
    Event ev = FullEvent(1);
    char id[40];
    std::snprintf(id, sizeof id, "0190c5a0-0000-7000-8000-%012x", i);
    ev.event_id = id;
    std::snprintf(id, sizeof id, "7d1e%04x-aaaa-4bbb-8ccc-0123456789ab", i);
    ev.request_id = id;
    ev.time_ms += 3 * i;
    events.push_back(ev);
  }
  size_t first = EncodeChunk(std::span<const Event>(events.data(), 1)).records.size();
  size_t all = EncodeChunk(events).records.size();
  EXPECT_LE(all, first + 63 * 45) << first << " " << all;
  auto decoded = DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(events).records);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) ExpectSame(events[i], (*decoded)[i]);
}

// Given the mask of changed members (as BuildEventInto reports it) and the
// bytes of the event id (as NewEventIdInto makes them), the builder writes
// the very bytes it writes when it compares the members and parses the id
// itself, and the postings are the same.
TEST(EventChunkTest, HintsEncodeAsComparingAndParsing) {
  std::vector<Event> events;
  std::vector<uint64_t> masks;
  std::vector<std::array<uint8_t, 16>> uuids;
  Event ev = FullEvent(1);
  auto next = [&](uint64_t changed) {
    uuids.emplace_back();
    NewEventIdInto(TimePoint(std::chrono::milliseconds(ev.time_ms)), ev.event_id,
                   uuids.back().data());
    events.push_back(ev);
    masks.push_back(changed);
  };
  next(0);  // the first: everything is written whatever the mask
  const uint64_t ids = MemberBit(EventMember::kEventId) | MemberBit(EventMember::kRequestId);
  for (int i = 0; i < 6; ++i) {
    ev.request_id = "req-" + std::to_string(100 + i);
    ev.time_ms += 7;
    uint64_t changed = ids;
    switch (i) {
      case 1:
        ev.user_agent = "boto3/1.26";
        changed |= MemberBit(EventMember::kUserAgent);
        break;
      case 2:
        ev.username = "s2";
        ev.identity.arn = "arn:aws:sts::111122223333:assumed-role/ops/s2";
        ev.resources.clear();
        changed |= MemberBit(EventMember::kUsername) | MemberBit(EventMember::kIdentityArn);
        break;
      case 3:
        ev.error_code = "AccessDeniedException";
        ev.has_error = true;
        ev.shared_event_id = "shared-9";
        changed |= MemberBit(EventMember::kErrorCode) | MemberBit(EventMember::kSharedEventId);
        break;
      case 4:
        ev.account_id = "444455556666";
        ev.host.clear();
        changed |= MemberBit(EventMember::kAccountId) | MemberBit(EventMember::kHost);
        break;
      default: break;
    }
    next(changed);
  }
  ChunkBuilder comparing;
  ChunkBuilder masked;
  for (size_t i = 0; i < events.size(); ++i) {
    comparing.Add(events[i]);
    masked.Add(events[i], {&masks[i], uuids[i].data()});
  }
  BuiltChunk a = comparing.Take();
  BuiltChunk b = masked.Take();
  EXPECT_EQ(a.encoded.records, b.encoded.records);
  ASSERT_EQ(a.postings.size(), b.postings.size());
  for (size_t i = 0; i < a.postings.size(); ++i) {
    EXPECT_EQ(std::tie(a.postings[i].account, a.postings[i].attr, a.postings[i].value,
                       a.postings[i].min_time, a.postings[i].max_time),
              std::tie(b.postings[i].account, b.postings[i].attr, b.postings[i].value,
                       b.postings[i].min_time, b.postings[i].max_time));
  }
  auto decoded = DecodeChunk(ChunkFormat::kBinary, "", b.encoded.records);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) ExpectSame(events[i], (*decoded)[i]);
}

TEST(EventChunkTest, DamagedVersion2BlobsAreRefused) {
  std::vector<Event> events = Events(2);
  std::string blob = EncodeChunk(events).records;
  ASSERT_EQ(blob[0], 2);
  // blob: version, count, then the first event's written bits: all 27
  // string members (four bytes, ff ff ff 3f).
  ASSERT_EQ(blob.substr(2, 4), std::string("\xff\xff\xff\x3f", 4));
  std::string same_on_first = blob;
  same_on_first[2] = '\xfe';  // "event id as the previous event's", with none before
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", same_on_first).ok());
  // A second event whose written bits name a member beyond the 27 there
  // are (bit 35); the rest of it would decode: flags, two times, no
  // resources.
  std::string one = EncodeChunk(Events(1)).records;
  ASSERT_EQ(one[1], 1);
  std::string beyond = one;
  beyond[1] = 2;
  beyond += std::string("\x80\x80\x80\x80\x80\x01", 6) + std::string(4, '\0');
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", beyond).ok());
  std::string within = one;
  within[1] = 2;
  within += std::string(5, '\0');  // nothing written: all as the first event
  auto copied = DecodeChunk(ChunkFormat::kBinary, "", within);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  ASSERT_EQ(copied->size(), 2u);
  EXPECT_EQ((*copied)[1].event_id, (*copied)[0].event_id);
  EXPECT_EQ((*copied)[1].user_agent, (*copied)[0].user_agent);
  EXPECT_EQ((*copied)[1].time_ms, (*copied)[0].time_ms);
  // A time difference that leaves the clock's range.
  std::vector<Event> two = Events(2);
  two[1].time_ms = -1;
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(two).records).ok());
  two[1].time_ms = INT64_MAX;
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(two).records).ok());
}

// A real blob cut inside its first event id's 16 bytes is refused, and
// the same blob uncut decodes. The cut blob is a heap string of exactly
// the cut length, so a read past its end (without Reader::Id's bound)
// shows under ASan; in Release the next read refuses it either way.
TEST(EventChunkTest, Version2BlobCutInsideAnIdIsRefused) {
  std::string blob = EncodeChunk(Events(1)).records;
  ASSERT_TRUE(DecodeChunk(ChunkFormat::kBinary, "", blob).ok());
  // Events(1)[0].event_id as bytes, after its tag 1.
  const std::string id_bytes("\x01\x01\x90\xc5\xa0\x00\x00\x70\x00\x80\x00", 11);
  size_t at = blob.find(id_bytes);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(blob.find(id_bytes, at + 1), std::string::npos);
  for (size_t keep : {size_t{1}, size_t{8}, size_t{15}}) {
    const std::string cut = blob.substr(0, at + 1 + keep);
    EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", cut).ok()) << keep;
  }
}

// A count above kChunkEvents is refused before anything is allocated for
// it, even when the rest of the blob would decode; kChunkEvents is fine.
TEST(EventChunkTest, Version2CountAboveChunkEventsIsRefused) {
  std::string one = EncodeChunk(Events(1)).records;
  ASSERT_EQ(one[1], 1);
  auto with_count = [&one](size_t count) {
    std::string blob = one;
    blob[1] = static_cast<char>(count);  // one varint byte below 128
    // Each further event: nothing written (all as the first), flags,
    // two time differences and no resources.
    for (size_t i = 1; i < count; ++i) blob += std::string(5, '\0');
    return blob;
  };
  static_assert(kChunkEvents + 1 < 128);
  auto full = DecodeChunk(ChunkFormat::kBinary, "", with_count(kChunkEvents));
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->size(), kChunkEvents);
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", with_count(kChunkEvents + 1)).ok());
}

// An event naming more than kMaxEventResources resources is refused.
TEST(EventChunkTest, TooManyResourcesAreRefused) {
  std::vector<Event> events = Events(1);
  events[0].resources.clear();
  for (size_t i = 0; i < kMaxEventResources; ++i) {
    events[0].resources.push_back({"AWS::IAM::User", "u" + std::to_string(i)});
  }
  auto most = DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(events).records);
  ASSERT_TRUE(most.ok()) << most.status().ToString();
  EXPECT_EQ((*most)[0].resources.size(), kMaxEventResources);
  events[0].resources.push_back({"AWS::IAM::User", "one-more"});
  EXPECT_FALSE(DecodeChunk(ChunkFormat::kBinary, "", EncodeChunk(events).records).ok());
}

}  // namespace
}  // namespace rampart::audit::internal
