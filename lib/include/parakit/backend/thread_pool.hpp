// A persistent fork-join pool: `size()` threads, of which the calling thread is thread 0.
// Threads are created once (creating one per task costs ~40 us here) and reused.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace parakit {

class ThreadPool {
 public:
  /// Starts `threads - 1` background threads (threads >= 1). Throws UsageError for a count
  /// below 1 and InternalError when the system refuses to start the threads.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const noexcept { return size_; }

  /// Runs job(tid) for tid = 0..size()-1, tid 0 on the calling thread, and returns when all
  /// have finished. If jobs throw, the first exception (lowest tid) is rethrown here after
  /// every thread has finished. Not reentrant: do not call run() from inside a job.
  void run(const std::function<void(int tid)>& job);

 private:
  void worker_loop(int tid);
  void stop_and_join() noexcept;

  int size_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable start_;
  std::condition_variable done_;
  const std::function<void(int)>* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::vector<std::exception_ptr> errors_;
};

}  // namespace parakit
