#include "bench/system/scenarios.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "bench/system/bench_cluster.h"
#include "bench/system/bus_recorder.h"
#include "broker/rocks_store.h"
#include "schemas/codec.h"

extern char** environ;

namespace bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p% at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

std::string UtcDate(std::chrono::system_clock::time_point t) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

void SleepUntilNs(std::int64_t target_ns) {
  // Sleep most of the way, then spin: pacing within a few microseconds.
  while (true) {
    const std::int64_t left = target_ns - SteadyNs();
    if (left <= 0) return;
    if (left > 300'000) std::this_thread::sleep_for(std::chrono::nanoseconds(left - 200'000));
  }
}

zmq::socket_t Publisher(BenchCluster& cluster) {
  zmq::socket_t pub(cluster.context(), zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.set(zmq::sockopt::sndhwm, 0);  // queue, never drop, while the broker catches up
  pub.set(zmq::sockopt::sndbuf, 4 << 20);
  pub.connect(cluster.endpoint("bus_publish"));
  return pub;
}

void PublishDue(zmq::socket_t& pub, const schemas::DueEvent& due) {
  pub.send(zmq::str_buffer("due"), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(schemas::Encode(due)), zmq::send_flags::none);
}

// Waits until `recorder` has seen `terminal` completed+failed runs.
void WaitForTerminal(BusRecorder& recorder, std::uint64_t terminal, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  while (recorder.completed() + recorder.failed() < terminal) {
    if (Clock::now() > until) {
      throw std::runtime_error(fmt::format("only {} of {} runs ended within {} s",
                                           recorder.completed() + recorder.failed(), terminal,
                                           limit.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling a counter
  }
}

// Runs a few manual runs at once until run.dispatched events name every
// runner: then all runners have said hello and the bus path is warm.
void WarmUp(zmq::socket_t& pub, BusRecorder& recorder, int runners, std::uint64_t* terminal) {
  std::set<std::string> seen;
  std::size_t cursor = 0;
  for (int round = 0; round < 100 && static_cast<int>(seen.size()) < runners; ++round) {
    for (int i = 0; i < 2 * runners; ++i) {
      schemas::DueEvent due;
      due.team = static_cast<std::uint32_t>(i + 1);
      due.kind = "manual";
      due.key = fmt::format("warm:{}:{}", round, i);
      PublishDue(pub, due);
    }
    *terminal += static_cast<std::uint64_t>(2 * runners);
    WaitForTerminal(recorder, *terminal, std::chrono::seconds(20));
    for (const Received& r : recorder.Since(cursor)) {
      ++cursor;
      if (r.topic != "run.dispatched") continue;
      auto e = schemas::DecodeRunEvent(r.payload);
      if (e.ok()) seen.insert(e.value().run.runner_id);
    }
    if (static_cast<int>(seen.size()) < runners) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // runners still connecting
    }
  }
  if (static_cast<int>(seen.size()) < runners) throw std::runtime_error("runners never all took work");
}

struct Times {
  std::int64_t dispatched = 0, started = 0, completed = 0;
  bool failed = false;
};

}  // namespace

Figures RunLoad(const LoadSpec& spec) {
  ClusterSettings settings;
  settings.env["DAYBREAK_SYNC_WRITES"] = spec.sync ? "true" : "false";
  if (!spec.log_level.empty()) settings.env["DAYBREAK_LOG_LEVEL"] = spec.log_level;
  BenchCluster cluster(settings);
  cluster.StartBroker();
  if (cluster.WaitForBroker(std::chrono::seconds(10)) < 0) {
    throw std::runtime_error("broker did not answer; logs in " + cluster.root());
  }
  std::vector<schemas::TeamRecord> teams;
  for (int t = 1; t <= spec.teams; ++t) {
    schemas::TeamRecord team;
    team.id = static_cast<std::uint32_t>(t);
    team.name = fmt::format("bench-{}", t);
    team.overlap = spec.overlap;
    team.command = {"/bin/true"};
    teams.push_back(team);
  }
  cluster.PutTeams(teams);
  for (int r = 1; r <= spec.runners; ++r) {
    std::vector<std::string> args = {"--slots", std::to_string(spec.slots)};
    if (spec.noop) args.push_back("--noop");
    cluster.StartRunner(fmt::format("runner-{}", r), args);
  }
  zmq::socket_t pub = Publisher(cluster);
  BusRecorder recorder(cluster.context(), cluster.endpoint("bus_subscribe"), pub,
                       {"run.dispatched", "run.started", "run.completed", "run.failed",
                        "bench.echo"});
  std::uint64_t terminal = 0;
  WarmUp(pub, recorder, spec.runners, &terminal);

  std::unordered_map<std::string, std::int64_t> published;  // key -> steady ns
  std::unordered_map<std::string, std::int64_t> echoed;     // key -> steady ns
  published.reserve(static_cast<std::size_t>(spec.runs) * 2);
  const auto fire_wall = std::chrono::system_clock::now();
  const std::int64_t t0 = SteadyNs();
  const std::string date = UtcDate(fire_wall);
  const std::int64_t fire_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(fire_wall.time_since_epoch()).count();
  for (int i = 0; i < spec.runs; ++i) {
    schemas::DueEvent due;
    due.team = static_cast<std::uint32_t>(i % spec.teams + 1);
    if (spec.storm) {
      due.kind = "scheduled";
      due.key = fmt::format("sched:{}:{}", due.team, date);
      due.fire_unix_ms = fire_ms;
      due.local_date = date;
    } else {
      due.kind = "manual";
      due.key = fmt::format("b:{}", i);
    }
    if (spec.pace_per_s > 0) {
      SleepUntilNs(t0 + static_cast<std::int64_t>(i * 1e9 / spec.pace_per_s));
    }
    published[due.key] = SteadyNs();
    PublishDue(pub, due);
    if (spec.pace_per_s > 0) {
      // A frame the broker only forwards: the bus hop without any run work.
      echoed[due.key] = SteadyNs();
      pub.send(zmq::str_buffer("bench.echo"), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(due.key), zmq::send_flags::none);
    }
  }
  const std::int64_t t_published = SteadyNs();
  terminal += static_cast<std::uint64_t>(spec.runs);
  WaitForTerminal(recorder, terminal, std::chrono::seconds(spec.sync ? 300 : 120));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let trailing events land
  const std::vector<Received> received = recorder.Finish();
  cluster.Stop();

  std::unordered_map<std::string, Times> times;
  std::vector<double> hops;
  for (const Received& r : received) {
    if (r.topic == "bench.echo") {
      auto it = echoed.find(r.payload);
      if (it != echoed.end()) hops.push_back((r.steady_ns - it->second) / 1e6);
      continue;
    }
    auto e = schemas::DecodeRunEvent(r.payload);
    if (!e.ok()) continue;
    const std::string& key = e.value().run.key;
    if (published.count(key) == 0) continue;
    Times& t = times[key];
    if (r.topic == "run.dispatched" && t.dispatched == 0) t.dispatched = r.steady_ns;
    if (r.topic == "run.started" && t.started == 0) t.started = r.steady_ns;
    if (r.topic == "run.completed") t.completed = r.steady_ns;
    if (r.topic == "run.failed") t.failed = true;
  }
  std::vector<double> dispatched, started, completed;
  std::int64_t last_dispatched = 0, last_completed = 0;
  int failures = 0, missing = 0;
  for (const auto& [key, at] : published) {
    auto it = times.find(key);
    if (it == times.end() || it->second.completed == 0) {
      ++missing;
      continue;
    }
    const Times& t = it->second;
    if (t.failed) ++failures;
    dispatched.push_back((t.dispatched - at) / 1e6);
    started.push_back((t.started - at) / 1e6);
    completed.push_back((t.completed - at) / 1e6);
    last_dispatched = std::max(last_dispatched, t.dispatched);
    last_completed = std::max(last_completed, t.completed);
  }
  if (failures > 0 || missing > 0) {
    throw std::runtime_error(fmt::format("{} runs failed and {} never completed", failures, missing));
  }
  Figures f;
  f["runs_per_s"] = spec.runs / ((last_completed - t0) / 1e9);
  f["publish_s"] = (t_published - t0) / 1e9;
  if (spec.pace_per_s > 0) {
    for (const auto& [name, v] : {std::pair{"dispatched", &dispatched}, {"started", &started},
                                  {"completed", &completed}}) {
      f[fmt::format("{}_p50_ms", name)] = Percentile(*v, 50);
      f[fmt::format("{}_p99_ms", name)] = Percentile(*v, 99);
      f[fmt::format("{}_max_ms", name)] = Percentile(*v, 100);
    }
    f["bus_hop_p50_ms"] = Percentile(hops, 50);
    f["bus_hop_p99_ms"] = Percentile(hops, 99);
  }
  if (spec.storm) {
    // Lateness counts from the fire instant, which is t0 (fire_unix_ms = now).
    f["dispatched_all_s"] = (last_dispatched - t0) / 1e9;
    f["completed_all_s"] = (last_completed - t0) / 1e9;
    std::vector<double> lateness;
    for (const auto& [key, at] : published) lateness.push_back((times[key].dispatched - t0) / 1e6);
    f["lateness_p50_ms"] = Percentile(lateness, 50);
    f["lateness_p99_ms"] = Percentile(lateness, 99);
  }
  return f;
}

namespace {

// Writes `teams` teams and `runs` succeeded runs (with their team status
// and one run.completed log entry each) through Store::Commit, as a
// broker would have left them.
void Populate(const std::string& dir, int teams, int runs) {
  auto store = broker::RocksStore::Open(dir, false);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  for (int t = 1; t <= teams; ++t) {
    broker::Change change;
    schemas::TeamRecord team;
    team.id = static_cast<std::uint32_t>(t);
    team.name = fmt::format("team-{}", t);
    team.created_unix_ms = now_ms - 400LL * 86'400'000;
    team.schedule_since_unix_ms = team.created_unix_ms;
    change.team_put = team;
    if (auto s = store.value()->Commit(change); !s.ok()) throw std::runtime_error(s.ToString());
  }
  std::uint64_t seq = 0;
  for (int i = 0; i < runs; ++i) {
    const std::uint32_t team = static_cast<std::uint32_t>(i % teams + 1);
    const int day = i / teams;
    const auto local = std::chrono::system_clock::now() - std::chrono::days(runs / teams - day);
    schemas::RunRecord run;
    run.run_id = broker::RunIdFor(static_cast<std::uint64_t>(i + 1));
    run.local_date = UtcDate(local);
    run.key = fmt::format("sched:{}:{}", team, run.local_date);
    run.team = team;
    run.kind = "scheduled";
    run.state = schemas::RunState::kSucceeded;
    run.pdate = run.local_date;
    run.fire_unix_ms = now_ms - static_cast<std::int64_t>(runs / teams - day) * 86'400'000;
    run.accepted_unix_ms = run.fire_unix_ms + 2;
    run.started_unix_ms = run.fire_unix_ms + 5;
    run.finished_unix_ms = run.fire_unix_ms + 61'000;
    run.attempt = 1;
    run.max_attempts = 3;
    run.runner_id = "runner-1";
    run.exit_code = 0;
    run.total_loans = 12000 + i % 1000;
    run.exceptions_count = i % 37;
    run.metrics = {{"total_loans", run.total_loans}, {"exceptions_count", run.exceptions_count}};
    run.log_path = fmt::format("/var/log/daybreak/runs/{}.1.log", run.run_id);
    broker::Change change;
    change.run = run;
    change.new_run = true;
    schemas::TeamStatus status;
    status.last_success_unix_ms = run.finished_unix_ms;
    change.team_status = {{team, status}};
    schemas::RunEvent event;
    event.event = "completed";
    event.seq = ++seq;
    event.at_unix_ms = run.finished_unix_ms;
    event.run = run;
    schemas::LoggedEvent logged;
    logged.seq = seq;
    logged.topic = "run.completed";
    const std::string payload = schemas::Encode(event);
    logged.payload.assign(payload.begin(), payload.end());
    change.events.push_back(std::move(logged));
    if (auto s = store.value()->Commit(change); !s.ok()) throw std::runtime_error(s.ToString());
  }
}

// A copy of a closed RocksDB directory: SST files are immutable, so they
// are hard-linked; everything else (MANIFEST, WAL, OPTIONS) is copied.
void CloneStore(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const fs::path target = to / entry.path().filename();
    if (entry.path().extension() == ".sst") {
      fs::create_hard_link(entry.path(), target);
    } else {
      fs::copy_file(entry.path(), target);
    }
  }
}

}  // namespace

Figures RunRecovery(const std::string& cache_dir, int teams, int runs) {
  const fs::path cached = fs::path(cache_dir) / fmt::format("store-{}-teams-{}-runs", teams, runs);
  if (!fs::exists(cached / "COMPLETE")) {
    fs::remove_all(cached);
    const fs::path building = cached.string() + ".building";
    fs::remove_all(building);
    fs::create_directories(building);
    fmt::print(stderr, "recovery: building a store of {} teams and {} runs in {} (once)...\n",
               teams, runs, cached.string());
    const auto start = Clock::now();
    Populate((building / "db").string(), teams, runs);
    std::ofstream(building / "COMPLETE") << "ok\n";
    fs::rename(building, cached);
    fmt::print(stderr, "recovery: built in {:.1f} s\n",
               std::chrono::duration<double>(Clock::now() - start).count());
  }
  // Drop the cache's pages? No: a restarted broker on a live machine finds
  // its files in the page cache too; say so in the docs.
  ClusterSettings settings;
  BenchCluster probe_dirs(settings);  // only for its temp dir and ports
  const std::string state = probe_dirs.root() + "/state";
  CloneStore(cached / "db", state);
  ClusterSettings with_state;
  with_state.state_dir = state;
  BenchCluster cluster(with_state);
  cluster.StartBroker();
  const std::int64_t ready = cluster.WaitForBroker(std::chrono::seconds(60));
  if (ready < 0) throw std::runtime_error("broker did not answer; logs in " + cluster.root());
  // RSS right after ready, and again once the first background work settles.
  Figures f;
  f["ready_s"] = (ready - cluster.broker_exec_ns()) / 1e9;
  f["rss_mib"] = ProcStatusKiB(cluster.broker().pid(), "VmRSS") / 1024.0;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  f["rss_settled_mib"] = ProcStatusKiB(cluster.broker().pid(), "VmRSS") / 1024.0;
  f["hwm_mib"] = ProcStatusKiB(cluster.broker().pid(), "VmHWM") / 1024.0;
  cluster.Stop();
  return f;
}

Figures RunSpawnBaseline(double seconds) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  int n = 0;
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < until) {
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
      throw std::runtime_error("posix_spawn failed");
    }
    int status;
    waitpid(pid, &status, 0);
    ++n;
  }
  Figures f;
  f["spawns_per_s"] = n / std::chrono::duration<double>(Clock::now() - start).count();
  return f;
}

Figures RunZmqBaseline(int round_trips) {
  // REQ in this thread, REP echoing in another, over loopback TCP: the
  // floor under every hop between our processes.
  zmq::context_t context(1);
  zmq::socket_t rep(context, zmq::socket_type::rep);
  rep.set(zmq::sockopt::linger, 0);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  rep.bind(endpoint);
  std::thread echo([&] {
    for (int i = 0; i < round_trips + 1; ++i) {
      zmq::message_t m;
      if (!rep.recv(m)) return;
      rep.send(m, zmq::send_flags::none);
    }
  });
  zmq::socket_t req(context, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.connect(endpoint);
  std::vector<double> rtt;
  for (int i = 0; i < round_trips + 1; ++i) {
    const std::int64_t start = SteadyNs();
    req.send(zmq::str_buffer("0123456789abcdef0123456789abcdef"), zmq::send_flags::none);
    zmq::message_t m;
    (void)req.recv(m);
    if (i > 0) rtt.push_back((SteadyNs() - start) / 1e6);  // the first one connects
  }
  echo.join();
  Figures f;
  f["rtt_p50_ms"] = Percentile(rtt, 50);
  f["rtt_p99_ms"] = Percentile(rtt, 99);
  return f;
}

Figures RunStoreBaseline(double seconds) {
  Figures f;
  for (const bool sync : {false, true}) {
    ClusterSettings settings;
    BenchCluster dirs(settings);  // for its temp dir
    auto store = broker::RocksStore::Open(dirs.root() + "/db", sync);
    if (!store.ok()) throw std::runtime_error(store.status().ToString());
    int n = 0;
    const auto start = Clock::now();
    const auto until = start + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      broker::Change change;
      schemas::TeamStatus status;
      status.last_success_unix_ms = n;
      change.team_status = {{static_cast<std::uint32_t>(n % 1000), status}};
      if (auto s = store.value()->Commit(change); !s.ok()) throw std::runtime_error(s.ToString());
      ++n;
    }
    f[sync ? "synced_per_s" : "unsynced_per_s"] =
        n / std::chrono::duration<double>(Clock::now() - start).count();
  }
  return f;
}

}  // namespace bench
