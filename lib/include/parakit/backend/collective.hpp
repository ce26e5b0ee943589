// Turning an error that some ranks see into one that every rank sees.
#pragma once

#include <climits>
#include <exception>
#include <string>
#include <utility>

#include "parakit/backend/comm.hpp"
#include "parakit/core/error.hpp"

namespace parakit {

/// An error every rank of a communicator raised together, with the same message, after
/// agreeing on it. Only one rank needs to print it.
class AgreedError : public Error {
 public:
  AgreedError(const std::string& message, int exit_code, int origin_rank)
      : Error(message, exit_code), origin_rank_(origin_rank) {}
  int origin_rank() const noexcept { return origin_rank_; }

 private:
  int origin_rank_;
};

/// Runs `local()` on every rank of `comm` (collective: every rank must call it). If it throws
/// parakit::Error on any rank, every rank throws AgreedError carrying the message and exit
/// code of the lowest failing rank, so the whole job ends together instead of deadlocking in
/// the next collective. Any other std::exception counts as an internal error (exit 3).
template <class F>
void collectively(const Comm& comm, F&& local) {
  std::string message;
  int exit_code = kExitOk;
  try {
    std::forward<F>(local)();
  } catch (const AgreedError&) {
    throw;
  } catch (const Error& error) {
    message = error.what();
    exit_code = error.exit_code() == kExitOk ? kExitInternal : error.exit_code();
  } catch (const std::exception& error) {
    message = std::string("internal error: ") + error.what();
    exit_code = kExitInternal;
  }
  const int failed_rank = comm.all_reduce(exit_code != kExitOk ? comm.rank() : INT_MAX, ops::min{});
  if (failed_rank == INT_MAX) return;
  auto failure = comm.broadcast(std::make_pair(message, exit_code), failed_rank);
  throw AgreedError(failure.first, failure.second, failed_rank);
}

}  // namespace parakit
