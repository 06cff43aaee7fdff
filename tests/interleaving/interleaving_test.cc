// The runner protocol's state machine (schemas/PROTOCOL.md, "The runner
// protocol, per attempt"), checked exhaustively within bounds over the real
// broker and runner cores: two runners, one manual run, every ordering of
// deliveries (each message may be passed by up to two later ones), pipeline
// exits and clock steps, with one duplicate, one drop, one broker restart,
// one runner restart and one intruder. Every ordering must end the run
// exactly once, never with two live attempts, publishing only the outputs
// of the attempt the broker recorded succeeded. Each fence, turned off,
// must be caught (attempt fencing by a deeper search without faults, see
// kFencingDepth).
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "broker/runner_protocol.h"
#include "tests/interleaving/model_checker.h"

namespace interleaving {
namespace {

// The search rebuilds worlds by replay and branches ~5x per step, so depth
// 4 (~3 s in RelWithDebInfo) is the default; 5-6 take 15-60 s.
constexpr int kDefaultDepth = 4;

// DAYBREAK_INTERLEAVING_DEPTH overrides the bound (a deeper soak by hand).
int Depth() {
  const char* env = std::getenv("DAYBREAK_INTERLEAVING_DEPTH");
  return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : kDefaultDepth;
}

struct Mutated {
  explicit Mutated(broker::ProtocolMutations m) { broker::test_only_mutations = m; }
  ~Mutated() { broker::test_only_mutations = {}; }
};

CheckReport Run(const CheckOptions& options, const char* label) {
  spdlog::set_level(spdlog::level::off);  // both cores log every step
  const auto start = std::chrono::steady_clock::now();
  CheckReport report = Check(options);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start).count();
  std::printf("interleaving (%s): %llu states, %llu orderings (complete paths) checked, depth %d, "
              "%llu steps, %lld ms\n",
              label, static_cast<unsigned long long>(report.states),
              static_cast<unsigned long long>(report.orderings), report.depth,
              static_cast<unsigned long long>(report.steps), static_cast<long long>(ms));
  if (!report.violation.empty()) std::printf("%s", FormatTrace(report).c_str());
  std::fflush(stdout);
  MESSAGE("interleaving: " << report.states << " states, " << report.orderings
                           << " orderings (complete paths) checked");
  return report;
}

TEST_CASE("every bounded ordering of the runner protocol ends its run exactly once") {
  CheckOptions options;
  options.max_depth = Depth();
  const CheckReport report = Run(options, "protocol as built");
  CHECK_MESSAGE(report.violation.empty(), FormatTrace(report));
  CHECK(report.orderings > 0);
}

// What only attempt fencing prevents takes 8 steps and no fault at all: an
// attempt's result overtakes its `started`, the retry is dispatched to the
// same runner, and what is left of the old attempt on the wire then counts
// for the new one (ending it while its pipeline runs). That
// is past the default depth with every fault enabled, so the orderings
// without faults are searched to depth 8 as well.
constexpr int kFencingDepth = 8;
constexpr Budget kNoFaults{.duplicates = 0, .drops = 0, .broker_restarts = 0,
                           .runner_restarts = 0, .intruders = 0};

// The protocol as built over those orderings: to depth 6 here (depth 8, the
// fencing mutation's, takes ~215 s: DAYBREAK_INTERLEAVING_DEEP_DEPTH=8).
int DeepDepth() {
  const char* env = std::getenv("DAYBREAK_INTERLEAVING_DEEP_DEPTH");
  return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 6;
}

TEST_CASE("every deeper ordering without faults, or with a runner restart, ends its run exactly once") {
  // The runner restart found a run stranded `dispatched` at depth 6 (its
  // success overtook its `started`, then the runner restarted).
  constexpr Budget kRunnerRestart{.duplicates = 0, .drops = 0, .broker_restarts = 0,
                                  .runner_restarts = 1, .intruders = 0};
  for (const auto& [budget, label] : {std::pair{kNoFaults, "protocol as built, no faults"},
                                      std::pair{kRunnerRestart, "protocol as built, a runner restart"}}) {
    CheckOptions options;
    options.max_depth = DeepDepth();
    options.budget = budget;
    const CheckReport report = Run(options, label);
    CHECK_MESSAGE(report.violation.empty(), FormatTrace(report));
    CHECK(report.orderings > 0);
  }
}

// `shortest` deepens one step at a time, for the shortest trace; without
// it one search at `depth` stops at the first violation (much sooner).
bool Caught(broker::ProtocolMutations mutation, const char* name, Budget budget, int depth,
            bool shortest = true) {
  Mutated off(mutation);
  CheckOptions options;
  options.max_depth = depth;
  options.budget = budget;
  options.stop_at_violation = true;
  options.shortest = shortest;
  return !Run(options, name).violation.empty();
}

TEST_CASE("the checker catches a broker without attempt fencing") {
  CHECK(Caught({.no_attempt_fencing = true}, "mutation: no attempt fencing", kNoFaults,
               kFencingDepth, /*shortest=*/false));
}

TEST_CASE("the checker catches a broker without the authority check") {
  CHECK(Caught({.no_authority_check = true}, "mutation: no authority check", Budget{}, Depth()));
}

}  // namespace
}  // namespace interleaving
