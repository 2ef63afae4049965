#include "hsmnet/service.h"


#include <algorithm>
#include <chrono>

#include "hsmnet/replicator.h"
#include "hsmnet/rules.h"
#include "pkcs11/p11.h"
#include "rampart/core/json.h"

namespace rampart::hsmnet {
namespace {

using pkcs11::KeyAlgorithm;
using pkcs11::KeyKind;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[(static_cast<uint8_t>(c) >> 4) & 0xf]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

// Whether op applies to a key of kind.
bool OpFitsKind(Op op, KeyKind kind) {
  bool pair = kind == KeyKind::kEcPrivate || kind == KeyKind::kRsaPrivate;
  switch (op) {
    case Op::kEncrypt:
    case Op::kDecrypt: return kind == KeyKind::kAes;
    case Op::kSign:
    case Op::kPublicKey: return pair;
    case Op::kHmac:
    case Op::kVerifyHmac: return kind == KeyKind::kGenericSecret;
    default: return true;
  }
}

KeyAction ActionOf(Op op) {
  if (op == Op::kDestroyKey) return KeyAction::kDestroy;
  if (op == Op::kShareKey) return KeyAction::kShare;
  return KeyAction::kUse;
}

bool IsKeyOperation(Op op) {
  switch (op) {
    case Op::kDestroyKey:
    case Op::kShareKey:
    case Op::kEncrypt:
    case Op::kDecrypt:
    case Op::kSign:
    case Op::kPublicKey:
    case Op::kHmac:
    case Op::kVerifyHmac: return true;
    default: return false;
  }
}

// One page of a key list: the keys after `after` in key id order, at most
// per_page (at most kMaxKeysPerPage: a long list would not fit one frame),
// with flag set when more follow.
Response PageOfKeys(Response all, const std::string& after, size_t per_page) {
  if (all.rv != CKR_OK) return all;
  std::vector<KeyInfo>& keys = all.keys;
  std::sort(keys.begin(), keys.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.key_id < b.key_id; });
  auto first = std::upper_bound(keys.begin(), keys.end(), after,
                                [](const std::string& id, const KeyInfo& k) { return id < k.key_id; });
  size_t start = static_cast<size_t>(first - keys.begin());
  size_t n = std::min(std::clamp<size_t>(per_page, 1, kMaxKeysPerPage), keys.size() - start);
  all.flag = start + n < keys.size() ? 1 : 0;
  std::vector<KeyInfo> page(std::make_move_iterator(first), std::make_move_iterator(first + n));
  all.keys = std::move(page);
  return all;
}

}  // namespace

Response Reply(Op op, uint32_t rv) {
  Response r;
  r.op = op;
  r.rv = rv;
  return r;
}

std::string RvName(uint32_t rv) { return pkcs11::CkrName(rv); }

bool IsReservedKeyId(std::string_view key_id) { return key_id.rfind(kReservedKeyIdPrefix, 0) == 0; }

uint32_t StatusToCkr(const Status& status, Op op) {
  switch (status.code()) {
    case ErrorCode::kOk: return CKR_OK;
    case ErrorCode::kAccessDenied: return CKR_KEY_FUNCTION_NOT_PERMITTED;
    case ErrorCode::kNotFound: return CKR_KEY_HANDLE_INVALID;
    case ErrorCode::kValidation:
      return op == Op::kDecrypt ? CKR_ENCRYPTED_DATA_INVALID : CKR_ARGUMENTS_BAD;
    default: return CKR_DEVICE_ERROR;
  }
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, std::string node) {
  std::FILE* f = nullptr;
  if (!path.empty()) {
    f = std::fopen(path.c_str(), "ae");
    if (f == nullptr) return Status::Error(ErrorCode::kUnavailable, "cannot open audit log " + path);
  }
  return std::unique_ptr<AuditLog>(new AuditLog(f, std::move(node)));
}

AuditLog::~AuditLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void AuditLog::Record(std::string_view peer, std::string_view user, Op op, std::string_view key_id,
                      uint32_t rv, std::string_view target) {
  if (file_ == nullptr) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  json::Value rec = json::Value::MakeObject();
  rec.set("time_ms", static_cast<int64_t>(ms));
  rec.set("node", node_);
  rec.set("peer", peer);
  rec.set("user", user);
  rec.set("operation", OpName(op));
  if (!key_id.empty()) rec.set("key", Hex(key_id));
  if (!target.empty()) rec.set("target_user", target);
  rec.set("result", RvName(rv));
  std::string line = json::Write(rec);
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

Response Service::Handle(Session& session, const Request& request) {
  Revalidate(session);
  const Role* role = session.user ? &session.user->role : nullptr;
  uint32_t rv = CheckOperation(role, request.op);
  if (rv != CKR_OK) {
    if (request.op != Op::kLogout) {
      audit_.Record(session.peer, session.user ? session.user->name : "", request.op,
                    request.key_id, rv);
    }
    return Reply(request.op, rv);
  }
  return Dispatch(session, request);
}

void Service::Revalidate(Session& session) {
  if (!session.user) return;
  auto current = state_.FindUser(session.user->name);
  if (!current.ok() || !*current || (*current)->password_version != session.user->password_version ||
      (*current)->role != session.user->role) {
    session.user.reset();
  }
}

Response Service::Dispatch(Session& session, const Request& q) {
  switch (q.op) {
    case Op::kHello: {
      Response r = Reply(q.op, CKR_OK);
      r.version = kProtocolVersion;
      r.nodes = options_.nodes;
      r.node_name = options_.node_name;
      return r;
    }
    case Op::kLogin: return Login(session, q);
    case Op::kLogout:
      session.user.reset();
      return Reply(q.op, CKR_OK);
    case Op::kCreateUser:
    case Op::kDeleteUser:
    case Op::kChangePassword: return UserAdmin(session, q);
    case Op::kListUsers: return ListUsers();
    case Op::kGenerateKey: return GenerateKey(session, q);
    case Op::kListKeys: return PageOfKeys(ListKeys(session), q.key_id, options_.keys_per_page);
    case Op::kRandom: {
      auto bytes = token_.GenerateRandom(q.count);
      Response r = Reply(q.op, bytes.ok() ? CKR_OK : StatusToCkr(bytes.status(), q.op));
      if (bytes.ok()) r.data = std::move(*bytes);
      return r;
    }
    default: break;
  }
  if (IsKeyOperation(q.op)) return KeyOperation(session, q);
  if (IsReplicationOp(q.op)) return Replication(session, q);  // service_replication.cc
  if (q.op == Op::kReplicate) return Replica(session, q);      // service_replication.cc
  return Reply(q.op, CKR_FUNCTION_NOT_SUPPORTED);
}

Response Service::Login(Session& session, const Request& q) {
  if (session.user) return Reply(q.op, CKR_USER_ALREADY_LOGGED_IN);
  // The appliance user is for peer nodes only: any other certificate is
  // refused before the password is checked, so that it can neither guess
  // the password nor lock the AU out (which would stop replication).
  if (q.role == Role::kAppliance && (replicator_ == nullptr || !session.replication_peer)) {
    audit_.Record(session.peer, q.name, q.op, "", CKR_ACTION_PROHIBITED);
    return Reply(q.op, CKR_ACTION_PROHIBITED);
  }
  UserRecord user;
  auto outcome = state_.Login(q.name, q.password, q.role, &user);
  uint32_t rv = CKR_DEVICE_ERROR;
  if (outcome.ok()) {
    rv = *outcome == LoginOutcome::kOk       ? CKR_OK
         : *outcome == LoginOutcome::kLocked ? CKR_PIN_LOCKED
                                             : CKR_PIN_INCORRECT;
  }
  audit_.Record(session.peer, q.name, q.op, "", rv);
  Response r = Reply(q.op, rv);
  if (rv == CKR_OK) {
    r.role = user.role;
    session.user = std::move(user);
  }
  return r;
}

Response Service::UserAdmin(Session& session, const Request& q) {
  const UserRecord& caller = *session.user;
  Status st;
  PeerQueue queue = NewQueue();
  if (q.op == Op::kCreateUser) {
    st = state_.CreateUser(q.name, q.password, q.role, &queue);
  } else if (q.op == Op::kDeleteUser) {
    st = q.name == caller.name ? Status::Validation("officers cannot delete themselves")
                               : state_.DeleteUser(q.name, &queue);
  } else {
    uint32_t allowed = CheckPasswordChange(caller.role, caller.name, q.name);
    if (allowed != CKR_OK) {
      audit_.Record(session.peer, caller.name, q.op, "", allowed, q.name);
      return Reply(q.op, allowed);
    }
    st = state_.ChangePassword(q.name, q.password, &queue);
    // Our own password version moved: stay logged in on this session.
    if (st.ok() && q.name == caller.name) session.user->password_version += 1;
  }
  bool pushed = true;
  if (st.ok() && replicator_ != nullptr) pushed = replicator_->Pushed(queue);
  uint32_t rv = CKR_OK;
  if (!st.ok()) {
    rv = st.code() == ErrorCode::kNotFound ? CKR_USER_TYPE_INVALID
         : st.code() == ErrorCode::kValidation ? CKR_ARGUMENTS_BAD
                                                : CKR_DEVICE_ERROR;
  } else if (!pushed) {
    // Done here, but a peer that answered did not apply it: the officer
    // must know that the user may still work there (docs/hsm.md).
    rv = CKR_DEVICE_ERROR;
  }
  audit_.Record(session.peer, caller.name, q.op, "", rv, q.name);
  return Reply(q.op, rv);
}

PeerQueue Service::NewQueue() const { return replicator_ != nullptr ? replicator_->NewQueue() : PeerQueue{}; }

Response Service::ListUsers() {
  auto users = state_.ListUsers();
  if (!users.ok()) return Reply(Op::kListUsers, CKR_DEVICE_ERROR);
  Response r = Reply(Op::kListUsers, CKR_OK);
  r.users = std::move(*users);
  return r;
}

Response Service::GenerateKey(Session& session, const Request& q) {
  pkcs11::KeySpec spec;
  spec.algorithm = static_cast<KeyAlgorithm>(q.algorithm);
  spec.label = q.label.empty() ? "rampart-hsmnet" : q.label;
  KeyKind kind = pkcs11::KindOfAlgorithm(spec.algorithm);
  spec.usage = UsageFor(kind, q.usage);
  spec.id = q.key_id;              // empty: the token picks
  if (IsReservedKeyId(q.key_id)) {
    audit_.Record(session.peer, session.user->name, q.op, q.key_id, CKR_ATTRIBUTE_VALUE_INVALID);
    return Reply(q.op, CKR_ATTRIBUTE_VALUE_INVALID);
  }
  // Extractable when asked (for wrapping by the owner, rules.h) and, with
  // peers, until the key reached them (ReplicateNewKey). Only the first
  // is recorded: WrapKey checks the record, not the token.
  spec.extractable = q.flag == 1 || replicator_ != nullptr;
  auto ref = token_.GenerateKey(spec);
  uint32_t rv = ref.ok() ? CKR_OK : StatusToCkr(ref.status(), q.op);
  KeyInfo info;
  if (ref.ok()) {
    info.key_id = ref->id;
    info.kind = static_cast<uint8_t>(kind);
    info.algorithm = q.algorithm;
    info.usage = UsageBits(spec.usage);
    info.label = spec.label;
    info.app_id = q.app_id.empty() ? ref->id : q.app_id;
    info.owner = session.user->name;
    info.owned = true;
    PeerQueue queue = NewQueue();
    if (!state_.AddKey(info, q.flag == 1, &queue).ok()) {
      (void)token_.DestroyKey(*ref);
      rv = CKR_DEVICE_ERROR;
    } else if (replicator_ != nullptr) {
      rv = ReplicateNewKey(info, queue, q.flag == 1);  // service_replication.cc
    }
  }
  audit_.Record(session.peer, session.user->name, q.op, info.key_id, rv);
  Response r = Reply(q.op, rv);
  if (rv == CKR_OK) r.keys.push_back(std::move(info));
  return r;
}

Response Service::ListKeys(Session& session) {
  bool all = session.user->role == Role::kAppliance;
  auto keys = state_.ListKeys(session.user->name, all);
  if (!keys.ok()) return Reply(Op::kListKeys, CKR_DEVICE_ERROR);
  Response r = Reply(Op::kListKeys, CKR_OK);
  r.keys = std::move(*keys);
  return r;
}

Response Service::KeyOperation(Session& session, const Request& q) {
  const std::string& user = session.user->name;
  auto found = state_.FindKey(q.key_id);
  uint32_t rv = CKR_OK;
  if (!found.ok()) rv = CKR_DEVICE_ERROR;
  if (rv == CKR_OK && !*found) rv = CKR_KEY_HANDLE_INVALID;
  if (rv == CKR_OK) {
    const KeyRecord& key = **found;
    KeyRelation relation;
    relation.owner = key.info.owner == user;
    for (const auto& s : key.shared_with) relation.shared = relation.shared || s == user;
    rv = CheckKeyAction(relation, ActionOf(q.op));
  }
  if (rv == CKR_OK && !OpFitsKind(q.op, static_cast<KeyKind>((*found)->info.kind))) {
    rv = CKR_KEY_TYPE_INCONSISTENT;
  }
  Response r = Reply(q.op, rv);
  if (rv == CKR_OK) {
    const KeyInfo& key = (*found)->info;
    r = q.op == Op::kDestroyKey ? DestroyKey(key) : q.op == Op::kShareKey ? ShareKey(q) : RunKeyOp(q, key);
  }
  audit_.Record(session.peer, user, q.op, q.key_id, r.rv, q.op == Op::kShareKey ? q.name : "");
  return r;
}

Response Service::DestroyKey(const KeyInfo& key) {
  Status st = token_.DestroyKey({key.key_id, static_cast<KeyKind>(key.kind)});
  // A key already gone from the token is still removed from our records.
  PeerQueue queue = NewQueue();
  if (st.ok() || st.code() == ErrorCode::kNotFound) st = state_.DeleteKey(key.key_id, &queue);
  if (st.ok() && replicator_ != nullptr) (void)replicator_->Pushed(queue);
  return Reply(Op::kDestroyKey, st.ok() ? CKR_OK : StatusToCkr(st, Op::kDestroyKey));
}

Response Service::ShareKey(const Request& q) {
  PeerQueue queue = NewQueue();
  Status st = state_.SetShare(q.key_id, q.name, q.flag == 1, &queue);
  if (st.ok() && replicator_ != nullptr) (void)replicator_->Pushed(queue);
  uint32_t rv = CKR_OK;
  if (!st.ok()) rv = st.code() == ErrorCode::kNotFound ? CKR_USER_TYPE_INVALID : CKR_ARGUMENTS_BAD;
  return Reply(Op::kShareKey, rv);
}

Response Service::RunKeyOp(const Request& q, const KeyInfo& key) {
  pkcs11::KeyRef ref{key.key_id, static_cast<KeyKind>(key.kind)};
  Response r = Reply(q.op, CKR_OK);
  Status st;
  switch (q.op) {
    case Op::kEncrypt: {
      auto ct = token_.EncryptGcm(ref, q.data, q.aad);
      if (ct.ok()) {
        r.iv = std::move(ct->iv);
        r.data = std::move(ct->ciphertext);
      }
      st = ct.status();
      break;
    }
    case Op::kDecrypt: {
      auto pt = token_.DecryptGcm(ref, q.iv, q.data, q.aad);
      if (pt.ok()) r.data.assign(pt->reveal());
      st = pt.status();
      break;
    }
    case Op::kSign: {
      auto sig = token_.SignDigest(ref, q.data, q.md_name, static_cast<pkcs11::SignScheme>(q.scheme));
      if (sig.ok()) r.data = std::move(*sig);
      st = sig.status();
      break;
    }
    case Op::kPublicKey: {
      auto der = token_.PublicKeyDer(ref);
      if (der.ok()) r.data = std::move(*der);
      st = der.status();
      break;
    }
    case Op::kHmac: {
      auto mac = token_.HmacSha256(ref, q.data);
      if (mac.ok()) r.data = std::move(*mac);
      st = mac.status();
      break;
    }
    case Op::kVerifyHmac: {
      auto good = token_.VerifyHmacSha256(ref, q.data, q.mac);
      if (good.ok()) r.flag = *good ? 1 : 0;
      st = good.status();
      break;
    }
    default: st = Status::Validation("not a key operation");
  }
  if (!st.ok()) return Reply(q.op, StatusToCkr(st, q.op));
  return r;
}

}  // namespace rampart::hsmnet
