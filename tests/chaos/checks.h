// Checks: the chaos run's verdict, from three witnesses that are not the
// broker's records: the driver's Ledger (what was acknowledged), the
// notifications the real notifier delivered (deduped by event id), and
// what the pipeline stub itself left (its attempt log and output files),
// plus a scan of /proc for any of its processes after the cluster stopped.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/chaos/ledger.h"
#include "tests/chaos/stub.h"
#include "tests/chaos/webhook_receiver.h"

namespace chaos {

struct Verdict {
  int expected = 0;   // runs the ledger holds
  int succeeded = 0, cancelled = 0, skipped = 0;  // ended as allowed
  int lost = 0;       // ended otherwise, or not at all
  int doubled = 0;    // a key with two runs, or a run with two ends
  int unexpected = 0; // runs nobody asked for
  int missing_notifications = 0;  // event ids never delivered
  int overlaps = 0;
  int unbacked_successes = 0;  // succeeded, but that attempt never finished
  int stale_outputs = 0;       // outputs of an attempt that is not the final one
  int missing_outputs = 0;     // a success without its outputs
  int leftovers = 0;           // stub processes alive after the stop
  std::vector<std::string> problems;  // one line each, for people
  bool ok() const {
    return lost == 0 && doubled == 0 && unexpected == 0 && missing_notifications == 0 &&
           overlaps == 0 && unbacked_successes == 0 && stale_outputs == 0 &&
           missing_outputs == 0 && leftovers == 0;
  }
};

// The runs of the ledger without a terminal notification yet (their keys).
std::vector<std::string> Unfinished(const Ledger& ledger,
                                    const std::map<std::uint64_t, Notice>& notices);

// Judges the run. `last_seq` is the broker's last event id; `outputs_root`
// the data/outputs folder; `leftover_pids` what ScanLeftovers found.
Verdict Judge(const Ledger& ledger, const std::map<std::uint64_t, Notice>& notices,
              std::uint64_t last_seq, const StubLog& stub_log, const std::string& outputs_root,
              const std::vector<std::string>& leftovers);

// Processes whose environment or command line carries `marker`, as
// "pid: cmdline" lines, waiting up to `grace` for them to go.
std::vector<std::string> ScanLeftovers(const std::string& marker, std::chrono::milliseconds grace);

}  // namespace chaos
