// SecretBytes: key material, passwords and secret access keys. Zeroes its
// storage on destruction and on reassignment, and has no stream or format
// operator, so it cannot end up in a log by accident.
//
// Thread-safety: value type.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rampart {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::string_view bytes) : data_(bytes) {}
  explicit SecretBytes(size_t n) : data_(n, '\0') {}
  SecretBytes(const SecretBytes& o) : data_(o.data_) {}
  SecretBytes(SecretBytes&& o) noexcept : data_(std::move(o.data_)) { o.Wipe(); }
  SecretBytes& operator=(const SecretBytes& o);
  SecretBytes& operator=(SecretBytes&& o) noexcept;
  ~SecretBytes() { Wipe(); }

  // The bytes, for passing to crypto primitives only.
  std::string_view reveal() const { return data_; }
  char* mutable_data() { return data_.data(); }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }

 private:
  void Wipe() noexcept;
  std::string data_;
};

// Constant-time equality for MACs and signatures.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace rampart
