#include "tests/chaos/report.h"

#include <fmt/format.h>

namespace chaos {

void PrintSummary(const Verdict& v, const WorkloadCounts& w, const FaultCounts& f,
                  const Delivery& d, const std::string& link_note, double seconds) {
  auto row = [](const std::string& name, const std::string& value) {
    fmt::print("  {:<58} {}\n", name, value);
  };
  auto must0 = [&](const std::string& name, int n) {
    row(name + " (must be 0)", fmt::format("{}{}", n, n == 0 ? "" : "   <-- FAIL"));
  };
  fmt::print("\nchaos summary\n");
  row("runs acknowledged", std::to_string(v.expected));
  row("  manual triggers (of them on skip teams)", fmt::format("{} ({})", w.triggers, w.skip_triggers));
  row("  backfilled dates (requests)", fmt::format("{} ({})", w.backfill_runs, w.backfill_requests));
  row("  chained runs owed", std::to_string(w.chained));
  row("  ticker fires owed", std::to_string(w.ticker_fires));
  row("  cancels answered (resent after no answer)", fmt::format("{} ({})", w.cancels, w.cancel_retries));
  row("succeeded", std::to_string(v.succeeded));
  row("cancelled", std::to_string(v.cancelled));
  row("skipped", std::to_string(v.skipped));
  must0("lost (failed, missed, unfinished, wrong end)", v.lost);
  must0("doubled (two runs of a key, two ends of a run)", v.doubled);
  must0("runs nobody asked for", v.unexpected);
  must0("notifications never delivered", v.missing_notifications);
  must0("overlaps (stub log and lock)", v.overlaps);
  must0("successes the stub never finished", v.unbacked_successes);
  must0("stale outputs (non-final attempts)", v.stale_outputs);
  must0("successes missing their outputs", v.missing_outputs);
  must0("leftover processes", v.leftovers);
  row("webhook deliveries (repeats deduped)", fmt::format("{} ({})", d.deliveries, d.repeats));
  if (d.conflicts != 0 || d.malformed != 0) {
    row("webhook conflicting repeats / malformed", fmt::format("{} / {}", d.conflicts, d.malformed));
  }
  row("stale results refused (broker, since its last start)", std::to_string(d.stale_results));
  row("broker kills", std::to_string(f.broker_kills));
  row("runner kills", std::to_string(f.runner_kills));
  row("runner stalls (SIGSTOP 1-5 s)", std::to_string(f.stalls));
  row("link-downs (2-10 s)", link_note.empty() ? std::to_string(f.link_downs) : link_note);
  row("ticker / notifier kills", fmt::format("{} / {}", f.ticker_kills, f.notifier_kills));
  row("seconds", fmt::format("{:.0f}", seconds));
  if (!v.problems.empty()) {
    fmt::print("\nproblems (first {}):\n", v.problems.size());
    for (const std::string& p : v.problems) fmt::print("  {}\n", p);
  }
}

}  // namespace chaos
