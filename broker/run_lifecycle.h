// RunLifecycle: what the runner protocol may ask of the runs' owner. The
// protocol decides whether a runner's message counts (who sent it, for
// which attempt); the lifecycle decides what the run does next.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "schemas/messages.h"

namespace broker {

class RunLifecycle {
 public:
  // The run if it is not terminal, else nullptr. Valid until the next call.
  virtual const schemas::RunRecord* FindActive(const std::string& run_id) const = 0;
  // The current attempt of a dispatched run started on `runner_id`.
  virtual void AttemptStarted(const std::string& run_id, const std::string& runner_id,
                              const std::string& log_path) = 0;
  // The current attempt ended with `outcome` (an outcome:: word); `result`
  // is the runner's report, or nullptr when the attempt was lost. `hold`:
  // its pipeline may live that much longer (a lost runner's, until its
  // lease has lapsed and the kill is done), so no retry starts sooner.
  virtual void AttemptEnded(const std::string& run_id, std::string_view outcome,
                            const schemas::RunnerMessage* result, const std::string& error,
                            std::chrono::milliseconds hold = std::chrono::milliseconds(0)) = 0;
  // Hands ready runs to runners with free slots.
  virtual void Dispatch() = 0;

 protected:
  ~RunLifecycle() = default;
};

}  // namespace broker
