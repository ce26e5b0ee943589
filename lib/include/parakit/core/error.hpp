// Error types shared by every layer. Each carries the process exit code the CLI
// should end with (see README "Exit codes").
#pragma once

#include <stdexcept>
#include <string>

namespace parakit {

/// Exit codes every subcommand keeps.
enum ExitCode : int {
  kExitOk = 0,
  kExitTasksFailed = 1,
  kExitUsage = 2,
  kExitInternal = 3,
  kExitSigint = 130,
  kExitSigterm = 143,
};

/// Base of all parakit errors. `what()` is a one-line message without the
/// "parakit: error: " prefix.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int exit_code)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

/// Bad command-line usage (unknown option, malformed value).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message, kExitUsage) {}
};

/// Bad input data (missing, truncated or malformed file).
class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(message, kExitUsage) {}
};

/// A bug or an environment failure that is not the user's fault.
class InternalError : public Error {
 public:
  explicit InternalError(const std::string& message) : Error(message, kExitInternal) {}
};

}  // namespace parakit
