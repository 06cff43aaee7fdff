#include "broker/event_archive.h"

#include <date/date.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cerrno>
#include <cstring>

#include <filesystem>
#include <map>

#include "schemas/codec.h"
#include "schemas/event_id.h"
#include "schemas/json.h"
#include "schemas/vocabulary.h"

namespace broker {
namespace {

using common::Code;
using common::Status;

// The decoded payload as JSON; null when it is neither event kind or does
// not decode (the line still says what it was).
nlohmann::json Decoded(const schemas::LoggedEvent& e, std::string* incarnation) {
  const std::string_view payload(e.payload.data(), e.payload.size());
  if (e.topic.starts_with(schemas::topic::kRunPrefix)) {
    if (auto run = schemas::DecodeRunEvent(payload); run.ok()) {
      *incarnation = run.value().incarnation;
      return schemas::ToJson(run.value());
    }
  } else if (e.topic.starts_with(schemas::topic::kAlertPrefix)) {
    if (auto alert = schemas::DecodeAlertEvent(payload); alert.ok()) {
      *incarnation = alert.value().incarnation;
      return schemas::ToJson(alert.value());
    }
  }
  return nullptr;
}

Status Synced(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(Code::kIoError, "cannot sync " + path + ": " + std::strerror(errno));
  const bool ok = fsync(fd) == 0;
  const int error = errno;
  close(fd);
  if (!ok) return Status::Error(Code::kIoError, "cannot sync " + path + ": " + std::strerror(error));
  return Status();
}

}  // namespace

std::string EventArchive::Line(const schemas::LoggedEvent& e) {
  std::string incarnation;
  nlohmann::json event = Decoded(e, &incarnation);
  const nlohmann::json line = {
      {"id", schemas::EventId(incarnation, e.seq)},
      {"seq", e.seq},
      {"topic", e.topic},
      {"at_unix_ms", e.at_unix_ms},
      {"incarnation", incarnation},
      {"event", std::move(event)}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string EventArchive::RunLine(const schemas::RunRecord& run) {
  return schemas::ToJson(run).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string EventArchive::FileFor(std::int64_t at_unix_ms, const char* kind) {
  const auto day = date::floor<date::days>(date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(at_unix_ms)));
  const date::year_month_day ymd(day);
  return fmt::format("{}-{:04}-{:02}.jsonl.gz", kind, static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()));
}

Status EventArchive::Append(const std::vector<schemas::LoggedEvent>& events) const {
  std::map<std::string, std::string> by_file;  // file name -> its lines, in seq order
  for (const schemas::LoggedEvent& e : events) by_file[FileFor(e.at_unix_ms)] += Line(e);
  return Write(by_file);
}

Status EventArchive::AppendRuns(const std::vector<schemas::RunRecord>& runs) const {
  std::map<std::string, std::string> by_file;  // file name -> its lines, in run order
  for (const schemas::RunRecord& r : runs) by_file[FileFor(r.accepted_unix_ms, "runs")] += RunLine(r);
  return Write(by_file);
}

Status EventArchive::Write(const std::map<std::string, std::string>& by_file) const {
  if (by_file.empty()) return Status();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::Error(Code::kIoError, "cannot make the archive folder " + dir_ + ": " + ec.message());
  for (const auto& [name, text] : by_file) {
    const std::string path = dir_ + "/" + name;
    gzFile out = gzopen(path.c_str(), "ab");
    if (out == nullptr) return Status::Error(Code::kIoError, "cannot open " + path + ": " + std::strerror(errno));
    const int written = gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
    const int closed = gzclose(out);
    if (written != static_cast<int>(text.size()) || closed != Z_OK) {
      return Status::Error(Code::kIoError, "cannot append to " + path + " (disk full?)");
    }
    if (Status s = Synced(path); !s.ok()) return s;
  }
  return Status();
}

}  // namespace broker
