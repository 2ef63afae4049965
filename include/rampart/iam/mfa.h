// Virtual MFA devices (IAM, query protocol): CreateVirtualMFADevice,
// EnableMFADevice, ResyncMFADevice, DeactivateMFADevice,
// DeleteVirtualMFADevice, ListMFADevices, ListVirtualMFADevices; and the
// one-time-code check STS uses when a caller passes SerialNumber and
// TokenCode, which is what makes aws:MultiFactorAuthPresent real.
//
// A device's seed is 20 random bytes sealed under the server's root key
// (the serial number as associated data); the seed leaves the server once,
// in the CreateVirtualMFADevice answer. A code is accepted for the current
// 30-second step or one step either side, and never twice: each device
// remembers the last step it accepted.
//
// Thread-safety: MfaService is thread-safe; every check-and-consume of a
// code runs in one write transaction.
#pragma once

#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::iam {

class MfaService {
 public:
  // REQUIRES: db and root_key outlive the service.
  MfaService(store::Database& db, const SecretBytes& root_key) : db_(db), root_key_(root_key) {}

  // Creates or upgrades the device table (component "mfa").
  static Status Migrate(store::Database& db);

  // Adds the IAM MFA handlers. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  // Checks code against the device serial assigned to the IAM user user_id
  // of account and consumes it. kAccessDenied with AWS's MFA message when
  // the device is not the user's, the code is wrong or was used before.
  Status VerifyUserCode(std::string_view account, std::string_view user_id,
                        std::string_view serial, std::string_view code, TimePoint now);

 private:
  Result<json::Value> CreateVirtualMfaDevice(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> EnableMfaDevice(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ResyncMfaDevice(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeactivateMfaDevice(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteVirtualMfaDevice(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListMfaDevices(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListVirtualMfaDevices(server::RequestContext& ctx, const json::Value& in);

  store::Database& db_;
  const SecretBytes& root_key_;
};

}  // namespace rampart::iam
