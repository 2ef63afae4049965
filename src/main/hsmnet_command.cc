#include "main/hsmnet_command.h"

#include <CLI/CLI.hpp>
#include <openssl/crypto.h>

#include <cstdio>
#include <fstream>

#include "hsmnet/service.h"
#include "rampart/hsmnet/client.h"
#include "rampart/hsmnet/server.h"

namespace rampart::cli {
namespace {

using hsmnet::Op;
using hsmnet::Request;
using hsmnet::Response;
using hsmnet::Role;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[(static_cast<uint8_t>(c) >> 4) & 0xf]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

bool ParseRole(const std::string& text, Role& role) {
  if (text == "CO") role = Role::kOfficer;
  else if (text == "CU") role = Role::kCryptoUser;
  else if (text == "AU") role = Role::kAppliance;
  else return false;
  return true;
}

bool ReadLine(const std::string& path, std::string& out) {
  std::ifstream in(path);
  return in && std::getline(in, out) && !out.empty();
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "rampart hsm-admin: %s\n", message.c_str());
  return 1;
}

// Prints rv when it is an error; the exit code.
int Report(const Response& r) {
  if (r.rv == 0) return 0;
  return Fail(hsmnet::RvName(r.rv));
}

// A user change the node answered CKR_DEVICE_ERROR to was made on that
// node, but a peer node did not apply it (docs/hsm.md, "Replication
// between nodes").
int ReportUserChange(hsmnet::Client& client, const Response& r) {
  constexpr uint32_t kDeviceError = 0x30;  // CKR_DEVICE_ERROR
  if (r.rv != kDeviceError || client.current_node().empty()) return Report(r);
  return Fail("CKR_DEVICE_ERROR: done on " + client.current_node() +
              ", but a peer node did not apply it; see that node's log");
}

// Every key the caller may list, page after page (docs/hsm.md: ListKeys
// answers at most 500 keys, flag set when more follow, each request
// naming the last key id seen). On success the answer holds every key;
// otherwise the failing page's answer, or CKR_DEVICE_ERROR when the node
// sent a page that does not move on (which would otherwise loop forever).
Response ListAllKeys(hsmnet::Client& client) {
  constexpr uint32_t kDeviceError = 0x30;  // CKR_DEVICE_ERROR
  Request q;
  q.op = Op::kListKeys;
  Response all = hsmnet::Reply(Op::kListKeys, 0);
  for (;;) {
    Response page = client.Call(q);
    if (page.rv != 0) return page;
    for (auto& k : page.keys) all.keys.push_back(std::move(k));
    if (page.flag == 0) return all;
    if (all.keys.empty() || all.keys.back().key_id <= q.key_id) {
      std::fprintf(stderr, "rampart hsm-admin: the node's key list did not move on\n");
      return hsmnet::Reply(Op::kListKeys, kDeviceError);
    }
    q.key_id = all.keys.back().key_id;
  }
}

// The server key id of the caller's key named by its hex id, hex
// application id or label.
bool ResolveKey(hsmnet::Client& client, const std::string& name, std::string& key_id, Response& err) {
  Response r = ListAllKeys(client);
  if (r.rv != 0) {
    err = r;
    return false;
  }
  for (const auto& k : r.keys) {
    if (k.owned && (Hex(k.key_id) == name || Hex(k.app_id) == name || k.label == name)) {
      key_id = k.key_id;
      return true;
    }
  }
  return false;
}

}  // namespace

HsmnetCommand::HsmnetCommand(CLI::App& app) {
  server_ = app.add_subcommand("hsm-server", "Run a network HSM node (TLS, PKCS#11-level operations)");
  server_->add_option("--config", server_config_, "JSON server config file")->required();

  admin_ = app.add_subcommand("hsm-admin", "Manage network HSM users and key sharing");
  admin_->add_option("--config", client_config_, "Client config (as for librampart-pkcs11.so)")->required();
  admin_->add_option("--user", user_, "User to log in as")->required();
  admin_->add_option("--password-file", password_file_, "File holding that user's password")->required();
  admin_->add_option("--role", role_, "Role to log in with: CO (default), CU or AU");
  admin_->add_option("--new-password-file", new_password_file_, "Password for create-user/change-password");
  admin_->add_option("args", args_, "Command and its arguments")->required();
}

bool HsmnetCommand::parsed() const { return server_->parsed() || admin_->parsed(); }

int HsmnetCommand::Run() { return server_->parsed() ? RunServer() : RunAdmin(); }

int HsmnetCommand::RunServer() {
  hsmnet::ServerConfig config;
  Status st = hsmnet::LoadServerConfig(server_config_, config);
  if (!st.ok()) {
    std::fprintf(stderr, "rampart hsm-server: %s\n", st.message().c_str());
    return 2;
  }
  return hsmnet::RunServer(config);
}

int HsmnetCommand::RunAdmin() {
  hsmnet::ClientConfig config;
  std::string error;
  if (!hsmnet::LoadClientConfig(client_config_, config, &error)) return Fail(error);
  auto client = hsmnet::Client::Create(std::move(config), &error);
  if (!client) return Fail(error);
  Request login;
  login.op = Op::kLogin;
  login.name = user_;
  if (!ParseRole(role_, login.role)) return Fail("--role must be CO, CU or AU");
  if (!ReadLine(password_file_, login.password)) return Fail("cannot read " + password_file_);
  Response r = client->Call(login);
  OPENSSL_cleanse(login.password.data(), login.password.size());
  if (r.rv != 0) return Report(r);

  const std::string& cmd = args_[0];
  Request q;
  if (cmd == "list-users" && args_.size() == 1) {
    q.op = Op::kListUsers;
    r = client->Call(q);
    for (const auto& u : r.users) {
      std::printf("%s\t%s%s\n", u.name.c_str(), hsmnet::RoleName(u.role), u.locked ? "\tlocked" : "");
    }
  } else if (cmd == "list-keys" && args_.size() == 1) {
    r = ListAllKeys(*client);
    for (const auto& k : r.keys) {
      std::printf("%s\t%s\t%s\t%s\t%s\n", Hex(k.key_id).c_str(), Hex(k.app_id).c_str(), k.label.c_str(),
                  k.owner.c_str(), k.owned ? "owned" : "shared");
    }
  } else if ((cmd == "create-user" && args_.size() == 3) || (cmd == "change-password" && args_.size() == 2)) {
    q.op = cmd == "create-user" ? Op::kCreateUser : Op::kChangePassword;
    q.name = args_[1];
    if (cmd == "create-user" && !ParseRole(args_[2], q.role)) return Fail("the role must be CO, CU or AU");
    if (!ReadLine(new_password_file_, q.password)) return Fail("--new-password-file is needed");
    r = client->Call(q);
    OPENSSL_cleanse(q.password.data(), q.password.size());
    return ReportUserChange(*client, r);
  } else if (cmd == "delete-user" && args_.size() == 2) {
    q.op = Op::kDeleteUser;
    q.name = args_[1];
    return ReportUserChange(*client, client->Call(q));
  } else if ((cmd == "share-key" || cmd == "unshare-key") && args_.size() == 3) {
    q.op = Op::kShareKey;
    q.flag = cmd == "share-key" ? 1 : 0;
    q.name = args_[2];
    if (!ResolveKey(*client, args_[1], q.key_id, r)) return r.rv != 0 ? Report(r) : Fail("no key of yours named " + args_[1]);
    r = client->Call(q);
  } else {
    return Fail("unknown command or wrong arguments: " + cmd);
  }
  return Report(r);
}

}  // namespace rampart::cli
