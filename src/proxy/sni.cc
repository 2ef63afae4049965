#include "rampart/proxy/sni.h"

#include <vector>

#include "rampart/proxy/cursor.h"

namespace rampart::proxy {
namespace {

using Outcome = ClientHelloInfo::Outcome;

constexpr uint32_t kHandshakeRecord = 22;
constexpr uint32_t kClientHello = 1;
constexpr uint32_t kMaxRecordPayload = 16384;  // 2^14, RFC 8446 section 5.1
constexpr uint32_t kExtServerName = 0;
constexpr uint32_t kExtEncryptedClientHello = 0xfe0d;
constexpr uint32_t kNameTypeHostName = 0;
constexpr size_t kMaxExtensions = 256;

ClientHelloInfo Fail(Outcome o, std::string error = {}) {
  ClientHelloInfo info;
  info.outcome = o;
  info.error = std::move(error);
  return info;
}

// RFC 6066 section 3: ServerNameList with at most one host_name.
bool ParseServerName(Cursor ext, ClientHelloInfo& info) {
  Cursor list;
  if (!ext.ReadVector(2, list) || !ext.empty() || list.empty()) return false;
  while (!list.empty()) {
    uint32_t type = 0;
    Cursor name;
    if (!list.ReadU8(type) || !list.ReadVector(2, name)) return false;
    if (type != kNameTypeHostName) continue;
    std::string_view host;
    if (info.has_sni || name.empty() || !name.ReadBytes(name.remaining(), host)) return false;
    info.has_sni = true;
    info.sni = std::string(host);
  }
  return true;
}

bool ParseExtensions(Cursor exts, ClientHelloInfo& info) {
  std::vector<uint32_t> seen;
  while (!exts.empty()) {
    uint32_t type = 0;
    Cursor data;
    if (!exts.ReadU16(type) || !exts.ReadVector(2, data)) return false;
    for (uint32_t t : seen) {
      if (t == type) return false;  // RFC 8446 section 4.2: no duplicates
    }
    if (seen.size() >= kMaxExtensions) return false;
    seen.push_back(type);
    if (type == kExtServerName && !ParseServerName(data, info)) return false;
    if (type == kExtEncryptedClientHello) info.has_ech = true;
  }
  return true;
}

// RFC 8446 section 4.1.2 (and the TLS 1.2 form, where extensions may be
// absent altogether).
ClientHelloInfo ParseBody(Cursor body) {
  ClientHelloInfo info;
  uint32_t version = 0;
  Cursor session_id, suites, compression, exts;
  if (!body.ReadU16(version) || !body.Skip(32) || !body.ReadVector(1, session_id) ||
      session_id.remaining() > 32 || !body.ReadVector(2, suites) || suites.empty() ||
      suites.remaining() % 2 != 0 || !body.ReadVector(1, compression) || compression.empty()) {
    return Fail(Outcome::kMalformed, "bad ClientHello fields");
  }
  if (body.empty()) {
    info.outcome = Outcome::kOk;
    return info;
  }
  if (!body.ReadVector(2, exts) || !body.empty() || !ParseExtensions(exts, info)) {
    return Fail(Outcome::kMalformed, "bad ClientHello extensions");
  }
  info.outcome = Outcome::kOk;
  return info;
}

}  // namespace

ClientHelloInfo ParseClientHello(std::string_view bytes) {
  Cursor in(bytes);
  std::string handshake;  // the record payloads, concatenated
  bool first = true;
  while (true) {
    if (handshake.size() >= 4) {
      Cursor hs(handshake);
      uint32_t type = 0, length = 0;
      hs.ReadU8(type);
      hs.ReadU24(length);
      if (type != kClientHello) return Fail(Outcome::kMalformed, "first handshake is not ClientHello");
      if (length > kMaxClientHelloFlight) return Fail(Outcome::kTooLarge);
      Cursor body;
      if (hs.ReadBytes(length, body)) {
        // Bytes after the ClientHello in the same flight would be a second
        // handshake message before the server spoke: not a valid client.
        if (!hs.empty()) return Fail(Outcome::kMalformed, "data after ClientHello");
        return ParseBody(body);
      }
    }
    if (in.remaining() < 5) {
      return bytes.size() > kMaxClientHelloFlight ? Fail(Outcome::kTooLarge) : Fail(Outcome::kNeedMore);
    }
    uint32_t type = 0, major = 0, minor = 0, length = 0;
    in.ReadU8(type);
    in.ReadU8(major);
    in.ReadU8(minor);
    in.ReadU16(length);
    if (type != kHandshakeRecord || major != 3) {
      return first ? Fail(Outcome::kNotTls) : Fail(Outcome::kMalformed, "non-handshake record");
    }
    if (length == 0 || length > kMaxRecordPayload) return Fail(Outcome::kMalformed, "bad record length");
    std::string_view payload;
    if (!in.ReadBytes(length, payload)) {
      return bytes.size() > kMaxClientHelloFlight ? Fail(Outcome::kTooLarge) : Fail(Outcome::kNeedMore);
    }
    if (handshake.size() + payload.size() > kMaxClientHelloFlight) return Fail(Outcome::kTooLarge);
    handshake.append(payload);
    first = false;
  }
}

const char* OutcomeName(ClientHelloInfo::Outcome o) {
  switch (o) {
    case Outcome::kNeedMore: return "incomplete ClientHello";
    case Outcome::kNotTls: return "not TLS";
    case Outcome::kMalformed: return "malformed ClientHello";
    case Outcome::kTooLarge: return "ClientHello too large";
    case Outcome::kOk: return "ok";
  }
  return "unknown";
}

}  // namespace rampart::proxy
