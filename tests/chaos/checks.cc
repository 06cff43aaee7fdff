#include "tests/chaos/checks.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace chaos {

namespace fs = std::filesystem;
using schemas::RunState;

namespace {

struct RunView {
  std::string key;
  std::uint32_t team = 0;
  std::vector<const Notice*> ends;  // terminal notices, by event id
};

std::map<std::string, RunView> ByRun(const std::map<std::uint64_t, Notice>& notices) {
  std::map<std::string, RunView> runs;
  for (const auto& [id, n] : notices) {
    if (n.run_id.empty()) continue;
    RunView& r = runs[n.run_id];
    r.key = n.key;
    r.team = n.team;
    const auto state = schemas::ParseRunState(n.state);
    if (state && schemas::IsTerminal(*state)) r.ends.push_back(&n);
  }
  return runs;
}

std::map<std::string, std::set<std::string>> ByKey(const std::map<std::string, RunView>& runs) {
  std::map<std::string, std::set<std::string>> keys;
  for (const auto& [id, r] : runs) keys[r.key].insert(id);
  return keys;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<std::string> Unfinished(const Ledger& ledger,
                                    const std::map<std::uint64_t, Notice>& notices) {
  const auto runs = ByRun(notices);
  const auto keys = ByKey(runs);
  std::vector<std::string> open;
  for (const auto& [key, e] : ledger.all()) {
    auto k = keys.find(key);
    bool ended = false;
    if (k != keys.end()) {
      for (const std::string& id : k->second) ended = ended || !runs.at(id).ends.empty();
    }
    if (!ended) open.push_back(key);
  }
  return open;
}

Verdict Judge(const Ledger& ledger, const std::map<std::uint64_t, Notice>& notices,
              std::uint64_t last_seq, const StubLog& stub_log, const std::string& outputs_root,
              const std::vector<std::string>& leftovers) {
  Verdict v;
  const auto runs = ByRun(notices);
  const auto keys = ByKey(runs);
  auto problem = [&](int& counter, std::string line) {
    ++counter;
    if (v.problems.size() < 200) v.problems.push_back(std::move(line));
  };
  for (std::uint64_t id = 1; id <= last_seq; ++id) {
    if (notices.count(id) == 0) problem(v.missing_notifications, fmt::format("event {} never delivered", id));
  }
  // Every acknowledged run: one run for its key, one end, an allowed one.
  std::map<std::string, std::pair<std::uint32_t, std::uint32_t>> final_attempts;  // run -> team, attempt
  for (const auto& [key, e] : ledger.all()) {
    ++v.expected;
    auto k = keys.find(key);
    if (k == keys.end()) {
      problem(v.lost, fmt::format("{} ({}, team {}): no notification at all{}", key, e.source,
                                  e.team, e.run_id.empty() ? "" : " for " + e.run_id));
      continue;
    }
    if (k->second.size() > 1) {
      problem(v.doubled, fmt::format("{}: {} runs ({})", key, k->second.size(),
                                     fmt::join(k->second, ", ")));
    }
    const std::string run_id = e.run_id.empty() ? *k->second.begin() : e.run_id;
    auto r = runs.find(run_id);
    if (r == runs.end() || r->second.ends.empty()) {
      problem(v.lost, fmt::format("{} {} ({}, team {}): never ended", run_id, key, e.source, e.team));
      continue;
    }
    const Notice& end = *r->second.ends.front();
    const RunState state = *schemas::ParseRunState(end.state);
    if (e.allowed.count(state) == 0) {
      problem(v.lost, fmt::format("{} {} ({}, team {}): ended {} at attempt {}{}{}", run_id, key,
                                  e.source, e.team, end.state, end.attempt,
                                  e.note.empty() ? "" : " (" + e.note + ")",
                                  end.error.empty() ? "" : ": " + end.error));
    } else if (state == RunState::kSucceeded) {
      ++v.succeeded;
    } else if (state == RunState::kCancelled) {
      ++v.cancelled;
    } else if (state == RunState::kSkipped) {
      ++v.skipped;
    }
  }
  for (const auto& [run_id, r] : runs) {
    if (r.ends.size() > 1) {
      problem(v.doubled, fmt::format("{} {}: {} terminal notifications ({} then {})", run_id,
                                     r.key, r.ends.size(), r.ends[0]->state, r.ends[1]->state));
    }
    if (ledger.all().count(r.key) == 0) {
      problem(v.unexpected, fmt::format("{} {} (team {}): a run nobody asked for", run_id, r.key, r.team));
    }
    if (!r.ends.empty() && r.ends.front()->state == schemas::Name(RunState::kSucceeded)) {
      final_attempts[run_id] = {r.team, r.ends.front()->attempt};
    }
  }
  // The stub's own log: no two live attempts of a team at once, and every
  // recorded success is an attempt that really finished.
  std::set<std::pair<std::string, std::uint32_t>> finished;
  for (const auto& [team, list] : stub_log.teams) {
    for (const StubAttempt& a : list) {
      if (a.end_ns >= 0) finished.insert({a.run_id, a.attempt});
    }
  }
  for (const std::string& o : Overlaps(stub_log)) problem(v.overlaps, o);
  for (const auto& [run_id, ta] : final_attempts) {
    if (finished.count({run_id, ta.second}) == 0) {
      problem(v.unbacked_successes, fmt::format("{} recorded succeeded at attempt {}, which the "
                                                "stub never saw finish", run_id, ta.second));
    }
  }
  // Output folders: only final attempts' files, and all of them.
  std::set<std::string> present;
  std::error_code ec;
  for (const auto& team_dir : fs::directory_iterator(outputs_root, ec)) {
    for (const char* folder : {"output", "output_share"}) {
      for (const auto& f : fs::directory_iterator(team_dir.path() / folder, ec)) {
        const std::string name = f.path().filename().string();
        if (!name.starts_with("chaos_")) continue;
        std::istringstream body(Read(f.path()));
        std::string run_id;
        std::uint32_t attempt = 0;
        body >> run_id >> attempt;
        auto it = final_attempts.find(run_id);
        if (it == final_attempts.end() || it->second.second != attempt ||
            name != StubOutputName(run_id, attempt)) {
          auto r = runs.find(run_id);
          const std::string ended = r == runs.end() || r->second.ends.empty()
                                        ? "never ended"
                                        : fmt::format("ended {} at attempt {}",
                                                      r->second.ends.front()->state,
                                                      r->second.ends.front()->attempt);
          problem(v.stale_outputs, fmt::format("{}/{}/{}: attempt {} of {}, which {}",
                                               team_dir.path().filename().string(), folder, name,
                                               attempt, run_id, ended));
        } else {
          present.insert(std::string(folder) + "/" + run_id);
        }
      }
    }
  }
  for (const auto& [run_id, ta] : final_attempts) {
    for (const char* folder : {"output", "output_share"}) {
      if (present.count(std::string(folder) + "/" + run_id) == 0) {
        problem(v.missing_outputs, fmt::format("{} succeeded at attempt {} but {}/{} is not in "
                                               "{}/", run_id, ta.second, folder,
                                               StubOutputName(run_id, ta.second), folder));
      }
    }
  }
  for (const std::string& l : leftovers) problem(v.leftovers, "left running: " + l);
  return v;
}

std::vector<std::string> ScanLeftovers(const std::string& marker, std::chrono::milliseconds grace) {
  const auto until = std::chrono::steady_clock::now() + grace;
  while (true) {
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& p : fs::directory_iterator("/proc", ec)) {
      const std::string pid = p.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string env = Read(p.path() / "environ");
      std::string cmdline = Read(p.path() / "cmdline");
      if (env.find("CHAOS_MARK=" + marker) == std::string::npos &&
          cmdline.find(marker) == std::string::npos) {
        continue;
      }
      for (char& c : cmdline) c = c == '\0' ? ' ' : c;
      if (cmdline.size() > 120) cmdline = cmdline.substr(0, 120) + "...";
      found.push_back(pid + ": " + cmdline);
    }
    if (found.empty() || std::chrono::steady_clock::now() >= until) return found;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling /proc
  }
}

}  // namespace chaos
