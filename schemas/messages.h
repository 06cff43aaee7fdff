// Every message Daybreak sends, as msgpack maps with string keys. Field
// meanings and which are required are in schemas/PROTOCOL.md; a missing key
// keeps the default written here, an unknown key is ignored.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

#include "schemas/vocabulary.h"

// RunState travels as its name (a msgpack str); an unknown name is an error.
namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
namespace adaptor {
template <>
struct convert<schemas::RunState> {
  const msgpack::object& operator()(const msgpack::object& o, schemas::RunState& v) const {
    if (o.type != msgpack::type::STR) throw std::invalid_argument("run state is not a string");
    const std::string_view name(o.via.str.ptr, o.via.str.size);
    // Release 1 sent placeholder runs (a refused run.get) with state "":
    // like a missing key, it keeps the default.
    if (name.empty()) {
      v = schemas::RunState::kAccepted;
      return o;
    }
    const auto state = schemas::ParseRunState(name);
    if (!state) throw std::invalid_argument("unknown run state \"" + std::string(name) + "\"");
    v = *state;
    return o;
  }
};
template <>
struct pack<schemas::RunState> {
  template <typename Stream>
  msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& o, const schemas::RunState& v) const {
    const std::string_view name = schemas::Name(v);
    o.pack_str(static_cast<std::uint32_t>(name.size()));
    o.pack_str_body(name.data(), static_cast<std::uint32_t>(name.size()));
    return o;
  }
};
}  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE
}  // namespace msgpack

namespace schemas {

inline constexpr std::uint32_t kVersion = 1;

// Topic "due": a run should happen. From the ticker (kind "scheduled") or
// anyone with a PUB socket (kind "manual").
struct DueEvent {
  std::uint32_t v = kVersion;
  std::string key;             // run key; scheduled: required; manual: optional
  std::uint32_t team = 0;      // 0: the general run
  std::string kind = "manual"; // scheduled | manual | backfill | chained
  std::int64_t fire_unix_ms = 0;  // the scheduled instant (scheduled only)
  std::string local_date;      // scheduled local date, YYYY-MM-DD
  std::string pdate;           // purchase date; empty: the broker's default
  std::string requested_by;    // free text for people
  MSGPACK_DEFINE_MAP(v, key, team, kind, fire_unix_ms, local_date, pdate,
                     requested_by);
};

// Topic "due.ack": the broker's answer to a due event (not in the event log).
struct DueAck {
  std::uint32_t v = kVersion;
  std::string key;
  std::string run_id;      // empty when rejected
  bool duplicate = false;  // the key was already known
  std::string error;       // why it was rejected
  MSGPACK_DEFINE_MAP(v, key, run_id, duplicate, error);
};

// A run as the broker stores it and answers about it.
struct RunRecord {
  std::uint32_t v = kVersion;
  std::string run_id;
  std::string key;
  std::uint32_t team = 0;
  std::string kind;
  RunState state = RunState::kAccepted;
  std::string pdate;
  std::string local_date;
  std::int64_t fire_unix_ms = 0;
  std::int64_t accepted_unix_ms = 0;
  std::int64_t started_unix_ms = 0;
  std::int64_t finished_unix_ms = 0;
  std::int64_t next_attempt_unix_ms = 0;
  std::uint32_t attempt = 0;
  std::uint32_t max_attempts = 0;
  std::string runner_id;
  std::string token;  // the current attempt's dispatch token (while out)
  std::int32_t exit_code = -1;
  std::string error;
  std::int64_t total_loans = -1;
  std::int64_t exceptions_count = -1;
  std::map<std::string, double> metrics;
  std::string log_path;
  bool cancel_requested = false;
  std::string requested_by;
  // The last attempt's reason in its own words: the end of what the
  // pipeline printed (at most 20 lines / 4 KiB, control characters escaped).
  std::string stderr_tail;
  // The input files the last attempt's pipeline read, by role ("loan_tape":
  // "/data/.../loan_tape_20261201.csv"), as its result file reported them.
  std::map<std::string, std::string> inputs;
  // Past the run retention: the whole record is in the run archive
  // (runs-YYYY-MM.jsonl.gz) and this is its stub (identity, state, times,
  // outcome; no metrics, inputs, log or stderr tail), kept so its key
  // still answers "already run".
  bool archived = false;
  // A lost attempt ended the run while its pipeline may still run: the
  // team's next run waits until then (0: no such wait).
  std::int64_t lock_held_until_unix_ms = 0;
  MSGPACK_DEFINE_MAP(v, run_id, key, team, kind, state, pdate, local_date,
                     fire_unix_ms, accepted_unix_ms, started_unix_ms,
                     finished_unix_ms, next_attempt_unix_ms, attempt,
                     max_attempts, runner_id, token, exit_code, error, total_loans,
                     exceptions_count, metrics, log_path, cancel_requested,
                     requested_by, stderr_tail, inputs, archived,
                     lock_held_until_unix_ms);
};

// Topics "run.<event>": one state change, stamped with the event-log seq.
struct RunEvent {
  std::uint32_t v = kVersion;
  std::uint64_t seq = 0;
  std::string event;  // one of event::kAll
  std::int64_t at_unix_ms = 0;
  RunRecord run;
  // The store incarnation that wrote the event: the event's id is
  // "<incarnation>:<seq>", never reused by a restored or rebuilt store.
  std::string incarnation;
  MSGPACK_DEFINE_MAP(v, seq, event, at_unix_ms, run, incarnation);
};

// Topics "alert.<kind>": something people must look at.
struct AlertEvent {
  std::uint32_t v = kVersion;
  std::uint64_t seq = 0;
  std::string kind;  // one of alert::kAll
  std::uint32_t team = 0;
  std::uint32_t count = 0;  // consecutive failures so far
  std::string run_id;       // the run that raised or cleared it
  std::string message;
  std::int64_t at_unix_ms = 0;
  std::string incarnation;  // as in RunEvent
  MSGPACK_DEFINE_MAP(v, seq, kind, team, count, run_id, message, at_unix_ms, incarnation);
};

// Topic "schedule.changed": a team was added, changed or removed.
struct ScheduleChanged {
  std::uint32_t v = kVersion;
  std::uint32_t team = 0;
  std::string change;  // put | remove
  MSGPACK_DEFINE_MAP(v, team, change);
};

// A team's settings. Empty strings and zeros mean "the configured default".
struct TeamRecord {
  std::uint32_t v = kVersion;
  std::uint32_t id = 0;
  std::string name;
  std::string run_time;   // HH:MM local
  std::string timezone;   // IANA name
  bool paused = false;
  std::string overlap;    // skip | queue
  std::vector<std::string> command;  // pipeline argv; empty: runner default
  std::uint32_t max_attempts = 0;
  std::uint32_t timeout_s = 0;  // per-run time limit; 0: the runner's
  std::string retry_on;                // transient | any; "": the default
  std::uint32_t backoff_initial_s = 0;  // 0: the default
  std::uint32_t backoff_max_s = 0;      // 0: the default
  // Run dependencies: when set, the team is not run by the clock but once
  // every team listed has succeeded for a local date (kind "chained").
  std::vector<std::uint32_t> after;
  std::int64_t created_unix_ms = 0;
  std::int64_t schedule_since_unix_ms = 0;  // last change of time/zone/pause
  // The team's sandbox (runner/sandbox.h): false runs its pipeline with no
  // network at all; a memory limit per run (0: the runner's).
  bool network = true;
  std::uint32_t memory_mb = 0;
  // Variables the team's pipeline gets on top of the runner's allow-list
  // (never a DAYBREAK_ one: those are the contract's).
  std::map<std::string, std::string> env;
  MSGPACK_DEFINE_MAP(v, id, name, run_time, timezone, paused, overlap, command,
                     max_attempts, timeout_s, retry_on, backoff_initial_s,
                     backoff_max_s, after, created_unix_ms,
                     schedule_since_unix_ms, network, memory_mb, env);
};

// The broker's running tally per team, for failure-streak alerts.
struct TeamStatus {
  std::uint32_t v = kVersion;
  std::uint32_t consecutive_failures = 0;
  bool alerted = false;  // an alert is open for the current streak
  bool silence_alerted = false;  // a no_success alert is open
  std::int64_t last_success_unix_ms = 0;
  MSGPACK_DEFINE_MAP(v, consecutive_failures, alerted, silence_alerted,
                     last_success_unix_ms);
};

// One entry of the broker's event log, for replay.
struct LoggedEvent {
  std::uint64_t seq = 0;
  std::string topic;
  std::vector<char> payload;  // the exact bytes published (msgpack bin)
  std::int64_t at_unix_ms = 0;  // when it was logged (for retention)
  MSGPACK_DEFINE_MAP(seq, topic, payload, at_unix_ms);
};

// A run a runner holds, announced in hello so a restarted broker can match it.
// One attempt a runner holds, named as its dispatch named it.
struct Lease {
  std::string run_id;
  std::uint32_t attempt = 0;
  std::string token;  // the dispatch's token; absent before protocol 3
  MSGPACK_DEFINE_MAP(run_id, attempt, token);
};

// Runner -> broker on the work socket.
struct RunnerMessage {
  std::uint32_t v = kVersion;
  std::string type;  // one of runner_msg::kAll
  std::string runner_id;
  // hello: the work protocol the runner speaks; absent (0) in release 1.
  std::uint32_t protocol = 0;
  std::uint32_t slots = 0;       // hello
  std::vector<Lease> holding;    // hello, heartbeat: attempts it runs or will run
  std::vector<Lease> finished;   // hello, heartbeat: results awaiting their ack
  std::string run_id;            // started, result
  std::uint32_t attempt = 0;     // started, result
  std::string token;             // started, result: echoes the dispatch's
  std::string outcome;           // result: one of outcome::kAll
  std::int32_t exit_code = -1;
  std::string error;
  std::int64_t total_loans = -1;
  std::int64_t exceptions_count = -1;
  std::map<std::string, double> metrics;
  std::string log_path;
  std::string stderr_tail;  // result: the end of the pipeline's log
  std::map<std::string, std::string> inputs;  // result: the input files it read, by role
  // Every message: random per runner process, so a message of a runner's
  // earlier life (killed, restarted under the same id) is told apart; and
  // a count within it, so a heartbeat is known to be newer than a `started`.
  std::string incarnation;
  std::uint64_t seq = 0;
  // log.chunk (token: the log.read's): the bytes of the log from
  // log_offset on, and the log's size when they were read; `error` when
  // it cannot be read.
  std::uint64_t log_offset = 0;
  std::uint64_t log_size = 0;
  std::vector<char> payload;  // msgpack bin
  MSGPACK_DEFINE_MAP(v, type, runner_id, protocol, slots, holding, finished, run_id,
                     attempt, token, outcome, exit_code, error, total_loans,
                     exceptions_count, metrics, log_path, stderr_tail, incarnation, seq,
                     inputs, log_offset, log_size, payload);
};

// Broker -> runner on the work socket.
struct BrokerMessage {
  std::uint32_t v = kVersion;
  std::string type;  // one of broker_msg::kAll
  std::string run_id;
  std::uint32_t attempt = 0;
  // dispatch, ack, cancel: 128 random bits naming this one dispatch, which
  // every runner message about the attempt must echo.
  std::string token;
  std::uint32_t team = 0;
  std::string pdate;
  std::string key;
  std::string local_date;            // dispatch: the run's date in its team's zone
  std::string zone;                  // dispatch: the team's time zone
  std::vector<std::string> command;  // empty: the runner's default
  std::uint32_t timeout_s = 0;       // 0: the runner's default
  std::uint32_t protocol = 0;        // welcome, refused: the broker's work protocol
  std::string error;                 // refused: why; ack: why a result did not count
  // dispatch: the attempt's lease (PROTOCOL.md, "Leases"): its pipeline is
  // killed when its runner has not heard from the broker for lease_ms, TERM
  // first and KILL lease_grace_ms later. 0: the runner's defaults.
  std::uint32_t lease_ms = 0;
  std::uint32_t lease_grace_ms = 0;
  // Every message: the newest RunnerMessage.seq the broker has had from the
  // runner process `incarnation` names (0: none yet). The runner measures a
  // lease from when it sent that message, not from when this one arrived,
  // so a frame that waited in a cut link renews nothing it should not.
  std::uint64_t seen_seq = 0;
  std::string incarnation;
  // dispatch: the team's sandbox settings (TeamRecord's network, memory_mb
  // and env); absent from an older broker, which means network, no limit.
  bool network = true;
  std::uint32_t memory_mb = 0;
  std::map<std::string, std::string> env;
  // log.read: up to log_limit bytes of run_id's attempt's log from log_offset.
  std::uint64_t log_offset = 0;
  std::uint32_t log_limit = 0;
  std::vector<std::uint32_t> teams;  // prepare: at most 1000 team ids
  MSGPACK_DEFINE_MAP(v, type, run_id, attempt, token, team, pdate, key, local_date,
                     zone, command, timeout_s, protocol, error, lease_ms, lease_grace_ms,
                     seen_seq, incarnation, network, memory_mb, env, log_offset, log_limit,
                     teams);
};

// One backup of the run store, as backup.create, backup.list and
// backup.verify answer.
struct BackupInfo {
  std::uint32_t id = 0;
  std::int64_t created_unix_ms = 0;
  std::uint64_t size_bytes = 0;
  std::uint32_t files = 0;
  std::uint64_t last_seq = 0;  // the newest event it holds
  std::string incarnation;     // the store's incarnation when it was taken
  MSGPACK_DEFINE_MAP(id, created_unix_ms, size_bytes, files, last_seq, incarnation);
};

// A request on the control socket. `op` says which fields matter.
// A notification the notifier gave up on (notifications.failed, .sync).
struct DeadLetter {
  std::string sink;
  std::uint64_t seq = 0;    // the event's seq in the broker's log
  std::string topic;        // e.g. run.failed
  std::string run_id;       // the run it is about, if any
  std::uint32_t team = 0;
  std::uint32_t attempts = 0;  // delivery attempts before giving up
  std::string reason;          // the last attempt's error
  std::int64_t failed_unix_ms = 0;
  bool redeliver = false;      // asked to be sent again, not yet done
  MSGPACK_DEFINE_MAP(sink, seq, topic, run_id, team, attempts, reason, failed_unix_ms,
                     redeliver);
};

// A piece of an attempt's log (the run.log reply).
struct LogChunk {
  std::string runner_id;  // who read it
  std::string path;       // on that runner's host
  std::uint32_t attempt = 0;
  std::uint64_t offset = 0;  // where `payload` begins
  std::uint64_t size = 0;    // the log's size when it was read
  std::vector<char> payload;  // msgpack bin
  MSGPACK_DEFINE_MAP(runner_id, path, attempt, offset, size, payload);
};

struct ControlRequest {
  std::uint32_t v = kVersion;
  std::string op;  // one of op::kAll
  std::uint32_t team = 0;
  bool all_teams = true;  // runs.list: false filters by `team`
  std::string pdate;
  std::string key;
  std::string run_id;
  std::uint32_t limit = 0;
  std::uint64_t since_seq = 0;
  TeamRecord team_record;  // team.put
  std::string requested_by;
  std::string from_date;  // backfill, YYYY-MM-DD
  std::string to_date;    // backfill, inclusive
  std::uint32_t backup_id = 0;  // backup.verify (0: the newest)
  std::uint32_t attempt = 0;     // run.log (0: the run's latest)
  std::uint64_t offset = 0;      // run.log: the first byte wanted
  std::string sink;              // notifications.failed, .redeliver: only this sink (empty: all)
  std::vector<std::uint64_t> seqs;  // notifications.redeliver: only these events (empty: all)
  // notifications.sync: give-ups to record, and redeliveries that were delivered.
  std::vector<DeadLetter> dead_letters;
  std::vector<DeadLetter> delivered;
  MSGPACK_DEFINE_MAP(v, op, team, all_teams, pdate, key, run_id, limit,
                     since_seq, team_record, requested_by, from_date, to_date, backup_id,
                     attempt, offset, sink, seqs, dead_letters, delivered);
};

// A runner as the broker sees it (the "stats" reply).
struct RunnerSummary {
  std::string runner_id;
  std::uint32_t slots = 0;
  std::vector<std::string> runs;  // the runs it holds, newest last
  std::int64_t last_seen_ms_ago = 0;  // since its last hello or heartbeat
  MSGPACK_DEFINE_MAP(runner_id, slots, runs, last_seen_ms_ago);
};

// A team's tally (the "teams.list" reply): its failure streak and its last
// success, as the alerts count them.
struct TeamTally {
  std::uint32_t team = 0;
  std::uint32_t consecutive_failures = 0;
  std::int64_t last_success_unix_ms = 0;  // 0: none since the store began
  MSGPACK_DEFINE_MAP(team, consecutive_failures, last_success_unix_ms);
};

struct ControlReply {
  std::uint32_t v = kVersion;
  bool ok = false;
  std::string error;
  std::string code;  // when !ok: one of error_code::kAll
  bool duplicate = false;
  RunRecord run;
  std::vector<RunRecord> runs;
  std::vector<TeamRecord> teams;
  std::vector<LoggedEvent> events;
  std::uint64_t last_seq = 0;
  std::map<std::string, std::int64_t> stats;  // op "stats"
  // events.since, ping: the store's incarnation, and the last seq written
  // before it began (events after it are this incarnation's own).
  std::string incarnation;
  std::uint64_t incarnation_from = 0;
  std::vector<BackupInfo> backups;  // backup.create, backup.list, backup.verify
  std::vector<RunnerSummary> runners;  // stats: every runner connected
  std::vector<TeamTally> tallies;      // teams.list: one per team listed
  std::string message;                 // admin.reload, notifications.redeliver: for people
  LogChunk log;                        // run.log
  // notifications.failed: those listed; .redeliver: those asked for again;
  // .sync: the redeliveries waiting.
  std::vector<DeadLetter> dead_letters;
  MSGPACK_DEFINE_MAP(v, ok, error, code, duplicate, run, runs, teams, events,
                     last_seq, stats, incarnation, incarnation_from, backups, runners,
                     tallies, message, log, dead_letters);
};

}  // namespace schemas
