// Digest chain files: gzip (zlib to write, ISA-L to read), streaming hashes
// (OpenSSL, or many files at once in multi-buffer lanes), atomic writes.
#include "audit/digest_io.h"

#include <fcntl.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "crypto/crc32.h"
#include "crypto/sha256_mb.h"
#include "rampart/core/encoding.h"

namespace rampart::audit::internal {
namespace {

constexpr size_t kChunk = 256 * 1024;
// Lanes inflate chunks as large as the one-file path's. After each call
// ISA-L copies the last 32 KiB of its output aside (the window the next
// call may refer back to), so 64 KiB chunks copied half of every byte
// again; at 256 KiB the 16 chunks of an AVX-512 step (4 MiB) no longer fit
// the L2 cache, yet the whole run took less CPU (docs/benchmarks.md,
// session 7). With the SHA extensions' two lanes, 128 KiB and 1 MiB
// measured the same as 256 KiB (session 9).
constexpr size_t kLaneChunk = 256 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
// ISA-L counts input in 32 bits: memory is handed over in slices.
constexpr size_t kMaxSlice = size_t{1} << 30;

// One gzip member (what follows it is ignored, as zlib does), inflated a
// chunk at a time with ISA-L, from memory or from a file read in chunks.
// ISA-L's inflate runs several times faster than zlib's on CloudTrail logs
// (docs/benchmarks.md), and `rampart audit validate` inflates every log
// file of the range. ISA-L parses the header and inflates the raw deflate
// data; the trailer's CRC-32 and length are checked here (UpdateCrc).
// Thread-safety: one thread at a time.
class GunzipStream {
 public:
  // Reads gz, which must outlive the stream.
  GunzipStream(std::string_view gz, size_t chunk) : GunzipStream(chunk) { rest_ = gz; }
  // Reads the open file fd, and closes it when destroyed.
  GunzipStream(int fd, size_t chunk) : GunzipStream(chunk) {
    fd_ = fd;
    in_.resize(kReadChunk);
  }
  ~GunzipStream() {
    if (fd_ >= 0) ::close(fd_);
  }
  GunzipStream(const GunzipStream&) = delete;
  GunzipStream& operator=(const GunzipStream&) = delete;

  // The member ended and its trailer matched.
  bool finished() const { return phase_ == Phase::kDone; }

  // The next inflated bytes (up to one chunk, valid until the next call;
  // empty once finished); kValidation on a bad or truncated stream or a
  // trailer that does not match, kInternal when the file cannot be read.
  Result<std::string_view> Next() {
    if (phase_ == Phase::kHeader) RETURN_IF_ERROR(ReadHeader());
    state_->next_out = reinterpret_cast<uint8_t*>(out_.data());
    state_->avail_out = static_cast<uint32_t>(out_.size());
    while (phase_ == Phase::kBody && state_->avail_out > 0) {
      if (state_->avail_in == 0 && !source_ended_) RETURN_IF_ERROR(Refill());
      uint32_t in_before = state_->avail_in, out_before = state_->avail_out;
      if (isal_inflate(state_.get()) != ISAL_DECOMP_OK) {
        return Status::Validation("not a gzip stream");
      }
      if (state_->block_state == ISAL_BLOCK_FINISH) {
        phase_ = Phase::kTrailer;
      } else if (state_->avail_in == in_before && state_->avail_out == out_before &&
                 (source_ended_ || state_->avail_in > 0)) {
        // Nothing moved: the input ended early (or, never seen, the decoder
        // stalls); either way, no endless loop.
        return Status::Validation("truncated gzip stream");
      }
    }
    std::string_view out(out_.data(), out_.size() - state_->avail_out);
    crc_ = UpdateCrc(crc_, out);
    size_ += out.size();
    if (phase_ == Phase::kTrailer) RETURN_IF_ERROR(CheckTrailer());
    return out;
  }

 private:
  enum class Phase { kHeader, kBody, kTrailer, kDone };

  explicit GunzipStream(size_t chunk)
      // inflate_state holds ISA-L's window and tables (85 KiB): not on the
      // stack of the hashing threads.
      : state_(std::make_unique<inflate_state>()), out_(chunk, '\0') {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_DEFLATE;  // raw deflate after the header; no checksum
  }

  // crypto::Crc32 where it folds with 256-bit VPCLMULQDQ (1.7 times ISA-L's
  // 128-bit folding, docs/benchmarks.md), except on CPUs with AVX-512,
  // where ISA-L folds 512 bits at a time; ISA-L's otherwise.
  static uint32_t UpdateCrc(uint32_t crc, std::string_view bytes) {
    static const bool own = crypto::Crc32Accelerated() && !__builtin_cpu_supports("avx512f");
    if (own) return crypto::Crc32(crc, bytes);
    return crc32_gzip_refl(crc, reinterpret_cast<const unsigned char*>(bytes.data()),
                           bytes.size());
  }

  // Makes input available; false when the source has ended.
  Result<bool> HaveInput() {
    while (state_->avail_in == 0) {
      if (source_ended_) return false;
      RETURN_IF_ERROR(Refill());
    }
    return true;
  }

  // The gzip header (name, comment and extra field skipped), read by ISA-L
  // across as many reads as it spans.
  Status ReadHeader() {
    isal_gzip_header header;
    isal_gzip_header_init(&header);
    while (true) {
      ASSIGN_OR_RETURN(bool more, HaveInput());
      if (!more) return Status::Validation("truncated gzip stream");
      int rc = isal_read_gzip_header(state_.get(), &header);
      if (rc == ISAL_DECOMP_OK) break;
      if (rc != ISAL_END_INPUT) return Status::Validation("not a gzip stream");
    }
    // ISA-L leaves the header's FLG byte in flags and ignores its reserved
    // bits (5-7); RFC 1952 and zlib refuse a header that sets them.
    if (header.flags & 0xE0) return Status::Validation("not a gzip stream: reserved flags set");
    phase_ = Phase::kBody;
    return Status::Ok();
  }

  // The eight bytes after the deflate data: the CRC-32 and the length
  // (modulo 2^32) of what was inflated, little endian. ISA-L reads ahead:
  // when the deflate data ends, the first of them may already sit in its
  // bit buffer (read_in, least significant bits first), after the unused
  // bits of the deflate data's last byte; the rest follow at next_in.
  Status CheckTrailer() {
    uint8_t trailer[8];
    size_t have = 0;
    if (state_->read_in_length < 0 || state_->read_in_length > 64) {
      return Status::Internal("unexpected inflate state");
    }
    uint64_t buffered = state_->read_in >> (state_->read_in_length % 8);
    for (int i = 0; i < state_->read_in_length / 8 && have < sizeof(trailer); ++i) {
      trailer[have++] = static_cast<uint8_t>(buffered >> (8 * i));
    }
    while (have < sizeof(trailer)) {
      ASSIGN_OR_RETURN(bool more, HaveInput());
      if (!more) return Status::Validation("truncated gzip stream");
      size_t n = std::min<size_t>(sizeof(trailer) - have, state_->avail_in);
      std::memcpy(trailer + have, state_->next_in, n);
      state_->next_in += n;
      state_->avail_in -= static_cast<uint32_t>(n);
      have += n;
    }
    auto le32 = [&trailer](size_t at) {
      return uint32_t{trailer[at]} | uint32_t{trailer[at + 1]} << 8 |
             uint32_t{trailer[at + 2]} << 16 | uint32_t{trailer[at + 3]} << 24;
    };
    if (le32(0) != crc_ || le32(4) != static_cast<uint32_t>(size_)) {
      return Status::Validation("not a gzip stream: the trailer's CRC-32 or length differs");
    }
    phase_ = Phase::kDone;
    return Status::Ok();
  }

  // Hands ISA-L the next input: a slice of memory, or a read of the file.
  Status Refill() {
    if (fd_ < 0) {
      std::string_view slice = rest_.substr(0, kMaxSlice);
      rest_.remove_prefix(slice.size());
      source_ended_ = rest_.empty();
      state_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(slice.data()));
      state_->avail_in = static_cast<uint32_t>(slice.size());
      return Status::Ok();
    }
    ssize_t n;
    do {
      n = ::read(fd_, in_.data(), in_.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Status::Internal("cannot read a log file");
    source_ended_ = n == 0;
    state_->next_in = reinterpret_cast<uint8_t*>(in_.data());
    state_->avail_in = static_cast<uint32_t>(n);
    return Status::Ok();
  }

  std::unique_ptr<inflate_state> state_;
  std::string out_;
  int fd_ = -1;
  std::string in_;         // the file's last read
  std::string_view rest_;  // memory not yet handed to ISA-L
  bool source_ended_ = false;
  Phase phase_ = Phase::kHeader;
  uint32_t crc_ = 0;   // CRC-32 of the bytes inflated so far
  uint64_t size_ = 0;  // how many
};

// Inflates gz in chunks, handing each to sink.
template <typename Sink>
Status Inflate(GunzipStream& stream, Sink&& sink) {
  while (!stream.finished()) {
    ASSIGN_OR_RETURN(std::string_view chunk, stream.Next());
    RETURN_IF_ERROR(sink(chunk));
  }
  return Status::Ok();
}

Result<std::unique_ptr<GunzipStream>> OpenGunzip(const std::filesystem::path& path, size_t chunk) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(ErrorCode::kNotFound, "not found: " + path.string());
  return std::make_unique<GunzipStream>(fd, chunk);
}

// Lowercase hex SHA-256 of what stream inflates to, with OpenSSL.
Result<std::string> Sha256OfStream(GunzipStream& stream) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return Status::Internal("sha256 init failed");
  }
  Status st = Inflate(stream, [&](std::string_view chunk) -> Status {
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
  GunzipStream stream(gz, kChunk);
  RETURN_IF_ERROR(Inflate(stream, [&](std::string_view chunk) -> Status {
    if (out.size() + chunk.size() > max_out) return Status::Validation("inflates too large");
    out.append(chunk);
    return Status::Ok();
  }));
  return out;
}

Result<std::string> Sha256OfGunzipped(std::string_view gz) {
  GunzipStream stream(gz, kChunk);
  return Sha256OfStream(stream);
}

Result<std::string> Sha256OfGunzippedFile(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<GunzipStream> stream, OpenGunzip(path, kChunk));
  return Sha256OfStream(*stream);
}

void Sha256OfGunzippedFiles(const std::function<std::optional<GunzipHashJob>()>& next,
                            const std::function<void(size_t, Result<std::string>)>& done) {
  crypto::Sha256MultiBuffer lanes;
  struct Open {
    size_t id = 0;
    std::unique_ptr<GunzipStream> stream;
  };
  std::vector<std::optional<Open>> open(crypto::Sha256MultiBuffer::ParallelLanes(lanes.kernel()));
  bool more = true;
  while (true) {
    // Every free lane takes the next file that opens.
    for (size_t lane = 0; lane < open.size() && more; ++lane) {
      while (!open[lane]) {
        std::optional<GunzipHashJob> job = next();
        if (!job) {
          more = false;
          break;
        }
        auto stream = OpenGunzip(job->path, kLaneChunk);
        if (!stream.ok()) {
          done(job->id, stream.status());
          continue;
        }
        open[lane] = Open{job->id, std::move(stream).value()};
        lanes.Start(lane);
      }
    }
    bool busy = false;
    // One chunk of each file, then the lanes hash them side by side.
    for (size_t lane = 0; lane < open.size(); ++lane) {
      if (!open[lane]) continue;
      auto chunk = open[lane]->stream->Next();
      if (!chunk.ok()) {
        lanes.Finish(lane);  // frees the lane; its digest means nothing
        done(open[lane]->id, chunk.status());
        open[lane].reset();
        continue;
      }
      lanes.Feed(lane, *chunk);
      busy = true;
    }
    if (!busy && !more) break;
    lanes.Run();
    for (size_t lane = 0; lane < open.size(); ++lane) {
      if (!open[lane] || !open[lane]->stream->finished()) continue;
      std::array<uint8_t, 32> digest = lanes.Finish(lane);
      done(open[lane]->id,
           HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size())));
      open[lane].reset();
    }
  }
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
