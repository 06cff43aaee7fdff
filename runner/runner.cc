#include "runner/runner.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "common/team.h"
#include "runner/process_scan.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

extern char** environ;

namespace runner {

using common::Status;

namespace {

constexpr int kExitTempFail = 75;  // EX_TEMPFAIL: the pipeline says "retry me"

std::string Key(const std::string& run_id, std::uint32_t attempt) {
  return run_id + "#" + std::to_string(attempt);
}

}  // namespace

Runner::Runner(zmq::context_t& context, std::string work_endpoint, const common::Clock& clock,
               RunnerSettings settings, int sigchld_fd)
    : context_(context), endpoint_(std::move(work_endpoint)), clock_(clock),
      settings_(std::move(settings)), sigchld_fd_(sigchld_fd) {}

void Runner::Connect() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::routing_id, settings_.runner_id);
  if (settings_.secure) settings_.secure(*socket_);
  socket_->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schemas::kMaxFrameBytes));
  socket_->connect(endpoint_);
  last_from_broker_ = clock_.Now();
}

void Runner::Send(const schemas::RunnerMessage& message) {
  schemas::RunnerMessage m = message;
  m.runner_id = settings_.runner_id;
  // A full pipe to a vanished broker must not block us; heartbeats and
  // result resends repeat what matters.
  (void)socket_->send(zmq::buffer(schemas::Encode(m)), zmq::send_flags::dontwait);
}

void Runner::SendHello(std::uint32_t slots) {
  schemas::RunnerMessage hello;
  hello.type = "hello";
  hello.slots = slots;
  for (const auto& [run_id, job] : jobs_) hello.holding.push_back({run_id, job.dispatch.attempt});
  Send(hello);
}

Status Runner::Run(const std::atomic<bool>& stop) {
  Connect();
  SendHello(settings_.slots);
  spdlog::info("runner {} connecting to {} with {} slots", settings_.runner_id, endpoint_,
               settings_.slots);
  bool draining = false;
  common::Clock::Mono drain_deadline{};
  while (true) {
    if (stop.load() && !draining) {
      draining = true;
      drain_deadline = clock_.Now() + settings_.drain_timeout;
      spdlog::info("draining: {} runs still going, waiting up to {} s", jobs_.size(),
                   settings_.drain_timeout.count());
      // Look full to the broker so it sends nothing new.
      SendHello(static_cast<std::uint32_t>(std::max<std::size_t>(1, jobs_.size())));
    }
    if (draining) {
      if (jobs_.empty() && unacked_.empty()) break;
      if (clock_.Now() >= drain_deadline) {
        for (auto& [id, job] : jobs_) StopJob(job, "runner shutting down");
        if (clock_.Now() >= drain_deadline + settings_.kill_grace + std::chrono::seconds(5)) {
          spdlog::warn("leaving with {} unacknowledged results", unacked_.size());
          break;
        }
      }
    }
    std::vector<zmq::pollitem_t> items = {{socket_->handle(), 0, ZMQ_POLLIN, 0}};
    if (sigchld_fd_ >= 0) items.push_back({nullptr, sigchld_fd_, ZMQ_POLLIN, 0});
    try {
      const auto wait = jobs_.empty() ? settings_.heartbeat : std::chrono::milliseconds(100);
      zmq::poll(items.data(), items.size(), std::min(wait, settings_.heartbeat));
      for (int i = 0; i < 256 && (items[0].revents & ZMQ_POLLIN); ++i) {
        zmq::pollitem_t again{socket_->handle(), 0, ZMQ_POLLIN, 0};
        HandleBrokerMessage();
        if (zmq::poll(&again, 1, std::chrono::milliseconds(0)) == 0) break;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Error(common::Code::kIoError, e.what());
    }
    if (sigchld_fd_ >= 0 && items.size() > 1 && (items[1].revents & ZMQ_POLLIN)) {
      signalfd_siginfo info;
      while (read(sigchld_fd_, &info, sizeof info) == sizeof info) {
      }
    }
    ReapChildren();
    EnforceDeadlines();
    Housekeeping(draining);
  }
  schemas::RunnerMessage bye;
  bye.type = "bye";
  Send(bye);
  spdlog::info("runner {} stopped", settings_.runner_id);
  return Status();
}

void Runner::Housekeeping(bool draining) {
  const auto now = clock_.Now();
  if (now - last_from_broker_ > settings_.heartbeat * settings_.heartbeat_liveness) {
    spdlog::warn("broker silent for {} heartbeats; reconnecting", settings_.heartbeat_liveness);
    Connect();
    SendHello(draining ? static_cast<std::uint32_t>(std::max<std::size_t>(1, jobs_.size()))
                       : settings_.slots);
  }
  if (now >= next_heartbeat_) {
    next_heartbeat_ = now + settings_.heartbeat;
    schemas::RunnerMessage beat;
    beat.type = "heartbeat";
    Send(beat);
    // Results are resent until acknowledged, so a broker restart loses none.
    for (auto& [key, pending] : unacked_) {
      if (now - pending.sent_at < settings_.heartbeat) continue;  // just sent
      Send(pending.result);
      pending.sent_at = now;
    }
    KillOrphans();
  }
}

void Runner::HandleBrokerMessage() {
  zmq::message_t frame;
  if (!socket_->recv(frame, zmq::recv_flags::dontwait)) return;
  if (frame.more()) {  // we only ever expect single frames
    while (frame.more() && socket_->recv(frame, zmq::recv_flags::dontwait)) {
    }
    spdlog::warn("dropped a multi-frame message from the broker");
    return;
  }
  last_from_broker_ = clock_.Now();
  auto message = schemas::DecodeBrokerMessage(frame.to_string_view());
  if (!message.ok()) {
    spdlog::warn("dropped broker message: {}", message.status().message());
    return;
  }
  const schemas::BrokerMessage& m = message.value();
  if (m.type == "dispatch") {
    StartJob(m);
  } else if (m.type == "ack") {
    unacked_.erase(Key(m.run_id, m.attempt));
  } else if (m.type == "cancel") {
    auto it = jobs_.find(m.run_id);
    if (it != jobs_.end() && it->second.dispatch.attempt == m.attempt) {
      StopJob(it->second, "cancelled");
    }
  } else if (m.type == "welcome" && m.key == "hello-required") {
    SendHello(settings_.slots);
  }
}

std::vector<std::string> Runner::Environment(const Job& job) const {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("DAYBREAK_")) continue;  // ours only
    env.emplace_back(*e);
  }
  const schemas::BrokerMessage& d = job.dispatch;
  const Workspace& w = *job.workspace;
  env.push_back("DAYBREAK_RUN_ID=" + d.run_id);
  env.push_back("DAYBREAK_TEAM=" + (d.team == common::kGeneralTeam ? "" : std::to_string(d.team)));
  env.push_back("DAYBREAK_PDATE=" + d.pdate);
  env.push_back("DAYBREAK_ATTEMPT=" + std::to_string(d.attempt));
  env.push_back("DAYBREAK_INPUT_DIR=" + w.dirs().input);
  env.push_back("DAYBREAK_OUTPUT_DIR=" + w.staging_output());
  env.push_back("DAYBREAK_SHARE_DIR=" + w.staging_share());
  env.push_back("DAYBREAK_RESULT_FILE=" + w.result_file());
  env.push_back("DAYBREAK_RUNNER_ID=" + settings_.runner_id);
  return env;
}

void Runner::StartJob(const schemas::BrokerMessage& dispatch) {
  schemas::RunnerMessage result;
  result.type = "result";
  result.run_id = dispatch.run_id;
  result.attempt = dispatch.attempt;
  if (jobs_.count(dispatch.run_id) != 0) {
    spdlog::warn("dispatch of {} attempt {} while attempt {} runs here; ignored",
                 dispatch.run_id, dispatch.attempt, jobs_[dispatch.run_id].dispatch.attempt);
    return;
  }
  if (common::ValidateTeamId(dispatch.team, true).ok() == false) {
    result.outcome = "failed";
    result.error = "invalid team id " + std::to_string(dispatch.team);
    Report(result);
    return;
  }
  schemas::RunnerMessage started;
  started.type = "started";
  started.run_id = dispatch.run_id;
  started.attempt = dispatch.attempt;
  if (settings_.noop) {
    Send(started);
    result.outcome = "succeeded";
    result.exit_code = 0;
    Report(result);
    return;
  }
  if (jobs_.size() >= settings_.slots) {
    result.outcome = "transient";
    result.error = "runner " + settings_.runner_id + " has no free slot";
    Report(result);
    return;
  }
  auto workspace = Workspace::Prepare(
      common::DirsFor(dispatch.team, settings_.input_root, settings_.output_root),
      dispatch.run_id, dispatch.attempt, dispatch.pdate);
  if (!workspace.ok()) {
    result.outcome = "transient";
    result.error = workspace.status().message();
    Report(result);
    return;
  }
  Job job;
  job.dispatch = dispatch;
  job.workspace = workspace.value();
  job.log_path = settings_.log_dir + "/" + dispatch.run_id + "." +
                 std::to_string(dispatch.attempt) + ".log";
  const auto timeout = dispatch.timeout_s > 0 ? std::chrono::seconds(dispatch.timeout_s)
                                              : settings_.run_timeout;
  job.deadline = clock_.Now() + timeout;
  job.timeout = timeout;
  // Only a retry can have a predecessor still running on this host; the
  // /proc walk is too slow to do for every run.
  if (dispatch.attempt > 1) KillLeftoversOf(dispatch.run_id);
  SpawnSpec spec;
  spec.argv = dispatch.command.empty() ? settings_.default_command : dispatch.command;
  spec.env = Environment(job);
  spec.cwd = workspace.value().staging();
  spec.log_path = job.log_path;
  auto child = ChildProcess::Spawn(spec);
  if (!child.ok()) {
    job.workspace->Discard();
    result.outcome = "failed";
    result.error = child.status().message();
    result.log_path = job.log_path;
    Report(result);
    return;
  }
  job.child.emplace(std::move(child).value());
  spdlog::info("run {} attempt {} started: pid {}, {}", dispatch.run_id, dispatch.attempt,
               job.child->pid(), common::TeamLabel(dispatch.team));
  started.log_path = job.log_path;
  Send(started);
  jobs_.emplace(dispatch.run_id, std::move(job));
}

void Runner::StopJob(Job& job, const std::string& reason) {
  if (job.kill_at) return;  // already stopping
  job.stop_reason = reason;
  job.kill_at = clock_.Now() + settings_.kill_grace;
  spdlog::info("stopping run {} ({}): TERM to its process group", job.dispatch.run_id, reason);
  job.child->SignalGroup(SIGTERM);
}

void Runner::EnforceDeadlines() {
  const auto now = clock_.Now();
  for (auto& [id, job] : jobs_) {
    if (!job.kill_at && now >= job.deadline) {
      StopJob(job, "timed out after " + std::to_string(job.timeout.count()) + " s");
    }
    if (job.kill_at && now >= *job.kill_at) job.child->SignalGroup(SIGKILL);
  }
}

void Runner::ReapChildren() {
  while (true) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    bool known = false;
    for (auto& [id, job] : jobs_) {
      if (job.child->pid() == pid) {
        known = true;
        job.child->MarkReaped();
        FinishJob(id, status);
        break;
      }
    }
    // Any other pid was an orphan that we, as subreaper, inherited: its
    // run may have left others, so sweep now rather than at the next beat.
    if (!known) KillOrphans();
  }
}

void Runner::FinishJob(const std::string& run_id, int wait_status) {
  Job& job = jobs_.at(run_id);
  job.child->SignalGroup(SIGKILL);  // the run is over: nothing it started lives on
  schemas::RunnerMessage result;
  result.type = "result";
  result.run_id = run_id;
  result.attempt = job.dispatch.attempt;
  result.log_path = job.log_path;
  if (WIFEXITED(wait_status)) {
    result.exit_code = WEXITSTATUS(wait_status);
    if (result.exit_code == 0 && job.stop_reason.empty()) {
      result.outcome = "succeeded";
    } else if (result.exit_code == kExitTempFail) {
      result.outcome = "transient";
      result.error = "pipeline exited 75 (temporary failure)";
    } else {
      result.outcome = "failed";
      result.error = "pipeline exited " + std::to_string(result.exit_code);
    }
  } else {
    result.outcome = "transient";
    result.error = "pipeline killed by signal " + std::to_string(WTERMSIG(wait_status));
  }
  if (!job.stop_reason.empty()) {
    result.outcome = "transient";
    result.error = job.stop_reason;
  }
  auto metrics = ReadResultFile(job.workspace->result_file());
  if (metrics.ok()) {
    result.total_loans = metrics.value().total_loans;
    result.exceptions_count = metrics.value().exceptions_count;
    result.metrics = metrics.value().metrics;
  } else if (result.outcome == "succeeded") {
    spdlog::warn("run {}: {}", run_id, metrics.status().message());
  }
  if (result.outcome == "succeeded") {
    if (Status s = job.workspace->Promote(); !s.ok()) {
      result.outcome = "transient";
      result.error = s.message();
    }
  }
  if (result.outcome != "succeeded") job.workspace->Discard();
  spdlog::info("run {} attempt {} {}{}", run_id, result.attempt, result.outcome,
               result.error.empty() ? "" : ": " + result.error);
  jobs_.erase(run_id);
  Report(result);
}

void Runner::Report(schemas::RunnerMessage result) {
  unacked_[Key(result.run_id, result.attempt)] = {result, clock_.Now()};
  Send(result);
}

bool Runner::IsJobLeader(pid_t pid) const {
  for (const auto& [id, job] : jobs_) {
    if (job.child->pid() == pid) return true;
  }
  return false;
}

void Runner::KillOrphans() {
  // As a subreaper we inherit what a pipeline left behind, even after it
  // called setsid. Such an orphan is killed unless its run still runs here.
  const pid_t self = getpid();
  ForEachProcess([&](const ProcessInfo& p) {
    if (p.ppid != self || p.state == 'Z' || IsJobLeader(p.pid)) return;
    if (!p.run_id.empty() && jobs_.count(p.run_id) != 0) return;
    spdlog::info("killing orphan pid {} left by run {}", p.pid, p.run_id.empty() ? "?" : p.run_id);
    kill(p.pid, SIGKILL);
  });
}

void Runner::KillLeftoversOf(const std::string& run_id) {
  // An earlier attempt of this run on this host may have outlived its
  // runner (kill -9): never let two attempts of one run overlap.
  ForEachProcess([&](const ProcessInfo& p) {
    if (p.run_id != run_id || p.state == 'Z') return;
    spdlog::warn("killing pid {} left over from an earlier attempt of run {}", p.pid, run_id);
    kill(p.pid, SIGKILL);
  });
}

}  // namespace runner
