// Daybreak's configuration: embedded defaults, then a TOML file, then the
// environment (the earlier scheduler's names, and DAYBREAK_* for the rest).
// One file serves every process, so a deployment has one place to look.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace common {

struct Config {
  // [endpoints] Where the broker binds and everyone else connects.
  std::string bus_publish = "tcp://127.0.0.1:7401";    // XSUB: publishers
  std::string bus_subscribe = "tcp://127.0.0.1:7402";  // XPUB: subscribers
  std::string control = "tcp://127.0.0.1:7403";        // ROUTER: requests
  std::string work = "tcp://127.0.0.1:7404";           // ROUTER: runners

  // [deployment] What tells this deployment's processes from another's on
  // the same host; empty: the work endpoint.
  std::string deployment_id;

  // [schedule]
  bool enable_scheduler = true;
  std::string daily_run_time = "02:00";
  std::string timezone;  // empty: the machine's zone (UTC if unknown)
  int misfire_grace_s = 3600;
  std::string purchase_weekday = "tuesday";
  std::string overlap = "skip";  // default overlap policy: skip | queue
  int max_backfill_days = 366;

  // [paths]
  std::string input_dir = "./data/inputs";
  std::string output_dir = "./data/outputs";
  std::string state_dir = "./var/broker";
  std::string log_dir = "./var/logs";

  // [retry]
  int max_attempts = 3;
  double backoff_initial_s = 30;
  double backoff_max_s = 900;
  std::string retry_on = "transient";  // transient | any

  // [broker]
  std::string http_listen = "127.0.0.1:7480";  // dashboard, /metrics; "" = off
  // Bearer tokens of the dashboard and /api (secrets: set them through
  // <key>_file). The operator token may act (trigger, cancel, pause,
  // resume); none set: the API is read-only. The read token, when set, is
  // needed (or the operator's) to read /api/*; / , /healthz and /metrics
  // stay open for the page itself, supervisors and Prometheus.
  std::string http_operator_token;
  std::string http_read_token;
  // More tokens, each its own file, name, role and teams (HttpGrants in
  // common/security.h): "<name>:<read|operate>[@<team>+<team>]=<file>".
  std::vector<std::string> http_tokens;
  // Every group commit fsyncs its WAL write (power-loss safe); false trades
  // the last moments before a power loss for fewer syncs.
  bool sync_writes = true;
  // The broker takes no new work while less than this is free on the state
  // folder's filesystem (and resumes by itself); 0: no check.
  int min_free_mb = 64;
  // Backups of the run store ([backup]): where (empty: <state_dir>/../backups),
  // how often the broker takes one by itself (0: only when asked), and how
  // many it keeps (0: all).
  std::string backup_dir;
  // Where the event log's pruned history goes (empty: <state_dir>/../archive).
  std::string archive_dir;
  double backup_every_h = 24;
  int backup_keep = 7;
  int heartbeat_ms = 1000;
  int heartbeat_liveness = 3;
  // A dispatch its runner has not started by then is lost and retried; more
  // than the runner's kill grace, which a superseded attempt may take.
  int dispatch_timeout_s = 30;
  // A pipeline whose runner has not heard from the broker for lease_ms is
  // killed (TERM, KILL lease_grace_ms later) by its shim; a silent runner's
  // runs are retried no sooner than that. 0: heartbeat_ms x heartbeat_liveness.
  int lease_ms = 0;
  int lease_grace_ms = 2000;
  int failure_alert_threshold = 3;
  double no_success_alert_h = 26;  // 0: no such alert
  int event_retention_days = 30;
  int run_retention_days = 400;

  // [runner]
  std::string runner_id;  // empty: <hostname>-<pid>
  int slots = 1;
  std::vector<std::string> pipeline_command;  // empty: daybreak-pipeline
  int run_timeout_s = 3600;
  int kill_grace_s = 10;
  int drain_timeout_s = 60;
  // Kernel walls around each pipeline (runner/sandbox.h, docs/security.md):
  // "auto" uses Landlock where the kernel has it and says once when not;
  // "required" refuses to start without it; "off" runs pipelines unwalled.
  std::string isolation = "auto";
  std::vector<std::string> sandbox_read;   // more folders pipelines may read and run
  std::vector<std::string> sandbox_write;  // folders every pipeline may write (a shared scratch)
  int memory_max_mb = 0;                  // per run, unless its team says; 0: none
  // CPUs' worth of time a run may use (0.5: half a core; 0: no limit):
  // cpu.max on its cgroup, else RLIMIT_CPU of cpu_max x run_timeout_s.
  double cpu_max = 0;
  // /metrics of this runner (slots, running, results by outcome), as
  // "host:port"; "" (the default): none.
  std::string runner_metrics_listen;
  // Variables of the runner's environment a pipeline also gets (beyond PATH,
  // LANG, LC_*, TZ): everything else, credentials included, stays out.
  std::vector<std::string> pass_env;
  // Pipelines run as this user (a name or a uid) instead of as the runner;
  // with team_uid_base > 0, team N runs as uid/gid base + N instead (the
  // general run as base), so teams cannot touch each other's files even
  // without Landlock. Both need the runner to run as root.
  std::string run_as_user;
  int team_uid_base = 0;

  // [log]
  std::string log_level = "info";

  // [security] CURVE between every component (docs/security.md).
  bool curve_enabled = false;
  std::string broker_public_key;   // everyone
  std::string broker_secret_key;   // the broker only
  std::string client_public_key;   // runners, ticker, notifier, CLI
  std::string client_secret_key;
  // The keys the broker admits, each with its role (common/security.h);
  // every list empty: any key holding the broker's public key may connect.
  std::vector<std::string> runner_keys;     // "<z85 key>=<runner_id>"
  std::vector<std::string> publisher_keys;  // ticker, notifier, trigger scripts
  std::vector<std::string> client_keys;     // people's CLIs, tools
  std::vector<std::string> authorized_clients;  // deprecated: keys of any role

  // [testing] Shifts the broker's and ticker's wall clock, to rehearse a
  // fire time or a DST night on a live system. Never set in production.
  std::int64_t wall_clock_offset_ms = 0;
};

// Reads `path` (empty: defaults only) and then the environment through
// `getenv`. An unknown key, a wrong type or a bad value is an error naming
// the key (or variable) and the problem; nothing is half applied.
Result<Config> LoadConfig(const std::string& path,
                          const std::function<const char*(const char*)>& getenv);

// Every key of the configuration file, bound to `config`'s fields (which
// must outlive the set): LoadConfig's own table, for tools and tests.
class KeySet;
KeySet ConfigKeys(Config& config);

// The machine's IANA zone name ("UTC" when it cannot be told).
std::string MachineZoneName();

// Checks every value however it was set: the ranges of config.cc's key
// table, the enums, the run time, and the values that must agree.
Status ValidateConfig(const Config& config);

}  // namespace common
