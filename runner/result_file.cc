#include "runner/result_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "runner/dir_fd.h"

namespace runner {

using common::Code;
using common::Status;

namespace {

Status Invalid(const std::string& reason) {
  return Status::Error(Code::kInvalid, "result file invalid: " + reason);
}

const char* FileType(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a plain file";
}

// Reads at most kMaxResultFileBytes + 1 bytes, so a file that grows after
// fstat is still caught.
common::Result<std::string> ReadBounded(int fd, const std::string& path) {
  std::string text(kMaxResultFileBytes + 1, '\0');
  std::size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Invalid("cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  if (size > kMaxResultFileBytes) {
    return Invalid(path + " is larger than " + std::to_string(kMaxResultFileBytes) + " bytes");
  }
  text.resize(size);
  return text;
}

Status CheckKey(const std::string& key) {
  if (key.empty()) return Invalid("a metric key is empty");
  if (key.size() > kMaxMetricKeyBytes) {
    return Invalid("a metric key of " + std::to_string(key.size()) + " bytes is longer than " +
                   std::to_string(kMaxMetricKeyBytes));
  }
  for (unsigned char c : key) {
    if (c < 0x20 || c > 0x7e) return Invalid("a metric key is not printable ASCII");
  }
  return Status();
}

// total_loans and exceptions_count travel as int64: refuse what a cast
// would turn into nonsense (1e300 became INT64_MIN).
common::Result<std::int64_t> ToCount(const std::string& key, const nlohmann::json& value) {
  const Status refused = Invalid(key + " must be a whole number from 0 to " +
                                 std::to_string(std::numeric_limits<std::int64_t>::max()));
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return refused;
    return static_cast<std::int64_t>(u);
  }
  if (value.is_number_integer()) {
    const auto i = value.get<std::int64_t>();
    if (i < 0) return refused;
    return i;
  }
  const double d = value.get<double>();
  // 2^63 is exact as a double; every double below it converts exactly.
  if (!std::isfinite(d) || d < 0 || d != std::trunc(d) || d >= 9223372036854775808.0) {
    return refused;
  }
  return static_cast<std::int64_t>(d);
}

}  // namespace

common::Result<RunMetrics> ReadResultFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO waits for a writer otherwise. O_NOFOLLOW: a
  // link could point at any file the runner may read.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::Error(Code::kNotFound, "no result file at " + path);
    if (err == ELOOP) return Invalid(path + " is a symlink, not a regular file");
    return Invalid("cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return Invalid("cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Invalid(path + " is " + FileType(st.st_mode) + ", not a regular file");
  }
  if (st.st_size > static_cast<off_t>(kMaxResultFileBytes)) {
    return Invalid(path + " is larger than " + std::to_string(kMaxResultFileBytes) + " bytes");
  }
  auto text = ReadBounded(fd.get(), path);
  if (!text.ok()) return text.status();

  const nlohmann::json json =
      nlohmann::json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return Status::Error(Code::kCorrupt, "result file " + path + " is not a JSON object");
  }
  RunMetrics m;
  if (auto inputs = json.find("inputs"); inputs != json.end() && inputs->is_object()) {
    for (const auto& [role, value] : inputs->items()) {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) continue;
      if (m.inputs.size() == kMaxInputs) {
        return Invalid("more than " + std::to_string(kMaxInputs) + " inputs");
      }
      if (Status s = CheckKey(role); !s.ok()) return s;
      const std::string& file = value.get_ref<const std::string&>();
      if (file.size() > kMaxInputPathBytes) {
        return Invalid("input " + role + " is longer than " + std::to_string(kMaxInputPathBytes) + " bytes");
      }
      m.inputs[role] = common::Printable(file);
    }
  }
  for (const auto& [key, value] : json.items()) {
    if (!value.is_number()) continue;
    if (m.metrics.size() == kMaxMetrics) {
      return Invalid("more than " + std::to_string(kMaxMetrics) + " numeric metrics");
    }
    if (Status s = CheckKey(key); !s.ok()) return s;
    const double d = value.get<double>();
    if (!std::isfinite(d)) return Invalid("metric " + key + " is not a finite number");
    m.metrics[key] = d;
    if (key == "total_loans" || key == "exceptions_count") {
      auto count = ToCount(key, value);
      if (!count.ok()) return count.status();
      (key == "total_loans" ? m.total_loans : m.exceptions_count) = count.value();
    }
  }
  return m;
}

}  // namespace runner
