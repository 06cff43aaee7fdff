#include "runner/runner.h"

#include <signal.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <fstream>

#include "common/team.h"
#include "common/text.h"
#include "runner/outcome.h"
#include "runner/pipeline_env.h"
#include "schemas/codec.h"
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

// A stopped run gets the kill grace to exit on TERM; after KILL, this much
// longer for its result to be acknowledged before a drain gives up.
constexpr std::chrono::seconds kDrainAckGrace{5};
// Broker frames handled per turn, so a flood cannot starve deadlines.
constexpr int kMaxFramesPerTurn = 256;
// How much of a run's log its result carries.
constexpr std::streamoff kStderrTailBytes = 2048;

std::string Key(const std::string& run_id, std::uint32_t attempt) {
  return run_id + "#" + std::to_string(attempt);
}

schemas::RunnerMessage ResultFor(const schemas::BrokerMessage& dispatch) {
  schemas::RunnerMessage result;
  result.type = runner_msg::kResult;
  result.run_id = dispatch.run_id;
  result.attempt = dispatch.attempt;
  result.token = dispatch.token;
  return result;
}

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
  return tail;
}

}  // namespace

Runner::Runner(SocketFactory connect, ProcessHost& host, const common::Clock& clock,
               RunnerSettings settings)
    : connect_(std::move(connect)), host_(host), clock_(clock), settings_(std::move(settings)) {}

Runner::~Runner() {
  for (const auto& [id, job] : jobs_) host_.Release(job.pid);
}

Status Runner::Connect() {
  // The old socket goes first: the broker's ROUTER refuses a second peer
  // with the same routing id while the first is still connected.
  socket_.reset();
  try {
    socket_ = connect_();
  } catch (const zmq::error_t& e) {
    return Status::Error(Code::kIoError, std::string("cannot connect to the broker: ") + e.what());
  }
  if (socket_ == nullptr) return Status::Error(Code::kIoError, "no socket to the broker");
  last_from_broker_ = clock_.Now();
  return Status();
}

void Runner::Send(const schemas::RunnerMessage& message) {
  schemas::RunnerMessage m = message;
  m.runner_id = settings_.runner_id;
  // The broker refuses a str that is not UTF-8, and a refused result would
  // be resent forever: text from the system (errors, paths) goes escaped.
  for (std::string* text : {&m.error, &m.log_path}) {
    if (!common::IsUtf8(*text)) *text = common::Printable(*text);
  }
  // A full pipe to a vanished broker must not block us; heartbeats and
  // result resends repeat what matters.
  try {
    (void)socket_->send(zmq::buffer(schemas::Encode(m)), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::warn("cannot send {} to the broker: {}", m.type, e.what());
  }
}

void Runner::SendHello() {
  schemas::RunnerMessage hello;
  hello.type = runner_msg::kHello;
  hello.protocol = schemas::kWorkProtocol;
  // Draining, we look full to the broker so it sends nothing new.
  hello.slots = draining_ ? static_cast<std::uint32_t>(std::max<std::size_t>(1, jobs_.size()))
                          : settings_.slots;
  AddLeases(hello);
  Send(hello);
}

void Runner::AddLeases(schemas::RunnerMessage& message) const {
  for (const auto& [run_id, job] : jobs_) {
    message.holding.push_back({run_id, job.dispatch.attempt, job.dispatch.token});
  }
  for (const auto& [run_id, dispatch] : superseding_) {
    message.holding.push_back({run_id, dispatch.attempt, dispatch.token});
  }
  for (const auto& [key, pending] : unacked_) {
    message.finished.push_back({pending.result.run_id, pending.result.attempt, pending.result.token});
  }
}

Status Runner::Start() {
  if (Status s = Connect(); !s.ok()) return s;
  SendHello();
  spdlog::info("runner {} says hello with {} slots", settings_.runner_id, settings_.slots);
  return Status();
}

Status Runner::Run(const std::atomic<bool>& stop) {
  if (Status s = Start(); !s.ok()) return s;
  while (true) {
    auto more = Turn(stop.load(), settings_.heartbeat);
    if (!more.ok()) return more.status();
    if (!more.value()) break;
  }
  spdlog::info("runner {} stopped", settings_.runner_id);
  return Status();
}

Result<bool> Runner::Turn(bool stop, std::chrono::milliseconds max_wait) {
  assert(socket_ != nullptr && "Turn before a successful Start");
  if (stop && !draining_) {
    draining_ = true;
    drain_deadline_ = clock_.Now() + settings_.drain_timeout;
    spdlog::info("draining: {} runs still going, waiting up to {} s", jobs_.size(),
                 settings_.drain_timeout.count());
    SendHello();
  }
  if (draining_ && !StepDrain()) {
    schemas::RunnerMessage bye;
    bye.type = runner_msg::kBye;
    Send(bye);
    return false;
  }
  std::vector<zmq::pollitem_t> items = {{socket_->handle(), 0, ZMQ_POLLIN, 0}};
  if (host_.exit_fd() >= 0) items.push_back({nullptr, host_.exit_fd(), ZMQ_POLLIN, 0});
  try {
    zmq::poll(items.data(), items.size(),
              std::max(std::chrono::milliseconds(0), std::min(TimeUntilNextDeadline(), max_wait)));
    for (int i = 0; i < kMaxFramesPerTurn && (items[0].revents & ZMQ_POLLIN); ++i) {
      if (Status s = HandleBrokerMessage(); !s.ok()) return s;
      zmq::pollitem_t again{socket_->handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&again, 1, std::chrono::milliseconds(0)) == 0) break;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) return Status::Error(Code::kIoError, e.what());
  }
  // Exits are looked for every turn, not only when the descriptor fired: a
  // child may end between a reap and the next poll.
  ReapChildren();
  EnforceDeadlines();
  if (Status s = Housekeeping(); !s.ok()) return s;
  return true;
}

bool Runner::StepDrain() {
  if (jobs_.empty() && unacked_.empty()) return false;
  const Mono now = clock_.Now();
  if (now < drain_deadline_) return true;
  for (auto& [id, job] : jobs_) StopJob(job, "runner shutting down");
  if (now >= drain_deadline_ + settings_.kill_grace + kDrainAckGrace) {
    spdlog::warn("leaving with {} unacknowledged results", unacked_.size());
    return false;
  }
  return true;
}

std::chrono::milliseconds Runner::TimeUntilNextDeadline() const {
  const Mono now = clock_.Now();
  Mono next = std::min(next_heartbeat_,
                       last_from_broker_ + settings_.heartbeat * settings_.heartbeat_liveness);
  for (const auto& [id, job] : jobs_) {
    if (!job.kill_at) {
      next = std::min(next, job.deadline);
    } else if (!job.killed) {
      next = std::min(next, *job.kill_at);
    }
  }
  for (const auto& [key, pending] : unacked_) {
    next = std::min(next, pending.sent_at + settings_.heartbeat);
  }
  if (draining_) {
    // Once past the drain deadline only the final give-up step is ahead.
    const Mono give_up = drain_deadline_ + settings_.kill_grace + kDrainAckGrace;
    next = std::min(next, now < drain_deadline_ ? drain_deadline_ : give_up);
  }
  // Rounded up: waking a hair early would find nothing due and spin.
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
  wait = std::clamp(wait, std::chrono::milliseconds(0), settings_.heartbeat);
  if (host_.exit_fd() < 0 && !jobs_.empty()) wait = std::min(wait, kExitPollInterval);
  return wait;
}

Status Runner::Housekeeping() {
  const Mono now = clock_.Now();
  if (now - last_from_broker_ >= settings_.heartbeat * settings_.heartbeat_liveness) {
    spdlog::warn("broker silent for {} heartbeats; reconnecting", settings_.heartbeat_liveness);
    if (Status s = Connect(); !s.ok()) return s;
    SendHello();
  }
  if (now >= next_heartbeat_) {
    next_heartbeat_ = now + settings_.heartbeat;
    schemas::RunnerMessage beat;
    beat.type = runner_msg::kHeartbeat;
    AddLeases(beat);
    Send(beat);
    KillOrphans();
  }
  // Results are resent until acknowledged, so a broker restart loses none.
  for (auto& [key, pending] : unacked_) {
    if (now - pending.sent_at < settings_.heartbeat) continue;
    Send(pending.result);
    pending.sent_at = now;
  }
  return Status();
}

Status Runner::HandleBrokerMessage() {
  zmq::message_t frame;
  if (!socket_->recv(frame, zmq::recv_flags::dontwait)) return Status();
  if (frame.more()) {  // we only ever expect single frames
    while (frame.more() && socket_->recv(frame, zmq::recv_flags::dontwait)) {
    }
    spdlog::warn("dropped a multi-frame message from the broker");
    return Status();
  }
  last_from_broker_ = clock_.Now();
  auto message = schemas::DecodeBrokerMessage(frame.to_string_view());
  if (!message.ok()) {
    spdlog::warn("dropped broker message: {}", message.status().message());
    return Status();
  }
  const schemas::BrokerMessage& m = message.value();
  if (m.type == broker_msg::kDispatch) {
    StartJob(m);
  } else if (m.type == broker_msg::kAck) {
    auto it = unacked_.find(Key(m.run_id, m.attempt));
    if (it != unacked_.end()) {
      if (!m.error.empty()) {
        spdlog::warn("broker did not count the result of {} attempt {}: {}", m.run_id,
                     m.attempt, m.error);
      }
      // Not promoted by now means not to be: the broker ended it otherwise.
      if (it->second.staged) it->second.staged->Discard();
      unacked_.erase(it);
    }
  } else if (m.type == broker_msg::kPromote) {
    PromoteConfirmed(m);
  } else if (m.type == broker_msg::kCancel) {
    auto it = jobs_.find(m.run_id);
    if (it != jobs_.end() && it->second.dispatch.attempt == m.attempt) {
      StopJob(it->second, "cancelled");
    }
    auto waiting = superseding_.find(m.run_id);
    if (waiting != superseding_.end() && waiting->second.attempt == m.attempt) {
      superseding_.erase(waiting);
    }
  } else if (m.type == broker_msg::kWelcome && m.key == broker_msg::kHelloRequired) {
    SendHello();
  } else if (m.type == broker_msg::kRefused) {
    // Retrying cannot help: this broker will never speak our protocol. Say
    // so loudly and stop, rather than reconnect forever.
    spdlog::critical("broker refused runner {}: {}", settings_.runner_id, m.error);
    return Status::Error(Code::kRejected, "broker refused us: " + m.error);
  }
  return Status();
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
  auto workspace = Workspace::Prepare(
      common::DirsFor(dispatch.team, settings_.input_root, settings_.output_root),
      dispatch.run_id, dispatch.attempt, dispatch.pdate);
  if (!workspace.ok()) {
    result.outcome = outcome::kTransient;
    result.error = workspace.status().message();
    Report(result);
    return;
  }
  Job job;
  job.dispatch = dispatch;
  job.workspace = workspace.value();
  job.log_path = settings_.log_dir + "/" + dispatch.run_id + "." +
                 std::to_string(dispatch.attempt) + ".log";
  job.timeout = dispatch.timeout_s > 0 ? std::chrono::seconds(dispatch.timeout_s)
                                       : settings_.run_timeout;
  job.deadline = clock_.Now() + job.timeout;
  // Only a retry can have a predecessor still running on this host; the
  // /proc walk is too slow to do for every run.
  if (dispatch.attempt > 1) KillLeftoversOf(dispatch.run_id);
  SpawnSpec spec;
  spec.argv = dispatch.command.empty() ? settings_.default_command : dispatch.command;
  spec.env = PipelineEnvironment(dispatch, job.workspace, settings_.runner_id, environ,
                                 settings_.deployment);
  spec.cwd = job.workspace.staging();
  spec.log_path = job.log_path;
  auto pid = host_.Spawn(spec);
  if (!pid.ok()) {
    job.workspace.Discard();
    result.outcome = outcome::kFailed;
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
  jobs_.emplace(dispatch.run_id, std::move(job));
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
  result.stderr_tail = LogTail(job.log_path);
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
  jobs_.erase(run_id);
  Report(result, std::move(staged));
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

void Runner::Report(schemas::RunnerMessage result, std::optional<Workspace> staged) {
  unacked_[Key(result.run_id, result.attempt)] = {result, clock_.Now(), std::move(staged)};
  Send(result);
}

void Runner::PromoteConfirmed(const schemas::BrokerMessage& m) {
  auto it = unacked_.find(Key(m.run_id, m.attempt));
  if (it == unacked_.end() || it->second.result.token != m.token) return;
  Unacked& pending = it->second;
  if (pending.result.type == runner_msg::kResult) {
    pending.result.type = runner_msg::kPromoted;
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
  for (const ProcessInfo& p : host_.Scan()) {
    if (p.run_id != run_id || p.deployment != settings_.deployment || p.state == 'Z') continue;
    spdlog::warn("killing pid {} left over from an earlier attempt of run {}", p.pid, run_id);
    host_.Signal(p.pid, SIGKILL);
  }
}

}  // namespace runner
