// Fuzzes the gzip reader of the audit digests and log files
// (audit/digest_io.h: ISA-L for the header and the deflate data, the
// trailer checked with crypto::Crc32) against zlib, and crypto::Crc32
// against zlib's crc32.
// Invariants: never a crash; whatever the reader accepts, zlib accepts too
// and inflates to the same bytes (the reader may be stricter, never
// looser: a file whose trailer does not match its contents is refused, as
// `aws cloudtrail validate-logs` refuses it), with one known exception:
// ISA-L inflates a dynamic block whose Huffman code is incomplete, which
// zlib calls an invalid code set (docs/audit.md); the hash of the stream
// equals the SHA-256 of GunzipBytes' output; Crc32 of the input, split
// where the first byte says, equals zlib's.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/digest_io.h"
#include "crypto/crc32.h"
#include "rampart/core/check.h"
#include "rampart/crypto/digest.h"

namespace {

constexpr size_t kMaxOut = size_t{4} << 20;

struct ZlibResult {
  std::optional<std::string> out;  // nullopt when zlib refuses the stream
  std::string_view message;        // zlib's reason, when it gives one
};

// zlib's inflate of one gzip member (trailing bytes ignored); refused too
// when it inflates beyond kMaxOut.
ZlibResult ZlibGunzip(std::string_view gz) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return {};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > kMaxOut) rc = Z_MEM_ERROR;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended early
  }
  // zs.msg points at one of zlib's static strings: still valid after End.
  std::string_view message = zs.msg == nullptr ? "" : zs.msg;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return {std::nullopt, message};
  return {std::move(out), ""};
}

// zlib's words for an incomplete or over-subscribed Huffman code, which
// ISA-L does not check.
bool InvalidCodeSet(std::string_view message) {
  return message == "invalid code lengths set" || message == "invalid literal/lengths set" ||
         message == "invalid distances set";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  size_t split = size == 0 ? 0 : data[0] * size / 256;
  uint32_t crc = rampart::crypto::Crc32(rampart::crypto::Crc32(0, in.substr(0, split)),
                                        in.substr(split));
  RAMPART_CHECK(crc == static_cast<uint32_t>(crc32(0, data, static_cast<uInt>(size))));

  auto ours = rampart::audit::internal::GunzipBytes(in, kMaxOut);
  if (ours.ok()) {
    ZlibResult zlib = ZlibGunzip(in);
    RAMPART_CHECK(zlib.out.has_value() || InvalidCodeSet(zlib.message));
    RAMPART_CHECK(!zlib.out || *zlib.out == *ours);
    auto hash = rampart::audit::internal::Sha256OfGunzipped(in);
    RAMPART_CHECK(hash.ok() && *hash == rampart::crypto::Sha256Hex(*ours));
  }
  return 0;
}
