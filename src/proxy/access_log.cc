#include "rampart/proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
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
