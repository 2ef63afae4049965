// Digest chain files: gzip, streaming hashes, atomic writes.
#include "audit/digest_io.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <sys/stat.h>

#include "rampart/core/encoding.h"

namespace rampart::audit::internal {
namespace {

constexpr size_t kChunk = 256 * 1024;

// Inflates gz in chunks, handing each to sink; kValidation on a bad stream.
template <typename Sink>
Status Inflate(std::string_view gz, Sink&& sink) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper only.
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return Status::Internal("inflateInit2 failed");
  std::string buf(kChunk, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  Status st = Status::Ok();
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      st = Status::Validation("not a gzip stream");
      break;
    }
    size_t produced = buf.size() - zs.avail_out;
    if (rc == Z_OK && produced == 0 && zs.avail_in == 0) {
      st = Status::Validation("truncated gzip stream");
      break;
    }
    st = sink(std::string_view(buf.data(), produced));
    if (!st.ok()) break;
  }
  inflateEnd(&zs);
  return st;
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
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[kChunk];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      ::close(fd);
      return Status::Internal("cannot read " + path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace rampart::audit::internal
