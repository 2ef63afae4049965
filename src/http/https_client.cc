// HttpsGet: one GET over TLS with Asio's asynchronous operations, driven by
// a private io_context that runs until the exchange ends or its deadline
// passes (io_context::run_for), whichever is first.
#include "rampart/http/https_client.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "rampart/core/encoding.h"

namespace rampart::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::string_view kScheme = "https://";
constexpr uint32_t kMaxHeadBytes = 16 * 1024;

Status Unavailable(std::string reason) {
  return Status::Error(ErrorCode::kUnavailable, std::move(reason));
}

bool IsIpLiteral(const std::string& host) {
  error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Names the host in the verification parameters: a DNS name or an IP.
bool SetExpectedHost(X509_VERIFY_PARAM* param, const std::string& host) {
  if (IsIpLiteral(host)) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
}

std::string Sha1Hex(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha1(), md, &len) != 1) return {};
  return HexEncode(std::string_view(reinterpret_cast<char*>(md), len));
}

// Whether the chain the server presented ends in a pinned certificate and
// verifies up to it (as the only trust anchor) for host.
bool PinnedChainTrusted(SSL* ssl, const std::string& host,
                        const std::vector<std::string>& thumbprints) {
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // the leaf first, on a client
  if (chain == nullptr || sk_X509_num(chain) == 0 || thumbprints.empty()) return false;
  X509* leaf = sk_X509_value(chain, 0);
  X509* top = sk_X509_value(chain, sk_X509_num(chain) - 1);
  std::string print = Sha1Hex(top);
  bool pinned =
      !print.empty() && std::any_of(thumbprints.begin(), thumbprints.end(),
                                    [&](const std::string& t) { return Lower(t) == print; });
  if (!pinned) return false;
  X509_STORE* store = X509_STORE_new();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool ok = store != nullptr && ctx != nullptr && X509_STORE_add_cert(store, top) == 1 &&
            X509_STORE_CTX_init(ctx, store, leaf, chain) == 1;
  if (ok) {
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
    // The pinned certificate may be an intermediate: it anchors the chain.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
    ok = SetExpectedHost(param, host) && X509_verify_cert(ctx) == 1;
  }
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

// One exchange: every step runs as a completion handler on io; `result` is
// set once by the step that ends it.
class Fetch {
 public:
  Fetch(asio::io_context& io, asio::ssl::context& tls, HttpsUrl url, const HttpsGetOptions& options)
      : resolver_(io), stream_(io, tls), url_(std::move(url)), options_(options) {}

  void Start() {
    resolver_.async_resolve(
        url_.host, url_.port, [this](error_code ec, const tcp::resolver::results_type& results) {
          if (ec) return Finish(Unavailable("cannot resolve " + url_.host + ": " + ec.message()));
          Connect(results);
        });
  }

  // Ends the exchange early: the deadline passed.
  void TimeOut() {
    if (!result_)
      result_.emplace(Unavailable("no complete answer from " + url_.host + " within the timeout"));
    error_code ignored;
    resolver_.cancel();
    stream_.lowest_layer().close(ignored);
  }

  std::optional<Result<HttpsResponse>>& result() { return result_; }

 private:
  void Connect(const tcp::resolver::results_type& results) {
    asio::async_connect(
        stream_.lowest_layer(), results, [this](error_code ec, const tcp::endpoint&) {
          if (ec)
            return Finish(Unavailable("cannot connect to " + url_.host + ": " + ec.message()));
          Handshake();
        });
  }

  void Handshake() {
    SSL* ssl = stream_.native_handle();
    if (!IsIpLiteral(url_.host)) SSL_set_tlsext_host_name(ssl, url_.host.c_str());
    // Verification runs during the handshake but decides nothing there: the
    // result is weighed with the pinned thumbprints once it is known.
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    if (!SetExpectedHost(SSL_get0_param(ssl), url_.host)) {
      return Finish(Unavailable("cannot check the certificate of " + url_.host));
    }
    stream_.async_handshake(asio::ssl::stream_base::client, [this](error_code ec) {
      if (ec)
        return Finish(Unavailable("TLS handshake with " + url_.host + " failed: " + ec.message()));
      if (!Trusted()) {
        return Finish(
            Status::Error(ErrorCode::kAccessDenied,
                          "the certificate of " + url_.host +
                              " is not trusted: its chain neither verifies against the system "
                              "trust store nor ends in a pinned thumbprint"));
      }
      Send();
    });
  }

  bool Trusted() {
    SSL* ssl = stream_.native_handle();
    if (options_.system_trust && SSL_get_verify_result(ssl) == X509_V_OK &&
        SSL_get0_peer_certificate(ssl) != nullptr) {
      return true;
    }
    return PinnedChainTrusted(ssl, url_.host, options_.thumbprints);
  }

  void Send() {
    request_.method(bhttp::verb::get);
    request_.target(url_.target);
    request_.version(11);
    std::string host_header =
        url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    if (url_.port != "443") host_header += ":" + url_.port;
    request_.set(bhttp::field::host, host_header);
    request_.set(bhttp::field::accept, "application/json");
    request_.set(bhttp::field::user_agent, "rampart");
    request_.set(bhttp::field::connection, "close");
    bhttp::async_write(stream_, request_, [this](error_code ec, size_t) {
      if (ec)
        return Finish(Unavailable("cannot send the request to " + url_.host + ": " + ec.message()));
      Receive();
    });
  }

  void Receive() {
    parser_.header_limit(kMaxHeadBytes);
    parser_.body_limit(options_.max_body_bytes);
    bhttp::async_read(stream_, buffer_, parser_, [this](error_code ec, size_t) {
      if (ec == bhttp::error::body_limit) {
        return Finish(Unavailable("the response of " + url_.host + " exceeds " +
                                  std::to_string(options_.max_body_bytes) + " bytes"));
      }
      if (ec)
        return Finish(
            Unavailable("cannot read the response of " + url_.host + ": " + ec.message()));
      HttpsResponse response;
      response.status = static_cast<int>(parser_.get().result_int());
      response.body = std::move(parser_.get().body());
      Finish(std::move(response));
    });
  }

  void Finish(Result<HttpsResponse> r) {
    if (!result_) result_.emplace(std::move(r));
    error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

  tcp::resolver resolver_;
  asio::ssl::stream<tcp::socket> stream_;
  HttpsUrl url_;
  const HttpsGetOptions& options_;
  bhttp::request<bhttp::empty_body> request_;
  beast::flat_buffer buffer_;
  bhttp::response_parser<bhttp::string_body> parser_;
  std::optional<Result<HttpsResponse>> result_;
};

Result<std::unique_ptr<asio::ssl::context>> ClientContext() {
  try {
    auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    error_code ec;
    tls->set_default_verify_paths(ec);  // without a store only pins can vouch
    return tls;
  } catch (const std::exception& e) {
    return Unavailable(std::string("cannot set up TLS: ") + e.what());
  }
}

}  // namespace

Result<HttpsUrl> ParseHttpsUrl(std::string_view url) {
  if (url.size() <= kScheme.size() || Lower(url.substr(0, kScheme.size())) != kScheme) {
    return Status::Validation("not an https URL");
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  HttpsUrl out;
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  std::string_view port;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::Validation("malformed IPv6 host");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return Status::Validation("malformed host");
    if (!after.empty()) port = after.substr(1);
  } else {
    size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  bool bad_host =
      out.host.empty() || std::any_of(out.host.begin(), out.host.end(), [](unsigned char c) {
        return c <= 0x20 || c >= 0x7f || c == '@' || c == '#';
      });
  if (bad_host) return Status::Validation("malformed host");
  if (!port.empty()) {
    bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(),
                                                  [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
      return Status::Validation("malformed port");
    }
  }
  out.port = port.empty() ? "443" : std::string(port);
  for (char c : out.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f ||
        c == '#') {
      return Status::Validation("malformed path");
    }
  }
  return out;
}

Result<HttpsResponse> HttpsGet(std::string_view url, const HttpsGetOptions& options) {
  ASSIGN_OR_RETURN(HttpsUrl parsed, ParseHttpsUrl(url));
  ASSIGN_OR_RETURN(std::unique_ptr<asio::ssl::context> tls, ClientContext());
  asio::io_context io(1);
  Fetch fetch(io, *tls, std::move(parsed), options);
  fetch.Start();
  io.run_for(options.timeout);
  if (!fetch.result()) {
    fetch.TimeOut();
    io.restart();
    io.poll();  // lets the cancelled handlers run before their objects go away
  }
  return std::move(*fetch.result());
}

}  // namespace rampart::http
