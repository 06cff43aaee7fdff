#include "pipeline/price_grid.h"

#include <doctest/doctest.h>

#include "pipeline/sample_generator.h"

namespace pipeline {
namespace {

constexpr const char* kGrid =
    "type,product,rate_min,rate_max,fico_min,fico_max,ltv_min,ltv_max,price\n"
    "base,CONF30,6.000,6.500,,,,,100.250\n"
    "base,CONF30,6.500,7.000,,,,,101.000\n"
    "base,*,,,,,,,99.000\n"
    "llpa,*,,,620,699,,,-0.750\n"
    "llpa,*,,,,,80.01,97.00,-0.500\n"
    "llpa,CONF30,,,,,,,0.125\n";

TEST_CASE(
    "a price is the first matching base row plus every matching adjustment") {
  auto grid = PriceGrid::Parse(kGrid, "grid.csv");
  REQUIRE(grid.ok());
  const PriceGrid& g = grid.value();
  // 100.250 + 0.125 (product)
  CHECK(g.Price("CONF30", 6.25, 740, 75.0) == 100'375);
  // At the bucket edge the first row wins: 100.250 + 0.125.
  CHECK(g.Price("CONF30", 6.5, 740, 75.0) == 100'375);
  // 101.000 - 0.750 (FICO) - 0.500 (LTV) + 0.125
  CHECK(g.Price("CONF30", 6.75, 680, 85.0) == 99'875);
  // Other products fall back to the "*" rows: 99.000 - 0.750.
  CHECK(g.Price("FHA30", 6.75, 650, 80.0) == 98'250);
  // CONF30 base rows are listed before the "*" row, so 7.5% falls to it.
  CHECK(g.Price("CONF30", 7.5, 740, 75.0) == 99'125);
}

TEST_CASE("a product without any base row has no price") {
  auto grid = PriceGrid::Parse(
      "type,product,rate_min,rate_max,fico_min,fico_max,ltv_min,ltv_max,price\n"
      "base,CONF30,6,7,,,,,100\n",
      "grid.csv");
  REQUIRE(grid.ok());
  CHECK_FALSE(grid.value().Price("FHA30", 6.5, 700, 80).has_value());
  CHECK_FALSE(grid.value().Price("CONF30", 7.01, 700, 80).has_value());
  CHECK(grid.value().Price("CONF30", 7.0, 700, 80) == 100'000);
}

TEST_CASE("a malformed price grid is rejected with its line") {
  SUBCASE("missing columns") {
    auto grid = PriceGrid::Parse("type,product,price\nbase,*,100\n", "g.csv");
    REQUIRE_FALSE(grid.ok());
    CHECK(grid.status().message().find("rate_min") != std::string::npos);
  }
  SUBCASE("a bad number") {
    auto grid = PriceGrid::Parse(
        "type,product,rate_min,rate_max,fico_min,fico_max,ltv_min,ltv_max,"
        "price\nbase,*,,,,,,,par\n",
        "g.csv");
    REQUIRE_FALSE(grid.ok());
    CHECK(grid.status().message().find("line 2") != std::string::npos);
  }
  SUBCASE("an unknown row type") {
    auto grid = PriceGrid::Parse(
        "type,product,rate_min,rate_max,fico_min,fico_max,ltv_min,ltv_max,"
        "price\nbonus,*,,,,,,,1\n",
        "g.csv");
    CHECK_FALSE(grid.ok());
  }
}

TEST_CASE("the sample grid survives a CSV round trip") {
  const auto rows = SamplePriceGridRows();
  auto parsed = PriceGrid::Parse(PriceGrid::ToCsv(rows), "sample");
  REQUIRE(parsed.ok());
  const PriceGrid direct = PriceGrid::FromRows(rows);
  for (double rate : {4.0, 5.875, 6.5, 7.125, 9.99}) {
    for (int fico : {600, 640, 700, 745, 800, 1200}) {
      for (double ltv : {40.0, 70.0, 80.0, 95.5}) {
        CAPTURE(rate);
        CAPTURE(fico);
        CAPTURE(ltv);
        CHECK(parsed.value().Price("JUMBO30", rate, fico, ltv) ==
              direct.Price("JUMBO30", rate, fico, ltv));
      }
    }
  }
  // 6.5% lands in the [6.0, 6.5] bucket: 100 + 4.5 * (6.25 - 6.5) = 98.875,
  // and FICO 790 at LTV 55 carries no adjustment.
  CHECK(direct.Price("CONF30", 6.5, 790, 55.0) == 98'875);
  // JUMBO30 [7.0, 7.5]: 100 + 4.5 * (7.25 - 6.75) = 102.25; FICO 700-719
  // (4 buckets below the top) at LTV 75.01-80 (4th bucket):
  // -(4 * 0.25 * (0.25 + 0.2 * 3)) = -0.85 -> -0.875 (nearest 1/8);
  // jumbo -0.250: 101.125.
  CHECK(direct.Price("JUMBO30", 7.25, 705, 78.0) == 101'125);
}

}  // namespace
}  // namespace pipeline
