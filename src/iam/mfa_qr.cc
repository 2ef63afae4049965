#include "iam/mfa_qr.h"

#include <qrencode.h>
#include <zlib.h>

#include <memory>

namespace rampart::iam::internal {
namespace {

constexpr int kScale = 4;  // pixels per module
constexpr int kQuiet = 4;  // modules of white border (ISO/IEC 18004)

void PutBe32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// One PNG chunk: length, type, data, CRC over type and data.
void PutChunk(std::string& out, std::string_view type, std::string_view data) {
  PutBe32(out, static_cast<uint32_t>(data.size()));
  std::string body(type);
  body.append(data);
  out.append(body);
  uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  PutBe32(out, static_cast<uint32_t>(crc));
}

// Raw scanlines (filter byte 0 + one grey byte per pixel) of the symbol.
std::string Scanlines(const QRcode& qr, int side) {
  std::string raw;
  raw.reserve(static_cast<size_t>(side) * (side + 1));
  for (int y = 0; y < side; ++y) {
    raw.push_back('\0');
    const int my = y / kScale - kQuiet;
    for (int x = 0; x < side; ++x) {
      const int mx = x / kScale - kQuiet;
      bool dark = mx >= 0 && my >= 0 && mx < qr.width && my < qr.width &&
                  (qr.data[my * qr.width + mx] & 1) != 0;
      raw.push_back(dark ? '\0' : static_cast<char>(0xff));
    }
  }
  return raw;
}

}  // namespace

Result<std::string> QrCodePng(std::string_view text) {
  std::string input(text);
  std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
      QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
  if (!qr) return Status::Internal("QR encoding failed");
  const int side = (qr->width + 2 * kQuiet) * kScale;
  std::string raw = Scanlines(*qr, side);
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                Z_BEST_COMPRESSION) != Z_OK) {
    return Status::Internal("PNG compression failed");
  }
  packed.resize(packed_size);

  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  PutBe32(header, static_cast<uint32_t>(side));
  PutBe32(header, static_cast<uint32_t>(side));
  header.append("\x08\x00\x00\x00\x00", 5);  // 8-bit greyscale, deflate, no interlace
  PutChunk(png, "IHDR", header);
  PutChunk(png, "IDAT", packed);
  PutChunk(png, "IEND", "");
  return png;
}

}  // namespace rampart::iam::internal
