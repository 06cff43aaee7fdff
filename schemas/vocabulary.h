// Every word Daybreak's protocol speaks: run states, run events, message
// types, control ops, topics and the small enums that travel as strings.
// Code names them through this header, never as literals; PROTOCOL.md's
// "Vocabulary" section lists exactly these words (vocabulary_test compares).
// The wire stays strings, so a Python script needs none of this.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string_view>

namespace schemas {

// ---- versions ----------------------------------------------------------------

// The work protocol (broker <-> runners) a release speaks. Runners on many
// hosts cannot all upgrade at once: the broker serves kOldestWorkProtocol up
// to kWorkProtocol and refuses anything else at hello, naming both, so an
// old runner stops with a reason instead of running half a protocol.
inline constexpr std::uint32_t kWorkProtocol = 4;
// Protocol 3 fences every attempt by its dispatch token; a runner of 1 or 2
// cannot, so serving it would give up exactly-once: it is refused at hello.
inline constexpr std::uint32_t kOldestWorkProtocol = 3;
// Protocol 4 adds log.read / log.chunk (a run's log fetched through the
// broker); a runner of 3 is served without them.
inline constexpr std::uint32_t kLogReadProtocol = 4;
// A hello without `protocol` comes from release 1, which had no such field.
inline constexpr std::uint32_t kUnversionedWorkProtocol = 1;

// ---- run states --------------------------------------------------------------

enum class RunState : std::uint8_t {
  kAccepted,    // admitted, waiting for a runner slot
  kQueued,      // team busy, overlap policy queue
  kDispatched,  // handed to a runner
  kRunning,     // the runner started the pipeline
  kRetryWait,   // an attempt failed; another follows after backoff
  kSucceeded,
  kFailed,
  kMissed,
  kSkipped,
  kCancelled,
};

inline constexpr std::array<std::pair<RunState, std::string_view>, 10> kRunStates = {{
    {RunState::kAccepted, "accepted"},
    {RunState::kQueued, "queued"},
    {RunState::kDispatched, "dispatched"},
    {RunState::kRunning, "running"},
    {RunState::kRetryWait, "retry_wait"},
    {RunState::kSucceeded, "succeeded"},
    {RunState::kFailed, "failed"},
    {RunState::kMissed, "missed"},
    {RunState::kSkipped, "skipped"},
    {RunState::kCancelled, "cancelled"},
}};

constexpr std::string_view Name(RunState state) {
  for (const auto& [s, name] : kRunStates) {
    if (s == state) return name;
  }
  return "?";
}

constexpr std::optional<RunState> ParseRunState(std::string_view name) {
  for (const auto& [s, n] : kRunStates) {
    if (n == name) return s;
  }
  return std::nullopt;
}

// A terminal run never changes again.
constexpr bool IsTerminal(RunState state) {
  switch (state) {
    case RunState::kSucceeded:
    case RunState::kFailed:
    case RunState::kMissed:
    case RunState::kSkipped:
    case RunState::kCancelled:
      return true;
    case RunState::kAccepted:
    case RunState::kQueued:
    case RunState::kDispatched:
    case RunState::kRunning:
    case RunState::kRetryWait:
      return false;
  }
  return false;
}

// The run that holds its team's lock keeps every other run of the team
// waiting (one active run per team), through its retries too.
constexpr bool HoldsTeamLock(RunState state) {
  switch (state) {
    case RunState::kAccepted:
    case RunState::kDispatched:
    case RunState::kRunning:
    case RunState::kRetryWait:
      return true;
    case RunState::kQueued:
    case RunState::kSucceeded:
    case RunState::kFailed:
    case RunState::kMissed:
    case RunState::kSkipped:
    case RunState::kCancelled:
      return false;
  }
  return false;
}

// Out with a runner: an attempt exists that a runner may be executing.
constexpr bool IsOut(RunState state) {
  return state == RunState::kDispatched || state == RunState::kRunning;
}

inline std::ostream& operator<<(std::ostream& os, RunState state) { return os << Name(state); }

// ---- run events (topic "run.<event>") ----------------------------------------

namespace event {
inline constexpr std::string_view kAccepted = "accepted";
inline constexpr std::string_view kQueued = "queued";
inline constexpr std::string_view kDispatched = "dispatched";
inline constexpr std::string_view kStarted = "started";
inline constexpr std::string_view kRetrying = "retrying";
inline constexpr std::string_view kCompleted = "completed";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kMissed = "missed";
inline constexpr std::string_view kSkipped = "skipped";
inline constexpr std::string_view kCancelled = "cancelled";
inline constexpr std::array kAll = {kAccepted, kQueued,  kDispatched, kStarted, kRetrying,
                                    kCompleted, kFailed, kMissed,     kSkipped, kCancelled};
}  // namespace event

// The event that announces a run entering `state`.
constexpr std::string_view EventFor(RunState state) {
  switch (state) {
    case RunState::kAccepted: return event::kAccepted;
    case RunState::kQueued: return event::kQueued;
    case RunState::kDispatched: return event::kDispatched;
    case RunState::kRunning: return event::kStarted;
    case RunState::kRetryWait: return event::kRetrying;
    case RunState::kSucceeded: return event::kCompleted;
    case RunState::kFailed: return event::kFailed;
    case RunState::kMissed: return event::kMissed;
    case RunState::kSkipped: return event::kSkipped;
    case RunState::kCancelled: return event::kCancelled;
  }
  return "?";
}

// ---- alerts (topic "alert.<kind>") -------------------------------------------

namespace alert {
inline constexpr std::string_view kConsecutiveFailures = "consecutive_failures";
inline constexpr std::string_view kNoSuccess = "no_success";
inline constexpr std::string_view kRecovered = "recovered";
// The broker started on a damaged store with --accept-data-loss (team 0).
inline constexpr std::string_view kDataLoss = "data_loss";
inline constexpr std::array kAll = {kConsecutiveFailures, kNoSuccess, kRecovered, kDataLoss};
}  // namespace alert

// ---- topics ------------------------------------------------------------------

namespace topic {
inline constexpr std::string_view kDue = "due";
inline constexpr std::string_view kDueAck = "due.ack";
inline constexpr std::string_view kRunPrefix = "run.";
inline constexpr std::string_view kAlertPrefix = "alert.";
inline constexpr std::string_view kScheduleChanged = "schedule.changed";
inline constexpr std::array kAll = {kDue, kDueAck, kRunPrefix, kAlertPrefix, kScheduleChanged};
}  // namespace topic

// ---- run kinds and team policies ---------------------------------------------

namespace kind {
inline constexpr std::string_view kScheduled = "scheduled";
inline constexpr std::string_view kManual = "manual";
inline constexpr std::string_view kBackfill = "backfill";
inline constexpr std::string_view kChained = "chained";  // made by the broker only
inline constexpr std::array kAll = {kScheduled, kManual, kBackfill, kChained};
}  // namespace kind

namespace overlap {
inline constexpr std::string_view kSkip = "skip";
inline constexpr std::string_view kQueue = "queue";
inline constexpr std::array kAll = {kSkip, kQueue};
}  // namespace overlap

namespace retry_on {
inline constexpr std::string_view kTransient = "transient";
inline constexpr std::string_view kAny = "any";
inline constexpr std::array kAll = {kTransient, kAny};
}  // namespace retry_on

// runner.isolation: how a runner walls its pipelines in (runner/sandbox.h).
namespace isolation {
inline constexpr std::string_view kOff = "off";
inline constexpr std::string_view kAuto = "auto";
inline constexpr std::string_view kRequired = "required";
inline constexpr std::array kAll = {kOff, kAuto, kRequired};
}  // namespace isolation

namespace schedule_change {
inline constexpr std::string_view kPut = "put";
inline constexpr std::string_view kRemove = "remove";
inline constexpr std::array kAll = {kPut, kRemove};
}  // namespace schedule_change

// ---- work socket -------------------------------------------------------------

// RunnerMessage.type
namespace runner_msg {
inline constexpr std::string_view kHello = "hello";
inline constexpr std::string_view kHeartbeat = "heartbeat";
inline constexpr std::string_view kStarted = "started";
inline constexpr std::string_view kResult = "result";
inline constexpr std::string_view kBye = "bye";
// A success promoted after the broker's `promote`: the result, re-sent as done.
inline constexpr std::string_view kPromoted = "promoted";
// Answers a log.read: a piece of an attempt's log (protocol 4).
inline constexpr std::string_view kLogChunk = "log.chunk";
inline constexpr std::array kAll = {kHello, kHeartbeat, kStarted, kResult, kPromoted, kBye, kLogChunk};
}  // namespace runner_msg

// BrokerMessage.type
namespace broker_msg {
inline constexpr std::string_view kWelcome = "welcome";
inline constexpr std::string_view kHeartbeat = "heartbeat";
inline constexpr std::string_view kDispatch = "dispatch";
inline constexpr std::string_view kAck = "ack";
inline constexpr std::string_view kCancel = "cancel";
inline constexpr std::string_view kRefused = "refused";  // hello of an unserved protocol
// A success is current: publish its outputs, then answer `promoted`.
inline constexpr std::string_view kPromote = "promote";
// Asks for a piece of an attempt's log (protocol 4); the token names the request.
inline constexpr std::string_view kLogRead = "log.read";
// Make these teams' folders now, so inputs can go in before the first run
// (protocol 4): at hello for every team, and for each team put.
inline constexpr std::string_view kPrepare = "prepare";
inline constexpr std::array kAll = {kWelcome, kHeartbeat, kDispatch, kAck, kCancel,
                                    kPromote, kRefused,   kLogRead,  kPrepare};
// A welcome with this key asks the runner to say hello again.
inline constexpr std::string_view kHelloRequired = "hello-required";
}  // namespace broker_msg

// RunnerMessage.outcome of a result
namespace outcome {
inline constexpr std::string_view kSucceeded = "succeeded";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kTransient = "transient";
inline constexpr std::array kAll = {kSucceeded, kFailed, kTransient};
}  // namespace outcome

// ---- control socket ----------------------------------------------------------

namespace op {
inline constexpr std::string_view kPing = "ping";
inline constexpr std::string_view kTrigger = "trigger";
inline constexpr std::string_view kBackfill = "backfill";
inline constexpr std::string_view kStats = "stats";
inline constexpr std::string_view kRunsList = "runs.list";
inline constexpr std::string_view kRunGet = "run.get";
inline constexpr std::string_view kCancel = "cancel";
inline constexpr std::string_view kTeamsList = "teams.list";
inline constexpr std::string_view kTeamPut = "team.put";
inline constexpr std::string_view kTeamRemove = "team.remove";
inline constexpr std::string_view kEventsSince = "events.since";
inline constexpr std::string_view kBackupCreate = "backup.create";
inline constexpr std::string_view kBackupList = "backup.list";
inline constexpr std::string_view kBackupVerify = "backup.verify";
// Reads the broker's configuration file again (as SIGHUP does).
inline constexpr std::string_view kAdminReload = "admin.reload";
// A piece of a run's log, read through the broker from the runner that ran it.
inline constexpr std::string_view kRunLog = "run.log";
// The notifications the notifier gave up on, and asking for them again.
inline constexpr std::string_view kNotificationsFailed = "notifications.failed";
inline constexpr std::string_view kNotificationsRedeliver = "notifications.redeliver";
// The notifier's own: records give-ups and finished redeliveries, and
// answers with the redeliveries asked for.
inline constexpr std::string_view kNotificationsSync = "notifications.sync";
inline constexpr std::array kAll = {kPing,         kTrigger,    kBackfill,    kStats,
                                    kRunsList,     kRunGet,     kCancel,      kTeamsList,
                                    kTeamPut,      kTeamRemove, kEventsSince, kBackupCreate,
                                    kBackupList,   kBackupVerify, kAdminReload, kRunLog,
                                    kNotificationsFailed, kNotificationsRedeliver,
                                    kNotificationsSync};
}  // namespace op

// ControlReply.code when ok is false
namespace error_code {
inline constexpr std::string_view kNotFound = "not_found";
inline constexpr std::string_view kInvalid = "invalid";
inline constexpr std::string_view kRejected = "rejected";
inline constexpr std::string_view kCorrupt = "corrupt";
inline constexpr std::string_view kIoError = "io_error";
// The broker's disk is full: it refuses new work and answers reads until
// space returns (then it resumes by itself).
inline constexpr std::string_view kNoSpace = "no_space";
inline constexpr std::array kAll = {kNotFound, kInvalid, kRejected, kCorrupt, kIoError, kNoSpace};
}  // namespace error_code

template <typename List>
constexpr bool IsOneOf(std::string_view word, const List& list) {
  for (std::string_view w : list) {
    if (w == word) return true;
  }
  return false;
}

}  // namespace schemas
