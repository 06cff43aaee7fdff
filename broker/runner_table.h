// RunnerTable: the runners the broker can hand work to, their free slots,
// the runs each holds, and when each was last heard from.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"

namespace broker {

class RunnerTable {
 public:
  struct Runner {
    std::string id;
    std::uint32_t slots = 1;
    std::set<std::string> runs;
    // Runs it said it still holds (any attempt) in its latest hello or
    // heartbeat. It is never handed a new attempt of one of these, and
    // they take its slots as much as `runs` do.
    std::set<std::string> reported;
    // Successes it is publishing (asked to promote): still its runs, but
    // their pipelines have exited, so they take no slot.
    std::set<std::string> promoting;
    // The runner process its hello came from (RunnerMessage.incarnation),
    // and for each run it started, the seq of the message that said so.
    std::string incarnation;
    std::map<std::string, std::uint64_t> started_seq;
    // The newest seq had from that process: echoed in every frame to it.
    std::uint64_t seen_seq = 0;
    std::uint32_t protocol = 0;  // the work protocol its hello spoke
    common::Clock::Mono last_seen{};
  };

  // Adds or refreshes a runner (hello); the runs it holds are reset.
  void Upsert(const std::string& id, std::uint32_t slots, common::Clock::Mono now);
  // Records a sign of life; false when the runner is unknown.
  bool Touch(const std::string& id, common::Clock::Mono now);
  Runner* Find(const std::string& id);
  // Removes and returns runners silent since before `cutoff`.
  std::vector<Runner> Expire(common::Clock::Mono cutoff);
  Runner Remove(const std::string& id);
  // The runner with the most free slots, or nullptr when all are full.
  Runner* PickFree();
  // The same among runners that do not hold an earlier attempt of `run_id`.
  Runner* PickFree(const std::string& run_id);
  std::vector<std::string> Ids() const;
  const std::map<std::string, Runner>& all() const { return runners_; }
  std::size_t size() const { return runners_.size(); }

 private:
  std::map<std::string, Runner> runners_;
};

}  // namespace broker
