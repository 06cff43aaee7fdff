#include "broker/log_relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "schemas/vocabulary.h"

namespace broker {
namespace {

schemas::ControlReply Refusal(common::Code code, const std::string& why) {
  schemas::ControlReply reply;
  reply.ok = false;
  reply.error = why;
  reply.code = common::CodeId(code);
  return reply;
}

}  // namespace

LogRelay::LogRelay(RunManager& manager, Store& store, const common::Clock& clock, Respond respond,
                   std::chrono::milliseconds timeout)
    : manager_(manager), store_(store), clock_(clock), respond_(std::move(respond)),
      timeout_(timeout) {}

std::optional<schemas::ControlReply> LogRelay::Ask(const schemas::ControlRequest& request,
                                                   std::uint64_t ticket) {
  using common::Code;
  auto found = store_.GetRun(request.run_id);  // written: the group goes first
  if (!found.ok()) return Refusal(found.status().code(), found.status().message());
  const schemas::RunRecord& run = found.value();
  if (run.archived) {
    return Refusal(Code::kNotFound, "run " + run.run_id +
                                        " is archived (past broker.run_retention_days); its log "
                                        "is no longer kept with its record");
  }
  if (run.runner_id.empty() || run.attempt == 0) {
    return Refusal(Code::kNotFound, "run " + run.run_id + " has no log yet (state " +
                                        std::string(schemas::Name(run.state)) + ")");
  }
  const std::uint32_t attempt = request.attempt == 0 ? run.attempt : request.attempt;
  if (attempt > run.attempt) {
    return Refusal(Code::kNotFound, "run " + run.run_id + " has had " +
                                        std::to_string(run.attempt) + " attempt(s), not " +
                                        std::to_string(attempt));
  }
  // The record names the latest attempt's runner; an earlier attempt's log
  // is there when that runner ran it too (it answers that it has none).
  const std::optional<std::uint32_t> protocol = manager_.RunnerProtocolOf(run.runner_id);
  const std::string where = run.log_path.empty() ? "" : " (the log is " + run.log_path + " there)";
  if (!protocol) {
    return Refusal(Code::kNotFound, "runner " + run.runner_id + " is not connected" + where);
  }
  if (*protocol < schemas::kLogReadProtocol) {
    return Refusal(Code::kRejected, "runner " + run.runner_id + " speaks work protocol " +
                                        std::to_string(*protocol) +
                                        ", which cannot send logs; upgrade it" + where);
  }
  if (pending_.size() >= kMaxPending) {
    return Refusal(Code::kRejected, std::to_string(kMaxPending) +
                                        " log reads are waiting on runners already; ask again soon");
  }
  schemas::BrokerMessage read;
  read.type = std::string(schemas::broker_msg::kLogRead);
  read.run_id = run.run_id;
  read.attempt = attempt;
  read.token = manager_.NewToken();
  read.log_offset = request.offset;
  read.log_limit = request.limit == 0 ? kMaxReadBytes : std::min(request.limit, kMaxReadBytes);
  pending_[read.token] = {ticket, run.runner_id, attempt, clock_.Now() + timeout_};
  manager_.SendToRunnerNow(run.runner_id, std::move(read));
  return std::nullopt;
}

void LogRelay::OnChunk(const std::string& runner_id, const schemas::RunnerMessage& chunk) {
  auto it = pending_.find(chunk.token);
  if (it == pending_.end() || it->second.runner_id != runner_id) {
    spdlog::debug("log.chunk from {} answers no read waiting (late or not ours)", runner_id);
    return;
  }
  const Pending waiting = it->second;
  pending_.erase(it);
  if (!chunk.error.empty()) {
    respond_(waiting.ticket, Refusal(common::Code::kNotFound, "runner " + runner_id + ": " + chunk.error));
    return;
  }
  schemas::ControlReply reply;
  reply.ok = true;
  reply.log.runner_id = runner_id;
  reply.log.path = chunk.log_path;
  reply.log.attempt = waiting.attempt;
  reply.log.offset = chunk.log_offset;
  reply.log.size = chunk.log_size;
  reply.log.payload = chunk.payload;
  respond_(waiting.ticket, reply);
}

void LogRelay::Tick() {
  const common::Clock::Mono now = clock_.Now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    respond_(it->second.ticket,
             Refusal(common::Code::kIoError,
                     "runner " + it->second.runner_id + " did not send the log within " +
                         std::to_string(timeout_.count()) + " ms"));
    it = pending_.erase(it);
  }
}

}  // namespace broker
