#include "rampart/iam/mfa.h"

#include "iam/iam_internal.h"
#include "iam/mfa_qr.h"
#include "rampart/core/encoding.h"
#include "rampart/core/secret.h"
#include "rampart/crypto/aead.h"
#include "rampart/crypto/random.h"
#include "rampart/crypto/totp.h"

namespace rampart::iam {
namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE mfa_devices (
  serial_number TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  seed_sealed BLOB NOT NULL,
  user_id TEXT NOT NULL DEFAULT '',
  enabled_at INTEGER NOT NULL DEFAULT 0,
  last_step INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  UNIQUE (account_id, name_key)
);
CREATE INDEX mfa_devices_by_user ON mfa_devices (user_id);
)sql"},
};

constexpr size_t kSeedBytes = 20;         // 160 bits, RFC 4226's recommendation
constexpr int64_t kDevicesPerUser = 8;    // IAM quota
constexpr uint64_t kEnableLookback = 10;  // steps (5 minutes) a pair of codes may lag
constexpr uint64_t kResyncWindow = 20;    // steps either side when resynchronising

Status InvalidCode() {
  return Status::Modeled("InvalidAuthenticationCodeException",
                         "Authentication code for device is not valid.");
}

Status NoSuchDevice(std::string_view serial) {
  return Status::Modeled("NoSuchEntityException",
                         "MFA device with serial number " + std::string(serial) + " not found.");
}

Status MfaDenied() {
  return Status::Error(ErrorCode::kAccessDenied,
                       "MultiFactorAuthentication failed with invalid MFA one time pass code.");
}

struct Device {
  std::string user_id;
  int64_t last_step = 0;
  SecretBytes seed;
};

// The device serial of account inside tx, with its seed unsealed, or
// nullopt.
Result<std::optional<Device>> LoadDevice(store::Tx& tx, const SecretBytes& root_key,
                                         std::string_view account, std::string_view serial) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT seed_sealed, user_id, last_step FROM mfa_devices "
                                      "WHERE serial_number = ? AND account_id = ?"));
  q->Bind(1, serial).Bind(2, account);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<Device>();
  auto seed = crypto::AeadOpen(root_key, q->Text(0), serial);
  if (!seed.ok()) return Status::Internal("MFA seed does not unseal");
  Device d;
  d.user_id = q->Text(1);
  d.last_step = q->Int(2);
  d.seed = std::move(seed).value();
  return std::optional<Device>(std::move(d));
}

bool CodeMatches(const Device& d, uint64_t step, std::string_view code) {
  return ConstantTimeEquals(crypto::HotpCode(d.seed.reveal(), step), code);
}

// The step s in [first, last] at which code1 and code2 are the codes of s
// and s + 1, or nullopt.
std::optional<uint64_t> FindCodePair(const Device& d, uint64_t first, uint64_t last,
                                     std::string_view code1, std::string_view code2) {
  for (uint64_t s = first; s <= last; ++s) {
    if (CodeMatches(d, s, code1) && CodeMatches(d, s + 1, code2)) return s;
  }
  return std::nullopt;
}

Status SetDeviceState(store::Tx& tx, std::string_view serial, std::string_view user_id,
                      int64_t enabled_at, int64_t last_step) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE mfa_devices SET user_id = ?, enabled_at = ?, "
                                      "last_step = ? WHERE serial_number = ?"));
  q->Bind(1, user_id).Bind(2, enabled_at).Bind(3, last_step).Bind(4, serial);
  return q->Run();
}

std::string SerialFor(std::string_view account, std::string_view path, std::string_view name) {
  return internal::IamArn(account, "mfa", path, name);
}

// The IAM user a ListMFADevices call is about: the named one, or the
// calling IAM user when UserName is absent (nullopt for other callers,
// such as the root user, who have no user devices).
Result<std::optional<internal::UserRow>> ListTarget(store::Database& db,
                                                    const server::RequestContext& ctx,
                                                    const json::Value& in) {
  std::string name(in.get_string("UserName"));
  if (name.empty()) name = ctx.principal().user_name;
  if (name.empty()) {
    RETURN_IF_ERROR(ctx.Authorize("iam:ListMFADevices", ctx.principal().arn));
    return std::optional<internal::UserRow>();
  }
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db, ctx, "iam:ListMFADevices", name));
  return std::optional<internal::UserRow>(std::move(user));
}

}  // namespace

Status MfaService::Migrate(store::Database& db) { return db.Migrate("mfa", kMigrations); }

void MfaService::Register(server::Registry& registry) {
  using Method = Result<json::Value> (MfaService::*)(server::RequestContext&, const json::Value&);
  const std::pair<std::string_view, Method> handlers[] = {
      {"CreateVirtualMFADevice", &MfaService::CreateVirtualMfaDevice},
      {"EnableMFADevice", &MfaService::EnableMfaDevice},
      {"ResyncMFADevice", &MfaService::ResyncMfaDevice},
      {"DeactivateMFADevice", &MfaService::DeactivateMfaDevice},
      {"DeleteVirtualMFADevice", &MfaService::DeleteVirtualMfaDevice},
      {"ListMFADevices", &MfaService::ListMfaDevices},
      {"ListVirtualMFADevices", &MfaService::ListVirtualMfaDevices},
  };
  for (const auto& handler : handlers) {
    // A copy: clang 14 cannot capture structured bindings.
    const Method method = handler.second;
    registry.Add("iam", handler.first,
                 [this, method](server::RequestContext& ctx, const json::Value& in) {
                   return (this->*method)(ctx, in);
                 });
  }
}

Result<json::Value> MfaService::CreateVirtualMfaDevice(server::RequestContext& ctx,
                                                       const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("VirtualMFADeviceName"));
  std::string serial = SerialFor(account, internal::PathOr(in), name);
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateVirtualMFADevice", serial));
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  ASSIGN_OR_RETURN(std::string raw_seed, crypto::RandomBytes(kSeedBytes));
  SecretBytes seed(std::move(raw_seed));
  ASSIGN_OR_RETURN(std::string sealed, crypto::AeadSeal(root_key_, seed.reveal(), serial));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t taken,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM mfa_devices WHERE account_id = ? "
                                       "AND name_key = ?",
                                       {account, internal::NameKey(name)}));
    if (taken > 0) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "MFADevice entity at the same path and name already exists.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO mfa_devices (serial_number, account_id, "
                                        "name_key, seed_sealed, created_at) "
                                        "VALUES (?, ?, ?, ?, ?)"));
    std::string key = internal::NameKey(name);
    q->Bind(1, serial).Bind(2, account).Bind(3, key).BindBlob(4, sealed);
    q->Bind(5, internal::NowSeconds(ctx));
    RETURN_IF_ERROR(q->Run());
    return internal::PutTags(tx, serial, tags);
  }));
  // Blob members: the protocol layer base64-encodes these bytes.
  std::string base32 = crypto::Base32Encode(seed.reveal());
  // The label authenticator apps show: device name @ account (AWS uses the
  // account when the device has no user yet, as here).
  ASSIGN_OR_RETURN(std::string png, internal::QrCodePng("otpauth://totp/" + name + "@" + account +
                                                        "?secret=" + base32));
  json::Value device = json::Value::MakeObject();
  device.set("SerialNumber", serial);
  device.set("Base32StringSeed", base32);
  device.set("QRCodePNG", std::move(png));
  if (!tags.empty()) device.set("Tags", internal::TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("VirtualMFADevice", std::move(device));
  return out;
}

Result<json::Value> MfaService::EnableMfaDevice(server::RequestContext& ctx,
                                                const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string serial(in.get_string("SerialNumber"));
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:EnableMFADevice",
                                            in.get_string("UserName")));
  const uint64_t now = crypto::TotpStep(ctx.time());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto device, LoadDevice(tx, root_key_, account, serial));
    if (!device) return NoSuchDevice(serial);
    if (!device->user_id.empty()) {
      return Status::Modeled("EntityAlreadyExistsException", "MFA Device is already in use.");
    }
    ASSIGN_OR_RETURN(int64_t held,
                     internal::CountOf(tx, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?",
                                       {user.user_id}));
    if (held >= kDevicesPerUser) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for MFADevicesPerUser: 8");
    }
    auto step = FindCodePair(*device, now - kEnableLookback, now, in.get_string("AuthenticationCode1"),
                             in.get_string("AuthenticationCode2"));
    if (!step) return InvalidCode();
    return SetDeviceState(tx, serial, user.user_id, internal::NowSeconds(ctx),
                          static_cast<int64_t>(*step + 1));
  }));
  return json::Value::MakeObject();
}

Result<json::Value> MfaService::ResyncMfaDevice(server::RequestContext& ctx,
                                                const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string serial(in.get_string("SerialNumber"));
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:ResyncMFADevice",
                                            in.get_string("UserName")));
  const uint64_t now = crypto::TotpStep(ctx.time());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto device, LoadDevice(tx, root_key_, account, serial));
    if (!device || device->user_id != user.user_id) return NoSuchDevice(serial);
    auto step = FindCodePair(*device, now - kResyncWindow, now + kResyncWindow,
                             in.get_string("AuthenticationCode1"),
                             in.get_string("AuthenticationCode2"));
    if (!step) return InvalidCode();
    ASSIGN_OR_RETURN(auto q,
                     tx.Prepare("UPDATE mfa_devices SET last_step = ? WHERE serial_number = ?"));
    q->Bind(1, static_cast<int64_t>(*step + 1)).Bind(2, serial);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> MfaService::DeactivateMfaDevice(server::RequestContext& ctx,
                                                    const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string serial(in.get_string("SerialNumber"));
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:DeactivateMFADevice",
                                            in.get_string("UserName")));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto device, LoadDevice(tx, root_key_, account, serial));
    if (!device || device->user_id != user.user_id) return NoSuchDevice(serial);
    return SetDeviceState(tx, serial, "", 0, device->last_step);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> MfaService::DeleteVirtualMfaDevice(server::RequestContext& ctx,
                                                       const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string serial(in.get_string("SerialNumber"));
  RETURN_IF_ERROR(ctx.Authorize("iam:DeleteVirtualMFADevice", serial));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto device, LoadDevice(tx, root_key_, account, serial));
    if (!device) return NoSuchDevice(serial);
    if (!device->user_id.empty()) {
      return Status::Modeled("DeleteConflictException",
                             "MFA Device is still in use and cannot be deleted.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM mfa_devices WHERE serial_number = ?"));
    q->Bind(1, serial);
    RETURN_IF_ERROR(q->Run());
    return internal::DeleteTags(tx, serial);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> MfaService::ListMfaDevices(server::RequestContext& ctx,
                                               const json::Value& in) {
  ASSIGN_OR_RETURN(auto user, ListTarget(db_, ctx, in));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  json::Value devices = json::Value::MakeArray();
  internal::PageCollector collector(page);
  if (user) {
    RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT serial_number, enabled_at FROM mfa_devices "
                                          "WHERE user_id = ? AND serial_number >= ? "
                                          "ORDER BY serial_number LIMIT ?"));
      q->Bind(1, user->user_id).Bind(2, page.start).Bind(3, page.max_items + 1);
      while (true) {
        ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row || !collector.Take(q->Text(0))) return Status::Ok();
        json::Value d = json::Value::MakeObject();
        d.set("UserName", user->name);
        d.set("SerialNumber", q->Text(0));
        d.set("EnableDate", q->Int(1));
        devices.as_array().push_back(std::move(d));
      }
    }));
  }
  json::Value out = json::Value::MakeObject();
  out.set("MFADevices", std::move(devices));
  collector.Finish(out);
  return out;
}

Result<json::Value> MfaService::ListVirtualMfaDevices(server::RequestContext& ctx,
                                                      const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListVirtualMFADevices", "*"));
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  std::string_view status = in.get_string("AssignmentStatus");
  std::string filter;
  if (status == "Assigned") filter = " AND d.user_id <> ''";
  if (status == "Unassigned") filter = " AND d.user_id = ''";
  json::Value devices = json::Value::MakeArray();
  internal::PageCollector collector(page);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q, tx.Prepare("SELECT d.serial_number, d.enabled_at, u.user_name, u.user_id, u.path, "
                           "u.created_at FROM mfa_devices d LEFT JOIN iam_users u "
                           "ON u.user_id = d.user_id AND d.user_id <> '' "
                           "WHERE d.account_id = ? AND d.serial_number >= ?" + filter +
                           " ORDER BY d.serial_number LIMIT ?"));
    q->Bind(1, account).Bind(2, page.start).Bind(3, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(0))) return Status::Ok();
      json::Value d = json::Value::MakeObject();
      d.set("SerialNumber", q->Text(0));
      if (!q->Text(3).empty()) {
        d.set("EnableDate", q->Int(1));
        internal::UserRow u{account, q->Text(2), q->Text(3), q->Text(4), q->Int(5)};
        d.set("User", internal::UserJson(u));
      }
      devices.as_array().push_back(std::move(d));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("VirtualMFADevices", std::move(devices));
  collector.Finish(out);
  return out;
}

Status MfaService::VerifyUserCode(std::string_view account, std::string_view user_id,
                                  std::string_view serial, std::string_view code, TimePoint now) {
  const uint64_t step = crypto::TotpStep(now);
  return db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto device, LoadDevice(tx, root_key_, account, serial));
    if (!device || user_id.empty() || device->user_id != user_id) return MfaDenied();
    for (uint64_t s = step - 1; s <= step + 1; ++s) {
      if (static_cast<int64_t>(s) <= device->last_step) continue;  // never accept a code twice
      if (!CodeMatches(*device, s, code)) continue;
      ASSIGN_OR_RETURN(auto q,
                       tx.Prepare("UPDATE mfa_devices SET last_step = ? WHERE serial_number = ?"));
      q->Bind(1, static_cast<int64_t>(s)).Bind(2, serial);
      return q->Run();
    }
    return MfaDenied();
  });
}

}  // namespace rampart::iam
