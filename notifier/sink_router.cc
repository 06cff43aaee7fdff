#include "notifier/sink_router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace notifier {

using std::chrono::milliseconds;

SinkRouter::~SinkRouter() { Stop(milliseconds(0)); }

std::size_t SinkRouter::AddQueue(std::unique_ptr<Sink> sink, RetryPolicy policy, std::size_t limit,
                                 std::string cursor_path) {
  queues_.push_back(std::make_unique<DeliveryQueue>(std::move(sink), policy, limit,
                                                    std::move(cursor_path), clock_, abort_));
  return queues_.size() - 1;
}

void SinkRouter::AddRoute(Route route) { routes_.push_back(std::move(route)); }

void SinkRouter::Adopt(const StoreIdentity& store) {
  for (auto& q : queues_) q->Adopt(store);
}

common::Status SinkRouter::Start() {
  for (auto& q : queues_) {
    if (common::Status s = q->Start(); !s.ok()) return s;
  }
  return common::Status();
}

bool SinkRouter::Offer(const Notification& n) {
  std::vector<std::size_t> targets;
  const std::uint32_t team = n.team();
  for (const Route& r : routes_) {
    const bool team_ok = r.team ? *r.team == team : r.except.count(team) == 0;
    if (!team_ok || !TopicMatches(r.events, n.topic)) continue;
    if (std::find(targets.begin(), targets.end(), r.queue) != targets.end()) continue;
    if (!queues_[r.queue]->Wants(n.seq)) continue;  // done before the restart
    targets.push_back(r.queue);
  }
  // All or nothing, so each queue sees every event meant for it, in order.
  // Only this thread pushes, so room found here is still there below.
  for (std::size_t i : targets) {
    if (!queues_[i]->HasRoom()) return false;
  }
  for (std::size_t i : targets) queues_[i]->Push(n);
  return true;
}

std::uint64_t SinkRouter::FinishedThrough(std::uint64_t offered) const {
  std::uint64_t through = offered;
  for (const auto& q : queues_) through = std::min(through, q->FinishedThrough(offered));
  return through;
}

bool SinkRouter::Idle() const {
  return std::all_of(queues_.begin(), queues_.end(), [](const auto& q) { return q->Idle(); });
}

void SinkRouter::Stop(milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  for (auto& q : queues_) q->BeginDrain();
  const auto until = clock_.Now() + grace;
  while (!Idle() && clock_.Now() < until) {
    std::this_thread::sleep_for(milliseconds(20));  // waiting out deliveries in progress
  }
  abort_.store(true);
  for (auto& q : queues_) q->Join();
  for (const auto& [name, s] : Stats()) {
    spdlog::info("sink {}: {} delivered, {} retried attempts, {} undeliverable ({} overflowed), {} left for replay",
                 name, s.delivered, s.retries, s.undeliverable, s.overflowed, s.queued);
  }
}

std::vector<std::pair<std::string, QueueStats>> SinkRouter::Stats() const {
  std::vector<std::pair<std::string, QueueStats>> out;
  for (const auto& q : queues_) out.emplace_back(q->name(), q->stats());
  return out;
}

DeliveryQueue* SinkRouter::Find(const std::string& name) const {
  for (const auto& q : queues_) {
    if (q->name() == name) return q.get();
  }
  return nullptr;
}

void SinkRouter::SetDeadLetters(const std::shared_ptr<DeadLetterOutbox>& outbox) {
  for (auto& q : queues_) q->set_dead_letters(outbox);
}

std::vector<std::string> SinkRouter::Destinations() const {
  std::vector<std::string> out;
  for (const auto& q : queues_) out.push_back(q->name());
  return out;
}

namespace {

// One kind's queues: its global destination, and for each team with an
// override, that team's own destination or its own events list.
void AddKind(const SinkKind& k, const NotifierConfig& c, const std::string& cursor_path,
             const SinkContext& context, RetryPolicy policy, SinkRouter& router) {
  auto path = [&](const std::string& name) { return cursor_path.empty() ? "" : cursor_path + "." + name; };
  std::optional<std::size_t> global;
  if (k.HasGlobalDestination()) {
    global = router.AddQueue(k.Make(k.name(), std::nullopt, context), policy, c.queue_limit, path(k.name()));
  }
  std::set<std::uint32_t> except;
  for (const std::uint32_t team : c.teams) {
    const bool own = k.HasTeamDestination(team);
    const auto& events = k.TeamEvents(team);
    if (!own && !events) continue;
    except.insert(team);
    std::optional<std::size_t> dest = global;
    if (own) {
      const std::string name = k.name() + ".team" + std::to_string(team);
      dest = router.AddQueue(k.Make(name, team, context), policy, c.queue_limit, path(name));
    }
    if (!dest) {
      spdlog::warn("notifier.team {}: {} events are set but no {} destination is configured", team,
                   k.name(), k.name());
      continue;
    }
    router.AddRoute(Route{*dest, team, {}, events.value_or(k.events())});
  }
  if (global) router.AddRoute(Route{*global, std::nullopt, except, k.events()});
}

}  // namespace

void BuildRoutes(const NotifierConfig& c, const std::string& cursor_path, SinkRouter& router) {
  RetryPolicy policy;
  policy.initial = milliseconds(static_cast<std::int64_t>(c.retry_initial_s * 1000));
  policy.max = milliseconds(static_cast<std::int64_t>(c.retry_max_s * 1000));
  policy.budget = milliseconds(static_cast<std::int64_t>(c.retry_budget_s * 1000));
  policy.max_attempts = c.max_attempts;
  const SinkContext context{milliseconds(static_cast<std::int64_t>(c.timeout_s * 1000)),
                            router.abort_flag(), c.public_url};
  for (const auto& kind : c.sinks) AddKind(*kind, c, cursor_path, context, policy, router);
}

}  // namespace notifier
