// The KMS ciphertext blob format (see include/rampart/kms/ciphertext.h).
#include "rampart/kms/ciphertext.h"

#include <algorithm>

namespace rampart::kms {
namespace {

Status Invalid() { return Status::Modeled("InvalidCiphertextException", ""); }

void PutU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

uint32_t GetU32(std::string_view b) {
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(b[i])); };
  return (u(0) << 24) | (u(1) << 16) | (u(2) << 8) | u(3);
}

bool IsKeyIdChar(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'; }

// A key id as the blob may name it: [0-9a-f-], after an optional "mrk-"
// (multi-Region keys).
bool IsBlobKeyId(std::string_view id) {
  if (id.starts_with("mrk-")) id.remove_prefix(4);
  return std::all_of(id.begin(), id.end(), IsKeyIdChar);
}

}  // namespace

std::string EncodeBlobHeader(const BlobHeader& h) {
  std::string out(kBlobMagic);
  out.push_back(static_cast<char>(kBlobFormat));
  out.push_back(static_cast<char>(h.key_id.size()));
  out += h.key_id;
  PutU32(out, h.material_version);
  return out;
}

Result<ParsedBlob> ParseBlob(std::string_view blob) {
  // magic(2) + format(1) + id length(1)
  constexpr size_t kFixed = 4;
  if (blob.size() < kFixed || blob.substr(0, 2) != kBlobMagic) return Invalid();
  if (static_cast<uint8_t>(blob[2]) != kBlobFormat) return Invalid();
  size_t id_len = static_cast<uint8_t>(blob[3]);
  if (id_len == 0 || id_len > kMaxBlobKeyId) return Invalid();
  size_t header_len = kFixed + id_len + 4;
  if (blob.size() < header_len + kBlobSealedMin) return Invalid();
  std::string_view id = blob.substr(kFixed, id_len);
  if (!IsBlobKeyId(id)) return Invalid();
  uint32_t version = GetU32(blob.substr(kFixed + id_len, 4));
  if (version == 0) return Invalid();
  ParsedBlob parsed;
  parsed.header.key_id = std::string(id);
  parsed.header.material_version = version;
  parsed.header_bytes = blob.substr(0, header_len);
  parsed.sealed = blob.substr(header_len);
  return parsed;
}

Result<EncryptionContext> ReadEncryptionContext(const json::Value* m) {
  EncryptionContext context;
  if (m == nullptr || m->is_null()) return context;
  if (!m->is_object()) return Status::Validation("EncryptionContext must be a map of strings.");
  for (const auto& [k, v] : m->as_object()) {
    if (!v.is_string()) return Status::Validation("EncryptionContext values must be strings.");
    context.emplace_back(k, v.as_string());
  }
  std::sort(context.begin(), context.end());
  for (size_t i = 1; i < context.size(); ++i) {
    if (context[i].first == context[i - 1].first) {
      return Status::Validation("EncryptionContext has a duplicate key.");
    }
  }
  return context;
}

std::string CanonicalContext(const EncryptionContext& context) {
  std::string out;
  PutU32(out, static_cast<uint32_t>(context.size()));
  for (const auto& [k, v] : context) {
    PutU32(out, static_cast<uint32_t>(k.size()));
    out += k;
    PutU32(out, static_cast<uint32_t>(v.size()));
    out += v;
  }
  return out;
}

}  // namespace rampart::kms
