// The access rules of the network HSM, as pure functions so that they are
// tested on their own (rules_test.cc).
//
// Roles follow CloudHSM's: crypto officers (CO) manage users and may not
// use keys; crypto users (CU) generate keys they own, use them, and share
// them with other CUs, who may use a shared key but not destroy or
// re-share it; the appliance user (AU) may list users and keys, for
// replication, and nothing else. Every logged-in user may change their own
// password and draw random bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "rampart/hsmnet/wire.h"

namespace rampart::hsmnet {

// What a caller wants to do with a key.
enum class KeyAction : uint8_t { kUse, kDestroy, kShare };

// The caller's relation to a key.
struct KeyRelation {
  bool owner = false;
  bool shared = false;  // shared with the caller by its owner
};

// CKR_OK when a session logged in with role (nullptr: not logged in) may
// call op at all; CKR_USER_NOT_LOGGED_IN or CKR_ACTION_PROHIBITED otherwise.
uint32_t CheckOperation(const Role* role, Op op);

// CKR_OK when a CU may act on a key: owners may do anything, users it is
// shared with may only use it (CKR_ACTION_PROHIBITED), anyone else does
// not see it (CKR_KEY_HANDLE_INVALID).
uint32_t CheckKeyAction(KeyRelation relation, KeyAction action);

// CKR_OK when a caller may change name's password: officers anyone's,
// everyone their own.
uint32_t CheckPasswordChange(Role role, std::string_view caller, std::string_view name);

// User names: 1..32 of [A-Za-z0-9_.-]. Passwords: 8..128 bytes.
bool ValidUserName(std::string_view name);
bool ValidPassword(std::string_view password);

}  // namespace rampart::hsmnet
