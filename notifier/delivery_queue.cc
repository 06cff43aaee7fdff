#include "notifier/delivery_queue.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/backoff.h"
#include "common/text.h"
#include "schemas/dead_letter.h"

namespace notifier {

using std::chrono::milliseconds;

namespace {
// A sink's own cursor is written after this many finished events, or
// whenever its queue runs empty: a crash repeats at most this many.
constexpr int kPersistEvery = 8;

// A reason fit for the broker: text it accepts (UTF-8, no control
// characters) and short enough that a sync of many letters fits one frame.
std::string Reason(const std::string& error) {
  return common::Head(common::Printable(error), schemas::kMaxDeadLetterReasonBytes);
}
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
    // The loop's thread cannot wait for its own sync: this letter is sent
    // with the next one, and a crash before then loses it (the event
    // itself was given up by design).
    if (dead_letters_ != nullptr) {
      dead_letters_->Post(LetterFor(dropped, fmt::format("queue full ({} waiting) while the sink fails", limit_)));
    }
  }
  queue_.push_back(Entry{n, clock_.Now(), 0});
  lock.unlock();
  cv_.notify_all();
}

void DeliveryQueue::Redeliver(const Notification& n) {
  std::unique_lock lock(mu_);
  queue_.push_back(Entry{n, clock_.Now(), 0, true});
  lock.unlock();
  cv_.notify_all();
}

const DeliveryQueue::Entry* DeliveryQueue::FirstInOrder() const {
  for (const Entry& e : queue_) {
    if (!e.redelivery) return &e;
  }
  return nullptr;
}

schemas::DeadLetter DeliveryQueue::LetterFor(const Entry& e, const std::string& reason) const {
  schemas::DeadLetter d;
  d.sink = name_;
  d.seq = e.n.seq;
  d.topic = e.n.topic;
  d.run_id = e.n.run_id();
  d.team = e.n.team();
  d.attempts = static_cast<std::uint32_t>(e.attempts);
  d.reason = Reason(reason);
  d.failed_unix_ms = std::chrono::duration_cast<milliseconds>(clock_.WallNow().time_since_epoch()).count();
  return d;
}

std::uint64_t DeliveryQueue::FinishedThrough(std::uint64_t offered) const {
  std::lock_guard lock(mu_);
  // Redeliveries are old events again: the cursor is past them already.
  const Entry* first = FirstInOrder();
  return first == nullptr ? offered : first->n.seq - 1;
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
  const bool redelivery = queue_.front().redelivery;
  queue_.pop_front();
  failing_ = !delivered;
  next_try_ = {};
  if (delivered) ++stats_.delivered;
  if (!persist_) return 0;
  if (!redelivery) {
    finished_through_ = seq;
    ++since_persist_;
  }
  // A redelivery's old seq would move this sink's cursor back: it only
  // lets the cursor be written once no event in order is left.
  if (since_persist_ > 0 && (since_persist_ >= kPersistEvery || FirstInOrder() == nullptr)) {
    since_persist_ = 0;
    return finished_through_;
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
    const bool redelivery = queue_.front().redelivery;
    lock.unlock();
    const Attempt attempt = sink_->Deliver(n);
    lock.lock();
    if (abort_.load() && !attempt.delivered()) break;  // cut short: not the sink's fault
    std::uint64_t to_persist = 0;
    if (attempt.delivered()) {
      if (const auto outbox = dead_letters_; outbox != nullptr && redelivery) {
        spdlog::info("sink {}: redelivered seq {} ({})", name_, n.seq, n.topic);
        outbox->Delivered(name_, n.seq);
      }
      to_persist = FinishFront(true);
    } else {
      Entry& e = queue_.front();
      ++e.attempts;
      const common::Clock::Mono now = clock_.Now();
      const milliseconds wait = attempt.retry_after.value_or(Backoff(e.attempts));
      const bool permanent = attempt.outcome == Attempt::Outcome::kPermanent;
      if (permanent || e.attempts >= policy_.max_attempts || now + wait > e.queued_at + policy_.budget) {
        ++stats_.undeliverable;
        spdlog::error("sink {}: gave up on {}seq {} ({}) after {} attempt(s): {}; {} undeliverable so far",
                      name_, redelivery ? "redelivering " : "", n.seq, n.topic, e.attempts,
                      attempt.error, stats_.undeliverable);
        if (const std::shared_ptr<DeadLetterOutbox> outbox = dead_letters_) {
          // Not finished until the broker holds the letter: until then the
          // cursors stay before it, so a crash replays the event.
          schemas::DeadLetter letter = LetterFor(e, attempt.error);
          lock.unlock();
          const bool recorded = outbox->Record(std::move(letter), abort_);
          lock.lock();
          if (!recorded) break;  // stopping: left queued, replayed after the restart
        }
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
    const Entry* first = FirstInOrder();
    const std::uint64_t seq = first == nullptr ? finished_through_ : first->n.seq - 1;
    lock.unlock();
    if (seq > 0) Persist(seq);
  }
}

}  // namespace notifier
