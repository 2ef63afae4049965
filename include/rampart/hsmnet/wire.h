// The network HSM protocol (version 1): framing and message codec shared by
// the server (src/hsmnet), the admin CLI and the client PKCS#11 module
// (librampart-pkcs11.so). docs/hsm.md, "Network HSM", describes the bytes.
//
// A frame is an 8-byte header (magic "RH", version, operation, big-endian
// body length) and a body of at most kMaxBody bytes. Bodies are a fixed
// sequence of fields per operation: u8, u32 (big-endian) and byte strings
// (u32 length + bytes), each with its own upper bound. Every response body
// starts with a u32 PKCS#11 return value (CKR_*); the other fields follow
// only when it is CKR_OK (0).
//
// Every decoder reads through Reader, a bounds-checked cursor: a short,
// oversized or trailing-garbage body is refused, never read past.
//
// This file depends on nothing but the standard library and the header-only
// parts of rampart/core, because the client module compiles it on its own.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::hsmnet {

inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kHeaderSize = 8;
inline constexpr size_t kMaxBody = 256 * 1024;

// Field limits (bytes unless said otherwise).
inline constexpr size_t kMaxUserName = 32;
inline constexpr size_t kMaxPassword = 128;
inline constexpr size_t kMaxLabel = 128;
inline constexpr size_t kMaxKeyId = 64;
inline constexpr size_t kMaxData = 64 * 1024;
inline constexpr size_t kMaxAad = 8 * 1024;
inline constexpr size_t kMaxDigest = 64;
inline constexpr size_t kMaxMdName = 8;
inline constexpr size_t kMaxNodes = 32;
inline constexpr size_t kMaxNodeName = 255;
inline constexpr size_t kMaxListed = 10000;
// ListKeys answers in pages of at most this many keys, in key id order, so
// that a page of the largest key infos fits a frame.
inline constexpr size_t kMaxKeysPerPage = 500;
inline constexpr uint32_t kMaxRandom = 65536;
inline constexpr size_t kMaxWrapped = 16384;    // a wrapped key (RFC 5649 or RSA-OAEP)
inline constexpr size_t kMaxPublicKey = 2048;   // a DER SubjectPublicKeyInfo

enum class Op : uint8_t {
  kHello = 1,
  kLogin = 2,
  kLogout = 3,
  kCreateUser = 4,
  kDeleteUser = 5,
  kChangePassword = 6,
  kListUsers = 7,
  kGenerateKey = 8,
  kListKeys = 9,
  kDestroyKey = 10,
  kShareKey = 11,
  kEncrypt = 12,
  kDecrypt = 13,
  kSign = 14,
  kPublicKey = 15,
  kHmac = 16,
  kVerifyHmac = 17,
  kRandom = 18,
  // Key replication (docs/hsm.md, "A node as a cluster member"): the owner
  // of a key wraps it, unwraps a copy, and locks it.
  kWrapKey = 19,
  kWrapKeyWithPublicKey = 20,
  kUnwrapKey = 21,
  kSetNonExtractable = 22,
  // Replication between network-HSM nodes (docs/hsm.md, "Replication
  // between nodes"): one operation for the appliance user, whose `scheme`
  // field names a ReplicaKind.
  kReplicate = 23,
};
inline constexpr uint8_t kMaxOp = 23;
const char* OpName(Op op);

enum class Role : uint8_t { kOfficer = 0, kCryptoUser = 1, kAppliance = 2 };
inline constexpr uint8_t kMaxRole = 2;
const char* RoleName(Role role);

// Key algorithm and kind numbers on the wire are pkcs11::KeyAlgorithm and
// pkcs11::KeyKind values; the codec bounds them with these maxima.
inline constexpr uint8_t kMaxAlgorithm = 5;
inline constexpr uint8_t kMaxKind = 3;
inline constexpr uint8_t kMaxScheme = 2;
// Usage bits of GenerateKey and KeyInfo.
inline constexpr uint8_t kUsageEncrypt = 1;
inline constexpr uint8_t kUsageSign = 2;
inline constexpr uint8_t kUsageWrap = 4;  // AES: wrap/unwrap keys; RSA: a transport pair
inline constexpr uint8_t kUsageAll = kUsageEncrypt | kUsageSign | kUsageWrap;

// What a Replicate request asks of a node (Request::scheme). Only the
// appliance user may send them; none of them returns key material in the
// clear: keys travel wrapped under the cluster wrapping key, which exists
// only inside the nodes' tokens.
enum class ReplicaKind : uint8_t {
  kWrapClusterKeyFor = 0,  // public_key: a transport key -> data: the cluster key wrapped under it
  kPutKey = 1,      // key_id, name (owner), label, app_id, algorithm, usage, data (wrapped), public_key
  kWrapKey = 2,     // key_id -> data: the key wrapped under the cluster key, public_key (pairs)
  kLockKey = 3,     // key_id: clear CKA_EXTRACTABLE
  kDestroyKey = 4,  // key_id
  kSetShares = 5,   // key_id, data: the whole share list, user names joined by '\n'
  kGetKey = 6,      // key_id -> data: the share list as above; flag 1: deleted here
  kPutUser = 7,     // name, role, data: the PBKDF2 password hash
  kGetUser = 8,     // name -> data: the PBKDF2 password hash; flag 1: deleted here
  kDeleteUser = 9,  // name
};
inline constexpr uint8_t kMaxReplicaKind = 9;

struct FrameHeader {
  Op op = Op::kHello;
  uint32_t body_size = 0;
};

// Parses the 8 header bytes. nullopt: bad magic, unknown version or
// operation, or a body over kMaxBody.
std::optional<FrameHeader> DecodeHeader(std::string_view header);
std::string EncodeHeader(Op op, uint32_t body_size);

// Every request field of every operation; each operation uses a subset
// (see the table in docs/hsm.md). Unused fields stay empty.
struct Request {
  Op op = Op::kHello;
  Role role = Role::kCryptoUser;
  std::string name;      // user name
  std::string password;  // wiped by the server after use
  std::string key_id;    // the server's key id (CKA_ID in the token); GenerateKey
                         // and UnwrapKey: the id wanted (empty: the server picks);
                         // ListKeys: the page starts after this id
  std::string label;
  std::string app_id;    // the application's CKA_ID for the key
  uint8_t algorithm = 0;
  uint8_t usage = 0;
  uint8_t scheme = 0;    // Sign: the SignScheme; Replicate: the ReplicaKind
  uint8_t flag = 0;      // ShareKey: share; GenerateKey, UnwrapKey: extractable
  std::string md_name;
  std::string data;
  std::string aad;
  std::string iv;
  std::string mac;
  uint32_t count = 0;    // Random: bytes wanted
  std::string wrapping_key_id;  // WrapKey, UnwrapKey
  std::string public_key;       // WrapKeyWithPublicKey: the recipient; UnwrapKey: a pair's public half
};

struct KeyInfo {
  std::string key_id;
  uint8_t kind = 0;
  uint8_t algorithm = 0;
  uint8_t usage = 0;
  std::string label;
  std::string app_id;
  std::string owner;
  bool owned = false;  // whether the caller owns it (else it is shared with them)
};

struct UserInfo {
  std::string name;
  Role role = Role::kCryptoUser;
  bool locked = false;
};

struct Response {
  Op op = Op::kHello;
  uint32_t rv = 0;  // CKR_*
  uint32_t version = 0;             // Hello
  std::vector<std::string> nodes;   // Hello: host:port of every cluster node
  std::string node_name;            // Hello
  Role role = Role::kCryptoUser;    // Login
  std::vector<UserInfo> users;      // ListUsers
  std::vector<KeyInfo> keys;        // GenerateKey and UnwrapKey (one), ListKeys
  std::string iv;                   // Encrypt
  std::string data;                 // Encrypt, Decrypt, Sign, PublicKey, Hmac, Random, WrapKey*, Replicate
  std::string public_key;           // Replicate (kWrapKey of a pair): its public half
  uint8_t flag = 0;                 // VerifyHmac: 1 when the MAC matches; ListKeys: 1 when more
                                    // follow; Replicate (kGet*): 1 when deleted there
};

// Encoders produce a whole frame (header and body).
std::string EncodeRequest(const Request& request);
std::string EncodeResponse(const Response& response);

// Decoders take the operation from the header and the body; nullopt when a
// field is missing, over its bound, out of range, or bytes are left over.
std::optional<Request> DecodeRequest(Op op, std::string_view body);
std::optional<Response> DecodeResponse(Op op, std::string_view body);

// Reads fields from a byte string; every read checks the bytes remaining.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t& out);
  bool U32(uint32_t& out);
  // A u32 length, then that many bytes; false when length > max.
  bool Bytes(std::string& out, size_t max);
  bool AtEnd() const { return in_.empty(); }

 private:
  std::string_view in_;
};

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v);
  void Bytes(std::string_view b);
  std::string& out() { return out_; }

 private:
  std::string out_;
};

}  // namespace rampart::hsmnet
