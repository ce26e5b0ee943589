#include "parakit/core/signals.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>

#include "parakit/core/error.hpp"

namespace parakit {
namespace {

volatile std::sig_atomic_t g_received = 0;
std::atomic<bool> g_installed{false};
struct sigaction g_old_int {};
struct sigaction g_old_term {};

extern "C" void on_stop_signal(int signal) {
  if (g_received != 0) {  // second signal: give up gracefulness
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_received = signal;
}

}  // namespace

StopOnSignal::StopOnSignal() {
  if (g_installed.exchange(true)) throw InternalError("StopOnSignal is already installed");
  g_received = 0;
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
  return g_received;
}

void StopOnSignal::request(int signal) noexcept {
  if (g_received == 0) g_received = signal;
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
