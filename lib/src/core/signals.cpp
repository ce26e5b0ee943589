#include "parakit/core/signals.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>

#include "parakit/core/error.hpp"

namespace parakit {
namespace {

// Written by the handler on whichever thread takes the signal, read by every thread.
std::atomic<int> g_received{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free flag");
std::atomic<bool> g_installed{false};
struct sigaction g_old_int {};
struct sigaction g_old_term {};

extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  if (!g_received.compare_exchange_strong(expected, signal)) {  // second signal: give up
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

}  // namespace

StopOnSignal::StopOnSignal() {
  if (g_installed.exchange(true)) throw InternalError("StopOnSignal is already installed");
  g_received.store(0);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
}

StopOnSignal::~StopOnSignal() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_installed = false;
}

int StopOnSignal::received() noexcept {
  return g_received.load();
}

void StopOnSignal::request(int signal) noexcept {
  int expected = 0;
  g_received.compare_exchange_strong(expected, signal);
}

const char* signal_name(int signal) noexcept {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGKILL:
      return "SIGKILL";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal";
  }
}

}  // namespace parakit
