#include "parakit/backend/thread_pool.hpp"

#include <string>
#include <system_error>

#include "parakit/core/error.hpp"

namespace parakit {

ThreadPool::ThreadPool(int threads) : size_(threads) {
  if (threads < 1) throw UsageError("the thread count must be at least 1");
  errors_.resize(static_cast<std::size_t>(threads));
  threads_.reserve(static_cast<std::size_t>(threads - 1));
  try {
    for (int tid = 1; tid < threads; ++tid) {
      threads_.emplace_back([this, tid] { worker_loop(tid); });
    }
  } catch (const std::system_error& error) {
    stop_and_join();
    throw InternalError("cannot start " + std::to_string(threads) + " threads: " + error.what());
  }
}

void ThreadPool::stop_and_join() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

ThreadPool::~ThreadPool() {
  stop_and_join();
}

void ThreadPool::run(const std::function<void(int)>& job) {
  for (auto& error : errors_) error = nullptr;
  {
    std::lock_guard lock(mutex_);
    job_ = &job;
    pending_ = size_ - 1;
    ++generation_;
  }
  start_.notify_all();
  try {
    job(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }
  for (auto& error : errors_) {
    if (error) std::rethrow_exception(error);
  }
}

void ThreadPool::worker_loop(int tid) {
  std::uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
    }
    try {
      (*job)(tid);
    } catch (...) {
      errors_[static_cast<std::size_t>(tid)] = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

}  // namespace parakit
