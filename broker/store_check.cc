#include "broker/store_check.h"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "broker/rocks_check.h"
#include "broker/rocks_keys.h"
#include "broker/rocks_open.h"
#include "broker/rocks_store.h"
#include "common/daemon.h"
#include "common/run_key.h"
#include "schemas/codec.h"
#include "schemas/dead_letter.h"

namespace broker {

void CheckReport::Problem(std::string line) {
  ++problem_count;
  if (problems.size() < kMaxListedProblems) problems.push_back(std::move(line));
}

std::string CheckReport::Summary() const {
  const std::string events_range =
      events == 0 ? "" : fmt::format(" (seq {}..{})", first_seq, last_seq);
  const std::string water =
      high_water == 0 ? "" : fmt::format(", high-water mark {}", high_water);
  const std::string verdict =
      problem_count == 0 ? "no problems"
                         : fmt::format("{} problem{}", problem_count, problem_count == 1 ? "" : "s");
  return fmt::format(
      "checked {} runs, {} run keys, {} team history entries, {} active, {} teams, {} events{}{}, "
      "{} dead letters: {}",
      runs, run_keys, team_entries, active, teams, events, events_range, water, dead_letters, verdict);
}

std::map<std::string, std::int64_t> CheckReport::Counts() const {
  auto n = [](auto value) { return static_cast<std::int64_t>(value); };
  return {{"runs", n(runs)},         {"run_keys", n(run_keys)},   {"team_entries", n(team_entries)},
          {"active", n(active)},     {"teams", n(teams)},         {"events", n(events)},
          {"first_seq", n(first_seq)}, {"last_seq", n(last_seq)}, {"high_water", n(high_water)},
          {"dead_letters", n(dead_letters)}, {"problems", n(problem_count)}};
}

namespace rocks {
namespace {

using common::Result;
using common::Status;
using schemas::RunState;

// One pass over the store; each rule is one method, and every problem names
// the keys involved so a person can look at them.
class Checker {
 public:
  // A secondary instance has no snapshots, and needs none: it shows the
  // store as of its open until told to catch up.
  Checker(rocksdb::DB& db, std::uint64_t high_water, bool snapshot)
      : db_(db), snapshot_(snapshot ? db.GetSnapshot() : nullptr) {
    read_.snapshot = snapshot_;
    read_.fill_cache = false;  // one pass over everything: keep the broker's cache
    report_.high_water = high_water;
  }
  ~Checker() {
    if (snapshot_ != nullptr) db_.ReleaseSnapshot(snapshot_);
  }
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  Result<CheckReport> Run() {
    for (Status (Checker::*step)() :
         {&Checker::Identity, &Checker::Runs, &Checker::RunKeys, &Checker::TeamHistory,
          &Checker::ActiveIndex, &Checker::Teams, &Checker::Events, &Checker::DeadLetters}) {
      if (Status s = (this->*step)(); !s.ok()) return s;
    }
    return std::move(report_);
  }

 private:
  template <typename F>
  Status Scan(std::string_view prefix, F visit) {
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(read_));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
         it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
         it->Next()) {
      visit(it->key().ToStringView(), it->value().ToStringView());
      if (!status_.ok()) return status_;
    }
    return FromRocks(it->status(), "scan " + std::string(prefix));
  }

  // The value at `key`, or nullopt when there is none; a read error is kept
  // in status_ (and ends the scan that asked).
  std::optional<std::string> Get(const std::string& key) {
    std::string value;
    rocksdb::Status s = db_.Get(read_, key, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) {
      status_ = FromRocks(s, "read " + key);
      return std::nullopt;
    }
    return value;
  }

  // The run record `run_id`, decoded; nullopt when absent or undecodable
  // (Runs() reports the latter).
  std::optional<schemas::RunRecord> GetRun(const std::string& run_id, bool* exists) {
    auto value = Get(RunKey(run_id));
    *exists = value.has_value();
    if (!value) return std::nullopt;
    auto run = schemas::DecodeRunRecord(*value);
    if (!run.ok()) return std::nullopt;
    return std::move(run).value();
  }

  Status Identity() {
    auto format = Get(kStoreFormatKey);
    if (!format) {
      report_.Problem(fmt::format("no store format ({}): not a store this broker has opened",
                                  kStoreFormatKey));
    } else if (*format != std::to_string(kStoreFormat)) {
      report_.Problem(fmt::format("store format {} ({}), not {}: start the broker once to upgrade it",
                                  *format, kStoreFormatKey, kStoreFormat));
    }
    for (const char* key : {kIdKey, kIncarnationKey}) {
      if (!Get(key) && status_.ok()) report_.Problem(fmt::format("no store identity: {} is missing", key));
    }
    return status_;
  }

  // Each run record against its key index, its team history entry, the
  // active index, and its team's lock.
  Status Runs() {
    Status s = Scan("r/", [&](std::string_view key, std::string_view value) {
      ++report_.runs;
      const std::string id(key.substr(2));
      auto decoded = schemas::DecodeRunRecord(value);
      if (!decoded.ok()) {
        report_.Problem(fmt::format("run record {} does not decode: {}", key, decoded.status().message()));
        return;
      }
      const schemas::RunRecord& run = decoded.value();
      if (run.run_id != id) {
        report_.Problem(fmt::format("run record {} names itself run {}", key, run.run_id));
      }
      const std::string label = fmt::format("run {} ({}, team {})", id, schemas::Name(run.state), run.team);
      if (run.key.empty()) {
        report_.Problem(label + " has no run key");
      } else if (auto indexed = Get("k/" + run.key); !indexed) {
        // The release-1 upgrade left the later runs of a date out of the
        // key index on purpose (rocks_upgrade.cc): they keep the old key.
        if (status_.ok() && !common::CurrentFormOfReleaseOneKey(run.key)) {
          report_.Problem(fmt::format("{}: its key index entry k/{} is missing", label, run.key));
        }
      } else if (*indexed != id) {
        report_.Problem(fmt::format("{}: its key index entry k/{} points at run {} instead", label,
                                    run.key, *indexed));
      }
      // An archived run's stub answers its key only: it left its team's history.
      const std::string history = TeamKey('t', run.team) + "/" + id;
      const bool in_history = Get(history).has_value();
      if (run.archived && !schemas::IsTerminal(run.state)) {
        report_.Problem(label + " is archived but not terminal");
      } else if (run.archived && in_history) {
        report_.Problem(fmt::format("{} is archived but still in its team's history ({})", label, history));
      } else if (!run.archived && !in_history && status_.ok()) {
        report_.Problem(fmt::format("{}: its team history entry {} is missing", label, history));
      }
      const bool indexed_active = Get("a/" + id).has_value();
      if (!schemas::IsTerminal(run.state) && !indexed_active && status_.ok()) {
        report_.Problem(fmt::format(
            "{} is not terminal but missing from the active index (a/{}): a restart would not load it",
            label, id));
      } else if (schemas::IsTerminal(run.state) && indexed_active) {
        report_.Problem(fmt::format("{} is terminal but still in the active index (a/{})", label, id));
      }
      if (schemas::HoldsTeamLock(run.state)) lock_holders_[run.team].emplace_back(id, run.state);
    });
    if (!s.ok()) return s;
    for (const auto& [team, holders] : lock_holders_) {
      if (holders.size() < 2) continue;
      std::string names;
      for (const auto& [id, state] : holders) {
        names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", id, schemas::Name(state));
      }
      report_.Problem(fmt::format("team {}: {} runs hold its lock at once ({}); one run per team may",
                                  team, holders.size(), names));
    }
    return Status();
  }

  Status RunKeys() {
    return Scan("k/", [&](std::string_view key, std::string_view run_id) {
      ++report_.run_keys;
      bool exists = false;
      auto run = GetRun(std::string(run_id), &exists);
      if (!exists) {
        if (status_.ok()) report_.Problem(fmt::format("key index entry {} points at run {}, which does not exist", key, run_id));
      } else if (run && run->key != key.substr(2)) {
        report_.Problem(fmt::format("key index entry {} points at run {}, whose key is {}", key, run_id,
                                    run->key));
      }
    });
  }

  Status TeamHistory() {
    return Scan("t/", [&](std::string_view key, std::string_view) {
      ++report_.team_entries;
      // "t/<team:10>/<run_id>"
      const std::size_t slash = key.find('/', 2);
      std::uint32_t team = 0;
      bool number = slash == 12;
      for (std::size_t i = 2; number && i < slash; ++i) {
        number = key[i] >= '0' && key[i] <= '9';
        team = team * 10 + static_cast<std::uint32_t>(key[i] - '0');
      }
      if (!number || slash + 1 >= key.size()) {
        report_.Problem(fmt::format("team history entry {} is not t/<team:10>/<run id>", key));
        return;
      }
      const std::string id(key.substr(slash + 1));
      bool exists = false;
      auto run = GetRun(id, &exists);
      if (!exists) {
        if (status_.ok()) report_.Problem(fmt::format("team history entry {} names run {}, which does not exist", key, id));
      } else if (run && run->team != team) {
        report_.Problem(fmt::format("team history entry {} names run {}, which is team {}'s", key, id,
                                    run->team));
      }
    });
  }

  Status ActiveIndex() {
    return Scan("a/", [&](std::string_view key, std::string_view) {
      ++report_.active;
      bool exists = false;
      GetRun(std::string(key.substr(2)), &exists);
      if (!exists && status_.ok()) {
        report_.Problem(fmt::format("active index entry {} names run {}, which does not exist", key, key.substr(2)));
      }
    });
  }

  Status Teams() {
    Status s = Scan("T/", [&](std::string_view key, std::string_view value) {
      ++report_.teams;
      auto team = schemas::DecodeTeamRecord(value);
      if (!team.ok()) {
        report_.Problem(fmt::format("team record {} does not decode: {}", key, team.status().message()));
      } else if (TeamKey('T', team.value().id) != key) {
        report_.Problem(fmt::format("team record {} names team {}", key, team.value().id));
      }
    });
    if (!s.ok()) return s;
    return Scan("S/", [&](std::string_view key, std::string_view value) {
      auto status = schemas::DecodeTeamStatus(value);
      if (!status.ok()) {
        report_.Problem(fmt::format("team status {} does not decode: {}", key, status.status().message()));
      }
    });
  }

  // Events are pruned oldest first (PruneEventsBefore), so a gap is allowed
  // only below the first kept seq; after it every seq must be there, up to
  // at least the last one the broker recorded as written.
  Status Events() {
    std::uint64_t previous = 0;
    Status s = Scan("e/", [&](std::string_view key, std::string_view value) {
      ++report_.events;
      const std::string_view digits = key.substr(2);
      std::uint64_t seq = 0;
      bool number = digits.size() == 20;
      for (char c : digits) {
        number = number && c >= '0' && c <= '9';
        seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (!number) {
        report_.Problem(fmt::format("event-log key {} is not e/<seq:20>", key));
        return;
      }
      auto event = schemas::DecodeLoggedEvent(value);
      if (!event.ok()) {
        report_.Problem(fmt::format("event {} does not decode: {}", key, event.status().message()));
      } else if (event.value().seq != seq) {
        report_.Problem(fmt::format("event {} carries seq {}", key, event.value().seq));
      }
      if (report_.first_seq == 0) report_.first_seq = seq;
      if (previous != 0 && seq != previous + 1) {
        report_.Problem(fmt::format(
            "event-log gap: seq {}..{} missing after the first kept event {} (only pruning, "
            "oldest first, may remove events)",
            previous + 1, seq - 1, report_.first_seq));
      }
      previous = seq;
      report_.last_seq = seq;
    });
    if (!s.ok()) return s;
    if (report_.high_water > report_.last_seq) {
      report_.Problem(fmt::format(
          "the event log ends at seq {} but the broker recorded seq {} as written ({}): {} events "
          "missing",
          report_.last_seq, report_.high_water, kHighWaterFile, report_.high_water - report_.last_seq));
    }
    return Status();
  }

  // Each letter decodes, and names the sink and seq of its key
  // (D/<sink>/<seq:20>). A letter may outlive its event in the log.
  Status DeadLetters() {
    return Scan("D/", [&](std::string_view key, std::string_view value) {
      ++report_.dead_letters;
      auto letter = schemas::DecodeDeadLetter(value);
      if (!letter.ok()) {
        report_.Problem(fmt::format("dead letter {} does not decode: {}", key, letter.status().message()));
      } else if (DeadLetterKey(letter.value().sink, letter.value().seq) != key) {
        report_.Problem(fmt::format("dead letter {} is for sink {} seq {}", key, letter.value().sink,
                                    letter.value().seq));
      }
    });
  }

  rocksdb::DB& db_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions read_;
  Status status_;  // the first read error inside a scan
  CheckReport report_;
  std::map<std::uint32_t, std::vector<std::pair<std::string, RunState>>> lock_holders_;
};

// A folder for the secondary instance's own files (its info log), removed
// afterwards: the store's folder is left as it was.
class ScratchDir {
 public:
  static Result<ScratchDir> Make() {
    std::string pattern = (std::filesystem::temp_directory_path() / "daybreak-check-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::Error(common::Code::kIoError, "cannot make a scratch folder " + pattern);
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace

Result<CheckReport> CheckDatabase(rocksdb::DB& db, std::uint64_t high_water, bool snapshot) {
  return Checker(db, high_water, snapshot).Run();
}

}  // namespace rocks

common::Result<CheckReport> CheckStoreFolder(const std::string& dir) {
  using common::Code;
  using common::Status;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::Error(Code::kNotFound, "cannot check " + dir + ": it is not a folder");
  }
  if (!fs::exists(fs::path(dir) / "CURRENT", ec)) {
    return Status::Error(Code::kCorrupt, "cannot check " + dir + ": it holds no database (no CURRENT file)");
  }
  // Read before the open: every seq the file names was written before it,
  // so it is in what the open sees even while a broker goes on writing.
  const rocks::HighWater::Mark recorded = rocks::HighWater::ReadMark(dir);
  auto scratch = rocks::ScratchDir::Make();
  if (!scratch.ok()) return scratch.status();
  rocksdb::Options options;
  options.max_open_files = -1;  // a secondary must keep files the broker may delete
  options.paranoid_checks = true;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status opened = rocksdb::DB::OpenAsSecondary(options, dir, scratch.value().path(), &raw);
  if (!opened.ok()) return rocks::FromRocks(opened, "cannot check " + dir);
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string incarnation;
  const rocksdb::Status got = db->Get(rocksdb::ReadOptions(), rocks::kIncarnationKey, &incarnation);
  if (!got.ok() && !got.IsNotFound()) return rocks::FromRocks(got, "read " + std::string(rocks::kIncarnationKey));
  const std::uint64_t high_water =
      !incarnation.empty() && recorded.incarnation == incarnation ? recorded.seq : 0;
  return rocks::CheckDatabase(*db, high_water, /*snapshot=*/false);
}

int PrintStoreCheck(const std::string& dir) {
  auto report = CheckStoreFolder(dir);
  if (!report.ok()) {
    fmt::print(stderr, "daybreak-broker --check: {}\n", report.status().message());
    return common::kExitFailed;
  }
  fmt::print("{}: {}\n", dir, report.value().Summary());
  for (const std::string& line : report.value().problems) fmt::print("  {}\n", line);
  if (report.value().problem_count > report.value().problems.size()) {
    fmt::print("  ... and {} more\n", report.value().problem_count - report.value().problems.size());
  }
  return report.value().ok() ? common::kExitOk : common::kExitFailed;
}

}  // namespace broker
