// The network HSM client connection, used by the PKCS#11 module
// librampart-pkcs11.so and by `rampart hsm-admin`.
//
// A Client holds one TLS 1.3 connection (client certificate, server checked
// against the configured CA and its address or name) to one node of the
// cluster. On connect it asks the node for the cluster's node list (Hello)
// and adds nodes it did not know. When the connection fails (connect, TLS,
// a read or a write), Call moves to the next node, logs in again with the
// remembered credentials and sends the request again, so that the caller
// sees no failure while any node is up. A request may therefore run twice
// if a node died after doing it and before answering.
//
// Like wire.h this depends only on the standard library and OpenSSL.
//
// Thread-safety: thread-safe; calls are serialized on the one connection.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/hsmnet/wire.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace rampart::hsmnet {

struct ClientConfig {
  std::vector<std::string> nodes;  // host:port, tried in order
  std::string cert_file, key_file, ca_file;
  int timeout_ms = 10000;  // connect and each read or write
  // When positive, the TCP connect alone is bounded by this instead (a
  // replicating node must not wait long for a peer that is down).
  int connect_timeout_ms = 0;
  // Whether Hello's node list extends `nodes`. A cluster member (NetToken)
  // is one node and must never fail over to another: it sets this false
  // and names one node.
  bool learn_nodes = true;
};

// Parses the client config: "name = value" lines, '#' comments, names
// node (repeatable), cert, key, ca, timeout_ms. false with *error set when
// a line is malformed or a required name is missing.
bool ParseClientConfig(std::string_view text, ClientConfig& config, std::string* error);
bool LoadClientConfig(const std::string& path, ClientConfig& config, std::string* error);

class Client {
 public:
  // false with *error when the certificates cannot be loaded.
  static std::unique_ptr<Client> Create(ClientConfig config, std::string* error);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends a request and returns the answer. Transport failures fail over
  // (above); when no node answers, rv is CKR_DEVICE_ERROR (0x30).
  // A successful Login is remembered for failover; Logout forgets it.
  Response Call(const Request& request);

  // The node of the current connection ("" when none) and the known nodes.
  std::string current_node();
  std::vector<std::string> nodes();
  // Connections made so far (failovers included), for tests.
  uint64_t connects();

 private:
  explicit Client(ClientConfig config, SSL_CTX* ctx);
  bool Connect(const std::string& node);  // REQUIRES: mu_ held
  void Disconnect();                      // REQUIRES: mu_ held
  bool Exchange(const Request& request, Response& response);  // one try on the connection
  bool Handshake();  // Hello and the remembered login on a new connection

  std::mutex mu_;
  ClientConfig config_;  // guarded by mu_ (the node list grows)
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  size_t node_index_ = 0;
  uint64_t connects_ = 0;
  bool logged_in_ = false;
  Request login_;  // the remembered Login request, password wiped on Logout
};

}  // namespace rampart::hsmnet
