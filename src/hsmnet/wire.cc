#include "rampart/hsmnet/wire.h"

#include <type_traits>

namespace rampart::hsmnet {
namespace {

constexpr char kMagic0 = 'R';
constexpr char kMagic1 = 'H';

// One description of each message's fields drives both directions: Decode
// runs it over a ReadCodec, Encode over a WriteCodec, so the two cannot
// drift apart.
struct ReadCodec {
  Reader r;
  bool U8(uint8_t& v, uint8_t max) { return r.U8(v) && v <= max; }
  bool U32(uint32_t& v) { return r.U32(v); }
  bool Bytes(std::string& v, size_t max) { return r.Bytes(v, max); }
};

struct WriteCodec {
  Writer w;
  bool U8(uint8_t& v, uint8_t) {
    w.U8(v);
    return true;
  }
  bool U32(uint32_t& v) {
    w.U32(v);
    return true;
  }
  bool Bytes(std::string& v, size_t) {
    w.Bytes(v);
    return true;
  }
};

template <typename C>
bool RoleField(C& c, Role& role) {
  uint8_t v = static_cast<uint8_t>(role);
  if (!c.U8(v, kMaxRole)) return false;
  role = static_cast<Role>(v);
  return true;
}

template <typename C>
bool RequestFields(C& c, Request& q) {
  switch (q.op) {
    case Op::kHello:
    case Op::kLogout:
    case Op::kListUsers:
      return true;
    case Op::kListKeys:  // key_id: list the keys after this one ("" for the first page)
      return c.Bytes(q.key_id, kMaxKeyId);
    case Op::kLogin:
      return RoleField(c, q.role) && c.Bytes(q.name, kMaxUserName) &&
             c.Bytes(q.password, kMaxPassword);
    case Op::kCreateUser:
      return RoleField(c, q.role) && c.Bytes(q.name, kMaxUserName) &&
             c.Bytes(q.password, kMaxPassword);
    case Op::kDeleteUser:
      return c.Bytes(q.name, kMaxUserName);
    case Op::kChangePassword:
      return c.Bytes(q.name, kMaxUserName) && c.Bytes(q.password, kMaxPassword);
    case Op::kGenerateKey:
      return c.U8(q.algorithm, kMaxAlgorithm) && c.U8(q.usage, kUsageAll) &&
             c.Bytes(q.label, kMaxLabel) && c.Bytes(q.app_id, kMaxKeyId) &&
             c.Bytes(q.key_id, kMaxKeyId) && c.U8(q.flag, 1);
    case Op::kWrapKey:
      return c.Bytes(q.wrapping_key_id, kMaxKeyId) && c.Bytes(q.key_id, kMaxKeyId);
    case Op::kWrapKeyWithPublicKey:
      return c.Bytes(q.public_key, kMaxPublicKey) && c.Bytes(q.key_id, kMaxKeyId);
    case Op::kUnwrapKey:
      return c.Bytes(q.wrapping_key_id, kMaxKeyId) && c.Bytes(q.data, kMaxWrapped) &&
             c.Bytes(q.public_key, kMaxPublicKey) && c.U8(q.algorithm, kMaxAlgorithm) &&
             c.U8(q.usage, kUsageAll) && c.Bytes(q.label, kMaxLabel) &&
             c.Bytes(q.key_id, kMaxKeyId) && c.U8(q.flag, 1);
    case Op::kSetNonExtractable:
    case Op::kDestroyKey:
    case Op::kPublicKey:
      return c.Bytes(q.key_id, kMaxKeyId);
    case Op::kShareKey:
      return c.Bytes(q.key_id, kMaxKeyId) && c.Bytes(q.name, kMaxUserName) && c.U8(q.flag, 1);
    case Op::kEncrypt:
      return c.Bytes(q.key_id, kMaxKeyId) && c.Bytes(q.data, kMaxData) &&
             c.Bytes(q.aad, kMaxAad);
    case Op::kDecrypt:
      return c.Bytes(q.key_id, kMaxKeyId) && c.Bytes(q.iv, kMaxDigest) &&
             c.Bytes(q.data, kMaxData + 16) && c.Bytes(q.aad, kMaxAad);
    case Op::kSign:
      return c.Bytes(q.key_id, kMaxKeyId) && c.U8(q.scheme, kMaxScheme) &&
             c.Bytes(q.md_name, kMaxMdName) && c.Bytes(q.data, kMaxDigest);
    case Op::kHmac:
      return c.Bytes(q.key_id, kMaxKeyId) && c.Bytes(q.data, kMaxData);
    case Op::kVerifyHmac:
      return c.Bytes(q.key_id, kMaxKeyId) && c.Bytes(q.data, kMaxData) &&
             c.Bytes(q.mac, kMaxDigest);
    case Op::kRandom:
      return c.U32(q.count) && q.count >= 1 && q.count <= kMaxRandom;
    case Op::kReplicate:
      return c.U8(q.scheme, kMaxReplicaKind) && RoleField(c, q.role) &&
             c.Bytes(q.name, kMaxUserName) && c.Bytes(q.key_id, kMaxKeyId) &&
             c.Bytes(q.label, kMaxLabel) && c.Bytes(q.app_id, kMaxKeyId) &&
             c.U8(q.algorithm, kMaxAlgorithm) && c.U8(q.usage, kUsageAll) &&
             c.Bytes(q.data, kMaxWrapped) && c.Bytes(q.public_key, kMaxPublicKey);
  }
  return false;
}

template <typename C>
bool KeyFields(C& c, KeyInfo& k) {
  uint8_t owned = k.owned ? 1 : 0;
  if (!(c.Bytes(k.key_id, kMaxKeyId) && c.U8(k.kind, kMaxKind) &&
        c.U8(k.algorithm, kMaxAlgorithm) && c.U8(k.usage, kUsageAll) &&
        c.Bytes(k.label, kMaxLabel) && c.Bytes(k.app_id, kMaxKeyId) &&
        c.Bytes(k.owner, kMaxUserName) && c.U8(owned, 1))) {
    return false;
  }
  k.owned = owned == 1;
  return true;
}

// The largest key info KeyFields writes: four byte strings with their
// length prefixes, four u8. A full ListKeys page of them must fit a frame.
inline constexpr size_t kMaxKeyInfoSize = (4 + kMaxKeyId) * 2 + 4 + kMaxLabel + 4 + kMaxUserName + 4;
static_assert(4 + 4 + kMaxKeysPerPage * kMaxKeyInfoSize + 1 <= kMaxBody, "a ListKeys page must fit a frame");

template <typename C>
bool UserFields(C& c, UserInfo& u) {
  uint8_t locked = u.locked ? 1 : 0;
  if (!(c.Bytes(u.name, kMaxUserName) && RoleField(c, u.role) && c.U8(locked, 1))) return false;
  u.locked = locked == 1;
  return true;
}

// A u32 count (at most max) and that many elements.
template <typename C, typename T, typename F>
bool ListField(C& c, std::vector<T>& items, size_t max, F&& element) {
  uint32_t n = static_cast<uint32_t>(items.size());
  if (!c.U32(n) || n > max) return false;
  if constexpr (std::is_same_v<C, ReadCodec>) items.resize(n);
  for (T& item : items) {
    if (!element(c, item)) return false;
  }
  return true;
}

template <typename C>
bool ResponseFields(C& c, Response& s) {
  if (!c.U32(s.rv)) return false;
  if (s.rv != 0) return true;
  switch (s.op) {
    case Op::kHello: {
      auto node = [](C& cc, std::string& n) { return cc.Bytes(n, kMaxNodeName); };
      return c.U32(s.version) && ListField(c, s.nodes, kMaxNodes, node) &&
             c.Bytes(s.node_name, kMaxNodeName);
    }
    case Op::kLogin:
      return RoleField(c, s.role);
    case Op::kListUsers:
      return ListField(c, s.users, kMaxListed, UserFields<C>);
    case Op::kGenerateKey:
    case Op::kUnwrapKey:
      return ListField(c, s.keys, kMaxListed, KeyFields<C>);
    case Op::kListKeys:  // flag: 1 when more pages follow
      return ListField(c, s.keys, kMaxKeysPerPage, KeyFields<C>) && c.U8(s.flag, 1);
    case Op::kWrapKey:
    case Op::kWrapKeyWithPublicKey:
      return c.Bytes(s.data, kMaxWrapped);
    case Op::kEncrypt:
      return c.Bytes(s.iv, kMaxDigest) && c.Bytes(s.data, kMaxData + 16);
    case Op::kDecrypt:
    case Op::kSign:
    case Op::kPublicKey:
    case Op::kHmac:
    case Op::kRandom:
      return c.Bytes(s.data, kMaxData + 16);
    case Op::kVerifyHmac:
      return c.U8(s.flag, 1);
    case Op::kReplicate:
      return c.Bytes(s.data, kMaxWrapped) && c.Bytes(s.public_key, kMaxPublicKey) && c.U8(s.flag, 1);
    case Op::kLogout:
    case Op::kCreateUser:
    case Op::kDeleteUser:
    case Op::kChangePassword:
    case Op::kDestroyKey:
    case Op::kShareKey:
    case Op::kSetNonExtractable:
      return true;
  }
  return false;
}

std::string Frame(Op op, std::string body) {
  std::string out = EncodeHeader(op, static_cast<uint32_t>(body.size()));
  out += body;
  return out;
}

}  // namespace

const char* OpName(Op op) {
  static constexpr const char* kNames[] = {
      "",          "Hello",     "Login",      "Logout",     "CreateUser", "DeleteUser",
      "ChangePassword", "ListUsers", "GenerateKey", "ListKeys", "DestroyKey", "ShareKey",
      "Encrypt",   "Decrypt",   "Sign",       "PublicKey",  "Hmac",       "VerifyHmac",
      "Random",    "WrapKey",   "WrapKeyWithPublicKey", "UnwrapKey", "SetNonExtractable",
      "Replicate"};
  auto i = static_cast<size_t>(op);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "";
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kOfficer: return "CO";
    case Role::kCryptoUser: return "CU";
    case Role::kAppliance: return "AU";
  }
  return "";
}

bool Reader::U8(uint8_t& out) {
  if (in_.empty()) return false;
  out = static_cast<uint8_t>(in_[0]);
  in_.remove_prefix(1);
  return true;
}

bool Reader::U32(uint32_t& out) {
  if (in_.size() < 4) return false;
  out = 0;
  for (int i = 0; i < 4; ++i) out = (out << 8) | static_cast<uint8_t>(in_[i]);
  in_.remove_prefix(4);
  return true;
}

bool Reader::Bytes(std::string& out, size_t max) {
  uint32_t n = 0;
  if (!U32(n) || n > max || n > in_.size()) return false;
  out.assign(in_.substr(0, n));
  in_.remove_prefix(n);
  return true;
}

void Writer::U32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>((v >> shift) & 0xff));
}

void Writer::Bytes(std::string_view b) {
  U32(static_cast<uint32_t>(b.size()));
  out_.append(b);
}

std::optional<FrameHeader> DecodeHeader(std::string_view header) {
  Reader r(header);
  uint8_t m0 = 0, m1 = 0, version = 0, op = 0;
  FrameHeader h;
  if (header.size() != kHeaderSize || !r.U8(m0) || !r.U8(m1) || !r.U8(version) || !r.U8(op) ||
      !r.U32(h.body_size)) {
    return std::nullopt;
  }
  if (m0 != static_cast<uint8_t>(kMagic0) || m1 != static_cast<uint8_t>(kMagic1) ||
      version != kProtocolVersion || op == 0 || op > kMaxOp || h.body_size > kMaxBody) {
    return std::nullopt;
  }
  h.op = static_cast<Op>(op);
  return h;
}

std::string EncodeHeader(Op op, uint32_t body_size) {
  Writer w;
  w.U8(static_cast<uint8_t>(kMagic0));
  w.U8(static_cast<uint8_t>(kMagic1));
  w.U8(kProtocolVersion);
  w.U8(static_cast<uint8_t>(op));
  w.U32(body_size);
  return std::move(w.out());
}

std::string EncodeRequest(const Request& request) {
  WriteCodec c;
  Request copy = request;
  RequestFields(c, copy);
  return Frame(request.op, std::move(c.w.out()));
}

std::string EncodeResponse(const Response& response) {
  WriteCodec c;
  Response copy = response;
  ResponseFields(c, copy);
  return Frame(response.op, std::move(c.w.out()));
}

std::optional<Request> DecodeRequest(Op op, std::string_view body) {
  ReadCodec c{Reader(body)};
  Request q;
  q.op = op;
  if (!RequestFields(c, q) || !c.r.AtEnd()) return std::nullopt;
  return q;
}

std::optional<Response> DecodeResponse(Op op, std::string_view body) {
  ReadCodec c{Reader(body)};
  Response s;
  s.op = op;
  if (!ResponseFields(c, s) || !c.r.AtEnd()) return std::nullopt;
  return s;
}

}  // namespace rampart::hsmnet
