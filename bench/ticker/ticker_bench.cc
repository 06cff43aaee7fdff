// ticker_bench: the real Ticker with 100,000 teams, 10,000 of them due at
// one instant, on inproc sockets (the bench answers teams.list and acks
// every due). Its wall clock is shifted so that instant is 1.5 s away.
// Each due's lateness is how long after its fire instant it reached the
// bus. It also times loading the schedule into a FirePlanner and the
// collect of the storm instant, and the ticker's memory.
//
// Prints FIGURE lines as system_bench does (scripts/bench shows them).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/zmq_util.h"
#include "schemas/codec.h"
#include "schemas/topics.h"
#include "ticker/fire_planner.h"
#include "ticker/ticker.h"

namespace {

using Ms = std::chrono::duration<double, std::milli>;

long RssKiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

void Figure(const std::string& name, const std::string& unit, double value, const std::string& target = "-",
            const std::string& verdict = "-") {
  fmt::print("FIGURE\t{}\t{}\t{:.6g}\t{:.6g}\t{:.6g}\t1\t{}\t{}\n", name, unit, value, value, value, target,
             verdict);
}

// `teams` teams, the first `storm` of them at `storm_minute` (minutes after
// midnight UTC), the rest on the day's other minutes.
std::vector<schemas::TeamRecord> Teams(int teams, int storm, int storm_minute, std::int64_t since_ms) {
  std::vector<schemas::TeamRecord> out;
  out.reserve(static_cast<std::size_t>(teams));
  for (int i = 0; i < teams; ++i) {
    int minute = storm_minute;
    if (i >= storm) minute = (storm_minute + 2 + i % 1400) % 1440;  // never the storm minute or the next
    schemas::TeamRecord t;
    t.id = static_cast<std::uint32_t>(i + 1);
    t.run_time = fmt::format("{:02}:{:02}", minute / 60, minute % 60);
    t.timezone = "UTC";
    t.schedule_since_unix_ms = since_ms;  // added just now: no earlier fire is owed
    out.push_back(std::move(t));
  }
  return out;
}

// One run of the real Ticker: `teams` teams, `storm` of them due at an
// instant 1.5 s ahead of its shifted clock. Returns each due's lateness
// (ms, sorted), and sets *rss_growth_kib.
std::vector<double> RunTicker(int teams, int storm, long* rss_growth_kib) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto boundary = ceil<minutes>(now + seconds(2));
  const auto offset = duration_cast<milliseconds>(boundary - milliseconds(1500) - now);
  const int storm_minute = static_cast<int>((boundary.time_since_epoch() / minutes(1)) % 1440);
  const std::int64_t since_ms =
      duration_cast<milliseconds>((boundary - milliseconds(1500)).time_since_epoch()).count();
  const std::vector<schemas::TeamRecord> records = Teams(teams, storm, storm_minute, since_ms);

  zmq::context_t context;
  zmq::socket_t control(context, zmq::socket_type::router);
  control.bind("inproc://control");
  zmq::socket_t dues(context, zmq::socket_type::sub);  // what the ticker publishes
  dues.set(zmq::sockopt::rcvhwm, 0);
  dues.bind("inproc://bus-in");
  dues.set(zmq::sockopt::subscribe, std::string(schemas::topic::kDue));
  zmq::socket_t acks(context, zmq::socket_type::pub);  // what the broker would answer
  acks.bind("inproc://bus-out");

  zmq::socket_t publisher(context, zmq::socket_type::pub);
  publisher.set(zmq::sockopt::sndhwm, 0);
  publisher.connect("inproc://bus-in");
  zmq::socket_t subscriber(context, zmq::socket_type::sub);
  subscriber.set(zmq::sockopt::subscribe, std::string(schemas::topic::kDueAck));
  subscriber.connect("inproc://bus-out");
  schemas::ControlClient client(context, "inproc://control");
  common::SystemClock system_clock;
  common::OffsetClock clock(system_clock, offset);

  schemas::ControlReply listing;
  listing.ok = true;
  listing.teams = records;
  const std::string listing_bytes = schemas::Encode(listing);
  const long rss_before = RssKiB();
  std::atomic<bool> stop{false};
  std::thread ticker_thread([&] {
    ticker::Ticker ticker(publisher, subscriber, client, clock, ticker::TickerSettings{});
    while (!stop.load()) (void)ticker.Turn(milliseconds(100));
  });
  // Answer the one teams.list, then take the dues as they come.
  std::vector<zmq::message_t> request;
  while (request.empty()) request = common::ReceiveMultipart(control);
  for (std::size_t i = 0; i + 1 < request.size(); ++i) control.send(request[i], zmq::send_flags::sndmore);
  control.send(zmq::buffer(listing_bytes), zmq::send_flags::none);

  std::set<std::string> seen;
  std::vector<double> lateness_ms;
  *rss_growth_kib = 0;
  const auto give_up = steady_clock::now() + seconds(30);
  while (seen.size() < static_cast<std::size_t>(storm) && steady_clock::now() < give_up) {
    zmq::pollitem_t item{dues.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, milliseconds(100)) == 0) continue;
    std::vector<zmq::message_t> parts = common::ReceiveMultipart(dues);
    if (parts.size() != 2) continue;
    const double at_ms = duration<double, std::milli>(clock.WallNow().time_since_epoch()).count();
    auto due = schemas::DecodeDueEvent(parts[1].to_string_view());
    if (!due.ok() || !seen.insert(due.value().key).second) continue;
    if (*rss_growth_kib == 0) *rss_growth_kib = RssKiB() - rss_before;
    lateness_ms.push_back(at_ms - static_cast<double>(due.value().fire_unix_ms));
    schemas::DueAck ack;
    ack.key = due.value().key;
    ack.run_id = "r";
    acks.send(zmq::buffer(std::string(schemas::topic::kDueAck)), zmq::send_flags::sndmore);
    acks.send(zmq::buffer(schemas::Encode(ack)), zmq::send_flags::none);
  }
  stop = true;
  ticker_thread.join();
  std::sort(lateness_ms.begin(), lateness_ms.end());
  return lateness_ms;
}

double Quantile(const std::vector<double>& sorted, double q) {
  return sorted.empty() ? -1.0 : sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  const int teams = argc > 1 ? std::stoi(argv[1]) : 100'000;
  const int storm = argc > 2 ? std::stoi(argv[2]) : 10'000;
  spdlog::set_level(spdlog::level::warn);  // the ticker logs every fire
  using namespace std::chrono;

  {  // The planner alone: load and plan, then the storm instant's collect.
    const auto boundary = ceil<minutes>(system_clock::now());
    const auto since = duration_cast<milliseconds>((boundary - seconds(1)).time_since_epoch()).count();
    const auto records =
        Teams(teams, storm, static_cast<int>((boundary.time_since_epoch() / minutes(1)) % 1440), since);
    schemas::ControlReply listing;
    listing.ok = true;
    listing.teams = records;
    const std::string bytes = schemas::Encode(listing);
    const auto d0 = steady_clock::now();
    auto decoded = schemas::DecodeControlReply(bytes);
    const auto d1 = steady_clock::now();
    Figure(fmt::format("ticker: decode a teams.list of {} teams ({:.1f} MiB)", teams,
                       static_cast<double>(bytes.size()) / (1024.0 * 1024.0)),
           "ms", Ms(d1 - d0).count());
    if (!decoded.ok()) return 1;
    ticker::FirePlanner planner;
    const auto t0 = steady_clock::now();
    planner.SetTeams(records);
    (void)planner.NextFire(floor<seconds>(boundary - seconds(1)));
    const auto t1 = steady_clock::now();
    const auto due = planner.Collect(floor<seconds>(boundary));
    const auto t2 = steady_clock::now();
    Figure(fmt::format("ticker: load and plan {} teams", teams), "ms", Ms(t1 - t0).count());
    Figure(fmt::format("ticker: collect {} fires due at one instant", due.size()), "ms", Ms(t2 - t1).count());
    schemas::TeamRecord moved = records.back();
    moved.run_time = "12:34";
    const auto t3 = steady_clock::now();
    planner.PutTeam(moved);
    (void)planner.NextFire(floor<seconds>(boundary));
    const auto t4 = steady_clock::now();
    Figure(fmt::format("ticker: replan one changed team of {}", teams), "ms", Ms(t4 - t3).count());
  }

  // A day's fires spread over its minutes: what one instant owes.
  const int per_minute = std::max(1, teams / 1440);
  long rss = 0;
  const std::vector<double> spread = RunTicker(teams, per_minute, &rss);
  const double p99 = Quantile(spread, 0.99);
  Figure(fmt::format("ticker: fire lateness p50 ({} teams, {} due at the instant)", teams, per_minute), "ms",
         Quantile(spread, 0.5));
  Figure(fmt::format("ticker: fire lateness p99 ({} teams, {} due at the instant)", teams, per_minute), "ms",
         p99, "< 20", p99 >= 0 && p99 < 20 ? "pass" : "miss");
  Figure(fmt::format("ticker: memory for {} teams (RSS growth, with its teams.list reply)", teams), "MiB",
         static_cast<double>(rss) / 1024.0);

  // A storm: many teams at one instant, every fire published.
  const std::vector<double> stormed = RunTicker(teams, storm, &rss);
  Figure(fmt::format("ticker: storm of {}: fires published", storm), "fires",
         static_cast<double>(stormed.size()), fmt::format("= {}", storm),
         stormed.size() == static_cast<std::size_t>(storm) ? "pass" : "miss");
  Figure(fmt::format("ticker: storm of {}: last fire published after", storm), "ms", Quantile(stormed, 1.0));
  const bool whole = spread.size() == static_cast<std::size_t>(per_minute) &&
                     stormed.size() == static_cast<std::size_t>(storm);
  return whole ? 0 : 1;
}
