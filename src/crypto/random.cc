#include "rampart/crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>

#include "crypto/random_internal.h"

namespace rampart::crypto {
namespace internal {
namespace {

std::atomic<uint64_t> fork_generation{0};

void CountFork() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

std::optional<uint64_t> ForkGeneration() {
  static const bool registered = pthread_atfork(nullptr, nullptr, CountFork) == 0;
  if (!registered) return std::nullopt;
  return fork_generation.load(std::memory_order_relaxed);
}

}  // namespace internal

namespace {

constexpr size_t kPublicBuffer = 4096;

// A thread's unread public-DRBG output: bytes[used, kPublicBuffer) are
// unread. Filled before a fork (generation), it is refilled before use.
struct PublicBuffer {
  unsigned char bytes[kPublicBuffer];
  size_t used = kPublicBuffer;  // empty: the first call fills it
  uint64_t generation = 0;

  bool Take(unsigned char* out, size_t n, uint64_t now) {
    if (generation != now || used + n > kPublicBuffer) {
      if (RAND_bytes(bytes, static_cast<int>(kPublicBuffer)) != 1) {
        used = kPublicBuffer;
        return false;
      }
      used = 0;
      generation = now;
    }
    std::memcpy(out, bytes + used, n);
    used += n;
    return true;
  }
};

static_assert(kMaxBufferedPublic <= kPublicBuffer);

// A thread's unread private-DRBG output in one mmap()ed page: a count of
// unread bytes, then the bytes, the unread ones at the end. Bytes handed
// out are already zero. The page is kept out of core dumps, and where the
// kernel has MADV_WIPEONFORK a forked child sees it all zero, so its count
// says "empty"; elsewhere the fork generation tells the child to refill.
// Not usable (callers go to the DRBG directly) when the page cannot be
// mapped, or when neither way of noticing a fork is available.
class SecretBuffer {
 public:
  SecretBuffer() {
    long page = sysconf(_SC_PAGESIZE);
    size_ = page > 0 ? static_cast<size_t>(page) : size_t{4096};
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    page_ = static_cast<unsigned char*>(p);
    capacity_ = size_ - sizeof(size_t);
    (void)madvise(page_, size_, MADV_DONTDUMP);  // best effort
#ifdef MADV_WIPEONFORK
    wipe_on_fork_ = madvise(page_, size_, MADV_WIPEONFORK) == 0;
#endif
    SetLeft(0);
  }
  ~SecretBuffer() {
    if (page_ == nullptr) return;
    OPENSSL_cleanse(page_, size_);
    munmap(page_, size_);
  }
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;

  // Copies n (<= kMaxBufferedSecret) unread bytes to out and wipes them
  // here. False when the buffer is not usable or the DRBG fails.
  bool Take(unsigned char* out, size_t n) {
    if (page_ == nullptr) return false;
    if (!wipe_on_fork_) {
      const std::optional<uint64_t> now = internal::ForkGeneration();
      if (!now) return false;
      if (*now != generation_) Empty();
      generation_ = *now;
    }
    size_t left = Left();
    if (left < n) {
      if (!Refill()) return false;
      left = capacity_;
    }
    unsigned char* from = Bytes() + (capacity_ - left);
    std::memcpy(out, from, n);
    OPENSSL_cleanse(from, n);
    SetLeft(left - n);
    return true;
  }

 private:
  unsigned char* Bytes() const { return page_ + sizeof(size_t); }
  size_t Left() const {
    size_t left = 0;
    std::memcpy(&left, page_, sizeof left);
    return left <= capacity_ ? left : 0;
  }
  void SetLeft(size_t left) { std::memcpy(page_, &left, sizeof left); }
  void Empty() {
    OPENSSL_cleanse(Bytes(), capacity_);
    SetLeft(0);
  }
  bool Refill() {
    if (RAND_priv_bytes(Bytes(), static_cast<int>(capacity_)) != 1) {
      Empty();
      return false;
    }
    SetLeft(capacity_);
    return true;
  }

  unsigned char* page_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool wipe_on_fork_ = false;
  uint64_t generation_ = 0;
};

// Pages are at least 4 KiB, so a page holds several buffered requests.
static_assert(kMaxBufferedSecret <= 4096 - sizeof(size_t));

}  // namespace

bool FillPublicRandom(unsigned char* out, size_t n) {
  if (n == 0) return true;
  const std::optional<uint64_t> generation = internal::ForkGeneration();
  if (!generation || n > kMaxBufferedPublic) {
    return n <= kMaxRandomBytes && RAND_bytes(out, static_cast<int>(n)) == 1;
  }
  thread_local PublicBuffer buffer;
  return buffer.Take(out, n, *generation);
}

Result<std::string> RandomBytes(size_t n) {
  if (n > kMaxRandomBytes) return Status::Validation("too many random bytes requested");
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::Internal("random generator failure");
  }
  return out;
}

Result<SecretBytes> RandomSecret(size_t n) {
  if (n > kMaxRandomBytes) return Status::Validation("too many random bytes requested");
  SecretBytes out(n);
  if (n == 0) return out;
  auto* dest = reinterpret_cast<unsigned char*>(out.mutable_data());
  bool ok = false;
  if (n <= kMaxBufferedSecret) {
    thread_local SecretBuffer buffer;
    ok = buffer.Take(dest, n);
  }
  if (!ok) ok = RAND_priv_bytes(dest, static_cast<int>(n)) == 1;
  if (!ok) return Status::Internal("random generator failure");
  return out;
}

}  // namespace rampart::crypto
