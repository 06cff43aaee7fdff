#include "runner/publish_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <tuple>

namespace runner {

using common::Code;
using common::Status;

namespace {

constexpr const char* kFolder = ".published";
// NUL-separated, because a file name may hold any byte but NUL:
// "daybreak-published-1" NUL attempt NUL then ("o"|"s") NUL name NUL inode NUL mtime_ns NUL ...
constexpr std::string_view kMagic = "daybreak-published-1";

std::optional<std::uint64_t> ParseNumber(const std::string& text) {
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string Encode(const PublishLog::Record& record) {
  std::string out(kMagic);
  out += '\0';
  out += std::to_string(record.attempt);
  out += '\0';
  for (const auto& [tag, names] : {std::pair{"o", &record.output}, std::pair{"s", &record.share}}) {
    for (const PublishLog::File& file : *names) {
      out += tag;
      out += '\0';
      out += file.name;
      out += '\0';
      out += std::to_string(file.inode);
      out += '\0';
      out += std::to_string(file.mtime_ns);
      out += '\0';
    }
  }
  return out;
}

std::optional<PublishLog::Record> Decode(const std::string& text) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\0', start);
    if (end == std::string::npos) return std::nullopt;  // cut short
    fields.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (fields.size() < 2 || fields.size() % 4 != 2 || fields[0] != kMagic) return std::nullopt;
  PublishLog::Record record;
  const std::optional<std::uint64_t> attempt = ParseNumber(fields[1]);
  if (!attempt || *attempt == 0 || *attempt > UINT32_MAX) return std::nullopt;
  record.attempt = static_cast<std::uint32_t>(*attempt);
  for (std::size_t i = 2; i < fields.size(); i += 4) {
    const std::optional<std::uint64_t> inode = ParseNumber(fields[i + 2]);
    const std::optional<std::uint64_t> mtime = ParseNumber(fields[i + 3]);
    if (!IsSingleComponent(fields[i + 1]) || !inode || !mtime) return std::nullopt;
    if (fields[i] == "o") {
      record.output.push_back({fields[i + 1], *inode, *mtime});
    } else if (fields[i] == "s") {
      record.share.push_back({fields[i + 1], *inode, *mtime});
    } else {
      return std::nullopt;
    }
  }
  return record;
}

}  // namespace

std::uint64_t MtimeNs(const struct stat& st) {
  return static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
}

common::Result<PublishLog> PublishLog::Open(int team_fd, const std::string& team_root) {
  PublishLog log;
  log.path_ = team_root + "/" + kFolder;
  auto dir = OpenDirAt(team_fd, kFolder, log.path_, /*create=*/true);
  if (!dir.ok()) return dir.status();
  log.dir_ = std::move(dir.value());
  // Released when dir_ closes.
  while (::flock(log.dir_.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      return Status::Error(Code::kIoError, "cannot lock " + log.path_ + ": " + std::strerror(errno));
    }
  }
  return log;
}

common::Result<std::optional<PublishLog::Record>> PublishLog::Read(const std::string& run_id) const {
  const std::string path = path_ + "/" + run_id;
  UniqueFd fd(::openat(dir_.get(), run_id.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<Record>();
    return Status::Error(Code::kIoError, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Error(Code::kIoError, "cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  std::optional<Record> record = Decode(text);
  if (!record) return Status::Error(Code::kCorrupt, path + " is not a publish record");
  return record;
}

Status PublishLog::Write(const std::string& run_id, const Record& record) const {
  const std::string temp = "." + run_id + ".new";
  const std::string path = path_ + "/" + run_id;
  auto fail = [&](const char* what) {
    const Status s = Status::Error(Code::kIoError,
                                   std::string(what) + " " + path + ": " + std::strerror(errno));
    ::unlinkat(dir_.get(), temp.c_str(), 0);
    return s;
  };
  UniqueFd fd(::openat(dir_.get(), temp.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd.get() < 0) return fail("cannot write");
  const std::string bytes = Encode(record);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::renameat(dir_.get(), temp.c_str(), dir_.get(), run_id.c_str()) != 0) {
    return fail("cannot replace");
  }
  return Status();
}

void PublishLog::Prune() const {
  auto names = ListDir(dir_.get(), path_);
  if (!names.ok()) return;
  const std::time_t cutoff =
      std::time(nullptr) - std::chrono::duration_cast<std::chrono::seconds>(kKeepRecords).count();
  for (const std::string& name : names.value()) {
    struct stat st;
    if (::fstatat(dir_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode) && st.st_mtime < cutoff) ::unlinkat(dir_.get(), name.c_str(), 0);
  }
}

common::Result<std::size_t> Retract(const PublishLog::Record& record, int output_fd,
                                    const std::string& output, int share_fd,
                                    const std::string& share) {
  std::size_t removed = 0;
  for (const auto& [fd, folder, names] : {std::tuple{output_fd, &output, &record.output},
                                          std::tuple{share_fd, &share, &record.share}}) {
    for (const PublishLog::File& file : *names) {
      struct stat st;
      if (::fstatat(fd, file.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          st.st_ino != file.inode || MtimeNs(st) != file.mtime_ns || !S_ISREG(st.st_mode)) {
        continue;  // gone, or no longer the file this attempt published
      }
      if (::unlinkat(fd, file.name.c_str(), 0) == 0) {
        ++removed;
      } else if (errno != ENOENT) {
        return Status::Error(Code::kIoError, "cannot take back " + *folder + "/" + file.name +
                                                 ": " + std::strerror(errno));
      }
    }
  }
  return removed;
}

}  // namespace runner
