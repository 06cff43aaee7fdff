// daybreak publish | watch: the event bus, for scripts.
#include <fmt/format.h>

#include <csignal>
#include <limits>
#include <optional>

#include "cli/cli_context.h"
#include "common/process.h"
#include "common/security.h"
#include "common/team.h"
#include "common/zmq_util.h"
#include "schemas/codec.h"
#include "schemas/json.h"
#include "schemas/topics.h"

namespace cli {
namespace {

zmq::socket_t Subscriber(Context& ctx, const std::vector<std::string>& topics) {
  zmq::socket_t sub(*ctx.zmq, zmq::socket_type::sub);
  common::ApplyClientSecurity(sub, ctx.config);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schemas::kMaxFrameBytes));
  for (const std::string& t : topics) sub.set(zmq::sockopt::subscribe, t);
  sub.connect(ctx.config.bus_subscribe);
  return sub;
}

// The team an event is about ("run.team", else "team"), or nullopt when
// the frame has none or not as a team id.
std::optional<std::uint32_t> TeamOf(const nlohmann::json& event) {
  const nlohmann::json* holder = &event;
  if (auto run = event.find("run"); run != event.end() && run->is_object()) holder = &*run;
  auto team = holder->find("team");
  if (team == holder->end() || !team->is_number_unsigned() ||
      team->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
    return std::nullopt;
  }
  return team->get<std::uint32_t>();
}

}  // namespace

void AddBusCommands(CLI::App& app, Context& ctx, int* result) {
  struct PublishArgs {
    std::string team;
    bool general = false;
    std::string pdate;
    std::string key;
  };
  auto args = std::make_shared<PublishArgs>();
  CLI::App* publish = app.add_subcommand(
      "publish", "publish a manual run on the event bus and wait for the broker's answer");
  auto* team_opt = publish->add_option("--team", args->team, "team id");
  publish->add_flag("--general", args->general, "the general run")->excludes(team_opt);
  publish->add_option("--pdate", args->pdate, "purchase date YYYY-MM-DD");
  publish->add_option("--key", args->key, "idempotency key (default: a new unique key)");
  publish->callback([&ctx, result, args] {
    schemas::DueEvent due;
    due.kind = std::string(schemas::kind::kManual);
    due.requested_by = "daybreak publish";
    if (args->team.empty() == !args->general) {
      fmt::print(stderr, "daybreak publish: give --team N or --general\n");
      *result = kExitUsage;
      return;
    }
    if (!args->team.empty()) {
      auto team = common::ParseTeamId(args->team);
      if (!team.ok()) {
        fmt::print(stderr, "daybreak publish: {}\n", team.status().message());
        *result = kExitUsage;
        return;
      }
      due.team = team.value();
    }
    due.pdate = args->pdate;
    // A key makes republishing safe: we resend until the broker answers.
    due.key = args->key.empty()
                  ? fmt::format("manual:{}-{}", getpid(),
                                std::chrono::system_clock::now().time_since_epoch().count())
                  : args->key;
    if (auto s = schemas::ValidateRunKey(due.key); !s.ok()) {
      fmt::print(stderr, "daybreak publish: {}\n", s.message());
      *result = kExitUsage;
      return;
    }
    if (!ctx.Init()) { *result = kExitUsage; return; }
    zmq::socket_t sub = Subscriber(ctx, {std::string(schemas::topic::kDueAck)});
    zmq::socket_t pub(*ctx.zmq, zmq::socket_type::pub);
    common::ApplyClientSecurity(pub, ctx.config);
    pub.set(zmq::sockopt::linger, 0);
    pub.connect(ctx.config.bus_publish);
    const std::string payload = schemas::Encode(due);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx.timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pub.send(zmq::buffer(std::string(schemas::topic::kDue)), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(payload), zmq::send_flags::none);
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(200)) == 0) continue;
      while (true) {
        auto parts = common::ReceiveMultipart(sub);
        if (parts.empty()) break;
        if (parts.size() != 2) continue;
        auto ack = schemas::DecodeDueAck(parts[1].to_string_view());
        if (!ack.ok() || ack.value().key != due.key) continue;
        if (!ack.value().error.empty()) {
          fmt::print(stderr, "daybreak publish: broker refused it: {}\n", ack.value().error);
          *result = kExitFailed;
          return;
        }
        if (ctx.json) {
          PrintJson({{"key", due.key}, {"run_id", ack.value().run_id}, {"duplicate", ack.value().duplicate}});
        } else {
          fmt::print("{} published for {} -> run {}{}\n", due.key, common::TeamLabel(due.team),
                     ack.value().run_id, ack.value().duplicate ? " (already known)" : "");
        }
        return;
      }
    }
    fmt::print(stderr, "daybreak publish: no answer from the broker on {} within {} ms\n",
               ctx.config.bus_subscribe, ctx.timeout_ms);
    *result = kExitUnavailable;
  });

  struct KeygenArgs {
    std::string role;
    std::string runner_id;
  };
  auto kargs = std::make_shared<KeygenArgs>();
  CLI::App* keygen = app.add_subcommand(
      "keygen",
      "print a new CURVE key pair for [security], and with --role the line the broker's\n"
      "[security] needs to admit it (see docs/security.md):\n"
      "  runner_keys = [\"<public_key>=<runner_id>\"]   the work socket, as that runner only\n"
      "  publisher_keys = [\"<public_key>\"]            bus; control reads and trigger (ticker, notifier)\n"
      "  client_keys = [\"<public_key>\"]               bus and control (people's CLIs)");
  keygen->add_option("--role", kargs->role, "runner, publisher or client")
      ->check(CLI::IsMember({"runner", "publisher", "client"}));
  keygen->add_option("--runner-id", kargs->runner_id, "with --role runner: the runner the key speaks for");
  keygen->callback([&ctx, result, kargs] {
    if ((kargs->role == "runner") != !kargs->runner_id.empty()) {
      fmt::print(stderr, "daybreak keygen: --runner-id goes with --role runner, and it needs one\n");
      *result = kExitUsage;
      return;
    }
    auto pair = common::NewKeyPair();
    if (!pair.ok()) {
      fmt::print(stderr, "daybreak keygen: {}\n", pair.status().message());
      *result = kExitFailed;
      return;
    }
    const std::string& key = pair.value().public_key;
    std::string broker_line;
    if (kargs->role == "runner") broker_line = "runner_keys = [\"" + key + "=" + kargs->runner_id + "\"]";
    if (kargs->role == "publisher") broker_line = "publisher_keys = [\"" + key + "\"]";
    if (kargs->role == "client") broker_line = "client_keys = [\"" + key + "\"]";
    if (ctx.json) {
      nlohmann::json out = {{"public_key", key}, {"secret_key", pair.value().secret_key}};
      if (!broker_line.empty()) out["broker_security_line"] = broker_line;
      PrintJson(out);
      return;
    }
    if (!broker_line.empty()) {
      fmt::print("# this host's [security] (as client_public_key / client_secret_key):\n");
    }
    fmt::print("public_key = \"{}\"\nsecret_key = \"{}\"\n", key, pair.value().secret_key);
    if (!broker_line.empty()) {
      fmt::print("# the broker's [security] (add to the list if it has one):\n# {}\n", broker_line);
    }
  });

  struct WatchArgs {
    std::vector<std::string> topics;
    std::string team;
    int count = 0;
  };
  auto wargs = std::make_shared<WatchArgs>();
  CLI::App* watch = app.add_subcommand(
      "watch",
      "print bus events as JSON lines until Ctrl-C (with CURVE, a key bound to teams\n"
      "gets no run or alert events: the bus carries every team's; use runs list)");
  watch->add_option("--topic", wargs->topics, "topic prefix (repeatable; default: run. and alert.)");
  watch->add_option("--team", wargs->team, "only events of this team (or \"general\")");
  watch->add_option("--count", wargs->count, "exit after this many events");
  watch->callback([&ctx, result, wargs] {
    if (!ctx.Init()) { *result = kExitUsage; return; }
    std::optional<std::uint32_t> team;
    if (!wargs->team.empty()) {
      team = ParseTeamArg(wargs->team, "daybreak watch", result);
      if (!team) return;
    }
    std::vector<std::string> topics = wargs->topics;
    if (topics.empty()) topics = {std::string(schemas::topic::kRunPrefix), std::string(schemas::topic::kAlertPrefix)};
    zmq::socket_t sub = Subscriber(ctx, topics);
    const auto& stop = common::InstallStopSignals();
    int seen = 0;
    while (!stop.load()) {
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      try {
        if (zmq::poll(&item, 1, std::chrono::milliseconds(500)) == 0) continue;
      } catch (const zmq::error_t&) {
        continue;  // EINTR: re-check stop
      }
      auto parts = common::ReceiveMultipart(sub);
      if (parts.size() != 2) continue;
      auto j = schemas::BusFrameToJson(parts[0].to_string_view(), parts[1].to_string_view());
      if (!j.ok()) {
        fmt::print(stderr, "daybreak watch: skipped a frame: {}\n", j.status().message());
        continue;
      }
      const nlohmann::json& event = j.value();
      if (team && TeamOf(event) != team) continue;
      PrintJson(event);
      if (wargs->count > 0 && ++seen >= wargs->count) return;
    }
  });
}

}  // namespace cli
