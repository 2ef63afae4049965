// KMS custom key stores (AWS CloudHSM key stores over Rampart HSM
// clusters): CreateCustomKeyStore, ConnectCustomKeyStore,
// DisconnectCustomKeyStore, DescribeCustomKeyStores, UpdateCustomKeyStore
// and DeleteCustomKeyStore, and the connection state they manage
// (kms_custom_key_store.h, docs/kms.md "Custom key stores").
//
// Connecting is synchronous here: ConnectCustomKeyStore returns once the
// store is CONNECTED or FAILED (AWS returns at CONNECTING and finishes in
// the background; clients poll DescribeCustomKeyStores either way).
#include "kms/kms_custom_key_store.h"

#include <algorithm>

#include "rampart/core/encoding.h"
#include "rampart/core/log.h"
#include "rampart/crypto/aead.h"
#include "rampart/crypto/random.h"
#include "rampart/hsm/backends.h"

namespace rampart::kms::internal {
namespace {

constexpr std::string_view kConnected = "CONNECTED";
constexpr std::string_view kDisconnected = "DISCONNECTED";
constexpr std::string_view kFailed = "FAILED";
constexpr int64_t kMaxStoresPerAccount = 10;  // AWS's quota per account and Region

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE kms_custom_key_stores (
  store_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  cluster_id TEXT NOT NULL UNIQUE,
  trust_anchor TEXT NOT NULL,
  sealed_password BLOB NOT NULL,
  state TEXT NOT NULL,
  error_code TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX kms_custom_key_stores_by_name ON kms_custom_key_stores (account_id, region, name);
CREATE TABLE kms_cks_keys (
  key_id TEXT PRIMARY KEY,
  store_id TEXT NOT NULL,
  hsm_key_id BLOB NOT NULL
);
CREATE INDEX kms_cks_keys_by_store ON kms_cks_keys (store_id);
)sql";

const store::Migration kMigrations[] = {{1, kSchemaV1}};

constexpr std::string_view kStoreColumns =
    "store_id, account_id, region, name, cluster_id, trust_anchor, sealed_password, state, "
    "error_code, created_at";

StoreRow ReadRow(const store::Statement& q) {
  StoreRow r;
  r.store_id = q.Text(0);
  r.account_id = q.Text(1);
  r.region = q.Text(2);
  r.name = q.Text(3);
  r.cluster_id = q.Text(4);
  r.trust_anchor = q.Text(5);
  r.sealed_password = q.Text(6);
  r.state = q.Text(7);
  r.error_code = q.Text(8);
  r.created_at = q.Int(9);
  return r;
}

Status StoreNotFound() {
  return Status::Modeled("CustomKeyStoreNotFoundException",
                         "The specified custom key store does not exist in this account and Region.");
}

Status InvalidState(const StoreRow& row, std::string_view why) {
  return Status::Modeled("CustomKeyStoreInvalidStateException",
                         "Custom key store " + row.store_id + " is " + row.state + ": " +
                             std::string(why));
}

Status ClusterNotFound(std::string_view cluster_id) {
  return Status::Modeled("CloudHsmClusterNotFoundException",
                         "No HSM cluster " + std::string(cluster_id) +
                             " is configured on this server (the hsm section of its config).");
}

std::string PasswordAad(std::string_view store_id) { return "kms_cks password:" + std::string(store_id); }

Result<std::string> SealPassword(const SecretBytes& root_key, std::string_view store_id,
                                 std::string_view password) {
  return crypto::AeadSeal(root_key, password, PasswordAad(store_id));
}

// The trust anchor is kept as given; it must at least look like the PEM
// certificate AWS asks for.
Status CheckTrustAnchor(std::string_view pem) {
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos ||
      pem.find("-----END CERTIFICATE-----") == std::string_view::npos) {
    return Status::Modeled("IncorrectTrustAnchorException",
                           "The trust anchor certificate is not a PEM-encoded X.509 certificate.");
  }
  return Status::Ok();
}

Status RequireCloudHsmType(const json::Value& in) {
  std::string_view type = in.get_string("CustomKeyStoreType");
  for (std::string_view xks : {"XksProxyUriEndpoint", "XksProxyUriPath", "XksProxyVpcEndpointServiceName",
                               "XksProxyAuthenticationCredential", "XksProxyConnectivity"}) {
    if (in.find(xks) != nullptr) type = "EXTERNAL_KEY_STORE";
  }
  if (!type.empty() && type != "AWS_CLOUDHSM") {
    return Status::Error(ErrorCode::kNotImplemented,
                         "External key stores (CustomKeyStoreType EXTERNAL_KEY_STORE) are not implemented.");
  }
  return Status::Ok();
}

Status CheckClusterUsable(Kms& kms, const server::RequestContext& ctx, std::string_view cluster_id) {
  ASSIGN_OR_RETURN(bool visible, kms.cks->ClusterVisibleTo(cluster_id, ctx.principal().account_id));
  if (!visible) return ClusterNotFound(cluster_id);
  return Status::Ok();
}

Status RequireNameFree(store::Tx& tx, const server::RequestContext& ctx, std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT 1 FROM kms_custom_key_stores WHERE account_id = ? "
                                      "AND region = ? AND name = ?"));
  q->Bind(1, ctx.principal().account_id).Bind(2, std::string(ctx.region())).Bind(3, std::string(name));
  ASSIGN_OR_RETURN(bool taken, q->Step());
  if (taken) {
    return Status::Modeled("CustomKeyStoreNameInUseException",
                           "A custom key store named " + std::string(name) + " already exists.");
  }
  return Status::Ok();
}

Status RequireClusterFree(store::Tx& tx, std::string_view cluster_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT 1 FROM kms_custom_key_stores WHERE cluster_id = ?"));
  q->Bind(1, std::string(cluster_id));
  ASSIGN_OR_RETURN(bool taken, q->Step());
  if (taken) {
    return Status::Modeled("CloudHsmClusterInUseException",
                           "HSM cluster " + std::string(cluster_id) +
                               " is already associated with a custom key store.");
  }
  return Status::Ok();
}

Status SetState(Kms& kms, std::string_view store_id, std::string_view state, std::string_view error) {
  return kms.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_custom_key_stores SET state = ?, error_code = ? "
                                        "WHERE store_id = ?"));
    q->Bind(1, std::string(state)).Bind(2, std::string(error)).Bind(3, std::string(store_id));
    return q->Run();
  });
}

json::Value StoreJson(const StoreRow& r) {
  json::Value m = json::Value::MakeObject();
  m.set("CustomKeyStoreId", r.store_id);
  m.set("CustomKeyStoreName", r.name);
  m.set("CustomKeyStoreType", "AWS_CLOUDHSM");
  m.set("CloudHsmClusterId", r.cluster_id);
  m.set("TrustAnchorCertificate", r.trust_anchor);
  m.set("ConnectionState", r.state);
  if (r.state == kFailed && !r.error_code.empty()) m.set("ConnectionErrorCode", r.error_code);
  m.set("CreationDate", r.created_at);
  return m;
}

Result<StoreRow> ReadStoreById(Kms& kms, const server::RequestContext& ctx, std::string_view id) {
  StoreRow row;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(row, ReadStore(tx, ctx, id));
    return Status::Ok();
  }));
  return row;
}

Result<json::Value> CreateCustomKeyStore(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:CreateCustomKeyStore", "*"));
  RETURN_IF_ERROR(RequireCloudHsmType(in));
  std::string name(in.get_string("CustomKeyStoreName"));
  std::string cluster_id(in.get_string("CloudHsmClusterId"));
  std::string_view anchor = in.get_string("TrustAnchorCertificate");
  std::string_view password = in.get_string("KeyStorePassword");
  if (cluster_id.empty() || anchor.empty() || password.empty()) {
    return Status::Validation(
        "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are required for an "
        "AWS_CLOUDHSM custom key store.");
  }
  RETURN_IF_ERROR(CheckClusterUsable(kms, ctx, cluster_id));
  RETURN_IF_ERROR(CheckTrustAnchor(anchor));
  StoreRow row;
  ASSIGN_OR_RETURN(std::string random, crypto::RandomBytes(9));
  row.store_id = "cks-" + HexEncode(random).substr(0, 17);
  row.account_id = ctx.principal().account_id;
  row.region = std::string(ctx.region());
  row.name = name;
  row.cluster_id = cluster_id;
  row.trust_anchor = std::string(anchor);
  ASSIGN_OR_RETURN(row.sealed_password, SealPassword(kms.root_key, row.store_id, password));
  row.state = std::string(kDisconnected);
  row.created_at = NowSeconds(ctx);
  RETURN_IF_ERROR(kms.db.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(RequireNameFree(tx, ctx, name));
    RETURN_IF_ERROR(RequireClusterFree(tx, cluster_id));
    ASSIGN_OR_RETURN(auto count, tx.Prepare("SELECT COUNT(*) FROM kms_custom_key_stores WHERE "
                                            "account_id = ? AND region = ?"));
    count->Bind(1, row.account_id).Bind(2, row.region);
    ASSIGN_OR_RETURN(bool any, count->Step());
    if (any && count->Int(0) >= kMaxStoresPerAccount) {
      return Status::Modeled("LimitExceededException",
                             "This account already has the maximum number of custom key stores.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO kms_custom_key_stores (" + std::string(kStoreColumns) +
                                        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    q->Bind(1, row.store_id).Bind(2, row.account_id).Bind(3, row.region).Bind(4, row.name);
    q->Bind(5, row.cluster_id).Bind(6, row.trust_anchor).BindBlob(7, row.sealed_password);
    q->Bind(8, row.state).Bind(9, row.error_code).Bind(10, row.created_at);
    return q->Run();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("CustomKeyStoreId", row.store_id);
  return out;
}

Result<json::Value> ConnectCustomKeyStore(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:ConnectCustomKeyStore", "*"));
  ASSIGN_OR_RETURN(StoreRow row, ReadStoreById(kms, ctx, in.get_string("CustomKeyStoreId")));
  if (row.state == kFailed) {
    return InvalidState(row, "disconnect it before connecting it again.");
  }
  if (row.state == kConnected) return json::Value::MakeObject();  // nothing to do
  auto [state, error] = kms.cks->Connect(row);
  RETURN_IF_ERROR(SetState(kms, row.store_id, state, error));
  return json::Value::MakeObject();
}

Result<json::Value> DisconnectCustomKeyStore(Kms& kms, server::RequestContext& ctx,
                                             const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:DisconnectCustomKeyStore", "*"));
  ASSIGN_OR_RETURN(StoreRow row, ReadStoreById(kms, ctx, in.get_string("CustomKeyStoreId")));
  if (row.state == kDisconnected) return InvalidState(row, "it is not connected.");
  if (row.state == kConnected) {
    ASSIGN_OR_RETURN(std::shared_ptr<hsm::Cluster> cluster, kms.cks->Connected(row));
    if (cluster != nullptr) kms.cks->DestroyOrphanKeys(row.store_id, *cluster);
  }
  RETURN_IF_ERROR(kms.cks->Disconnect(
      row.store_id, [&] { return SetState(kms, row.store_id, kDisconnected, ""); }));
  // Keys of the store change KeyState (Unavailable) in their metadata.
  kms.cache.InvalidateAll();
  return json::Value::MakeObject();
}

Result<json::Value> DescribeCustomKeyStores(Kms& kms, server::RequestContext& ctx,
                                            const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:DescribeCustomKeyStores", "*"));
  std::string id(in.get_string("CustomKeyStoreId"));
  std::string name(in.get_string("CustomKeyStoreName"));
  if (!id.empty() && !name.empty()) {
    return Status::Validation("Specify either CustomKeyStoreId or CustomKeyStoreName, not both.");
  }
  int64_t limit = 1000;
  if (const json::Value* l = in.find("Limit"); l != nullptr && l->is_int()) limit = l->as_int();
  std::string marker(in.get_string("Marker"));
  if (!marker.empty() && !marker.starts_with("cks-")) {
    return Status::Modeled("InvalidMarkerException", "Invalid marker.");
  }
  std::vector<StoreRow> rows;
  bool truncated = false;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kStoreColumns) +
                                        " FROM kms_custom_key_stores WHERE account_id = ? AND "
                                        "region = ? AND (? = '' OR store_id = ?) AND (? = '' OR "
                                        "name = ?) AND store_id > ? ORDER BY store_id LIMIT ?"));
    q->Bind(1, ctx.principal().account_id).Bind(2, std::string(ctx.region()));
    q->Bind(3, id).Bind(4, id).Bind(5, name).Bind(6, name).Bind(7, marker).Bind(8, limit + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool more, q->Step());
      if (!more) break;
      if (static_cast<int64_t>(rows.size()) == limit) {
        truncated = true;
        break;
      }
      rows.push_back(ReadRow(*q));
    }
    return Status::Ok();
  }));
  if (rows.empty() && (!id.empty() || !name.empty())) return StoreNotFound();
  json::Value list = json::Value::MakeArray();
  for (const StoreRow& r : rows) list.push(StoreJson(r));
  json::Value out = json::Value::MakeObject();
  out.set("CustomKeyStores", std::move(list));
  out.set("Truncated", truncated);
  if (truncated) out.set("NextMarker", rows.back().store_id);
  return out;
}

// Two clusters are related when they share a backend: they hold the same
// keys (the CloudHSM analogue is a cluster restored from the same backup).
bool Related(const server::HsmConfig& cfg, std::string_view a, std::string_view b) {
  const server::HsmClusterConfig* ca = cfg.FindCluster(a);
  const server::HsmClusterConfig* cb = cfg.FindCluster(b);
  if (ca == nullptr || cb == nullptr) return false;
  for (const auto& m : ca->members) {
    for (const auto& n : cb->members) {
      if (m == n) return true;
    }
  }
  return false;
}

Result<json::Value> UpdateCustomKeyStore(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:UpdateCustomKeyStore", "*"));
  RETURN_IF_ERROR(RequireCloudHsmType(in));
  ASSIGN_OR_RETURN(StoreRow row, ReadStoreById(kms, ctx, in.get_string("CustomKeyStoreId")));
  std::string_view new_name = in.get_string("NewCustomKeyStoreName");
  std::string_view password = in.get_string("KeyStorePassword");
  std::string_view cluster_id = in.get_string("CloudHsmClusterId");
  if ((!password.empty() || !cluster_id.empty()) && row.state != kDisconnected) {
    return InvalidState(row, "disconnect it before changing its password or cluster.");
  }
  if (!cluster_id.empty() && cluster_id != row.cluster_id) {
    RETURN_IF_ERROR(CheckClusterUsable(kms, ctx, cluster_id));
    if (!Related(*kms.cks->hsm(), row.cluster_id, cluster_id)) {
      return Status::Modeled("CloudHsmClusterNotRelatedException",
                             "HSM cluster " + std::string(cluster_id) +
                                 " shares no member with the store's cluster " + row.cluster_id + ".");
    }
  }
  std::string sealed;
  if (!password.empty()) {
    ASSIGN_OR_RETURN(sealed, SealPassword(kms.root_key, row.store_id, password));
  }
  RETURN_IF_ERROR(kms.db.Write([&](store::Tx& tx) -> Status {
    if (!new_name.empty() && new_name != row.name) RETURN_IF_ERROR(RequireNameFree(tx, ctx, new_name));
    if (!cluster_id.empty() && cluster_id != row.cluster_id) RETURN_IF_ERROR(RequireClusterFree(tx, cluster_id));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_custom_key_stores SET name = ?, cluster_id = ?, "
                                        "sealed_password = ? WHERE store_id = ?"));
    q->Bind(1, new_name.empty() ? row.name : std::string(new_name));
    q->Bind(2, cluster_id.empty() ? row.cluster_id : std::string(cluster_id));
    q->BindBlob(3, sealed.empty() ? row.sealed_password : sealed).Bind(4, row.store_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> DeleteCustomKeyStore(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:DeleteCustomKeyStore", "*"));
  ASSIGN_OR_RETURN(StoreRow row, ReadStoreById(kms, ctx, in.get_string("CustomKeyStoreId")));
  if (row.state != kDisconnected) return InvalidState(row, "disconnect it before deleting it.");
  RETURN_IF_ERROR(kms.db.Write([&](store::Tx& tx) -> Status {
    // Keys whose deletion completed leave a row here but none in kms_keys.
    ASSIGN_OR_RETURN(auto keys, tx.Prepare("SELECT COUNT(*) FROM kms_cks_keys c JOIN kms_keys k ON "
                                           "k.key_id = c.key_id WHERE c.store_id = ?"));
    keys->Bind(1, row.store_id);
    ASSIGN_OR_RETURN(bool any, keys->Step());
    if (any && keys->Int(0) > 0) {
      return Status::Modeled("CustomKeyStoreHasCMKsException",
                             "Custom key store " + row.store_id +
                                 " still holds KMS keys; delete them before the store.");
    }
    ASSIGN_OR_RETURN(auto gone, tx.Prepare("DELETE FROM kms_cks_keys WHERE store_id = ?"));
    gone->Bind(1, row.store_id);
    RETURN_IF_ERROR(gone->Run());
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM kms_custom_key_stores WHERE store_id = ?"));
    q->Bind(1, row.store_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

// The ConnectionErrorCode for a member that could not be opened.
std::string ErrorCodeFor(const Status& st) {
  const std::string& m = st.message();
  if (m.find("CKR_PIN_INCORRECT") != std::string::npos) return "INVALID_CREDENTIALS";
  if (m.find("CKR_PIN_LOCKED") != std::string::npos) return "USER_LOCKED_OUT";
  if (m.find("CKR_USER_PIN_NOT_INITIALIZED") != std::string::npos) return "USER_NOT_FOUND";
  if (st.code() == ErrorCode::kNotFound) return "INSUFFICIENT_CLOUDHSM_HSMS";
  return "NETWORK_ERRORS";
}

}  // namespace

Result<StoreRow> ReadStore(store::Tx& tx, const server::RequestContext& ctx, std::string_view id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kStoreColumns) +
                                      " FROM kms_custom_key_stores WHERE store_id = ? AND "
                                      "account_id = ? AND region = ?"));
  q->Bind(1, std::string(id)).Bind(2, ctx.principal().account_id).Bind(3, std::string(ctx.region()));
  ASSIGN_OR_RETURN(bool found, q->Step());
  if (!found) return StoreNotFound();
  return ReadRow(*q);
}

std::pair<std::string, std::string> CustomKeyStores::Connect(const StoreRow& row) {
  std::lock_guard lock(connect_mu_);
  return ConnectLocked(row);
}

Result<bool> CustomKeyStores::ClusterVisibleTo(std::string_view cluster_id,
                                               std::string_view account_id) {
  const server::HsmClusterConfig* cluster = hsm_ == nullptr ? nullptr : hsm_->FindCluster(cluster_id);
  if (cluster == nullptr) return false;
  if (!cluster->accounts.empty()) {
    return std::find(cluster->accounts.begin(), cluster->accounts.end(), account_id) !=
           cluster->accounts.end();
  }
  bool management = false;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT is_management FROM accounts WHERE account_id = ?"));
    q->Bind(1, std::string(account_id));
    ASSIGN_OR_RETURN(bool row, q->Step());
    management = row && q->Int(0) != 0;
    return Status::Ok();
  }));
  return management;
}

std::pair<std::string, std::string> CustomKeyStores::ConnectLocked(const StoreRow& row) {
  // A store whose account was taken off the cluster's list (or a cluster
  // gone from the config) cannot connect any more.
  Result<bool> visible = ClusterVisibleTo(row.cluster_id, row.account_id);
  if (!visible.ok()) return {std::string(kFailed), "INTERNAL_ERROR"};
  if (!*visible) return {std::string(kFailed), "CLUSTER_NOT_FOUND"};
  auto password = crypto::AeadOpen(root_key_, row.sealed_password, PasswordAad(row.store_id));
  if (!password.ok()) return {std::string(kFailed), "INTERNAL_ERROR"};
  std::vector<Status> member_errors;
  auto cluster = hsm::OpenCluster(*hsm_, row.cluster_id, &*password, &member_errors);
  if (!cluster.ok()) return {std::string(kFailed), "INTERNAL_ERROR"};
  size_t reachable = (*cluster)->size() - member_errors.size();
  if (reachable < (*cluster)->min_members()) {
    // Credentials first: a wrong password fails every member the same way.
    std::string code = "INSUFFICIENT_CLOUDHSM_HSMS";
    for (const Status& st : member_errors) {
      std::string c = ErrorCodeFor(st);
      if (c == "INVALID_CREDENTIALS" || c == "USER_LOCKED_OUT" || c == "USER_NOT_FOUND") code = c;
    }
    return {std::string(kFailed), code};
  }
  if (!(*cluster)->EnsureWrappingKey().ok()) return {std::string(kFailed), "INTERNAL_ERROR"};
  // With every member present, bring any member that was away up to date
  // (and lock what reached min_members). With one missing, the cluster does
  // this itself once that member answers again.
  if (member_errors.empty()) (void)(*cluster)->Resync();
  DestroyOrphanKeys(row.store_id, **cluster);
  std::lock_guard lock(mu_);
  clusters_[row.store_id] = std::shared_ptr<hsm::Cluster>(std::move(*cluster));
  return {std::string(kConnected), ""};
}

void CustomKeyStores::DestroyOrphanKeys(const std::string& store_id, hsm::Cluster& cluster) {
  std::vector<std::pair<std::string, std::string>> orphans;  // key id, CKA_ID
  Status read = db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT c.key_id, c.hsm_key_id FROM kms_cks_keys c WHERE "
                                        "c.store_id = ? AND NOT EXISTS (SELECT 1 FROM kms_keys k "
                                        "WHERE k.key_id = c.key_id)"));
    q->Bind(1, store_id);
    while (true) {
      ASSIGN_OR_RETURN(bool more, q->Step());
      if (!more) return Status::Ok();
      orphans.emplace_back(q->Text(0), q->Text(1));
    }
  });
  if (!read.ok()) return;
  for (const auto& orphan : orphans) {
    Status destroyed = cluster.DestroyKey({orphan.second, pkcs11::KeyKind::kAes});
    if (!destroyed.ok() && destroyed.code() != ErrorCode::kNotFound) continue;  // next time
    Status forgotten = db_.Write([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM kms_cks_keys WHERE key_id = ?"));
      q->Bind(1, orphan.first);
      return q->Run();
    });
    if (forgotten.ok()) ForgetKey(orphan.first);
  }
}

Result<std::shared_ptr<hsm::Cluster>> CustomKeyStores::Connected(const StoreRow& row) {
  {
    std::lock_guard lock(mu_);
    auto it = clusters_.find(row.store_id);
    if (it != clusters_.end()) return it->second;
  }
  if (row.state != kConnected) return std::shared_ptr<hsm::Cluster>();
  // CONNECTED before a restart: connect again with the stored password,
  // unless a concurrent request did so meanwhile.
  std::lock_guard connecting(connect_mu_);
  {
    std::lock_guard lock(mu_);
    auto it = clusters_.find(row.store_id);
    if (it != clusters_.end()) return it->second;
  }
  // row may have been read before a disconnection that finished meanwhile.
  ASSIGN_OR_RETURN(bool still_connected, StoredAsConnected(row.store_id));
  if (!still_connected) return std::shared_ptr<hsm::Cluster>();
  std::pair<std::string, std::string> outcome = ConnectLocked(row);
  if (outcome.first != kConnected) {
    log::Warn("custom key store did not reconnect", {{"store", row.store_id}, {"error", outcome.second}});
    return std::shared_ptr<hsm::Cluster>();
  }
  std::lock_guard lock(mu_);
  return clusters_[row.store_id];
}

Status CustomKeyStores::Disconnect(std::string_view store_id,
                                   const std::function<Status()>& persist) {
  std::lock_guard connecting(connect_mu_);
  RETURN_IF_ERROR(persist());
  std::lock_guard lock(mu_);
  auto it = clusters_.find(store_id);
  if (it != clusters_.end()) clusters_.erase(it);
  return Status::Ok();
}

Result<bool> CustomKeyStores::StoredAsConnected(std::string_view store_id) {
  bool connected = false;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT state FROM kms_custom_key_stores WHERE store_id = ?"));
    q->Bind(1, store_id);
    ASSIGN_OR_RETURN(bool found, q->Step());
    connected = found && q->Text(0) == kConnected;
    return Status::Ok();
  }));
  return connected;
}

void CustomKeyStores::DisconnectAll() {
  std::lock_guard lock(mu_);
  clusters_.clear();
  keys_.clear();
}

Result<HsmKeyRef> CustomKeyStores::KeyLocation(std::string_view key_id) {
  {
    std::lock_guard lock(mu_);
    auto it = keys_.find(key_id);
    if (it != keys_.end()) return it->second;
  }
  HsmKeyRef ref;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT store_id, hsm_key_id FROM kms_cks_keys WHERE key_id = ?"));
    q->Bind(1, std::string(key_id));
    ASSIGN_OR_RETURN(bool found, q->Step());
    if (!found) return Status::Internal("custom key store key without its HSM reference");
    ref.store_id = q->Text(0);
    ref.hsm_key_id = q->Text(1);
    return Status::Ok();
  }));
  std::lock_guard lock(mu_);
  keys_[std::string(key_id)] = ref;
  return ref;
}

void CustomKeyStores::ForgetKey(std::string_view key_id) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(key_id);
  if (it != keys_.end()) keys_.erase(it);
}

Status MigrateCustomKeyStores(store::Database& db) { return db.Migrate("kms_cks", kMigrations); }

std::vector<Binding> CustomKeyStoreBindings() {
  return {{"CreateCustomKeyStore", CreateCustomKeyStore},
          {"ConnectCustomKeyStore", ConnectCustomKeyStore},
          {"DisconnectCustomKeyStore", DisconnectCustomKeyStore},
          {"DescribeCustomKeyStores", DescribeCustomKeyStores},
          {"UpdateCustomKeyStore", UpdateCustomKeyStore},
          {"DeleteCustomKeyStore", DeleteCustomKeyStore}};
}

}  // namespace rampart::kms::internal
