// Status and Result<T>: how expected failures travel without exceptions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace common {

// kNoSpace: the disk is full; a state the broker waits out, not a crash.
enum class Code { kOk, kNotFound, kCorrupt, kIoError, kRejected, kInvalid, kNoSpace };

const char* CodeName(Code code);
// Stable ids for the wire ("not_found"), and back (unknown ids: kRejected).
const char* CodeId(Code code);
Code CodeFromId(std::string_view id);

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
  // "invalid: team must be a positive integer" (or "ok").
  std::string ToString() const;

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
  const T& value() const& { return std::get<T>(v_); }  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }              // REQUIRES: ok()
  T&& value() && { return std::get<T>(std::move(v_)); }  // REQUIRES: ok()
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace common
