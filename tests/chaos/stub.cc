#include "tests/chaos/stub.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace chaos {

namespace fs = std::filesystem;

std::vector<std::string> StubCommand(const std::string& log_dir, const std::string& marker,
                                     int long_percent) {
  // Each line is one printf to a file opened with O_APPEND (>>), so the
  // lines of concurrent attempts never interleave. The flock on fd 9 is
  // held by every process of the attempt until the last one exits, even
  // under SIGKILL, so a second live attempt of the team is seen by the
  // stub itself whatever the broker believes.
  const std::string script = fmt::format(
      R"SH(export CHAOS_MARK='{marker}'
L='{dir}'/team_"$DAYBREAK_TEAM"
exec 9>>"$L.lock"
if ! flock -n 9; then printf 'conflict %s %s %s\n' "$DAYBREAK_RUN_ID" "$DAYBREAK_ATTEMPT" "$(date +%s%N)" >>"$L.log"; fi
n=$(( 1$(date +%N) / 1000 % 100 ))
if [ $n -lt {long} ]; then d=$(( n % 3 + 1 )).0; else d=0.$(( n % 3 + 1 ))$(( n % 7 )); fi
printf 'start %s %s %s\n' "$DAYBREAK_RUN_ID" "$DAYBREAK_ATTEMPT" "$(date +%s%N)" >>"$L.log"
f=chaos_"$DAYBREAK_RUN_ID"_a"$DAYBREAK_ATTEMPT".txt
printf '%s %s\n' "$DAYBREAK_RUN_ID" "$DAYBREAK_ATTEMPT" >"$DAYBREAK_OUTPUT_DIR/$f"
printf '%s %s\n' "$DAYBREAK_RUN_ID" "$DAYBREAK_ATTEMPT" >"$DAYBREAK_SHARE_DIR/$f"
sleep $d
printf 'end %s %s %s\n' "$DAYBREAK_RUN_ID" "$DAYBREAK_ATTEMPT" "$(date +%s%N)" >>"$L.log"
exit 0
)SH",
      fmt::arg("marker", marker), fmt::arg("dir", log_dir), fmt::arg("long", long_percent));
  return {"/bin/sh", "-c", script};
}

std::string StubOutputName(const std::string& run_id, std::uint32_t attempt) {
  return fmt::format("chaos_{}_a{}.txt", run_id, attempt);
}

StubLog ReadStubLogs(const std::string& log_dir) {
  StubLog log;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(log_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("team_") || !name.ends_with(".log")) continue;
    std::uint32_t team = 0;
    try {
      team = static_cast<std::uint32_t>(std::stoul(name.substr(5)));
    } catch (const std::exception&) {
      continue;  // not a team's log
    }
    std::map<std::pair<std::string, std::uint32_t>, StubAttempt> attempts;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string what, run_id;
      std::uint32_t attempt = 0;
      std::int64_t ns = 0;
      if (!(fields >> what >> run_id >> attempt >> ns)) continue;
      StubAttempt& a = attempts[{run_id, attempt}];
      a.run_id = run_id;
      a.attempt = attempt;
      if (what == "start") a.start_ns = ns;
      if (what == "end") a.end_ns = ns;
      if (what == "conflict") {
        log.lock_conflicts.push_back(
            fmt::format("team {}: {} attempt {} started while another attempt of the team was "
                        "alive (lock held)", team, run_id, attempt));
      }
    }
    auto& list = log.teams[team];
    for (auto& [key, a] : attempts) list.push_back(a);
    std::sort(list.begin(), list.end(),
              [](const StubAttempt& x, const StubAttempt& y) { return x.start_ns < y.start_ns; });
  }
  return log;
}

std::vector<std::string> Overlaps(const StubLog& log) {
  std::vector<std::string> found = log.lock_conflicts;
  for (const auto& [team, list] : log.teams) {
    // Sorted by start: an overlap shows as a start before the latest end
    // seen so far. A killed attempt (no end) is covered by the lock probe.
    const StubAttempt* latest = nullptr;
    for (const StubAttempt& a : list) {
      if (latest != nullptr && a.start_ns < latest->end_ns) {
        found.push_back(fmt::format("team {}: {} attempt {} started {:.3f} s before {} attempt {} "
                                    "ended", team, a.run_id, a.attempt,
                                    (latest->end_ns - a.start_ns) / 1e9, latest->run_id,
                                    latest->attempt));
      }
      if (a.end_ns >= 0 && (latest == nullptr || a.end_ns > latest->end_ns)) latest = &a;
    }
  }
  return found;
}

}  // namespace chaos
