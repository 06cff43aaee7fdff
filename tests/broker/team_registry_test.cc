// TeamRegistry: defaults fill what a team leaves empty, and PreparePut keeps
// the bookkeeping times honest.
#include "broker/team_registry.h"

#include <doctest/doctest.h>

#include <string>

namespace broker {
namespace {

TeamDefaults Defaults() {
  TeamDefaults d;
  d.run_time = "02:00";
  d.timezone = "America/New_York";
  d.overlap = "skip";
  d.max_attempts = 3;
  d.purchase_day = date::Tuesday;
  return d;
}

schemas::TeamRecord Team(std::uint32_t id) {
  schemas::TeamRecord t;
  t.id = id;
  t.name = "team " + std::to_string(id);
  return t;
}

constexpr std::int64_t kCreated = 1'700'000'000'000;
constexpr std::int64_t kLater = 1'700'000'600'000;

TEST_CASE("a team's empty settings resolve to the configured defaults") {
  TeamRegistry registry(Defaults());
  const schemas::TeamRecord r = registry.Resolved(Team(4));
  CHECK(r.run_time == "02:00");
  CHECK(r.timezone == "America/New_York");
  CHECK(r.overlap == "skip");
  CHECK(r.max_attempts == 3);
  CHECK(r.name == "team 4");
}

TEST_CASE("a team's own settings win over the defaults") {
  TeamRegistry registry(Defaults());
  schemas::TeamRecord t = Team(4);
  t.run_time = "06:30";
  t.timezone = "Europe/Berlin";
  t.overlap = "queue";
  t.max_attempts = 1;
  const schemas::TeamRecord r = registry.Resolved(t);
  CHECK(r.run_time == "06:30");
  CHECK(r.timezone == "Europe/Berlin");
  CHECK(r.overlap == "queue");
  CHECK(r.max_attempts == 1);
}

TEST_CASE("the registry finds, lists, replaces and removes teams") {
  TeamRegistry registry(Defaults());
  CHECK(registry.Find(1) == nullptr);
  registry.Load({Team(2), Team(1)});
  REQUIRE(registry.Find(1) != nullptr);
  CHECK(registry.Find(2)->name == "team 2");

  const auto all = registry.ResolvedAll();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == 1);  // by id
  CHECK(all[1].id == 2);
  CHECK(all[0].timezone == "America/New_York");  // resolved

  schemas::TeamRecord renamed = Team(2);
  renamed.name = "west";
  registry.Put(renamed);
  CHECK(registry.Find(2)->name == "west");

  registry.Remove(1);
  CHECK(registry.Find(1) == nullptr);
  CHECK(registry.ResolvedAll().size() == 1);

  SUBCASE("Load replaces everything known") {
    registry.Load({Team(9)});
    CHECK(registry.Find(2) == nullptr);
    CHECK(registry.Find(9) != nullptr);
  }
}

TEST_CASE("PreparePut of a new team stamps both times with now") {
  TeamRegistry registry(Defaults());
  schemas::TeamRecord request = Team(5);
  request.created_unix_ms = 42;         // a client cannot set these
  request.schedule_since_unix_ms = 43;
  request.v = 0;
  auto r = registry.PreparePut(request, kCreated);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r.value().created_unix_ms == kCreated);
  CHECK(r.value().schedule_since_unix_ms == kCreated);
  CHECK(r.value().v == schemas::kVersion);
  CHECK(r.value().name == "team 5");
  // PreparePut only prepares: nothing is stored yet.
  CHECK(registry.Find(5) == nullptr);
}

TEST_CASE("PreparePut of a known team keeps its creation time") {
  TeamRegistry registry(Defaults());
  schemas::TeamRecord existing = Team(5);
  existing.run_time = "03:00";
  existing.timezone = "Europe/Berlin";
  existing.created_unix_ms = kCreated;
  existing.schedule_since_unix_ms = kCreated + 1;
  registry.Put(existing);

  schemas::TeamRecord request = existing;
  request.created_unix_ms = 0;  // clients send zero
  request.schedule_since_unix_ms = 0;

  SUBCASE("a change outside the schedule keeps schedule_since") {
    SUBCASE("name") { request.name = "renamed"; }
    SUBCASE("overlap") { request.overlap = "queue"; }
    SUBCASE("command") { request.command = {"/bin/true"}; }
    SUBCASE("max attempts") { request.max_attempts = 9; }
    SUBCASE("nothing") {}
    SUBCASE("the default spelled out instead of left empty") {
      registry.Put([&] {
        schemas::TeamRecord e = existing;
        e.run_time = "";  // resolves to 02:00
        return e;
      }());
      request.run_time = "02:00";
    }
    auto r = registry.PreparePut(request, kLater);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r.value().created_unix_ms == kCreated);
    CHECK(r.value().schedule_since_unix_ms == kCreated + 1);
  }
  SUBCASE("a change to the schedule moves schedule_since to now") {
    SUBCASE("run time") { request.run_time = "03:01"; }
    SUBCASE("zone") { request.timezone = "Europe/Paris"; }
    SUBCASE("zone back to the default") { request.timezone = ""; }
    SUBCASE("paused") { request.paused = true; }
    auto r = registry.PreparePut(request, kLater);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r.value().created_unix_ms == kCreated);
    CHECK(r.value().schedule_since_unix_ms == kLater);
  }
  SUBCASE("resuming a paused team is a schedule change too") {
    schemas::TeamRecord paused = existing;
    paused.paused = true;
    registry.Put(paused);
    request.paused = false;
    auto r = registry.PreparePut(request, kLater);
    REQUIRE(r.ok());
    CHECK(r.value().schedule_since_unix_ms == kLater);
  }
}

TEST_CASE("PreparePut refuses invalid settings naming the value") {
  TeamRegistry registry(Defaults());
  schemas::TeamRecord request = Team(5);
  std::string bad;
  SUBCASE("zone") {
    request.timezone = "Atlantis/Capital";
    bad = "Atlantis/Capital";
  }
  SUBCASE("run time") {
    request.run_time = "7:30";
    bad = "7:30";
  }
  SUBCASE("run time out of range") {
    request.run_time = "23:60";
    bad = "23:60";
  }
  SUBCASE("overlap") {
    request.overlap = "both";
    bad = "both";
  }
  SUBCASE("team id") {
    request.id = 1'000'000'000;
    bad = "1000000000";
  }
  auto r = registry.PreparePut(request, kCreated);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == common::Code::kInvalid);
  CHECK_MESSAGE(r.status().message().find(bad) != std::string::npos, r.status().message());
}

TEST_CASE("a team's local date follows its zone") {
  TeamRegistry registry(Defaults());
  // 2026-03-08 03:30 UTC: still the 7th in New York, already the 8th in Tokyo.
  const auto instant = date::sys_days{date::year{2026} / 3 / 8} + std::chrono::hours(3) +
                       std::chrono::minutes(30);
  schemas::TeamRecord ny = Team(1);  // default zone
  schemas::TeamRecord tokyo = Team(2);
  tokyo.timezone = "Asia/Tokyo";
  CHECK(common::FormatDate(registry.LocalDate(ny, instant)) == "2026-03-07");
  CHECK(common::FormatDate(registry.LocalDate(tokyo, instant)) == "2026-03-08");

  SUBCASE("a stored zone that no longer exists falls back to UTC") {
    schemas::TeamRecord odd = Team(3);
    odd.timezone = "Gone/Away";
    CHECK(common::FormatDate(registry.LocalDate(odd, instant)) == "2026-03-08");
  }
}

TEST_CASE("the default purchase date is the first purchase weekday after the local date") {
  TeamRegistry registry(Defaults());
  using date::March;
  const date::local_days sunday{date::year{2026} / March / 8};
  const date::local_days monday{date::year{2026} / March / 9};
  const date::local_days tuesday{date::year{2026} / March / 10};
  CHECK(registry.DefaultPdate(sunday) == "2026-03-10");
  CHECK(registry.DefaultPdate(monday) == "2026-03-10");
  CHECK(registry.DefaultPdate(tuesday) == "2026-03-17");

  SUBCASE("another configured weekday") {
    TeamDefaults d = Defaults();
    d.purchase_day = date::Friday;
    TeamRegistry friday(d);
    CHECK(friday.DefaultPdate(sunday) == "2026-03-13");
  }
}

}  // namespace

TEST_CASE("a team may run only after teams that exist") {
  TeamRegistry registry(Defaults());
  registry.Put(Team(1));
  schemas::TeamRecord dependent = Team(4);
  dependent.after = {1, 99};
  auto refused = registry.PreparePut(dependent, kCreated);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == common::Code::kInvalid);
  CHECK(refused.status().message().find("team 99") != std::string::npos);
  dependent.after = {1};
  CHECK(registry.PreparePut(dependent, kCreated).ok());
  dependent.after = {0};  // the general run always exists
  CHECK(registry.PreparePut(dependent, kCreated).ok());
}

}  // namespace broker
