// A bounds-checked reader over untrusted bytes (TLS records, ClientHello).
// Every read either succeeds completely or fails and leaves the cursor in
// a sticky failed state, so parsers can chain reads and check once.
//
// Thread-safety: a value type over borrowed bytes; not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace rampart::proxy {

class Cursor {
 public:
  Cursor() = default;
  explicit Cursor(std::span<const std::byte> bytes) : data_(bytes) {}
  explicit Cursor(std::string_view bytes)
      : data_(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  bool empty() const { return remaining() == 0; }

  // Big-endian unsigned integers of 1, 2 or 3 bytes (TLS presentation).
  bool ReadU8(uint32_t& out) { return ReadUint(1, out); }
  bool ReadU16(uint32_t& out) { return ReadUint(2, out); }
  bool ReadU24(uint32_t& out) { return ReadUint(3, out); }

  // n bytes as a sub-cursor / as a view.
  bool ReadBytes(size_t n, Cursor& out);
  bool ReadBytes(size_t n, std::string_view& out);
  bool Skip(size_t n);
  // A TLS vector: a `prefix_bytes`-byte length, then that many bytes.
  bool ReadVector(size_t prefix_bytes, Cursor& out);

  // Marks the cursor failed (e.g. on a semantic error) and returns false.
  bool Fail() {
    ok_ = false;
    return false;
  }

 private:
  bool ReadUint(size_t n, uint32_t& out);

  std::span<const std::byte> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace rampart::proxy
