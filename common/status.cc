#include "common/status.h"

namespace common {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not found";
    case Code::kCorrupt: return "corrupt";
    case Code::kIoError: return "io error";
    case Code::kRejected: return "rejected";
    case Code::kInvalid: return "invalid";
    case Code::kNoSpace: return "no space";
  }
  return "unknown";
}

const char* CodeId(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kCorrupt: return "corrupt";
    case Code::kIoError: return "io_error";
    case Code::kRejected: return "rejected";
    case Code::kInvalid: return "invalid";
    case Code::kNoSpace: return "no_space";
  }
  return "rejected";
}

Code CodeFromId(std::string_view id) {
  for (Code c : {Code::kNotFound, Code::kCorrupt, Code::kIoError, Code::kInvalid, Code::kNoSpace}) {
    if (id == CodeId(c)) return c;
  }
  return Code::kRejected;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace common
