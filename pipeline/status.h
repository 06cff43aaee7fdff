// Status and Result<T> for the pipeline: how expected failures travel without
// exceptions. Kept local so the pipeline builds on its own (see STYLE.md).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pipeline {

// kTempFail means "a required input is not there yet": the run exits 75 and
// the scheduler retries with backoff. kUsage exits 64, everything else 1.
enum class Code { kOk, kTempFail, kInvalidInput, kIoError, kUsage };

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status Error(Code code, std::string message) {
    Status s;
    s.code_ = code;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A T, or the error explaining its absence.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status error) : v_(std::move(error)) {}
  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }    // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }               // REQUIRES: ok()
  T&& value() && { return std::get<T>(std::move(v_)); }  // REQUIRES: ok()
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

// Process exit codes of the pipeline contract (sysexits.h values).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitTempFail = 75;

inline int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kTempFail:
      return kExitTempFail;
    case Code::kUsage:
      return kExitUsage;
    default:
      return kExitFailure;
  }
}

}  // namespace pipeline
