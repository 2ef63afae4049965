// The access rules of the network HSM, as pure functions so that they are
// tested on their own (rules_test.cc).
//
// Roles follow CloudHSM's: crypto officers (CO) manage users and may not
// use keys; crypto users (CU) generate keys they own, use them, and share
// them with other CUs, who may use a shared key but not destroy or
// re-share it; the appliance user (AU) may list users and keys and send
// Replicate requests (peer nodes replicating keys and users), and may
// never use a key. Every logged-in user may change their own
// password and draw random bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "rampart/hsmnet/wire.h"
#include "rampart/pkcs11/token.h"

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

// Whether op is one of the replication operations (WrapKey,
// WrapKeyWithPublicKey, UnwrapKey, SetNonExtractable). Only a CU may call
// them (CheckOperation), and only on keys it owns: a user a key is shared
// with may use it but never move it out of the token.
bool IsReplicationOp(Op op);

// The usage of a new key from the wire's usage bits; 0 means the default
// for the kind (AES encrypts, the others sign). Bits that do not fit the
// kind are kept: the token refuses such a spec.
pkcs11::KeyUsage UsageFor(pkcs11::KeyKind kind, uint8_t bits);
// The wire's usage bits of a usage.
uint8_t UsageBits(const pkcs11::KeyUsage& usage);

// User names: 1..32 of [A-Za-z0-9_.-]. Passwords: 8..128 bytes.
bool ValidUserName(std::string_view name);
bool ValidPassword(std::string_view password);

}  // namespace rampart::hsmnet
