// Digest chain files: gzip (zlib to write, ISA-L to read), streaming hashes,
// atomic writes.
#include "audit/digest_io.h"

#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <sys/stat.h>

#include <climits>
#include <cstdint>
#include <memory>

#include "rampart/core/encoding.h"

namespace rampart::audit::internal {
namespace {

constexpr size_t kChunk = 256 * 1024;

// Inflates gz (one gzip member; what follows it is ignored, as zlib does)
// in chunks, handing each to sink; kValidation on a bad or truncated stream
// or a wrong CRC-32. ISA-L's inflate runs several times faster than
// zlib's on CloudTrail logs (docs/benchmarks.md), and `rampart audit
// validate` inflates every log file of the range.
template <typename Sink>
Status Inflate(std::string_view gz, Sink&& sink) {
  // inflate_state holds ISA-L's window and tables (tens of KiB): not on
  // the stack of the hashing threads.
  auto state = std::make_unique<inflate_state>();
  isal_inflate_init(state.get());
  state->crc_flag = ISAL_GZIP;  // parse the gzip header, check the trailer's CRC-32
  if (gz.size() > UINT32_MAX) return Status::Validation("gzip stream too large");
  state->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(gz.data()));
  state->avail_in = static_cast<uint32_t>(gz.size());
  std::string buf(kChunk, '\0');
  while (state->block_state != ISAL_BLOCK_FINISH) {
    state->next_out = reinterpret_cast<uint8_t*>(buf.data());
    state->avail_out = static_cast<uint32_t>(buf.size());
    uint32_t before = state->avail_in;
    int rc = isal_inflate(state.get());
    if (rc != ISAL_DECOMP_OK) return Status::Validation("not a gzip stream");
    size_t produced = buf.size() - state->avail_out;
    // Neither output nor input moved: the input ended early (or, never
    // seen, the decoder stalls); either way, no endless loop.
    if (produced == 0 && state->avail_in == before &&
        state->block_state != ISAL_BLOCK_FINISH) {
      return Status::Validation("truncated gzip stream");
    }
    RETURN_IF_ERROR(sink(std::string_view(buf.data(), produced)));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> GzipBytes(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return Status::Internal("deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::Internal("deflate failed");
  return out;
}

Result<std::string> GunzipBytes(std::string_view gz, size_t max_out) {
  std::string out;
  RETURN_IF_ERROR(Inflate(gz, [&](std::string_view chunk) -> Status {
    if (out.size() + chunk.size() > max_out) return Status::Validation("inflates too large");
    out.append(chunk);
    return Status::Ok();
  }));
  return out;
}

Result<std::string> Sha256OfGunzipped(std::string_view gz) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return Status::Internal("sha256 init failed");
  }
  Status st = Inflate(gz, [&](std::string_view chunk) -> Status {
    EVP_DigestUpdate(ctx, chunk.data(), chunk.size());
    return Status::Ok();
  });
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  RETURN_IF_ERROR(st);
  return HexEncode(std::string_view(reinterpret_cast<char*>(md), n));
}

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return Status::Internal("cannot create " + path.parent_path().string());
  std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot create " + tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  bool ok = done == bytes.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::Internal("cannot write " + path.string());
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(ErrorCode::kNotFound, "not found: " + path.string());
  std::string out;
  struct stat st{};
  // Read straight into the result, sized by fstat; a file that grows
  // meanwhile is read on in chunks.
  size_t size = ::fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
  out.resize(size + 1);
  size_t done = 0;
  while (true) {
    if (done == out.size()) out.resize(out.size() + kChunk);
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      ::close(fd);
      return Status::Internal("cannot read " + path.string());
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

}  // namespace rampart::audit::internal
