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
