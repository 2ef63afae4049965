#include "splice_pipe.h"

#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace rampart::proxy {

Pipe::Pipe(Pipe&& other) noexcept
    : read_fd_(std::exchange(other.read_fd_, -1)), write_fd_(std::exchange(other.write_fd_, -1)) {}

Pipe& Pipe::operator=(Pipe&& other) noexcept {
  if (this != &other) {
    Reset();
    read_fd_ = std::exchange(other.read_fd_, -1);
    write_fd_ = std::exchange(other.write_fd_, -1);
  }
  return *this;
}

Pipe::~Pipe() { Reset(); }

void Pipe::Reset() {
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  read_fd_ = write_fd_ = -1;
}

SpliceResult SpliceOnce(int from, int to, size_t max) {
  SpliceResult r;
  ssize_t n;
  do {
    n = ::splice(from, nullptr, to, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    r.bytes = static_cast<size_t>(n);
  } else if (n == 0) {
    r.eof = true;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    r.would_block = true;
  } else {
    r.error = errno;
  }
  return r;
}

PipePool::PipePool(size_t max_idle, size_t capacity) : max_idle_(max_idle), capacity_(capacity) {}

Pipe PipePool::Take() {
  if (!idle_.empty()) {
    Pipe p = std::move(idle_.back());
    idle_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return Pipe();
  // A larger pipe moves more per call; the default (64 KiB) stays when
  // the size is refused (over /proc/sys/fs/pipe-max-size, or the user's
  // pipe quota is spent).
  (void)::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(capacity_));
  return Pipe(fds[0], fds[1]);
}

void PipePool::Give(Pipe pipe) {
  if (pipe.valid() && idle_.size() < max_idle_) idle_.push_back(std::move(pipe));
}

}  // namespace rampart::proxy
