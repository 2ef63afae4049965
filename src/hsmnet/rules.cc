#include "hsmnet/rules.h"

#include "pkcs11/p11.h"

namespace rampart::hsmnet {

uint32_t CheckOperation(const Role* role, Op op) {
  if (op == Op::kHello || op == Op::kLogin) return CKR_OK;
  if (role == nullptr) return CKR_USER_NOT_LOGGED_IN;
  switch (op) {
    case Op::kLogout:
    case Op::kChangePassword:
    case Op::kRandom:
      return CKR_OK;
    case Op::kCreateUser:
    case Op::kDeleteUser:
      return *role == Role::kOfficer ? CKR_OK : CKR_ACTION_PROHIBITED;
    case Op::kListUsers:
      return *role == Role::kCryptoUser ? CKR_ACTION_PROHIBITED : CKR_OK;
    case Op::kListKeys:
      return *role == Role::kOfficer ? CKR_ACTION_PROHIBITED : CKR_OK;
    case Op::kReplicate:
      return *role == Role::kAppliance ? CKR_OK : CKR_ACTION_PROHIBITED;
    default:
      return *role == Role::kCryptoUser ? CKR_OK : CKR_ACTION_PROHIBITED;
  }
}

uint32_t CheckKeyAction(KeyRelation relation, KeyAction action) {
  if (relation.owner) return CKR_OK;
  if (!relation.shared) return CKR_KEY_HANDLE_INVALID;
  return action == KeyAction::kUse ? CKR_OK : CKR_ACTION_PROHIBITED;
}

uint32_t CheckPasswordChange(Role role, std::string_view caller, std::string_view name) {
  if (role == Role::kOfficer || caller == name) return CKR_OK;
  return CKR_ACTION_PROHIBITED;
}

bool IsReplicationOp(Op op) {
  return op == Op::kWrapKey || op == Op::kWrapKeyWithPublicKey || op == Op::kUnwrapKey ||
         op == Op::kSetNonExtractable;
}

pkcs11::KeyUsage UsageFor(pkcs11::KeyKind kind, uint8_t bits) {
  pkcs11::KeyUsage usage;
  if (bits == 0) {
    usage.encrypt = kind == pkcs11::KeyKind::kAes;
    usage.sign = kind != pkcs11::KeyKind::kAes;
    return usage;
  }
  usage.encrypt = (bits & kUsageEncrypt) != 0;
  usage.sign = (bits & kUsageSign) != 0;
  usage.wrap = (bits & kUsageWrap) != 0;
  return usage;
}

uint8_t UsageBits(const pkcs11::KeyUsage& usage) {
  return static_cast<uint8_t>((usage.encrypt ? kUsageEncrypt : 0) | (usage.sign ? kUsageSign : 0) |
                              (usage.wrap ? kUsageWrap : 0));
}

bool ValidUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ValidPassword(std::string_view password) {
  return password.size() >= 8 && password.size() <= kMaxPassword;
}

}  // namespace rampart::hsmnet
