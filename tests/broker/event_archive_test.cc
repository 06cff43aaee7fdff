// The event log's history is archived, not lost: events past retention go
// to a gzip JSON-lines file per month before they are pruned, and when the
// archive cannot be written nothing is pruned.
#include "broker/event_archive.h"

#include <date/date.h>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;
using namespace std::chrono_literals;

// Every line of a gzip file (all its members), parsed.
std::vector<nlohmann::json> ReadArchive(const std::string& path) {
  gzFile in = gzopen(path.c_str(), "rb");
  REQUIRE_MESSAGE(in != nullptr, "cannot read " << path);
  std::string text;
  char buffer[4096];
  int n = 0;
  while ((n = gzread(in, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
  gzclose(in);
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(nlohmann::json::parse(text.substr(start, end - start)));
  }
  CHECK(start == text.size());  // every line ends with its newline
  return lines;
}

// Every archived line in `dir`, by seq.
std::vector<nlohmann::json> AllArchived(const std::string& dir) {
  std::vector<nlohmann::json> all;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    for (nlohmann::json& line : ReadArchive(entry.path().string())) all.push_back(std::move(line));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a["seq"] < b["seq"]; });
  return all;
}

std::int64_t UtcMs(int y, unsigned m, unsigned d, int hh, int mm, int ss) {
  const auto day = date::sys_days(date::year(y) / date::month(m) / date::day(d));
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             (day + std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss))
                 .time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("an event's archive file is its month, in UTC") {
  CHECK(EventArchive::FileFor(UtcMs(2026, 11, 30, 23, 59, 59)) == "events-2026-11.jsonl.gz");
  CHECK(EventArchive::FileFor(UtcMs(2026, 12, 1, 0, 0, 0)) == "events-2026-12.jsonl.gz");
  CHECK(EventArchive::FileFor(UtcMs(2100, 2, 28, 12, 0, 0)) == "events-2100-02.jsonl.gz");
}

TEST_CASE("events past retention are archived, then pruned; an unwritable archive prunes nothing") {
  testing::TempDir dir;
  Settings settings = TestSettings();
  settings.event_retention = 24h;
  settings.no_success_alert = 0ms;  // two quiet days would raise it: only the admissions' events here
  Harness h(settings);
  h.AddTeam(1);
  const std::string first = h.AdmitOk(1, "one");
  h.AdmitOk(1, "two");
  const std::uint64_t last = h.store().LastSeq().value();
  REQUIRE(last >= 2);

  SUBCASE("archived by month, each event once, then pruned") {
    const EventArchive archive(dir.Sub("archive"));
    h.m().set_event_archive(&archive);
    h.clock().Advance(48h);
    h.m().Tick();
    h.Collect();
    // The newest event always stays (it carries the seq on); the rest are
    // in the archive, each once.
    const auto kept = h.store().EventsAfter(0, 100).value();
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].seq == last);
    const std::string incarnation = h.store().incarnation();
    auto lines = AllArchived(dir.Sub("archive"));
    REQUIRE(lines.size() == last - 1);
    for (std::uint64_t seq = 1; seq < last; ++seq) {
      const nlohmann::json& line = lines[seq - 1];
      CHECK(line["seq"] == seq);
      CHECK(line["id"] == incarnation + ":" + std::to_string(seq));
      CHECK(line["incarnation"] == incarnation);
      CHECK_FALSE(line["event"].is_null());
    }
    bool saw_first = false;
    for (const nlohmann::json& line : lines) {
      saw_first = saw_first || (line["topic"] == "run.accepted" && line["event"]["run"]["run_id"] == first);
    }
    CHECK(saw_first);

    // A later prune appends (a new gzip member), and still each event once.
    h.AdmitOk(1, "three");
    const std::uint64_t later = h.store().LastSeq().value();
    h.clock().Advance(48h);
    h.m().Tick();
    h.Collect();
    CHECK(h.store().EventsAfter(0, 100).value().size() == 1);
    lines = AllArchived(dir.Sub("archive"));
    REQUIRE(lines.size() == later - 1);
    for (std::uint64_t seq = 1; seq < later; ++seq) CHECK(lines[seq - 1]["seq"] == seq);
  }
  SUBCASE("an archive that cannot be written keeps every event in the log") {
    dir.WriteFile("blocker", "a file, not a folder");
    const EventArchive archive(dir.Sub("blocker/archive"));
    h.m().set_event_archive(&archive);
    h.clock().Advance(48h);
    h.m().Tick();
    h.Collect();
    CHECK(h.store().EventsAfter(0, 100).value().size() == last);
  }
  CHECK(h.State(first) == "accepted");
}

TEST_CASE("finished runs past the run retention are archived whole, then kept as stubs that answer their keys") {
  testing::TempDir dir;
  Settings settings = TestSettings();
  settings.event_retention = 0ms;  // only runs here
  settings.run_retention = 24h;
  settings.no_success_alert = 0ms;
  Harness h(settings);
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string first = h.RunOnce(1, "runner-a", "succeeded");
  const std::string second = h.RunOnce(1, "runner-a", "failed");
  const RunRecord whole = h.Run(first);
  REQUIRE(whole.total_loans == 100);
  SUBCASE("archived, once, and the stubs still answer") {
    const EventArchive archive(dir.Sub("archive"));
    h.m().set_event_archive(&archive);
    h.clock().Advance(48h);
    h.Hello("runner-a");
    const std::string young = h.AdmitOk(1, "young");
    h.m().Tick();
    h.Collect();
    const std::string file = dir.Sub("archive") + "/" + EventArchive::FileFor(whole.accepted_unix_ms, "runs");
    auto lines = ReadArchive(file);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["run_id"] == first);
    CHECK(lines[0]["state"] == "succeeded");
    CHECK(lines[0]["total_loans"] == 100);
    CHECK(lines[0]["archived"] == false);  // the whole record, as it was
    CHECK(lines[1]["run_id"] == second);
    const RunRecord stub = h.Run(first);
    CHECK(stub.archived);
    CHECK(stub.state == schemas::RunState::kSucceeded);
    CHECK_FALSE(h.Run(young).archived);
    // History lists no stubs; a due event naming an archived run is a duplicate.
    const auto listed = h.store().ListRuns(1, 10);
    REQUIRE(listed.ok());
    REQUIRE(listed.value().size() == 1);
    CHECK(listed.value()[0].run_id == young);
    const Admission again = h.Admit(h.Manual(1, whole.key));
    REQUIRE(again.status.ok());
    CHECK(again.duplicate);
    CHECK(again.run.run_id == first);
    // A later sweep archives nothing twice.
    h.clock().Advance(2h);
    h.m().Tick();
    CHECK(ReadArchive(file).size() == 2);
  }
  SUBCASE("an archive that cannot be written archives nothing") {
    dir.WriteFile("blocker", "a file, not a folder");
    const EventArchive archive(dir.Sub("blocker/archive"));
    h.m().set_event_archive(&archive);
    h.clock().Advance(48h);
    h.m().Tick();
    CHECK_FALSE(h.Run(first).archived);
    CHECK(h.Run(first).total_loans == 100);
    CHECK(h.store().RunsArchivedThrough().value().empty());
  }
}

}  // namespace broker
