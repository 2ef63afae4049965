// Chunk encodings.
//
// Binary, all integers LEB128 varints (signed ones zigzag). The first byte
// is the version; version 2 is written, versions 1 and 2 are read.
//
// Version 2 (session 7):
//   u8 version (2), count, then per event:
//     written: a bit per string member, in kVersion2Order (the ids first,
//           so that the usual value, "only the ids changed", is one byte):
//           set when the member is written, clear when it equals the
//           previous event's of the chunk (all set for the first event)
//     flags (bit 0 read_only, 1 has_error, 2 secure_transport,
//            3 identity.has_session, 4 identity.mfa, 5-6 identity.kind)
//     time_ms and identity.session_issued_s, each minus the previous
//       event's (the first's minus 0), signed, modulo 2^64
//     the string members whose bit is set, in kVersion2Order
//     resource count, then type and name of each
//   A string is a tag: 0 = empty; odd = a reference to the (tag >> 1)th
//   literal of the chunk; even = a literal of (tag >> 1) bytes that follow.
//   The id members (event, request and shared event ids) may instead hold
//   tag 1 and 16 bytes: a UUID, read back as its lowercase 8-4-4-4-12 text.
//   The encoder uses that only for text that is exactly such a UUID, so
//   the text read back is the text written, byte for byte; any other id is
//   an ordinary literal. Id members are never references.
//
// Version 1 (sessions 4-6): no `written` bits (every string member is
// written, in kStringFields order), absolute times, no UUID ids, and tag 0
// is an empty literal that takes a place in the literal numbering.
//
// JSON (format 0, before migration 5): meta entries are
//   [event_id, time_ms, account, region, event_name, event_source,
//    read_only (0/1), username, access_key_id, [[type, name], ...], record bytes]
//   and records the JSON records concatenated.
#include "audit/event_chunk.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <iterator>
#include <unordered_map>

#include "rampart/core/clock.h"
#include "rampart/core/ids.h"
#include "rampart/core/json.h"

namespace rampart::audit::internal {
namespace {

constexpr size_t kMetaFields = 11;
constexpr uint8_t kBinaryVersion1 = 1;
constexpr uint8_t kBinaryVersion = 2;
// Event times from 1970 to the clock's limit (year 2262, nanoseconds in 64
// bits): anything else in a stored row is damage, and would overflow the
// time arithmetic of rendering.
constexpr int64_t kMaxTimeMs =
    std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::max().time_since_epoch())
        .count();

bool ValidTimeMs(int64_t ms) { return ms >= 0 && ms <= kMaxTimeMs; }

// Version 2's time differences, modulo 2^64: any two values have one that
// reads back exactly, without signed overflow.
int64_t Difference(int64_t value, int64_t base) {
  return static_cast<int64_t>(static_cast<uint64_t>(value) - static_cast<uint64_t>(base));
}
int64_t Sum(int64_t base, int64_t difference) {
  return static_cast<int64_t>(static_cast<uint64_t>(base) + static_cast<uint64_t>(difference));
}

// One string member of Event, and whether its values repeat across events
// (worth a reference) or are unique (ids).
// lookup_column: PostingsOf reads it (with read_only and the resources).
// uuid: an id, stored as 16 bytes when it is a UUID's text (version 2).
struct StringField {
  std::string Event::*event_member = nullptr;
  std::string EventIdentity::*identity_member = nullptr;
  EventMember member = EventMember::kStoredRecord;  // its bit in BuildEventInto's mask
  bool repeats = true;
  bool lookup_column = false;
  bool uuid = false;
};
using M = EventMember;
constexpr StringField kStringFields[] = {
    {&Event::event_id, nullptr, M::kEventId, false, false, true},
    {&Event::account_id, nullptr, M::kAccountId, true, true},
    {&Event::event_name, nullptr, M::kEventName, true, true},
    {&Event::event_source, nullptr, M::kEventSource, true, true},
    {&Event::username, nullptr, M::kUsername, true, true},
    {&Event::access_key_id, nullptr, M::kAccessKeyId, true, true},
    {&Event::region, nullptr, M::kRegion},
    {nullptr, &EventIdentity::type, M::kIdentityType},
    {nullptr, &EventIdentity::principal_id, M::kIdentityPrincipalId},
    {nullptr, &EventIdentity::arn, M::kIdentityArn},
    {nullptr, &EventIdentity::account_id, M::kIdentityAccountId},
    {nullptr, &EventIdentity::access_key_id, M::kIdentityAccessKeyId},
    {nullptr, &EventIdentity::user_name, M::kIdentityUserName},
    {nullptr, &EventIdentity::role_arn, M::kIdentityRoleArn},
    {nullptr, &EventIdentity::source_identity, M::kIdentitySourceIdentity},
    {&Event::source_ip, nullptr, M::kSourceIp},
    {&Event::user_agent, nullptr, M::kUserAgent},
    {&Event::error_code, nullptr, M::kErrorCode},
    {&Event::error_message, nullptr, M::kErrorMessage},
    {&Event::request_parameters, nullptr, M::kRequestParameters},
    {&Event::response_elements, nullptr, M::kResponseElements},
    {&Event::request_id, nullptr, M::kRequestId, false, false, true},
    {&Event::shared_event_id, nullptr, M::kSharedEventId, false, false, true},
    {&Event::tls_version, nullptr, M::kTlsVersion},
    {&Event::tls_cipher, nullptr, M::kTlsCipher},
    {&Event::host, nullptr, M::kHost},
    {&Event::stored_record, nullptr, M::kStoredRecord, false},
};
// Every member of EventMember once: a mask of changed members then says
// exactly which fields differ.
static_assert(std::size(kStringFields) == kEventMembers);
static_assert([] {
  uint64_t seen = 0;
  for (const StringField& f : kStringFields) seen |= MemberBit(f.member);
  return seen == (uint64_t{1} << kEventMembers) - 1;
}());

std::string& FieldOf(Event& ev, const StringField& f) {
  return f.event_member != nullptr ? ev.*(f.event_member) : ev.identity.*(f.identity_member);
}
const std::string& FieldOf(const Event& ev, const StringField& f) {
  return f.event_member != nullptr ? ev.*(f.event_member) : ev.identity.*(f.identity_member);
}

// Version 2's order of the string members (indexes into kStringFields):
// the ids, which differ from event to event, then the rest.
constexpr size_t kFieldCount = std::size(kStringFields);
constexpr std::array<uint8_t, kFieldCount> kVersion2Order = [] {
  std::array<uint8_t, kFieldCount> order{};
  size_t n = 0;
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (kStringFields[i].uuid) order[n++] = static_cast<uint8_t>(i);
  }
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (!kStringFields[i].uuid) order[n++] = static_cast<uint8_t>(i);
  }
  return order;
}();
constexpr uint64_t kAllWritten = (uint64_t{1} << kFieldCount) - 1;
static_assert(kFieldCount < 64, "the written bits fit one varint");

// The written bit (a kVersion2Order position) of each EventMember.
constexpr std::array<uint8_t, kEventMembers> kWrittenBitOfMember = [] {
  std::array<uint8_t, kEventMembers> bits{};
  for (size_t i = 0; i < kFieldCount; ++i) {
    bits[static_cast<size_t>(kStringFields[kVersion2Order[i]].member)] = static_cast<uint8_t>(i);
  }
  return bits;
}();

// The written bits of a mask of changed members (BuildEventInto's).
uint64_t WrittenOfChanged(uint64_t changed) {
  uint64_t written = 0;
  for (; changed != 0; changed &= changed - 1) {
    written |= uint64_t{1} << kWrittenBitOfMember[static_cast<size_t>(std::countr_zero(changed))];
  }
  return written;
}

constexpr uint64_t kReadOnly = 1;
constexpr uint64_t kHasError = 2;
constexpr uint64_t kSecure = 4;
constexpr uint64_t kHasSession = 8;
constexpr uint64_t kMfa = 16;
constexpr int kKindShift = 5;

constexpr size_t kMaxVarint = 10;

// A resource's type or name: repeating, not an id.
constexpr StringField kResourceField{};

void PutVarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// Writes varints and bytes into room the caller made beforehand, so that
// no write checks or grows the buffer.
class ByteWriter {
 public:
  explicit ByteWriter(char* p) : p_(p) {}
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<char>(v);
  }
  void Signed(int64_t v) {
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Bytes(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void Bytes(const uint8_t* p, size_t n) {
    std::memcpy(p_, p, n);
    p_ += n;
  }
  char* pos() const { return p_; }

 private:
  char* p_;
};

// The tag of a UUID written as 16 bytes (id members, version 2).
constexpr uint64_t kUuidTag = 1;
using ids::kUuidBytes;

// Reads what the encoder wrote; every read is bounds-checked.
class Reader {
 public:
  Reader(std::string_view in, uint8_t version) : in_(in), version_(version) {}
  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return false;
      auto byte = static_cast<uint8_t>(in_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return shift < 63 || byte <= 1;
    }
    return false;
  }
  bool Signed(int64_t& v) {
    uint64_t u = 0;
    if (!Varint(u)) return false;
    v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
    return true;
  }
  bool String(std::string& s) {
    uint64_t tag = 0;
    return Varint(tag) && StringOfTag(tag, s);
  }
  // An id member: a string, or in version 2 a UUID in 16 bytes.
  bool Id(std::string& s) {
    uint64_t tag = 0;
    if (!Varint(tag)) return false;
    if (version_ == kBinaryVersion1 || tag != kUuidTag) return StringOfTag(tag, s);
    if (remaining() < kUuidBytes) return false;
    uint8_t bytes[kUuidBytes];
    std::memcpy(bytes, in_.data() + pos_, kUuidBytes);
    pos_ += kUuidBytes;
    ids::FormatUuidInto(bytes, s);
    return true;
  }
  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  bool StringOfTag(uint64_t tag, std::string& s) {
    if (tag & 1) {
      if ((tag >> 1) >= literals_.size()) return false;
      s = literals_[tag >> 1];
      return true;
    }
    uint64_t length = tag >> 1;
    if (length > in_.size() - pos_) return false;
    std::string_view literal = in_.substr(pos_, length);
    pos_ += length;
    // Version 2 writes an empty string as tag 0, outside the numbering.
    if (length > 0 || version_ == kBinaryVersion1) literals_.push_back(literal);
    s = literal;
    return true;
  }

  std::string_view in_;
  const uint8_t version_;
  size_t pos_ = 0;
  std::vector<std::string_view> literals_;
};

Status Damaged(std::string_view what) {
  return Status::Internal("damaged audit chunk: " + std::string(what));
}

bool AllStrings(const json::Array& a, std::initializer_list<size_t> positions) {
  return std::all_of(positions.begin(), positions.end(),
                     [&](size_t i) { return a[i].is_string(); });
}

Result<std::vector<EventResource>> DecodeResources(const json::Value& v) {
  if (!v.is_array()) return Damaged("resources");
  std::vector<EventResource> out;
  for (const json::Value& pair : v.as_array()) {
    if (!pair.is_array() || pair.as_array().size() != 2 || !pair.as_array()[0].is_string() ||
        !pair.as_array()[1].is_string()) {
      return Damaged("resource");
    }
    out.push_back({pair.as_array()[0].as_string(), pair.as_array()[1].as_string()});
  }
  return out;
}

}  // namespace

void PostingsOf(const Event& ev, std::vector<PostingKey>& out) {
  out.clear();
  out.push_back({ev.account_id, Attr::kAll, ""});
  out.push_back({ev.account_id, Attr::kEventName, ev.event_name});
  out.push_back({ev.account_id, Attr::kReadOnly, ev.read_only ? "true" : "false"});
  out.push_back({ev.account_id, Attr::kEventSource, ev.event_source});
  if (!ev.username.empty()) out.push_back({ev.account_id, Attr::kUsername, ev.username});
  if (!ev.access_key_id.empty()) {
    out.push_back({ev.account_id, Attr::kAccessKeyId, ev.access_key_id});
  }
  for (const EventResource& r : ev.resources) {
    out.push_back({ev.account_id, Attr::kResourceType, r.type});
    out.push_back({ev.account_id, Attr::kResourceName, r.name});
  }
}

bool Matches(const Event& ev, Attr attr, std::string_view value) {
  switch (attr) {
    case Attr::kAll: return true;
    case Attr::kEventName: return ev.event_name == value;
    case Attr::kReadOnly: return (ev.read_only ? "true" : "false") == value;
    case Attr::kUsername: return ev.username == value;
    case Attr::kAccessKeyId: return ev.access_key_id == value;
    case Attr::kEventSource: return ev.event_source == value;
    case Attr::kResourceType:
      return std::any_of(ev.resources.begin(), ev.resources.end(),
                         [&](const EventResource& r) { return r.type == value; });
    case Attr::kResourceName:
      return std::any_of(ev.resources.begin(), ev.resources.end(),
                         [&](const EventResource& r) { return r.name == value; });
  }
  return false;
}

// The builder's buffers, kept across chunks so that a builder that lives
// long (one per worker thread in the audit sink) stops allocating.
struct ChunkBuilder::State {
  static constexpr size_t kFields = kFieldCount;
  static constexpr uint32_t kNone = UINT32_MAX;

  // The events' encodings, without the chunk header (Take adds it).
  std::string body;
  // Every literal written so far: its offset and length in body. Strings
  // are compared with these bytes, never with the events, which the
  // caller may reuse as soon as Add returns.
  std::vector<std::pair<size_t, size_t>> literals;
  // Hash of a repeating literal's bytes -> its index (on a collision the
  // newer literal takes the entry; the older is simply not referenced).
  std::unordered_map<uint64_t, uint64_t> by_hash;
  // The previous event's value of each string member (by kVersion2Order
  // position): an event's member equal to it is not written again.
  std::array<std::string, kFields> previous;
  int64_t previous_time = 0;
  int64_t previous_issued = 0;
  // The written bits of the members PostingsOf reads.
  static constexpr uint64_t kLookupColumns = [] {
    uint64_t bits = 0;
    for (size_t i = 0; i < kFields; ++i) {
      if (kStringFields[kVersion2Order[i]].lookup_column) bits |= uint64_t{1} << i;
    }
    return bits;
  }();
  // What the previous event of the chunk had besides its strings, for
  // FoldPostings' shortcut.
  bool previous_read_only = false;
  bool previous_resources = false;

  std::vector<ChunkPosting> postings;
  // Unambiguous key (account length, account, attribute, value) -> posting.
  std::unordered_map<std::string, uint32_t> posting_index;
  // The posting of the previous event's key at each position: consecutive
  // events mostly share their postings position by position.
  std::vector<uint32_t> previous_postings;
  std::vector<PostingKey> keys;  // scratch for PostingsOf
  std::string scratch_key;

  std::string_view Literal(uint64_t i) const {
    return std::string_view(body.data() + literals[i].first, literals[i].second);
  }

  void PutLiteral(ByteWriter& w, std::string_view s) {
    w.Varint(static_cast<uint64_t>(s.size()) << 1);
    literals.emplace_back(static_cast<size_t>(w.pos() - body.data()), s.size());
    w.Bytes(s);
  }

  // A repeating value: a reference when the chunk has it already, else a
  // literal.
  [[gnu::noinline]] void PutRepeating(ByteWriter& w, std::string_view s) {
    auto [it, fresh] = by_hash.try_emplace(std::hash<std::string_view>()(s), literals.size());
    if (!fresh) {
      if (Literal(it->second) == s) return w.Varint((it->second << 1) | 1);
      it->second = literals.size();
    }
    PutLiteral(w, s);
  }

  void PutString(ByteWriter& w, std::string_view s, const StringField& f) {
    if (s.empty()) return w.Varint(0);
    uint8_t uuid[kUuidBytes];
    if (f.uuid && ids::ParseUuid(s, uuid)) {
      w.Varint(kUuidTag);
      return w.Bytes(uuid, kUuidBytes);
    }
    if (f.repeats) return PutRepeating(w, s);
    PutLiteral(w, s);
  }

  // The written bits of the members that differ from the previous event's.
  uint64_t ChangedMembers(const Event& ev) const {
    uint64_t written = 0;
    for (size_t i = 0; i < kFields; ++i) {
      if (FieldOf(ev, kStringFields[kVersion2Order[i]]) != previous[i]) {
        written |= uint64_t{1} << i;
      }
    }
    return written;
  }

  // Encodes the event; returns whether its lookup columns (the members
  // PostingsOf reads) are those of the previous event of the chunk.
  // hints: as ChunkBuilder::Add's.
  bool Encode(const Event& ev, bool first, const ChunkBuilder::Hints& hints) {
    uint64_t written = first           ? kAllWritten
                       : hints.changed ? WrittenOfChanged(*hints.changed)
                                       : ChangedMembers(ev);
    size_t room = 5 * kMaxVarint;  // written bits, flags, two times, resource count
    for (uint64_t bits = written; bits != 0; bits &= bits - 1) {
      size_t i = static_cast<size_t>(std::countr_zero(bits));
      room += kMaxVarint + FieldOf(ev, kStringFields[kVersion2Order[i]]).size();
    }
    for (const EventResource& r : ev.resources) {
      room += 2 * kMaxVarint + r.type.size() + r.name.size();
    }
    size_t start = body.size();
    body.resize(start + room);
    ByteWriter w(body.data() + start);
    w.Varint(written);
    uint64_t flags = static_cast<uint64_t>(ev.identity.kind) << kKindShift;
    if (ev.read_only) flags |= kReadOnly;
    if (ev.has_error) flags |= kHasError;
    if (ev.secure_transport) flags |= kSecure;
    if (ev.identity.has_session) flags |= kHasSession;
    if (ev.identity.mfa) flags |= kMfa;
    w.Varint(flags);
    w.Signed(Difference(ev.time_ms, first ? 0 : previous_time));
    w.Signed(Difference(ev.identity.session_issued_s, first ? 0 : previous_issued));
    for (uint64_t bits = written; bits != 0; bits &= bits - 1) {
      size_t i = static_cast<size_t>(std::countr_zero(bits));
      const StringField& f = kStringFields[kVersion2Order[i]];
      const std::string& value = FieldOf(ev, f);
      if (f.member == EventMember::kEventId && hints.event_id_uuid != nullptr) {
        w.Varint(kUuidTag);
        w.Bytes(hints.event_id_uuid, kUuidBytes);
      } else {
        PutString(w, value, f);
      }
      previous[i].assign(value);
    }
    w.Varint(ev.resources.size());
    for (const EventResource& r : ev.resources) {
      PutString(w, r.type, kResourceField);
      PutString(w, r.name, kResourceField);
    }
    body.resize(static_cast<size_t>(w.pos() - body.data()));
    bool same_keys = !first && (written & kLookupColumns) == 0 &&
                     ev.read_only == previous_read_only && ev.resources.empty() &&
                     !previous_resources;
    previous_time = ev.time_ms;
    previous_issued = ev.identity.session_issued_s;
    previous_read_only = ev.read_only;
    previous_resources = !ev.resources.empty();
    return same_keys;
  }

  static bool Same(const ChunkPosting& p, const PostingKey& k) {
    return p.attr == k.attr && p.value == k.value && p.account == k.account;
  }

  uint32_t FindOrAddPosting(const PostingKey& k, int64_t time_ms) {
    scratch_key.clear();
    uint32_t account_size = static_cast<uint32_t>(k.account.size());
    scratch_key.append(reinterpret_cast<const char*>(&account_size), sizeof account_size);
    scratch_key += k.account;
    scratch_key += static_cast<char>(k.attr);
    scratch_key += k.value;
    auto found = posting_index.find(scratch_key);
    if (found != posting_index.end()) return found->second;
    auto index = static_cast<uint32_t>(postings.size());
    postings.push_back({std::string(k.account), k.attr, std::string(k.value), time_ms, time_ms});
    posting_index.emplace(scratch_key, index);
    return index;
  }

  // same_keys: the event has the previous event's postings (Encode).
  void FoldPostings(const Event& ev, bool same_keys) {
    if (same_keys) {
      for (uint32_t index : previous_postings) {
        ChunkPosting& p = postings[index];
        p.min_time = std::min(p.min_time, ev.time_ms);
        p.max_time = std::max(p.max_time, ev.time_ms);
      }
      return;
    }
    PostingsOf(ev, keys);
    previous_postings.resize(keys.size(), kNone);
    for (size_t i = 0; i < keys.size(); ++i) {
      uint32_t index = previous_postings[i];
      if (index == kNone || !Same(postings[index], keys[i])) {
        index = FindOrAddPosting(keys[i], ev.time_ms);
      }
      ChunkPosting& p = postings[index];
      p.min_time = std::min(p.min_time, ev.time_ms);
      p.max_time = std::max(p.max_time, ev.time_ms);
      previous_postings[i] = index;
    }
  }

  void Clear() {
    body.clear();
    literals.clear();
    by_hash.clear();
    previous_time = 0;
    previous_issued = 0;
    previous_read_only = false;
    previous_resources = false;
    postings.clear();
    posting_index.clear();
    previous_postings.clear();
  }
};

ChunkBuilder::ChunkBuilder() : state_(std::make_unique<State>()) {}
ChunkBuilder::~ChunkBuilder() = default;
ChunkBuilder::ChunkBuilder(ChunkBuilder&&) noexcept = default;
ChunkBuilder& ChunkBuilder::operator=(ChunkBuilder&&) noexcept = default;

bool ChunkBuilder::Fits(int64_t time_ms) const {
  if (count_ == 0) return true;
  if (count_ >= kChunkEvents) return false;
  return std::max(max_time_, time_ms) - std::min(min_time_, time_ms) <= kMaxChunkSpanMs;
}

void ChunkBuilder::Add(const Event& ev, const Hints& hints) {
  if (count_ == 0) {
    min_time_ = ev.time_ms;
    max_time_ = ev.time_ms;
  }
  min_time_ = std::min(min_time_, ev.time_ms);
  max_time_ = std::max(max_time_, ev.time_ms);
  bool same_keys = state_->Encode(ev, count_ == 0, hints);
  state_->FoldPostings(ev, same_keys);
  ++count_;
}

BuiltChunk ChunkBuilder::Take(bool complete) {
  BuiltChunk out;
  out.encoded.min_time = min_time_;
  out.encoded.max_time = max_time_;
  std::string& records = out.encoded.records;
  records.reserve(1 + kMaxVarint + state_->body.size());
  records += static_cast<char>(kBinaryVersion);
  PutVarint(count_, records);
  records += state_->body;
  out.postings = std::move(state_->postings);
  out.events = count_;
  out.complete = complete;
  state_->Clear();
  count_ = 0;
  return out;
}

EncodedChunk EncodeChunk(std::span<const Event> events) {
  ChunkBuilder builder;
  for (const Event& ev : events) builder.Add(ev);
  return builder.Take().encoded;
}

namespace {

// Decodes one event; previous is the chunk's previous event (null for the
// first), which version 2's written bits and differences refer to.
bool DecodeEvent(Reader& in, uint8_t version, const Event* previous, Event& ev) {
  const bool v1 = version == kBinaryVersion1;
  uint64_t written = kAllWritten;
  if (!v1) {
    if (!in.Varint(written) || (written & ~kAllWritten) != 0) return false;
    if (previous == nullptr && written != kAllWritten) return false;
  }
  uint64_t flags = 0;
  if (!in.Varint(flags) || !in.Signed(ev.time_ms) || !in.Signed(ev.identity.session_issued_s)) {
    return false;
  }
  if (!v1 && previous != nullptr) {
    ev.time_ms = Sum(previous->time_ms, ev.time_ms);
    ev.identity.session_issued_s =
        Sum(previous->identity.session_issued_s, ev.identity.session_issued_s);
  }
  int64_t issued_s = ev.identity.session_issued_s;
  if (!ValidTimeMs(ev.time_ms) || issued_s < 0 || issued_s > kMaxTimeMs / 1000) return false;
  uint64_t kind = flags >> kKindShift;
  if (kind > static_cast<uint64_t>(EventIdentity::Kind::kAwsAccount)) return false;
  ev.read_only = (flags & kReadOnly) != 0;
  ev.has_error = (flags & kHasError) != 0;
  ev.secure_transport = (flags & kSecure) != 0;
  ev.identity.has_session = (flags & kHasSession) != 0;
  ev.identity.mfa = (flags & kMfa) != 0;
  ev.identity.kind = static_cast<EventIdentity::Kind>(kind);
  for (size_t i = 0; i < kFieldCount; ++i) {
    const StringField& f = kStringFields[v1 ? i : kVersion2Order[i]];
    std::string& out = FieldOf(ev, f);
    if (!(written & (uint64_t{1} << i))) {
      out = FieldOf(*previous, f);
    } else if (!(f.uuid && !v1 ? in.Id(out) : in.String(out))) {
      return false;
    }
  }
  uint64_t resources = 0;
  // Each resource takes at least two bytes; no writer gives an event more
  // than kMaxEventResources.
  if (!in.Varint(resources) || resources > kMaxEventResources ||
      resources > in.remaining() / 2) {
    return false;
  }
  ev.resources.resize(resources);
  for (EventResource& r : ev.resources) {
    if (!in.String(r.type) || !in.String(r.name)) return false;
  }
  return true;
}

Result<std::vector<Event>> DecodeBinary(std::string_view records) {
  uint8_t version = records.empty() ? 0 : static_cast<uint8_t>(records[0]);
  if (version != kBinaryVersion1 && version != kBinaryVersion) return Damaged("version");
  Reader in(records.substr(1), version);
  uint64_t count = 0;
  // Each event takes well over 16 bytes in version 1, and at least 5 in
  // version 2 (written bits, flags, two times, resource count): a count
  // beyond that is damage.
  size_t least = version == kBinaryVersion1 ? 16 : 5;
  // Every writer (ChunkBuilder, under Fits) stops at kChunkEvents, so a
  // larger count is damage too; refusing it also bounds what a hostile
  // blob can make this allocate and copy.
  if (!in.Varint(count) || count > kChunkEvents || count > in.remaining() / least + 1) {
    return Damaged("count");
  }
  std::vector<Event> out(count);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!DecodeEvent(in, version, i == 0 ? nullptr : &out[i - 1], out[i])) {
      return Damaged("event");
    }
  }
  if (!in.done()) return Damaged("trailing bytes");
  return out;
}

Result<std::vector<Event>> DecodeJson(std::string_view meta, std::string_view records) {
  auto parsed = json::Parse(meta);
  if (!parsed.ok() || !parsed->is_array()) return Damaged("meta");
  std::vector<Event> out;
  out.reserve(parsed->as_array().size());
  size_t offset = 0;
  for (const json::Value& v : parsed->as_array()) {
    if (!v.is_array() || v.as_array().size() != kMetaFields) return Damaged("entry");
    const json::Array& a = v.as_array();
    if (!AllStrings(a, {0, 2, 3, 4, 5, 7, 8}) || !a[1].is_int() || !a[6].is_int() ||
        !a[10].is_int()) {
      return Damaged("entry fields");
    }
    if (!ValidTimeMs(a[1].as_int())) return Damaged("event time");
    int64_t length = a[10].as_int();
    if (length <= 0 || static_cast<uint64_t>(length) > records.size() - offset) {
      return Damaged("record length");
    }
    ASSIGN_OR_RETURN(std::vector<EventResource> resources, DecodeResources(a[9]));
    Event ev;
    ev.event_id = a[0].as_string();
    ev.time_ms = a[1].as_int();
    ev.account_id = a[2].as_string();
    ev.region = a[3].as_string();
    ev.event_name = a[4].as_string();
    ev.event_source = a[5].as_string();
    ev.read_only = a[6].as_int() != 0;
    ev.username = a[7].as_string();
    ev.access_key_id = a[8].as_string();
    ev.resources = std::move(resources);
    ev.stored_record = std::string(records.substr(offset, static_cast<size_t>(length)));
    offset += static_cast<size_t>(length);
    out.push_back(std::move(ev));
  }
  if (offset != records.size()) return Damaged("trailing records");
  return out;
}

}  // namespace

Result<std::vector<Event>> DecodeChunk(ChunkFormat format, std::string_view meta,
                                       std::string_view records) {
  switch (format) {
    case ChunkFormat::kBinary: return DecodeBinary(records);
    case ChunkFormat::kJson: return DecodeJson(meta, records);
  }
  return Damaged("format");
}

int64_t EventIdMillis(std::string_view id) {
  // xxxxxxxx-xxxx-7xxx-...: 48 bits of milliseconds in the first 12 hex digits.
  if (id.size() != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7') return -1;
  int64_t ms = 0;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12}) {
    char c = id[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    ms = ms * 16 + d;
  }
  return ms;
}

}  // namespace rampart::audit::internal
