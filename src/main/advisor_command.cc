// `rampart advisor ingest` and `rampart advisor propose-scp`.
//
// --attach goes through the server's Organizations API (CreatePolicy, then
// AttachPolicy) as the management account, signed with SigV4, rather than
// writing the tables directly: the server then records both calls in the
// audit trail and drops its cached policies, which a direct database write
// would leave stale.
#include "main/advisor_command.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "rampart/audit/advisor.h"
#include "rampart/core/json.h"
#include "rampart/core/secret.h"
#include "rampart/http/message.h"
#include "rampart/http/sigv4.h"
#include "rampart/store/store.h"

namespace rampart::cli {
namespace {

int Fail(const std::string& message, int code = 2) {
  std::fprintf(stderr, "rampart advisor: %s\n", message.c_str());
  return code;
}

Result<std::unique_ptr<store::Database>> OpenData(const std::string& data_dir) {
  ASSIGN_OR_RETURN(auto db, store::OpenSqlite({.path = data_dir + "/rampart.db"}));
  RETURN_IF_ERROR(audit::MigrateAdvisor(*db));
  return db;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// ---- a minimal HTTP/1.1 client for one JSON 1.1 call (plain http only) ----

struct Endpoint {
  std::string host;
  std::string port;
};

std::optional<Endpoint> ParseEndpoint(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return std::nullopt;
  url.remove_prefix(kScheme.size());
  if (url.ends_with('/')) url.remove_suffix(1);
  size_t colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == url.size()) {
    return Endpoint{std::string(url), "80"};
  }
  return Endpoint{std::string(url.substr(0, colon)), std::string(url.substr(colon + 1))};
}

Result<int> Connect(const Endpoint& ep) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(ep.host.c_str(), ep.port.c_str(), &hints, &found) != 0) {
    return Status::Validation("cannot resolve " + ep.host);
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return Status::Validation("cannot connect to " + ep.host + ":" + ep.port);
  return fd;
}

Status SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return Status::Validation("connection lost while sending");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// The response (status code, body) to one request on a fresh connection
// closed by the server after the response.
Result<std::pair<int, std::string>> RoundTrip(const Endpoint& ep, const http::Request& req) {
  std::string wire = req.method + " " + req.target + " HTTP/1.1\r\n";
  for (const http::Header& h : req.headers) wire += h.name + ": " + h.value + "\r\n";
  wire += "\r\n" + req.body;
  ASSIGN_OR_RETURN(int fd, Connect(ep));
  Status sent = SendAll(fd, wire);
  std::string response;
  char buf[16 * 1024];
  ssize_t n = 0;
  while (sent.ok() && (n = recv(fd, buf, sizeof buf, 0)) > 0 && response.size() < (1u << 24)) {
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  RETURN_IF_ERROR(sent);
  size_t head_end = response.find("\r\n\r\n");
  if (!response.starts_with("HTTP/1.1 ") || head_end == std::string::npos || response.size() < 12) {
    return Status::Validation("malformed HTTP response from the server");
  }
  int status = std::atoi(response.substr(9, 3).c_str());
  return std::make_pair(status, response.substr(head_end + 4));
}

struct Caller {
  Endpoint endpoint;
  std::string access_key_id;
  SecretBytes secret;
  std::string session_token;
  std::string region;
};

// One Organizations call; its output, or the server's error.
Result<json::Value> CallOrganizations(const Caller& c, std::string_view operation,
                                      const json::Value& input) {
  http::Request req;
  req.method = "POST";
  req.target = "/";
  req.body = json::Write(input);
  req.headers = {{"Host", c.endpoint.host + ":" + c.endpoint.port},
                 {"Content-Type", "application/x-amz-json-1.1"},
                 {"X-Amz-Target", "AWSOrganizationsV20161128." + std::string(operation)},
                 {"Content-Length", std::to_string(req.body.size())},
                 {"Connection", "close"}};
  http::sigv4::SignRequest(req, c.access_key_id, c.secret, c.region, "organizations",
                           std::chrono::system_clock::now(), c.session_token);
  ASSIGN_OR_RETURN(auto response, RoundTrip(c.endpoint, req));
  auto body = json::Parse(response.second);
  if (response.first != 200) {
    std::string detail = body.ok() ? std::string(body->get_string("__type")) + ": " +
                                         std::string(body->get_string("message"))
                                   : response.second.substr(0, 200);
    return Status::Validation(std::string(operation) + " failed (HTTP " +
                              std::to_string(response.first) + ") " + detail);
  }
  if (!body.ok()) return Status::Validation(std::string(operation) + ": response is not JSON");
  return std::move(body).value();
}

Result<Caller> CallerFromEnvironment(const std::string& endpoint) {
  std::optional<Endpoint> ep = ParseEndpoint(endpoint);
  if (!ep) return Status::Validation("--endpoint must be http://HOST[:PORT]");
  std::string key = EnvOr("AWS_ACCESS_KEY_ID", "");
  std::string secret = EnvOr("AWS_SECRET_ACCESS_KEY", "");
  if (key.empty() || secret.empty()) {
    return Status::Validation(
        "--attach needs the management account's credentials in AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY");
  }
  return Caller{*ep, key, SecretBytes(secret), EnvOr("AWS_SESSION_TOKEN", ""),
                EnvOr("AWS_REGION", EnvOr("AWS_DEFAULT_REGION", "us-east-1"))};
}

// Creates each policy and attaches it to the target; prints the ids.
Status Attach(const Caller& caller, const audit::ScpProposal& proposal) {
  std::string stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  for (size_t i = 0; i < proposal.policies.size(); ++i) {
    json::Value create = json::Value::MakeObject();
    create.set("Name", "rampart-unused-services-" + stamp + "-" + std::to_string(i + 1));
    create.set("Description", "Denies services not used under " + proposal.target_id +
                                  " (rampart advisor propose-scp)");
    create.set("Type", "SERVICE_CONTROL_POLICY");
    create.set("Content", proposal.policies[i]);
    ASSIGN_OR_RETURN(json::Value created, CallOrganizations(caller, "CreatePolicy", create));
    const json::Value* policy = created.find("Policy");
    const json::Value* summary = policy != nullptr ? policy->find("PolicySummary") : nullptr;
    std::string id(summary != nullptr ? summary->get_string("Id") : "");
    if (id.empty()) return Status::Validation("CreatePolicy returned no policy id");
    json::Value attach = json::Value::MakeObject();
    attach.set("PolicyId", id);
    attach.set("TargetId", proposal.target_id);
    RETURN_IF_ERROR(CallOrganizations(caller, "AttachPolicy", attach).status());
    std::fprintf(stderr, "attached %s to %s\n", id.c_str(), proposal.target_id.c_str());
  }
  return Status::Ok();
}

}  // namespace

int RunAdvisorIngest(const std::string& data_dir, const std::string& dir) {
  auto db = OpenData(data_dir);
  if (!db.ok()) return Fail("cannot open the data directory: " + db.status().message());
  auto report = audit::IngestDirectory(**db, dir);
  if (!report.ok()) return Fail(report.status().message());
  for (const std::string& e : report->errors) std::fprintf(stderr, "error: %s\n", e.c_str());
  std::printf("%zu files, %zu access records stored, %zu records skipped, %zu files refused\n",
              report->files, report->records, report->skipped, report->errors.size());
  return report->errors.empty() ? 0 : 1;
}

int RunProposeScp(const ProposeScpOptions& options) {
  auto db = OpenData(options.data_dir);
  if (!db.ok()) return Fail("cannot open the data directory: " + db.status().message());
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto proposal = audit::ProposeScp(**db, options.entity_path, now, options.unused_days);
  if (!proposal.ok()) return Fail(proposal.status().message());
  std::fprintf(stderr, "%zu services allowed under %s: %zu used within %d days, %zu not used\n",
               proposal->used.size() + proposal->unused.size(), options.entity_path.c_str(),
               proposal->used.size(), options.unused_days, proposal->unused.size());
  if (proposal->policies.empty()) {
    std::fprintf(stderr, "nothing to deny\n");
    return 0;
  }
  if (proposal->policies.size() > 1) {
    std::fprintf(stderr,
                 "the denials exceed the SCP size limit (5,120 characters): %zu policies, one "
                 "per line\n",
                 proposal->policies.size());
  }
  for (const std::string& p : proposal->policies) std::printf("%s\n", p.c_str());
  std::fflush(stdout);
  if (!options.attach) return 0;
  auto caller = CallerFromEnvironment(options.endpoint);
  if (!caller.ok()) return Fail(caller.status().message());
  if (Status st = Attach(*caller, *proposal); !st.ok()) return Fail(st.message(), 1);
  return 0;
}

}  // namespace rampart::cli
