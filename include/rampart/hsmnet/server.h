// The network HSM server (`rampart hsm-server --config FILE`): TLS 1.3 with
// mutual authentication in front of hsmnet::Service, over a pkcs11::Token
// (a SoftHSM2 or vendor token through pkcs11::Pkcs11Token).
//
// One thread per connection, at most max_connections at once (others are
// refused at accept). A connection whose client sends nothing for
// idle_timeout_seconds is closed. SIGINT/SIGTERM stop the server. With
// peers, the node catches up from a peer before it listens and pushes
// every key, user and sharing change to its peers (hsmnet::Replicator).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::hsmnet {

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 9443;
  std::string node_name;               // defaults to host:port
  std::vector<std::string> nodes;      // every node of the cluster, host:port
  std::string cert_file, key_file;     // the server's certificate and key (PEM)
  std::string ca_file;                 // CA that signs client certificates (PEM)
  std::string data_dir = "./hsm-data"; // hsm.db and audit.jsonl
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token_label;
  std::string pin_file;                // the token's user PIN (first line)
  std::string officer_name = "admin";  // first crypto officer, made when there are no users
  std::string officer_password_file;
  uint32_t max_connections = 64;
  uint32_t idle_timeout_seconds = 300;
  uint32_t max_failed_logins = 5;
  uint32_t password_iterations = 600000;  // PBKDF2-HMAC-SHA256; at least 10,000
  uint32_t list_page_size = 500;          // keys per ListKeys reply, 1 to 500 (fewer: tests)
  // Replication to other nodes (docs/hsm.md, "Replication between nodes").
  // Empty peers: no replication (nodes must then share token and data).
  std::vector<std::string> peers;          // host:port of the other nodes
  // Subjects of the peer nodes' client certificates, the only ones that
  // may log in as the appliance user, in OpenSSL's one-line form
  // ("/CN=node-a/O=Example", values without '/'), compared with the whole
  // certificate subject (hsmnet::PeerNames). Required with peers.
  std::vector<std::string> peer_subjects;
  // Lets this node make the cluster wrapping key although some peer did
  // not answer: for the first start of a new cluster's first node only.
  // Without it a node makes one only when every peer said it has none.
  bool bootstrap_cluster = false;
  std::string peer_cert, peer_key;         // our client certificate for peers (default: cert, key)
  std::string peer_ca;                     // CA of the peers' server certificates (default: ca)
  std::string replication_user = "replicator";  // the appliance user, made at start when missing
  std::string replication_password_file;   // required with peers; the same on every node
  uint32_t min_nodes = 1;                  // nodes that must hold a new key, this one included
};

// Reads a JSON config file; kValidation names the bad member.
Status LoadServerConfig(const std::string& path, ServerConfig& config);

// Runs until SIGINT/SIGTERM; returns the process exit code.
int RunServer(const ServerConfig& config);

}  // namespace rampart::hsmnet
