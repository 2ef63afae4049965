// Pipes for relaying tunnel bytes with splice(2): socket -> pipe -> socket,
// so the bytes never enter the proxy's address space.
//
// A pipe costs kernel memory (its pipe_inode_info, and up to its capacity
// in pages while it holds bytes), so a tunnel borrows one only while
// bytes flow and hands it back, empty, as soon as its read side would
// block. Empty pipes wait in a small per-worker pool for the next burst;
// an idle tunnel holds none.
//
// Thread-safety: a PipePool belongs to one worker thread; a Pipe to one
// connection on it.
#pragma once

#include <cstddef>
#include <vector>

#include <sys/types.h>

namespace rampart::proxy {

// The two ends of one pipe, both non-blocking and close-on-exec. Move-only;
// closes both ends when destroyed.
class Pipe {
 public:
  Pipe() = default;
  Pipe(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  Pipe(Pipe&& other) noexcept;
  Pipe& operator=(Pipe&& other) noexcept;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe();

  bool valid() const { return read_fd_ >= 0; }
  int read_fd() const { return read_fd_; }
  int write_fd() const { return write_fd_; }

 private:
  void Reset();
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// What one splice call did: bytes moved (0 with eof: the source ended),
// or would_block, or an errno.
struct SpliceResult {
  size_t bytes = 0;
  bool eof = false;
  bool would_block = false;
  int error = 0;
};

// Moves up to `max` bytes from fd `from` to fd `to` without blocking; one
// of them must be a pipe end.
SpliceResult SpliceOnce(int from, int to, size_t max);

class PipePool {
 public:
  // max_idle: empty pipes kept for reuse; capacity: each pipe's size
  // (F_SETPIPE_SZ; the kernel default is kept when that fails).
  PipePool(size_t max_idle, size_t capacity);

  // An empty pipe from the pool or a new one; invalid when none can be
  // made (descriptor limits): the caller falls back to a buffer.
  Pipe Take();
  // REQUIRES: `pipe` holds no bytes. Kept while the pool has room, else
  // closed.
  void Give(Pipe pipe);

  size_t idle() const { return idle_.size(); }
  size_t capacity() const { return capacity_; }  // as asked for

 private:
  size_t max_idle_;
  size_t capacity_;
  std::vector<Pipe> idle_;
};

}  // namespace rampart::proxy
