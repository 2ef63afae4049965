#include "rampart/proxy/cursor.h"

namespace rampart::proxy {

bool Cursor::ReadUint(size_t n, uint32_t& out) {
  if (remaining() < n) return Fail();
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint32_t>(data_[pos_ + i]);
  pos_ += n;
  out = v;
  return true;
}

bool Cursor::ReadBytes(size_t n, Cursor& out) {
  if (remaining() < n) return Fail();
  out = Cursor(data_.subspan(pos_, n));
  pos_ += n;
  return true;
}

bool Cursor::ReadBytes(size_t n, std::string_view& out) {
  if (remaining() < n) return Fail();
  out = std::string_view(reinterpret_cast<const char*>(data_.data() + pos_), n);
  pos_ += n;
  return true;
}

bool Cursor::Skip(size_t n) {
  if (remaining() < n) return Fail();
  pos_ += n;
  return true;
}

bool Cursor::ReadVector(size_t prefix_bytes, Cursor& out) {
  uint32_t len = 0;
  if (!ReadUint(prefix_bytes, len)) return false;
  return ReadBytes(len, out);
}

}  // namespace rampart::proxy
