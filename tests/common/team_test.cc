// Team ids and the folders a team's run may see.
#include "common/team.h"

#include <doctest/doctest.h>

#include <string>

namespace common {
namespace {

TEST_CASE("ParseTeamId accepts positive decimal ids up to 999999999") {
  for (const auto& [text, id] : {std::pair<const char*, std::uint32_t>{"1", 1},
                                 {"7", 7},
                                 {"42", 42},
                                 {"999999999", 999'999'999}}) {
    CAPTURE(text);
    Result<std::uint32_t> r = ParseTeamId(text);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r.value() == id);
  }
}

TEST_CASE("ParseTeamId rejects anything that is not a plain positive id") {
  for (const char* text : {"", "0", "00", "01", "-1", "+1", " 1", "1 ", "1a", "a1", "0x1",
                           "1.0", "../2", "2/..", "1000000000", "4294967297",
                           "99999999999999999999999"}) {
    CAPTURE(text);
    Result<std::uint32_t> r = ParseTeamId(text);
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalid);
    // The error quotes what was typed so the user sees the problem.
    CHECK(r.status().message().find("\"" + std::string(text) + "\"") != std::string::npos);
  }
}

TEST_CASE("ParseTeamId rejects an id with an embedded NUL") {
  const std::string text("1\0/../2", 7);
  CHECK_FALSE(ParseTeamId(text).ok());
}

TEST_CASE("ValidateTeamId allows the general team only when asked") {
  CHECK(ValidateTeamId(0, /*allow_general=*/true).ok());
  CHECK_FALSE(ValidateTeamId(0, /*allow_general=*/false).ok());
  CHECK(ValidateTeamId(1, false).ok());
  CHECK(ValidateTeamId(kMaxTeamId, false).ok());
  CHECK_FALSE(ValidateTeamId(kMaxTeamId + 1, true).ok());
  CHECK_FALSE(ValidateTeamId(4'294'967'295u, true).ok());
}

TEST_CASE("TeamLabel names teams for people") {
  CHECK(TeamLabel(0) == "general");
  CHECK(TeamLabel(7) == "team 7");
}

TEST_CASE("DirsFor gives each team its own folders under the roots") {
  SUBCASE("team N") {
    const TeamDirs d = DirsFor(7, "/data/inputs", "/data/outputs");
    CHECK(d.input == "/data/inputs/sales_team_7/files_required");
    CHECK(d.output == "/data/outputs/sales_team_7/output");
    CHECK(d.share == "/data/outputs/sales_team_7/output_share");
    CHECK(d.team_root == "/data/outputs/sales_team_7");
  }
  SUBCASE("the largest team id") {
    const TeamDirs d = DirsFor(kMaxTeamId, "in", "out");
    CHECK(d.input == "in/sales_team_999999999/files_required");
    CHECK(d.output == "out/sales_team_999999999/output");
  }
  SUBCASE("the general run") {
    const TeamDirs d = DirsFor(kGeneralTeam, "/data/inputs", "/data/outputs");
    CHECK(d.input == "/data/inputs/files_required");
    CHECK(d.output == "/data/outputs/output");
    CHECK(d.share == "/data/outputs/output_share");
    CHECK(d.team_root == "/data/outputs");
  }
  SUBCASE("two teams never share a folder") {
    const TeamDirs a = DirsFor(1, "i", "o");
    const TeamDirs b = DirsFor(11, "i", "o");
    CHECK(a.input != b.input);
    CHECK(a.output != b.output);
    CHECK(a.share != b.share);
    // Neither is a prefix of the other as a path.
    CHECK(b.team_root.rfind(a.team_root + "/", 0) != 0);
  }
}

}  // namespace
}  // namespace common
