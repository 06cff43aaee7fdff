// The job half of the Runner: starting a dispatched run, its deadlines and
// signals, reaping it, classifying how it ended and reporting that, and the
// promote step of a success. runner.cc holds the socket and the loop.
#include <signal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/team.h"
#include "runner/lease_shim.h"
#include "runner/log_reader.h"
#include "runner/outcome.h"
#include "runner/pipeline_env.h"
#include "runner/runner.h"
#include "schemas/vocabulary.h"

extern char** environ;

namespace runner {

using common::Code;
using common::Result;
using common::Status;
using Mono = common::Clock::Mono;
namespace broker_msg = schemas::broker_msg;
namespace outcome = schemas::outcome;
namespace runner_msg = schemas::runner_msg;

namespace {

// How much of a run's log its result carries: the last lines, as people
// read a failure, within a size a frame and a record can always hold.
constexpr std::streamoff kStderrTailBytes = 4096;
constexpr int kStderrTailLines = 20;

// The end of a run's log, for the broker to show with the result: printable
// ASCII only, so any byte a pipeline wrote travels as a valid string.
std::string LogTail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - kStderrTailBytes);
  in.seekg(from);
  std::string tail(static_cast<std::size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  tail.resize(static_cast<std::size_t>(in.gcount()));
  for (char& c : tail) {
    const auto u = static_cast<unsigned char>(c);
    if (u != '\n' && u != '\t' && (u < 0x20 || u > 0x7e)) c = '?';
  }
  // The last kStderrTailLines lines (a final newline ends a line, it does
  // not start one).
  std::size_t start = tail.size();
  int lines = 0;
  if (start > 0 && tail[start - 1] == '\n') --start;
  while (start > 0) {
    const std::size_t nl = tail.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      start = 0;
      break;
    }
    if (++lines == kStderrTailLines) {
      start = nl + 1;
      break;
    }
    start = nl;
  }
  return tail.substr(start);
}

}  // namespace

bool Runner::FirstSight(const schemas::BrokerMessage& dispatch) {
  // Each dispatch has its own token: one seen before is a duplicate, even
  // when its attempt has already ended here (a copy must not run it again).
  if (dispatch.token.empty()) return true;
  if (!seen_dispatches_.insert(dispatch.token).second) {
    spdlog::warn("dispatch of {} attempt {} seen before; ignored", dispatch.run_id, dispatch.attempt);
    return false;
  }
  seen_order_.push_back(dispatch.token);
  if (seen_order_.size() > kSeenDispatches) {
    seen_dispatches_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

void Runner::StartJob(const schemas::BrokerMessage& dispatch) {
  if (auto it = jobs_.find(dispatch.run_id); it != jobs_.end()) {
    Job& old = it->second;
    if (dispatch.attempt <= old.dispatch.attempt) {
      spdlog::warn("dispatch of {} attempt {} while attempt {} runs here; ignored",
                   dispatch.run_id, dispatch.attempt, old.dispatch.attempt);
      return;
    }
    // The broker has given up on the attempt running here: stop it, and
    // start the new one once it has exited, so two never overlap.
    spdlog::warn("attempt {} of {} supersedes attempt {} running here; stopping that first",
                 dispatch.attempt, dispatch.run_id, old.dispatch.attempt);
    StopJob(old, "superseded by attempt " + std::to_string(dispatch.attempt));
    superseding_[dispatch.run_id] = dispatch;
    return;
  }
  schemas::RunnerMessage result = ResultFor(dispatch);
  if (!common::ValidateTeamId(dispatch.team, true).ok()) {
    result.outcome = outcome::kFailed;
    result.error = "invalid team id " + std::to_string(dispatch.team);
    Report(result);
    return;
  }
  schemas::RunnerMessage started;
  started.type = runner_msg::kStarted;
  started.run_id = dispatch.run_id;
  started.attempt = dispatch.attempt;
  started.token = dispatch.token;
  if (settings_.noop) {
    Send(started);
    result.outcome = outcome::kSucceeded;
    result.exit_code = 0;
    Report(result);
    return;
  }
  if (jobs_.size() >= settings_.slots) {
    result.outcome = outcome::kTransient;
    result.error = "runner " + settings_.runner_id + " has no free slot";
    Report(result);
    return;
  }
  std::optional<Owner> owner = settings_.run_as;
  if (settings_.team_uid_base > 0) {
    const std::uint32_t id = settings_.team_uid_base + dispatch.team;
    owner = Owner{id, id};
  }
  auto workspace = Workspace::Prepare(
      common::DirsFor(dispatch.team, settings_.input_root, settings_.output_root),
      dispatch.run_id, dispatch.attempt, dispatch.pdate, owner);
  if (!workspace.ok()) {
    result.outcome = outcome::kTransient;
    result.error = workspace.status().message();
    Report(result);
    return;
  }
  Job job;
  job.dispatch = dispatch;
  job.owner = owner;
  job.workspace = workspace.value();
  job.log_path = LogPathFor(settings_.log_dir, dispatch.run_id, dispatch.attempt);
  job.timeout = dispatch.timeout_s > 0 ? std::chrono::seconds(dispatch.timeout_s)
                                       : settings_.run_timeout;
  job.deadline = clock_.Now() + job.timeout;
  // Only a retry can have a predecessor still running on this host; the
  // /proc walk is too slow to do for every run.
  if (dispatch.attempt > 1) KillLeftoversOf(dispatch.run_id);
  SpawnSpec spec;
  spec.argv = dispatch.command.empty() ? settings_.default_command : dispatch.command;
  // The broker says how long the lease is: it waits that long (and the
  // grace) before it retries a run whose runner went silent.
  spec.lease = LeaseOf(dispatch);
  spec.lease_grace = dispatch.lease_ms > 0 ? std::chrono::milliseconds(dispatch.lease_grace_ms)
                                           : kDefaultLeaseGrace;
  spec.name = dispatch.run_id + "-a" + std::to_string(dispatch.attempt);
  spec.env = PipelineEnvironment(dispatch, job.workspace, settings_.runner_id, environ,
                                 settings_.deployment, settings_.pass_env);
  job.memory_mb = dispatch.memory_mb > 0 ? dispatch.memory_mb : settings_.memory_max_mb;
  if (settings_.cpu_max > 0) {
    // Without cpu.max, the CPU time the share allows over the run's timeout.
    job.cpu_seconds = static_cast<std::uint32_t>(
        std::max(1.0, std::ceil(settings_.cpu_max * static_cast<double>(job.timeout.count()))));
  }
  spec.sandbox = WallsFor(job, spec);
  spec.cwd = job.workspace.staging();
  spec.log_path = job.log_path;
  auto pid = host_.Spawn(spec);
  if (!pid.ok()) {
    job.workspace.Discard();
    // A command that is not there or empty fails the same way again; a
    // fork, pipe, log or folder that failed is the host's, not the run's.
    result.outcome = pid.status().code() == common::Code::kIoError ? outcome::kTransient
                                                                   : outcome::kFailed;
    result.error = pid.status().message();
    result.log_path = job.log_path;
    Report(result);
    return;
  }
  job.pid = pid.value();
  spdlog::info("run {} attempt {} started: pid {}, {}", dispatch.run_id, dispatch.attempt,
               job.pid, common::TeamLabel(dispatch.team));
  started.log_path = job.log_path;
  Send(started);
  if (metrics_ != nullptr) metrics_->Started();
  jobs_.emplace(dispatch.run_id, std::move(job));
}

sandbox::Rules Runner::WallsFor(const Job& job, const SpawnSpec& spec) const {
  sandbox::Rules walls;
  walls.network = job.dispatch.network;
  walls.memory_bytes = static_cast<std::uint64_t>(job.memory_mb) << 20;
  walls.cpu_cores = settings_.cpu_max;
  walls.cpu_seconds = job.cpu_seconds;
  if (job.owner) {
    walls.uid = job.owner->uid;
    walls.gid = job.owner->gid;
  }
  walls.landlock = settings_.isolation != schemas::isolation::kOff && settings_.landlock_abi > 0;
  if (!walls.landlock) return walls;
  walls.rules = system_rules_;
  for (const std::string& path : settings_.sandbox_read) {
    walls.rules.push_back({path, sandbox::Access::kReadExec});
  }
  for (const std::string& path : settings_.sandbox_write) {
    walls.rules.push_back({path, sandbox::Access::kWrite});
  }
  // The pipeline's own install folder (the reference pipeline may live in
  // a build tree), as its real path: Landlock judges the file, not the link.
  if (auto program = ResolveProgram(spec.argv[0], spec.env); program.ok()) {
    std::error_code ec;
    const auto real = std::filesystem::canonical(program.value(), ec);
    if (!ec) walls.rules.push_back({real.parent_path().string(), sandbox::Access::kReadExec});
  }
  // Its team's input (a team with none yet reads nothing), and its own
  // attempt's staging folder: the only place it may write.
  std::error_code ec;
  if (std::filesystem::is_directory(job.workspace.dirs().input, ec)) {
    walls.rules.push_back({job.workspace.dirs().input, sandbox::Access::kRead});
  }
  walls.rules.push_back({job.workspace.staging(), sandbox::Access::kWrite});
  return walls;
}

void Runner::StopJob(Job& job, const std::string& reason) {
  if (job.kill_at) return;  // already stopping
  job.stop_reason = reason;
  job.kill_at = clock_.Now() + settings_.kill_grace;
  spdlog::info("stopping run {} ({}): TERM to its process group", job.dispatch.run_id, reason);
  host_.SignalGroup(job.pid, SIGTERM);
}

void Runner::EnforceDeadlines() {
  const Mono now = clock_.Now();
  last_turn_ = now;  // every turn ends here (RenewLeases tells a stall by it)
  for (auto& [id, job] : jobs_) {
    if (!job.kill_at && now >= job.deadline) {
      StopJob(job, "timed out after " + std::to_string(job.timeout.count()) + " s");
    }
    // One KILL is enough: it cannot be caught, and the exit it causes is
    // what ends the job.
    if (job.kill_at && !job.killed && now >= *job.kill_at) {
      spdlog::warn("run {} ignored TERM for {} s: KILL to its process group", id,
                   settings_.kill_grace.count());
      host_.SignalGroup(job.pid, SIGKILL);
      job.killed = true;
    }
  }
}

void Runner::ReapChildren() {
  while (const std::optional<Exited> exited = host_.Reap()) {
    auto job = std::find_if(jobs_.begin(), jobs_.end(),
                            [&](const auto& entry) { return entry.second.pid == exited->pid; });
    // Any other pid was an orphan that we, as subreaper, inherited: its
    // run may have left others, so sweep now rather than at the next beat.
    if (job == jobs_.end()) {
      KillOrphans();
    } else {
      FinishJob(job->first, exited->wait_status);
    }
  }
}

void Runner::FinishJob(std::string run_id, int wait_status) {
  Job& job = jobs_.at(run_id);
  // The run is over: nothing it started lives on or writes while we promote.
  host_.Release(job.pid);
  const Verdict verdict =
      Classify(wait_status, job.stop_reason, ReadResultFile(job.workspace.result_file()));
  if (!verdict.warning.empty()) spdlog::warn("run {}: {}", run_id, verdict.warning);
  schemas::RunnerMessage result = ResultFor(job.dispatch);
  result.log_path = job.log_path;
  result.outcome = verdict.outcome;
  result.exit_code = verdict.exit_code;
  result.error = verdict.error;
  result.total_loans = verdict.metrics.total_loans;
  result.exceptions_count = verdict.metrics.exceptions_count;
  result.metrics = verdict.metrics.metrics;
  result.inputs = verdict.metrics.inputs;
  result.stderr_tail = LogTail(job.log_path);
  if (job.stop_reason.empty()) {
    // Judged on the log's end: "out of memory" is the reason people need.
    Verdict memory = verdict;
    ApplyMemoryLimit(memory, job.memory_mb, result.stderr_tail);
    ApplyCpuLimit(memory, job.cpu_seconds, result.stderr_tail);
    if (memory.error != verdict.error) {
      result.outcome = std::string(memory.outcome);
      result.error = memory.error;
    }
  }
  // A success stays staged until the broker confirms this attempt is the
  // current one (its `promote`): a stale attempt never publishes outputs.
  std::optional<Workspace> staged;
  if (result.outcome == outcome::kSucceeded) {
    staged = job.workspace;
  } else {
    job.workspace.Discard();
  }
  spdlog::info("run {} attempt {} {}{}", run_id, result.attempt, result.outcome,
               result.error.empty() ? "" : ": " + result.error);
  const std::chrono::milliseconds lease = LeaseOf(job.dispatch);
  jobs_.erase(run_id);
  Report(result, std::move(staged), lease);
  if (auto next = superseding_.find(run_id); next != superseding_.end()) {
    const schemas::BrokerMessage dispatch = next->second;
    superseding_.erase(next);
    if (!draining_) {
      StartJob(dispatch);
    } else {
      schemas::RunnerMessage declined = ResultFor(dispatch);
      declined.outcome = outcome::kTransient;
      declined.error = "runner " + settings_.runner_id + " is shutting down";
      Report(declined);
    }
  }
}

void Runner::Report(schemas::RunnerMessage result, std::optional<Workspace> staged,
                    std::chrono::milliseconds lease) {
  unacked_[Key(result.run_id, result.attempt)] = {result, clock_.Now(), std::move(staged), lease};
  if (metrics_ != nullptr) metrics_->Ended(result.outcome);
  Send(result);
}

std::chrono::milliseconds Runner::LeaseOf(const schemas::BrokerMessage& dispatch) const {
  if (dispatch.lease_ms > 0) return std::chrono::milliseconds(dispatch.lease_ms);
  return std::chrono::duration_cast<std::chrono::milliseconds>(settings_.heartbeat *
                                                               settings_.heartbeat_liveness);
}

std::optional<common::Clock::Mono> Runner::SentAt(const schemas::BrokerMessage& m) const {
  if (m.seen_seq == 0 && m.incarnation.empty()) return clock_.Now();  // a broker that does not say
  if (m.incarnation != incarnation_) return std::nullopt;
  auto it = std::lower_bound(sent_times_.begin(), sent_times_.end(), m.seen_seq,
                             [](const auto& sent, std::uint64_t seq) { return sent.first < seq; });
  if (it == sent_times_.end() || it->first != m.seen_seq) return std::nullopt;
  return it->second;
}

void Runner::PromoteConfirmed(const schemas::BrokerMessage& m) {
  auto it = unacked_.find(Key(m.run_id, m.attempt));
  if (it == unacked_.end() || it->second.result.token != m.token) return;
  Unacked& pending = it->second;
  if (pending.result.type == runner_msg::kResult) {
    pending.result.type = runner_msg::kPromoted;
    // The broker may retry a run once the lease since it last heard from
    // us is over, so a promote that answers a message older than the lease
    // (it waited in a cut link) may come after the retry: publish nothing.
    const std::optional<common::Clock::Mono> asked = SentAt(m);
    const common::Clock::Mono now = clock_.Now();
    if (pending.staged && pending.lease.count() > 0 && (!asked || now - *asked > pending.lease)) {
      pending.result.outcome = outcome::kTransient;
      pending.result.error =
          asked ? fmt::format("promote came {} ms after what it answers, past the {} ms lease",
                              std::chrono::duration_cast<std::chrono::milliseconds>(now - *asked)
                                  .count(),
                              pending.lease.count())
                : "promote answers a message this runner no longer knows; past the lease";
      pending.staged->Discard();
      pending.staged.reset();
    }
    // Promotion is idempotent: a repeated promote finds the outputs moved.
    if (pending.staged) {
      if (Status s = pending.staged->Promote(); !s.ok()) {
        // A disk problem, not the pipeline's fault: another attempt may succeed.
        pending.result.outcome = outcome::kTransient;
        pending.result.error = s.message();
        pending.staged->Discard();
      }
      pending.staged.reset();
    }
    spdlog::info("run {} attempt {} promoted{}", m.run_id, m.attempt,
                 pending.result.outcome == outcome::kSucceeded ? "" : ": " + pending.result.error);
  }
  pending.sent_at = clock_.Now();
  Send(pending.result);
}

bool Runner::IsJobLeader(pid_t pid) const {
  return std::any_of(jobs_.begin(), jobs_.end(),
                     [pid](const auto& entry) { return entry.second.pid == pid; });
}

void Runner::KillOrphans() {
  // As a subreaper we inherit what a pipeline left behind, even after it
  // called setsid. Such an orphan is killed unless its run still runs here.
  const pid_t self = host_.self();
  for (const ProcessInfo& p : host_.Scan()) {
    if (p.ppid != self || p.state == 'Z' || IsJobLeader(p.pid)) continue;
    if (!p.run_id.empty() && jobs_.count(p.run_id) != 0) continue;
    spdlog::info("killing orphan pid {} left by run {}", p.pid, p.run_id.empty() ? "?" : p.run_id);
    host_.Signal(p.pid, SIGKILL);
  }
}

void Runner::KillLeftoversOf(const std::string& run_id) {
  // An earlier attempt of this run on this host may have outlived its
  // runner (kill -9): never let two attempts of one run overlap. Only this
  // deployment's: another on the same host numbers its runs the same way.
  if (const int swept = host_.SweepCgroups(run_id); swept > 0) {
    spdlog::warn("killed {} cgroups left over from earlier attempts of run {}", swept, run_id);
  }
  for (const ProcessInfo& p : host_.Scan()) {
    if (p.run_id != run_id || p.deployment != settings_.deployment || p.state == 'Z') continue;
    spdlog::warn("killing pid {} left over from an earlier attempt of run {}", p.pid, run_id);
    host_.Signal(p.pid, SIGKILL);
  }
}


void Runner::RenewLeases(const schemas::BrokerMessage& m) {
  // Only what a broker says to a runner it counts as its own renews: not
  // "hello-required" (it does not know us), not a refusal, not a cancel.
  if (m.type != broker_msg::kHeartbeat && m.type != broker_msg::kDispatch &&
      m.type != broker_msg::kAck && m.type != broker_msg::kPromote &&
      !(m.type == broker_msg::kWelcome && m.key != broker_msg::kHelloRequired)) {
    return;
  }
  const Mono now = clock_.Now();
  // A loop that did not turn for two heartbeats was stopped or starved:
  // what it reads now may have waited in its socket since before the broker
  // gave up on it. For a heartbeat, only fresh frames renew; by then the
  // broker's cancel of a lost attempt has arrived, and that one never will.
  if (now - last_turn_ >= 2 * settings_.heartbeat) renew_after_ = now + settings_.heartbeat;
  if (now < renew_after_) return;
  // A frame that answers what we said long ago (it waited in a cut link,
  // or the broker has not heard us since) says nothing about now.
  const std::optional<Mono> asked = SentAt(m);
  if (!asked || now - *asked > 2 * settings_.heartbeat) return;
  // A burst of frames (acks for a slot's worth of results) renews once: a
  // lease is many heartbeats long, so a quarter heartbeat loses nothing.
  if (renewed_at_ && now - *renewed_at_ < settings_.heartbeat / 4) return;
  renewed_at_ = now;
  for (const auto& [id, job] : jobs_) {
    if (!job.disowned) host_.RenewLease(job.pid);
  }
}

void Runner::SweepLeftovers() {
  // A runner killed with -9 left its shims, which kill their trees when
  // their lease pipes close; what is left (a cgroup, a pipeline whose shim
  // was killed too) goes now, before the hello that tells the broker this
  // runner holds nothing: the broker retries those runs at once.
  const int cgroups = host_.SweepCgroups("");
  int processes = 0;
  for (const ProcessInfo& p : host_.Scan()) {
    if (p.run_id.empty() || p.deployment != settings_.deployment ||
        p.runner_id != settings_.runner_id || p.state == 'Z' || p.pid == host_.self() ||
        p.name == kShimName) {
      continue;
    }
    host_.Signal(p.pid, SIGKILL);
    ++processes;
  }
  if (cgroups + processes > 0) {
    spdlog::warn("swept {} cgroups and {} processes left by an earlier runner {}", cgroups,
                 processes, settings_.runner_id);
  }
}

}  // namespace runner
