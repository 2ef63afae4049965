#include "rampart/hsmnet/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <memory>
#include <sstream>
#include <thread>

#include "hsmnet/peer_names.h"
#include "hsmnet/replicator.h"
#include "hsmnet/service.h"
#include "hsmnet/state.h"
#include "pkcs11/p11.h"
#include "rampart/core/json.h"
#include "rampart/core/log.h"
#include "rampart/core/thread_name.h"
#include "rampart/core/secret.h"
#include "rampart/pkcs11/pkcs11_token.h"

namespace rampart::hsmnet {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// Secret files hold one line; anything longer is not one of ours.
constexpr size_t kMaxSecretFile = 4096;

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0%03o", static_cast<unsigned>(mode & 0777));
  return buf;
}

// Like ssh with its private keys: a secret file the group or others may
// read or write is refused (the secret may be known already; fixing the
// mode is the operator's decision, not ours). fd is an open descriptor
// of path, checked rather than the path so that the file cannot change
// between the check and the read.
Status CheckPrivateToOwner(int fd, const std::string& path, std::string_view what) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::Validation(std::string(what) + ": " + path + " is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::Validation(std::string(what) + ": " + path + " is open to group or others (mode " +
                              ModeText(st.st_mode) + "); make it readable by its owner only (chmod 600)");
  }
  return Status::Ok();
}

// The mode check alone, for files OpenSSL reads itself (private keys).
Status CheckPrivateFile(const std::string& path, std::string_view what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Validation(std::string(what) + ": cannot open " + path + ": " + std::strerror(errno));
  Status st = CheckPrivateToOwner(fd, path, what);
  close(fd);
  return st;
}

// The first line of a file holding a PIN or a password (without its line
// end), read straight into memory that is wiped after use.
Result<SecretBytes> ReadSecretLine(const std::string& path, std::string_view what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Validation(std::string(what) + ": cannot open " + path + ": " + std::strerror(errno));
  Status allowed = CheckPrivateToOwner(fd, path, what);
  SecretBytes buf(kMaxSecretFile + 1);
  size_t got = 0;
  while (allowed.ok() && got < buf.size()) {
    ssize_t n = read(fd, buf.mutable_data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  RETURN_IF_ERROR(allowed);
  if (got > kMaxSecretFile) {
    return Status::Validation(std::string(what) + ": " + path + " is longer than 4096 bytes");
  }
  std::string_view line = buf.reveal().substr(0, got);
  line = line.substr(0, line.find('\n'));
  if (line.empty()) return Status::Validation(std::string(what) + ": cannot read a line from " + path);
  return SecretBytes(line);
}

Status StringMember(const json::Value& v, std::string_view key, std::string& out) {
  const json::Value* m = v.find(key);
  if (m == nullptr) return Status::Ok();
  if (!m->is_string()) return Status::Validation(std::string(key) + " must be a string");
  out = m->as_string();
  return Status::Ok();
}

Status UintMember(const json::Value& v, std::string_view key, uint32_t min, uint32_t max,
                  uint32_t& out) {
  const json::Value* m = v.find(key);
  if (m == nullptr) return Status::Ok();
  if (!m->is_int() || m->as_int() < min || m->as_int() > max) {
    return Status::Validation(std::string(key) + " must be an integer from " + std::to_string(min) +
                              " to " + std::to_string(max));
  }
  out = static_cast<uint32_t>(m->as_int());
  return Status::Ok();
}

Status ParseHostPort(std::string_view text, std::string& host, uint16_t& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return Status::Validation("listen must be HOST:PORT");
  std::string p(text.substr(colon + 1));
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(p) == 0 || std::stoul(p) > 65535) {
    return Status::Validation("listen: bad port");
  }
  host = std::string(text.substr(0, colon));
  port = static_cast<uint16_t>(std::stoul(p));
  return Status::Ok();
}

// An optional array of at most kMaxNodes HOST:PORT strings.
Status NodeList(const json::Value& v, std::string_view key, std::vector<std::string>& out) {
  const json::Value* nodes = v.find(key);
  if (nodes == nullptr) return Status::Ok();
  std::string what = std::string(key) + " must be an array of at most 32 HOST:PORT strings";
  if (!nodes->is_array() || nodes->as_array().size() > kMaxNodes) return Status::Validation(what);
  out.clear();
  for (const json::Value& n : nodes->as_array()) {
    if (!n.is_string() || n.as_string().empty() || n.as_string().size() > kMaxNodeName) {
      return Status::Validation(what);
    }
    out.push_back(n.as_string());
  }
  return Status::Ok();
}

// The optional peer_subjects: at most kMaxNodes "/TYPE=value/..." names,
// each checked by PeerNames.
Status SubjectList(const json::Value& v, std::vector<std::string>& out) {
  const json::Value* list = v.find("peer_subjects");
  if (list == nullptr) return Status::Ok();
  std::string what = "peer_subjects must be an array of at most 32 strings of at most 1024 bytes";
  if (!list->is_array() || list->as_array().size() > kMaxNodes) return Status::Validation(what);
  out.clear();
  for (const json::Value& n : list->as_array()) {
    if (!n.is_string() || n.as_string().size() > 1024) return Status::Validation(what);
    out.push_back(n.as_string());
  }
  return PeerNames::Parse(out).status();
}

Status BoolMember(const json::Value& v, std::string_view key, bool& out) {
  const json::Value* m = v.find(key);
  if (m == nullptr) return Status::Ok();
  if (!m->is_bool()) return Status::Validation(std::string(key) + " must be true or false");
  out = m->as_bool();
  return Status::Ok();
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

// TLS 1.3 only; clients must present a certificate signed by ca_file.
Result<SslCtxPtr> MakeServerContext(const ServerConfig& c) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status::Internal("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), c.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), c.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Status::Validation("server certificate or key: " + OpenSslError());
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), c.ca_file.c_str(), nullptr) != 1) {
    return Status::Validation("ca: " + OpenSslError());
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(c.ca_file.c_str());
  if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  return ctx;
}

Result<int> Listen(const ServerConfig& c) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* res = nullptr;
  std::string port = std::to_string(c.listen_port);
  if (getaddrinfo(c.listen_host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return Status::Validation("listen: " + c.listen_host + " is not a numeric address");
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
            bind(fd, res->ai_addr, res->ai_addrlen) == 0 && listen(fd, 64) == 0;
  freeaddrinfo(res);
  if (!ok) {
    if (fd >= 0) close(fd);
    return Status::Error(ErrorCode::kUnavailable, "cannot listen on " + c.listen_host + ":" + port);
  }
  return fd;
}

bool ReadExact(SSL* ssl, char* out, size_t n) {
  while (n > 0) {
    size_t got = 0;
    if (SSL_read_ex(ssl, out, n, &got) != 1) return false;
    out += got;
    n -= got;
  }
  return true;
}

bool WriteAll(SSL* ssl, std::string_view data) {
  size_t written = 0;
  return SSL_write_ex(ssl, data.data(), data.size(), &written) == 1 && written == data.size();
}

// The client certificate's subject as text for the audit log (cut at 255
// bytes: never used to decide anything), and whether it is a peer node's.
void IdentifyPeer(SSL* ssl, const PeerNames& peers, Session& session) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return;
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  session.peer = buf;
  session.replication_peer = peers.Matches(X509_get_subject_name(cert));
  X509_free(cert);
}

// Serves one connection: frames in, frames out, until the peer leaves, a
// frame is malformed, or the idle timeout passes.
void ServeConnection(SSL_CTX* ctx, int fd, Service& service, const PeerNames& peers) {
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx), SSL_free);
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1 || SSL_accept(ssl.get()) != 1) {
    log::Info("hsm-server: TLS handshake refused", {{"error", OpenSslError()}});
    return;
  }
  Session session;
  IdentifyPeer(ssl.get(), peers, session);
  std::string header(kHeaderSize, '\0');
  std::string body;
  while (!g_stop.load()) {
    if (!ReadExact(ssl.get(), header.data(), header.size())) break;
    auto h = DecodeHeader(header);
    if (!h) break;  // not our protocol: drop the connection
    body.resize(h->body_size);
    if (!ReadExact(ssl.get(), body.data(), body.size())) break;
    auto request = DecodeRequest(h->op, body);
    Response response;
    response.op = h->op;
    response.rv = CKR_ARGUMENTS_BAD;
    if (request) {
      response = service.Handle(session, *request);
      OPENSSL_cleanse(request->password.data(), request->password.size());
    }
    OPENSSL_cleanse(body.data(), body.size());
    std::string frame = EncodeResponse(response);
    if (frame.size() > kHeaderSize + kMaxBody) {
      // A reply clients would refuse (e.g. a very long key list): say so
      // instead of sending a frame that makes them fail over.
      log::Warn("hsm-server reply over the frame limit", {{"bytes", std::to_string(frame.size())}});
      Response too_big;
      too_big.op = h->op;
      too_big.rv = CKR_DEVICE_MEMORY;
      frame = EncodeResponse(too_big);
    }
    if (!WriteAll(ssl.get(), frame)) break;
  }
  SSL_shutdown(ssl.get());
}

struct Connection {
  std::thread thread;
  int fd = -1;
  std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
};

// Joins finished connection threads; returns how many remain.
size_t Reap(std::list<Connection>& conns) {
  for (auto it = conns.begin(); it != conns.end();) {
    if (it->done->load()) {
      it->thread.join();
      close(it->fd);
      it = conns.erase(it);
    } else {
      ++it;
    }
  }
  return conns.size();
}

void AcceptLoop(int listen_fd, SSL_CTX* ctx, Service& service, const PeerNames& peers,
                const ServerConfig& c) {
  std::list<Connection> conns;
  while (!g_stop.load()) {
    pollfd p{listen_fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) {
      Reap(conns);
      continue;
    }
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (Reap(conns) >= c.max_connections) {
      log::Warn("hsm-server: connection limit reached", {{"limit", std::to_string(c.max_connections)}});
      close(fd);
      continue;
    }
    timeval tv{static_cast<time_t>(c.idle_timeout_seconds), 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    Connection& conn = conns.emplace_back();
    conn.fd = fd;
    auto done = conn.done;
    conn.thread = std::thread([ctx, fd, &service, &peers, done] {
      SetCurrentThreadName("hsm-conn");
      ServeConnection(ctx, fd, service, peers);
      done->store(true);
    });
  }
  for (Connection& conn : conns) shutdown(conn.fd, SHUT_RDWR);
  for (Connection& conn : conns) {
    conn.thread.join();
    close(conn.fd);
  }
}

// The appliance user, the cluster wrapping key and the catch-up from a
// peer, before the node serves anyone.
Result<std::unique_ptr<Replicator>> StartReplication(const ServerConfig& c, pkcs11::Token& token,
                                                     HsmState& state) {
  ASSIGN_OR_RETURN(SecretBytes password, ReadSecretLine(c.replication_password_file, "replication_password_file"));
  if (c.peer_key != c.key_file) RETURN_IF_ERROR(CheckPrivateFile(c.peer_key, "peer_key"));
  Status made = state.CreateUser(c.replication_user, password.reveal(), Role::kAppliance);
  if (!made.ok() && made.message().find("already exists") == std::string::npos) return made;
  Replicator::Options o;
  o.peers = c.peers;
  o.cert_file = c.peer_cert;
  o.key_file = c.peer_key;
  o.ca_file = c.peer_ca;
  o.user = c.replication_user;
  o.password = std::move(password);
  o.min_nodes = c.min_nodes;
  o.bootstrap = c.bootstrap_cluster;
  o.node_name = c.node_name;
  // The outbox is a table of hsm.db now; an older version's file is moved in.
  o.legacy_outbox_path = c.data_dir + "/outbox.db";
  ASSIGN_OR_RETURN(auto replicator, Replicator::Create(token, state, std::move(o)));
  RETURN_IF_ERROR(replicator->Start());
  return replicator;
}

}  // namespace

Status LoadServerConfig(const std::string& path, ServerConfig& c) {
  std::ifstream in(path);
  if (!in) return Status::Validation("cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  ASSIGN_OR_RETURN(json::Value v, json::Parse(buf.str()));
  if (!v.is_object()) return Status::Validation("the config must be a JSON object");
  std::string listen;
  RETURN_IF_ERROR(StringMember(v, "listen", listen));
  if (!listen.empty()) RETURN_IF_ERROR(ParseHostPort(listen, c.listen_host, c.listen_port));
  RETURN_IF_ERROR(StringMember(v, "node_name", c.node_name));
  RETURN_IF_ERROR(StringMember(v, "cert", c.cert_file));
  RETURN_IF_ERROR(StringMember(v, "key", c.key_file));
  RETURN_IF_ERROR(StringMember(v, "ca", c.ca_file));
  RETURN_IF_ERROR(StringMember(v, "data_dir", c.data_dir));
  RETURN_IF_ERROR(StringMember(v, "module", c.module));
  RETURN_IF_ERROR(StringMember(v, "token_label", c.token_label));
  RETURN_IF_ERROR(StringMember(v, "pin_file", c.pin_file));
  RETURN_IF_ERROR(StringMember(v, "officer_name", c.officer_name));
  RETURN_IF_ERROR(StringMember(v, "officer_password_file", c.officer_password_file));
  RETURN_IF_ERROR(UintMember(v, "max_connections", 1, 4096, c.max_connections));
  RETURN_IF_ERROR(UintMember(v, "idle_timeout_seconds", 1, 86400, c.idle_timeout_seconds));
  RETURN_IF_ERROR(UintMember(v, "max_failed_logins", 1, 100, c.max_failed_logins));
  RETURN_IF_ERROR(UintMember(v, "password_iterations", 10000, 10000000, c.password_iterations));
  RETURN_IF_ERROR(UintMember(v, "list_page_size", 1, kMaxKeysPerPage, c.list_page_size));
  RETURN_IF_ERROR(NodeList(v, "nodes", c.nodes));
  RETURN_IF_ERROR(NodeList(v, "peers", c.peers));
  RETURN_IF_ERROR(SubjectList(v, c.peer_subjects));
  RETURN_IF_ERROR(BoolMember(v, "bootstrap_cluster", c.bootstrap_cluster));
  RETURN_IF_ERROR(StringMember(v, "peer_cert", c.peer_cert));
  RETURN_IF_ERROR(StringMember(v, "peer_key", c.peer_key));
  RETURN_IF_ERROR(StringMember(v, "peer_ca", c.peer_ca));
  RETURN_IF_ERROR(StringMember(v, "replication_user", c.replication_user));
  RETURN_IF_ERROR(StringMember(v, "replication_password_file", c.replication_password_file));
  RETURN_IF_ERROR(UintMember(v, "min_nodes", 1, kMaxNodes + 1, c.min_nodes));
  if (!c.peers.empty() && c.replication_password_file.empty()) {
    return Status::Validation("peers need replication_password_file");
  }
  // Without it any certificate the CA signed could log in as the
  // appliance user and replicate users and keys into this node.
  if (!c.peers.empty() && c.peer_subjects.empty()) {
    return Status::Validation("peers need peer_subjects: the certificate subjects of the peer nodes");
  }
  if (c.min_nodes > c.peers.size() + 1) return Status::Validation("min_nodes is more than the nodes");
  if (c.peer_cert.empty()) c.peer_cert = c.cert_file;
  if (c.peer_key.empty()) c.peer_key = c.key_file;
  if (c.peer_ca.empty()) c.peer_ca = c.ca_file;
  for (const auto* required : {&c.cert_file, &c.key_file, &c.ca_file, &c.token_label, &c.pin_file,
                               &c.officer_password_file}) {
    if (required->empty()) {
      return Status::Validation("cert, key, ca, token_label, pin_file and officer_password_file are required");
    }
  }
  if (c.node_name.empty()) c.node_name = c.listen_host + ":" + std::to_string(c.listen_port);
  if (c.nodes.empty()) c.nodes.push_back(c.listen_host + ":" + std::to_string(c.listen_port));
  // Clients refuse a Hello reply whose node name breaks the protocol's limit.
  if (c.node_name.size() > kMaxNodeName) return Status::Validation("node_name is at most 255 bytes");
  return Status::Ok();
}

int RunServer(const ServerConfig& c) {
  auto fail = [](std::string_view what, const Status& st) {
    log::Error(what, {{"error", st.message()}});
    return 1;
  };
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  auto pin = ReadSecretLine(c.pin_file, "pin_file");
  if (!pin.ok()) return fail("hsm-server: bad pin_file", pin.status());
  auto officer_password = ReadSecretLine(c.officer_password_file, "officer_password_file");
  if (!officer_password.ok()) return fail("hsm-server: bad officer_password_file", officer_password.status());
  Status key_file = CheckPrivateFile(c.key_file, "key");
  if (!key_file.ok()) return fail("hsm-server: bad key", key_file);

  auto module = pkcs11::Module::Load(c.module);
  if (!module.ok()) return fail("hsm-server: cannot load the module", module.status());
  pkcs11::TokenOptions topts;
  topts.selector.label = c.token_label;
  topts.user_pin = std::move(*pin);
  auto token = pkcs11::Pkcs11Token::Open(*module, std::move(topts));
  if (!token.ok()) return fail("hsm-server: cannot open the token", token.status());

  // Before the database: another process sharing the directory must see
  // us before we change anything in it (DataDirLock).
  auto dir_lock = DataDirLock::Open(c.data_dir + "/hsm.nodes.lock");
  if (!dir_lock.ok()) return fail("hsm-server: cannot lock the data directory", dir_lock.status());
  auto db = store::OpenSqlite({.path = c.data_dir + "/hsm.db"});
  if (!db.ok()) return fail("hsm-server: cannot open the database", db.status());
  HsmState::Options sopts{c.password_iterations, c.max_failed_logins, dir_lock->get()};
  auto state = HsmState::Open(**db, sopts);
  if (!state.ok()) return fail("hsm-server: cannot migrate the database", state.status());
  Status boot = (*state)->Bootstrap(c.officer_name, officer_password->reveal());
  *officer_password = SecretBytes();  // wiped: only the first start needs it
  if (!boot.ok()) return fail("hsm-server: cannot create the first officer", boot);
  auto audit = AuditLog::Open(c.data_dir + "/audit.jsonl", c.node_name);
  if (!audit.ok()) return fail("hsm-server: cannot open the audit log", audit.status());

  auto ctx = MakeServerContext(c);
  if (!ctx.ok()) return fail("hsm-server: bad TLS settings", ctx.status());

  auto peer_names = PeerNames::Parse(c.peer_subjects);
  if (!peer_names.ok()) return fail("hsm-server: bad peer_subjects", peer_names.status());
  Service service(**token, **state, **audit, {c.nodes, c.node_name, c.list_page_size});
  // Catch up from a peer before listening, so that no client sees this
  // node's state from before it was down.
  std::unique_ptr<Replicator> replicator;
  if (!c.peers.empty()) {
    auto made = StartReplication(c, **token, **state);
    if (!made.ok()) return fail("hsm-server: cannot start replication", made.status());
    replicator = std::move(*made);
    service.set_replicator(replicator.get());
  }
  auto listen_fd = Listen(c);
  if (!listen_fd.ok()) return fail("hsm-server: cannot listen", listen_fd.status());
  struct sigaction sa{};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  log::Info("hsm-server listening", {{"node", c.node_name}});
  AcceptLoop(*listen_fd, ctx->get(), service, *peer_names, c);
  close(*listen_fd);
  log::Info("hsm-server stopped", {{"node", c.node_name}});
  return 0;
}

}  // namespace rampart::hsmnet
