#include "runner/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "schemas/vocabulary.h"

namespace runner {
namespace {

// Run ids are the broker's ("r0000000042"); anything with a slash or a dot
// could name a file outside the log folder.
bool LooksLikeRunId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

}  // namespace

std::string LogPathFor(const std::string& log_dir, const std::string& run_id,
                       std::uint32_t attempt) {
  return log_dir + "/" + run_id + "." + std::to_string(attempt) + ".log";
}

schemas::RunnerMessage ReadLogChunk(const std::string& log_dir, const schemas::BrokerMessage& read) {
  schemas::RunnerMessage chunk;
  chunk.type = std::string(schemas::runner_msg::kLogChunk);
  chunk.run_id = read.run_id;
  chunk.attempt = read.attempt;
  chunk.token = read.token;
  chunk.log_offset = read.log_offset;
  if (!LooksLikeRunId(read.run_id) || read.attempt == 0) {
    chunk.error = "not a run id and attempt: \"" + read.run_id + "\" attempt " +
                  std::to_string(read.attempt);
    return chunk;
  }
  chunk.log_path = LogPathFor(log_dir, read.run_id, read.attempt);
  const int fd = open(chunk.log_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    chunk.error = errno == ENOENT ? "this runner has no log of " + read.run_id + " attempt " +
                                        std::to_string(read.attempt)
                                  : "cannot open " + chunk.log_path + ": " + std::strerror(errno);
    return chunk;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    chunk.error = chunk.log_path + " is not a readable file";
    close(fd);
    return chunk;
  }
  chunk.log_size = static_cast<std::uint64_t>(st.st_size);
  const std::uint32_t limit =
      read.log_limit == 0 ? kMaxLogChunkBytes : std::min(read.log_limit, kMaxLogChunkBytes);
  if (read.log_offset < chunk.log_size) {
    chunk.payload.resize(std::min<std::uint64_t>(limit, chunk.log_size - read.log_offset));
    std::size_t got = 0;
    while (got < chunk.payload.size()) {
      const ssize_t n = pread(fd, chunk.payload.data() + got, chunk.payload.size() - got,
                              static_cast<off_t>(read.log_offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // shorter than fstat said: it was cut, send what there is
      got += static_cast<std::size_t>(n);
    }
    chunk.payload.resize(got);
  }
  close(fd);
  return chunk;
}

}  // namespace runner
