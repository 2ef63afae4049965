// Feeds arbitrary bytes to SigV4 Parse and Verify as the Authorization
// header, the request target, other headers and the body.
//
// Input layout: fields separated by '\n': method, target, Authorization,
// then "name:value" headers; a "\n\n" starts the body.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/sigv4_internal.h"
#include "rampart/http/sigv4.h"

namespace sigv4 = rampart::http::sigv4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  rampart::http::Request req;
  size_t body_at = in.find("\n\n");
  if (body_at != std::string_view::npos) {
    req.body = std::string(in.substr(body_at + 2));
    in = in.substr(0, body_at);
  }
  int field = 0;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (field == 0) {
      req.method = std::string(line);
    } else if (field == 1) {
      req.target = std::string(line);
    } else if (field == 2) {
      req.headers.push_back({"Authorization", std::string(line)});
    } else {
      size_t colon = line.find(':');
      req.headers.push_back(
          {std::string(line.substr(0, colon)),
           colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1))});
    }
    ++field;
  }
  const rampart::SecretBytes secret(std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));

  auto auth = sigv4::Parse(req);
  if (auth.ok()) (void)sigv4::Verify(req, *auth, secret, now);
  // Without the Authorization header: the presigned-query path.
  if (!req.headers.empty()) {
    req.headers.erase(req.headers.begin());
    auto presigned = sigv4::Parse(req);
    if (presigned.ok()) (void)sigv4::Verify(req, *presigned, secret, now);
  }
  std::string out;
  sigv4::internal::AppendCanonicalUri(req.path(), out);
  (void)sigv4::internal::AppendCanonicalQuery(req.query(), true, out);
  (void)sigv4::internal::ParseHttpDate(req.method);
  // The signer must produce what the verifier accepts, whatever the target.
  if (req.header("host") != nullptr && req.query().size() < 4096) {
    rampart::http::Request signed_req = req;
    sigv4::SignRequest(signed_req, "AKIDEXAMPLE", secret, "us-east-1", "sts", now);
    if (signed_req.header("authorization") != nullptr) {
      auto a = sigv4::Parse(signed_req);
      if (a.ok()) {
        rampart::Status st = sigv4::Verify(signed_req, *a, secret, now);
        // A payload hash header the fuzzer supplied may legitimately fail.
        if (!st.ok() && signed_req.header("x-amz-content-sha256") == nullptr &&
            st.code() == rampart::ErrorCode::kInvalidSignature) {
          __builtin_trap();
        }
      }
    }
  }
  return 0;
}
