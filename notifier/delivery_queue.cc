#include "notifier/delivery_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/backoff.h"

namespace notifier {

using std::chrono::milliseconds;

namespace {
// A sink's own cursor is written after this many finished events, or
// whenever its queue runs empty: a crash repeats at most this many.
constexpr int kPersistEvery = 8;
}  // namespace

DeliveryQueue::DeliveryQueue(std::unique_ptr<Sink> sink, RetryPolicy policy, std::size_t limit,
                             std::string cursor_path, const common::Clock& clock,
                             const std::atomic<bool>& abort)
    : name_(sink->name()),
      sink_(std::move(sink)),
      policy_(policy),
      limit_(std::max<std::size_t>(limit, 2)),
      cursor_(cursor_path),
      persist_(!cursor_path.empty()),
      clock_(clock),
      abort_(abort) {}

DeliveryQueue::~DeliveryQueue() {
  BeginDrain();
  Join();
}

common::Status DeliveryQueue::Start() {
  if (persist_) {
    auto loaded = cursor_.Load();
    if (!loaded.ok()) return loaded.status();
    loaded_ = loaded.value();
    persisted_at_start_ = loaded_.seq;
    incarnation_ = loaded_.incarnation;
  }
  worker_ = std::thread([this] { Work(); });
  return common::Status();
}

void DeliveryQueue::Adopt(const StoreIdentity& store) {
  if (!persist_) return;
  const std::uint64_t rebased = Rebase(loaded_, store);
  if (rebased != persisted_at_start_) {
    spdlog::warn("sink {}: its cursor {}:{} is of another store; resuming after seq {} of store {}",
                 name_, loaded_.incarnation, loaded_.seq, rebased, store.incarnation);
    persisted_at_start_ = rebased;
  }
  std::lock_guard lock(mu_);
  incarnation_ = store.incarnation;
}

bool DeliveryQueue::HasRoom() const {
  std::lock_guard lock(mu_);
  return queue_.size() < limit_ || failing_;
}

void DeliveryQueue::Push(const Notification& n) {
  std::unique_lock lock(mu_);
  if (queue_.size() >= limit_) {
    // Only a failing sink gets here (HasRoom): give up the oldest message
    // that is not being tried, so the newest news still gets its chance.
    const Entry dropped = queue_[1];
    queue_.erase(queue_.begin() + 1);
    ++stats_.undeliverable;
    ++stats_.overflowed;
    spdlog::error("sink {}: gave up on seq {} ({}): queue full ({} waiting) while the sink fails; "
                  "{} undeliverable so far",
                  name_, dropped.n.seq, dropped.n.topic, limit_, stats_.undeliverable);
  }
  queue_.push_back(Entry{n, clock_.Now(), 0});
  lock.unlock();
  cv_.notify_all();
}

std::uint64_t DeliveryQueue::FinishedThrough(std::uint64_t offered) const {
  std::lock_guard lock(mu_);
  return queue_.empty() ? offered : queue_.front().n.seq - 1;
}

bool DeliveryQueue::Idle() const {
  std::lock_guard lock(mu_);
  return queue_.empty();
}

QueueStats DeliveryQueue::stats() const {
  std::lock_guard lock(mu_);
  QueueStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void DeliveryQueue::BeginDrain() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
  }
  cv_.notify_all();
}

void DeliveryQueue::Join() {
  if (worker_.joinable()) {
    cv_.notify_all();
    worker_.join();
  }
}

milliseconds DeliveryQueue::Backoff(int attempts) {
  return common::EqualJitterBackoff(policy_.initial, policy_.max,
                                    static_cast<std::uint32_t>(std::max(attempts, 1)), random_);
}

std::uint64_t DeliveryQueue::FinishFront(bool delivered) {
  const std::uint64_t seq = queue_.front().n.seq;
  queue_.pop_front();
  failing_ = !delivered;
  next_try_ = {};
  if (delivered) ++stats_.delivered;
  if (!persist_) return 0;
  if (++since_persist_ >= kPersistEvery || queue_.empty()) {
    since_persist_ = 0;
    return seq;
  }
  return 0;
}

void DeliveryQueue::Persist(std::uint64_t seq) {
  CursorPosition position{.incarnation = "", .seq = seq};
  {
    std::lock_guard lock(mu_);
    position.incarnation = incarnation_;
  }
  if (common::Status s = cursor_.Store(position); !s.ok()) spdlog::error("sink {}: {}", name_, s.message());
}

void DeliveryQueue::Work() {
  std::unique_lock lock(mu_);
  while (!abort_.load()) {
    if (queue_.empty()) {
      if (draining_) break;
      cv_.wait_for(lock, milliseconds(200));  // also re-checks `abort_`
      continue;
    }
    if (clock_.Now() < next_try_) {
      if (draining_) break;  // the rest is replayed after the restart
      cv_.wait_until(lock, std::min(next_try_, clock_.Now() + milliseconds(200)));
      continue;
    }
    const Notification n = queue_.front().n;
    lock.unlock();
    const Attempt attempt = sink_->Deliver(n);
    lock.lock();
    if (abort_.load() && !attempt.delivered()) break;  // cut short: not the sink's fault
    std::uint64_t to_persist = 0;
    if (attempt.delivered()) {
      to_persist = FinishFront(true);
    } else {
      Entry& e = queue_.front();
      ++e.attempts;
      const common::Clock::Mono now = clock_.Now();
      const milliseconds wait = attempt.retry_after.value_or(Backoff(e.attempts));
      const bool permanent = attempt.outcome == Attempt::Outcome::kPermanent;
      if (permanent || e.attempts >= policy_.max_attempts || now + wait > e.queued_at + policy_.budget) {
        ++stats_.undeliverable;
        spdlog::error("sink {}: gave up on seq {} ({}) after {} attempt(s): {}; {} undeliverable so far",
                      name_, n.seq, n.topic, e.attempts, attempt.error, stats_.undeliverable);
        to_persist = FinishFront(false);
      } else {
        ++stats_.retries;
        failing_ = true;
        next_try_ = now + wait;
        spdlog::warn("sink {}: seq {} attempt {} failed: {}; retrying in {} ms{}", name_, n.seq,
                     e.attempts, attempt.error, wait.count(),
                     attempt.retry_after ? " (Retry-After)" : "");
      }
    }
    if (to_persist != 0) {
      lock.unlock();
      Persist(to_persist);
      lock.lock();
    }
  }
  // Whatever is left stays undelivered and is replayed after a restart;
  // record how far we did get.
  if (persist_ && since_persist_ > 0) {
    const std::uint64_t seq = queue_.empty() ? 0 : queue_.front().n.seq - 1;
    lock.unlock();
    if (seq > 0) Persist(seq);
  }
}

}  // namespace notifier
