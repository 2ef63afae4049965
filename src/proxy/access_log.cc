#include "rampart/proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "rampart/core/json.h"

namespace rampart::proxy {

std::string FormatAccessRecord(const AccessRecord& r) {
  json::Value v = json::Value::MakeObject();
  v.set("time", FormatIso8601(r.time));
  v.set("client", r.client);
  v.set("method", r.method);
  v.set("host", r.host);
  v.set("port", static_cast<int>(r.port));
  if (!r.sni.empty()) v.set("sni", r.sni);
  v.set("decision", r.decision);
  if (!r.rule.empty()) v.set("rule", r.rule);
  if (!r.client_rule.empty()) v.set("client_rule", r.client_rule);
  if (!r.client_cert.empty()) v.set("client_cert", r.client_cert);
  if (!r.reason.empty()) v.set("reason", r.reason);
  if (!r.upstream.empty()) v.set("upstream", r.upstream);
  if (r.status != 0) v.set("status", r.status);
  v.set("bytes_up", static_cast<int64_t>(r.bytes_up));
  v.set("bytes_down", static_cast<int64_t>(r.bytes_down));
  v.set("duration_ms", static_cast<int64_t>(r.duration.count()));
  std::string line = json::Write(v);
  line.push_back('\n');
  return line;
}

namespace {

// One Squid log field: printable ASCII, no spaces (they separate fields).
std::string SquidField(std::string_view s) {
  if (s.empty()) return "-";
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return out;
}

std::string_view WithoutPort(std::string_view endpoint) {
  size_t colon = endpoint.rfind(':');
  std::string_view host = colon == std::string_view::npos ? endpoint : endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

std::string SquidUrl(const AccessRecord& r) {
  bool v6 = r.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + r.host + "]" : r.host;
  if (r.method == "CONNECT" || r.method == "TLS") return host + ":" + std::to_string(r.port);
  if (r.host.empty()) return "error:invalid-request";
  std::string port = r.port == 80 || r.port == 0 ? "" : ":" + std::to_string(r.port);
  return "http://" + host + port + (r.path.empty() ? "/" : r.path);
}

}  // namespace

std::string FormatSquidRecord(const AccessRecord& r) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto done = duration_cast<milliseconds>((r.time + r.duration).time_since_epoch()).count();
  bool tunnel = r.method == "CONNECT" || r.method == "TLS";
  std::string code = r.decision == "deny"                ? "TCP_DENIED"
                     : r.upstream.empty()                ? "NONE_NONE"
                     : tunnel && r.decision == "allow"   ? "TCP_TUNNEL"
                                                         : "TCP_MISS";
  int status = r.status != 0 ? r.status : (tunnel && !r.upstream.empty() ? 200 : 0);
  char status_text[8];
  std::snprintf(status_text, sizeof status_text, "%03d", status % 1000);
  char head[64];
  std::snprintf(head, sizeof head, "%lld.%03lld %6lld ", static_cast<long long>(done / 1000),
                static_cast<long long>(done % 1000), static_cast<long long>(r.duration.count()));
  std::string line = head;
  line += SquidField(WithoutPort(r.client)) + " " + code + "/" + status_text + " " + std::to_string(r.bytes_down) +
          " " + SquidField(r.method) + " " + SquidField(SquidUrl(r)) + " " + SquidField(r.client_cert) + " ";
  line += r.upstream.empty() ? "HIER_NONE/-" : "HIER_DIRECT/" + SquidField(WithoutPort(r.upstream));
  line += " -\n";
  return line;
}

AccessLog::~AccessLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status AccessLog::Open(const std::string& path) {
  int fd = -1;
  if (!path.empty()) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
      return Status::Error(ErrorCode::kUnavailable,
                           "cannot open access log " + path + ": " + std::strerror(errno));
    }
  }
  std::lock_guard lock(mu_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  path_ = path;
  enabled_.store(fd >= 0, std::memory_order_relaxed);
  return Status::Ok();
}

Status AccessLog::Reopen() { return Open(path()); }

std::string AccessLog::path() const {
  std::lock_guard lock(mu_);
  return path_;
}

void AccessLog::Write(std::string_view line) {
  std::lock_guard lock(mu_);
  if (fd_ < 0) return;
  // O_APPEND makes each write(2) land whole at the end of the file.
  ssize_t n = ::write(fd_, line.data(), line.size());
  (void)n;  // a full disk must not stop the proxy; nothing better to do here
}

}  // namespace rampart::proxy
