// Forwarded HTTP on the explicit proxy: one exchange per request (request
// body up, response head parsed and rewritten, response body down), then
// the next request on a keep-alive connection. See session.h.
#include <algorithm>
#include <cstring>
#include <utility>

#include <boost/asio/write.hpp>

#include "session.h"

namespace rampart::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// --- forwarded HTTP: one exchange ----------------------------------------------
//
// The request body goes up (Content-Length or chunked, relayed as sent)
// while the response comes down: its head is parsed and rewritten
// (hop-by-hop fields, Connection), its body relayed to its end. Then,
// if the client wants it and both bodies ended cleanly, the connection
// takes the next request (NextRequest); otherwise it closes.

void Session::StartExchange() {
  phase_ = Phase::kRelay;
  last_activity_ = SteadyClock::now();
  Arm(config_->limits.idle_timeout);
  down_.buf = std::make_unique_for_overwrite<char[]>(kRelayChunk);
  ReadResponse();
  if (up_complete_) return;
  up_.buf = std::make_unique_for_overwrite<char[]>(kRelayChunk);
  PumpRequestBody();
}

// How many of `bytes` belong to the request body; notes its end.
size_t Session::ConsumeRequestBody(std::string_view bytes) {
  size_t n = 0;
  if (request_.framing.chunked) {
    n = up_chunks_.Feed(bytes);
    up_complete_ = up_chunks_.done();
  } else {
    n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), up_remaining_));
    up_remaining_ -= n;
    up_complete_ = up_remaining_ == 0;
  }
  return n;
}

// The same for the response body; kUntilClose takes everything.
size_t Session::ConsumeResponseBody(std::string_view bytes) {
  using Kind = ResponseFraming::Kind;
  size_t n = bytes.size();
  if (response_framing_.kind == Kind::kChunked) {
    n = down_chunks_.Feed(bytes);
    down_complete_ = down_chunks_.done();
  } else if (response_framing_.kind == Kind::kLength) {
    n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), down_remaining_));
    down_remaining_ -= n;
    down_complete_ = down_remaining_ == 0;
  } else if (response_framing_.kind == Kind::kNone) {
    n = 0;
    down_complete_ = true;
  }
  return n;
}

void Session::PumpRequestBody() {
  size_t want = kRelayChunk;
  if (!request_.framing.chunked) want = static_cast<size_t>(std::min<uint64_t>(want, up_remaining_));
  client_.AsyncReadSome(asio::buffer(up_.buf.get(), want), [self = shared_from_this()](error_code ec, size_t n) {
    self->OnRequestBodyRead(ec, n);
  });
}

void Session::OnRequestBodyRead(error_code ec, size_t n) {
  if (phase_ != Phase::kRelay) return;
  if (ec) {
    // The client stopped before its body ended: the request cannot be
    // completed, so neither can the exchange.
    if (ec == asio::error::eof && record_.reason.empty()) record_.reason = "client closed before the request body ended";
    NoteRelayError(true, ec);
    return Close();
  }
  last_activity_ = SteadyClock::now();
  std::string_view got(up_.buf.get(), n);
  size_t body = ConsumeRequestBody(got);
  if (up_chunks_.failed()) {
    record_.decision = "error";
    record_.reason = "malformed chunked request body";
    return Close();
  }
  carry_.append(got.substr(body));  // pipelined: the next request's bytes
  record_.bytes_up += body;
  up_writing_ = true;
  asio::async_write(upstream_, asio::buffer(up_.buf.get(), body), [self = shared_from_this()](error_code ec, size_t) {
    self->up_writing_ = false;
    if (self->phase_ != Phase::kRelay) return;
    if (ec) {
      self->NoteRelayError(false, ec);
      return self->Close();
    }
    if (self->up_complete_) {
      self->up_.buf.reset();
      return self->MaybeFinishExchange();
    }
    self->PumpRequestBody();
  });
}

void Session::ReadResponse() {
  if (!down_.buf) down_.buf = std::make_unique_for_overwrite<char[]>(kRelayChunk);
  upstream_.async_read_some(asio::buffer(down_.buf.get(), kRelayChunk),
                            [self = shared_from_this()](error_code ec, size_t n) { self->OnResponseRead(ec, n); });
}

void Session::OnResponseRead(error_code ec, size_t n) {
  if (phase_ != Phase::kRelay) return;
  if (ec) return OnResponseEnd(ec);
  last_activity_ = SteadyClock::now();
  std::string_view got(down_.buf.get(), n);
  if (!response_started_) {
    response_head_.append(got);
    return OnResponseHeadBytes();
  }
  size_t body = ConsumeResponseBody(got);
  if (down_chunks_.failed()) {
    record_.reason = "malformed chunked response body";
    return Close();
  }
  if (body < got.size()) upstream_reusable_ = false;  // bytes past the body: not a clean connection
  SendDown(std::string(got.substr(0, body)));
}

// Response head bytes so far in response_head_: interim 1xx heads are
// passed on and dropped; the final head starts the response.
void Session::OnResponseHeadBytes() {
  auto end = FindHeadEnd(response_head_);
  if (!end) {
    if (response_head_.size() >= config_->limits.max_header_bytes) return Fail(502, "upstream response head too large");
    return ReadResponse();
  }
  auto head = ParseResponseHead(std::string_view(response_head_).substr(0, *end));
  if (!head.ok()) return Fail(502, "bad upstream response: " + head.status().message());
  if (head->status == 101) return Fail(502, "upstream switched protocols");
  if (head->status < 200) {
    std::string interim = BuildClientResponseHead(*head, "");
    response_head_.erase(0, *end);
    record_.bytes_down += interim.size();
    pending_down_ = std::move(interim);
    return client_.AsyncWrite(asio::buffer(pending_down_), [self = shared_from_this()](error_code ec, size_t) {
      if (self->phase_ != Phase::kRelay) return;
      if (ec) {
        self->NoteRelayError(true, ec);
        return self->Close();
      }
      self->OnResponseHeadBytes();
    });
  }
  auto framing = GetResponseFraming(*head, request_head_.method);
  if (!framing.ok()) return Fail(502, "bad upstream response: " + framing.status().message());
  response_framing_ = *framing;
  down_remaining_ = framing->length;
  if (framing->kind == ResponseFraming::Kind::kUntilClose) keep_alive_ = false;
  upstream_reusable_ = config_->limits.upstream_idle_connections > 0 && request_head_.version_minor >= 1 &&
                       OriginKeepsConnection(*head) && framing->kind != ResponseFraming::Kind::kUntilClose;
  record_.status = head->status;
  response_started_ = true;
  std::string out = BuildClientResponseHead(*head, keep_alive_ ? "keep-alive" : "close");
  std::string_view rest = std::string_view(response_head_).substr(*end);
  size_t body = ConsumeResponseBody(rest);
  if (down_chunks_.failed()) {
    record_.reason = "malformed chunked response body";
    return Close();
  }
  if (body < rest.size()) upstream_reusable_ = false;
  out.append(rest.substr(0, body));
  response_head_.clear();
  response_head_.shrink_to_fit();
  SendDown(std::move(out));
}

// Writes response bytes to the client, then reads more or finishes.
void Session::SendDown(std::string bytes) {
  record_.bytes_down += bytes.size();
  pending_down_ = std::move(bytes);
  client_.AsyncWrite(asio::buffer(pending_down_), [self = shared_from_this()](error_code ec, size_t) {
    if (self->phase_ != Phase::kRelay) return;
    if (ec) {
      self->NoteRelayError(true, ec);
      return self->Close();
    }
    self->pending_down_.clear();
    if (!self->down_complete_) return self->ReadResponse();
    self->down_.buf.reset();
    self->MaybeFinishExchange();
  });
}

void Session::OnResponseEnd(error_code ec) {
  if (!response_started_ && response_head_.empty() && RetryOnFreshUpstream()) return;
  if (ec != asio::error::eof) {
    NoteRelayError(false, ec);
    return Close();
  }
  if (!response_started_) return Fail(502, "upstream closed without a response");
  if (response_framing_.kind != ResponseFraming::Kind::kUntilClose) {
    record_.reason = "upstream closed before the response body ended";
    return Close();
  }
  down_complete_ = true;
  MaybeFinishExchange();
}

// Both bodies done: the next request on this connection, or the end.
void Session::MaybeFinishExchange() {
  if (!down_complete_ || up_writing_) return;  // a body write still pending calls again
  if (!up_complete_) {
    // The origin answered before the request body ended (an early error,
    // say): the rest of the body cannot be told from a next request.
    record_.reason = record_.reason.empty() ? "response before the request body ended" : record_.reason;
    return Close();
  }
  ReleaseUpstream();
  if (keep_alive_ && !shared_.stopping) return NextRequest();
  client_.ShutdownSend();
  phase_ = Phase::kLinger;
  Arm(kLingerTime);
  Linger();
}

// The exchange is over: the origin connection waits in the worker's pool
// for the next request to the same checked address and host when the
// origin allows it (and nothing is left half-read on it); else it closes.
void Session::ReleaseUpstream() {
  if (upstream_reusable_ && !shared_.stopping) {
    local_.upstreams.Give(upstream_key_, std::move(upstream_), config_->limits.upstream_idle_connections,
                          config_->limits.upstream_idle_timeout);
  }
  error_code ignored;
  upstream_.close(ignored);  // a no-op after the move
  upstream_reusable_ = false;
}

// An origin may close an idle connection just as the proxy reuses it: the
// request then fails before any response byte. A request the origin cannot
// have acted on partly (idempotent, no body: RFC 9110 section 9.2.2, RFC
// 9112 section 9.3.1) goes again, once, on a fresh connection to the same
// checked addresses.
bool Session::RetryOnFreshUpstream() {
  static constexpr std::string_view kIdempotent[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
  if (!upstream_reused_ || retried_ || request_.framing.chunked || request_.framing.content_length != 0) return false;
  if (std::find(std::begin(kIdempotent), std::end(kIdempotent), request_head_.method) == std::end(kIdempotent)) {
    return false;
  }
  retried_ = true;
  upstream_reused_ = false;
  error_code ignored;
  upstream_.close(ignored);
  upstream_ = tcp::socket(executor());
  down_.buf.reset();
  phase_ = Phase::kConnect;
  Arm(config_->limits.connect_timeout);
  TryConnect(0);
  return true;
}

// Logs the finished request and starts reading the next one, beginning
// with any bytes already read past the last body. Each request takes
// the config snapshot of its own time and is checked on its own.
void Session::NextRequest() {
  WriteRecord();
  std::string client = std::move(record_.client);
  record_ = AccessRecord{};
  record_.client = std::move(client);
  if (!cert_names_.empty()) record_.client_cert = cert_names_.front();
  record_.time = std::chrono::system_clock::now();
  started_ = SteadyClock::now();
  ResetExchange();
  first_request_ = false;
  config_ = shared_.Snapshot();
  if (!config_->ClientAllowed(client_ip_)) {
    record_.decision = "deny";
    record_.reason = "client not allowed";
    return Close();
  }
  // Bytes read past the last body begin this request (usually none).
  ReleaseHead();
  if (!carry_.empty()) {
    head_cap_ = std::max(carry_.size(), kReadChunk);
    head_ = std::make_unique_for_overwrite<char[]>(head_cap_);
    std::memcpy(head_.get(), carry_.data(), carry_.size());
    head_len_ = carry_.size();
    carry_ = std::string();
  }
  phase_ = Phase::kHead;
  Arm(head_len_ == 0 ? config_->limits.idle_timeout : config_->limits.handshake_timeout);
  auto end = FindHeadEnd(HeadBytes(0, head_len_));
  if (end && *end > config_->limits.max_header_bytes) return Fail(431, "request head too large");
  if (!end) return ReadHead();
  head_end_ = *end;
  OnHead();
}

void Session::ResetExchange() {
  request_head_ = RequestHead{};
  request_ = ProxyRequest{};
  is_connect_ = false;
  keep_alive_ = false;
  candidates_.clear();
  last_connect_error_.clear();
  up_remaining_ = down_remaining_ = 0;
  up_complete_ = down_complete_ = response_started_ = false;
  up_chunks_ = ChunkedScanner{};
  down_chunks_ = ChunkedScanner{};
  response_framing_ = ResponseFraming{};
  response_head_.clear();
  up_ = Direction{};
  down_ = Direction{};
  upstream_ = tcp::socket(executor());
  upstream_key_.clear();
  upstream_reused_ = upstream_reusable_ = retried_ = false;
}

}  // namespace rampart::proxy
