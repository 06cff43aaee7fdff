// The summary figures of a small tape, against values worked out by hand.
#include "pipeline/purchase_summary.h"

#include <doctest/doctest.h>

#include "pipeline/report_files.h"
#include "tests/pipeline/test_util.h"

namespace pipeline {
namespace {

// Grid: CONF30 100.000 at 6-7%, 101.000 at 7-8%; FHA30 99.000; FICO under
// 700 costs 0.500.
constexpr const char* kGrid =
    "type,product,rate_min,rate_max,fico_min,fico_max,ltv_min,ltv_max,price\n"
    "base,CONF30,6.0,6.999,,,,,100.000\n"
    "base,CONF30,7.0,7.999,,,,,101.000\n"
    "base,FHA30,,,,,,,99.000\n"
    "llpa,*,,,0,699,,,-0.500\n";

// L1: CONF30 CA 100,000 @ 6.50, FICO 750, LTV 80 -> 100.000 -> 100,000.00
// L2: CONF30 TX 200,000 @ 7.25, FICO 680, LTV 90 -> 100.500 -> 201,000.00
// L3: FHA30  CA  50,000 @ 6.00, FICO 700, LTV 95 ->  99.000 ->  49,500.00
// L4: CONF30 CA 300,000, FICO 500: fails min_fico
// line 6: not valid CSV
constexpr const char* kTape =
    "loan_id,state,product,balance,note_rate,fico,ltv,dti,term_months,"
    "maturity_date\n"
    "L1,CA,CONF30,100000.00,6.50,750,80,30,360,2056-11-01\n"
    "L2,TX,CONF30,200000.00,7.25,680,90,30,360,2056-11-01\n"
    "L3,CA,FHA30,50000.00,6.00,700,95,30,360,2056-11-01\n"
    "L4,CA,CONF30,300000.00,6.50,500,80,30,360,2056-11-01\n"
    "L5,CA,\"CONF\"30,1,1,1,1,1,1,1\n";

struct Checked {
  EligibilityRules rules = EligibilityRules::Defaults();
  PriceGrid grid = std::move(PriceGrid::Parse(kGrid, "grid").value());
  CheckedTape tape;
  Checked() {
    TapeChecker checker(rules, grid, CivilDate::FromYmd(2026, 12, 1));
    REQUIRE(checker.Check(kTape, "tape", &tape).ok());
  }
};

TEST_CASE("the summary totals of a small tape match the hand-worked figures") {
  Checked c;
  const PurchaseSummary s = PurchaseSummary::Of(c.tape);
  const GroupTotals& t = s.total;
  CHECK(t.loans == 5);
  CHECK(t.exceptions == 2);
  CHECK(t.eligible == 3);
  CHECK(t.eligible_balance_cents == 35'000'000);
  CHECK(t.purchase_cents == 35'050'000);
  // (6.50*100k + 7.25*200k + 6.00*50k) / 350k = 2,400,000 / 350,000
  CHECK(t.WaNoteRate() == doctest::Approx(6.857142857));
  // (750*100k + 680*200k + 700*50k) / 350k = 246,000,000 / 350,000
  CHECK(t.WaFico() == doctest::Approx(702.857142857));
  // (80*100k + 90*200k + 95*50k) / 350k = 30,750,000 / 350,000
  CHECK(t.WaLtv() == doctest::Approx(87.857142857));
  // 100 * 350,500 / 350,000
  CHECK(t.WaPrice() == doctest::Approx(100.142857143));
}

TEST_CASE("the summary splits by product and by state") {
  Checked c;
  const PurchaseSummary s = PurchaseSummary::Of(c.tape);
  REQUIRE(s.by_product.size() == 2);
  const GroupTotals& conf = s.by_product[0];
  CHECK(conf.name == "CONF30");
  CHECK(conf.loans == 3);
  CHECK(conf.exceptions == 1);
  CHECK(conf.eligible == 2);
  CHECK(conf.eligible_balance_cents == 30'000'000);
  CHECK(conf.purchase_cents == 30'100'000);
  CHECK(conf.WaNoteRate() == doctest::Approx(7.0));  // (6.5 + 2 * 7.25) / 3
  const GroupTotals& fha = s.by_product[1];
  CHECK(fha.name == "FHA30");
  CHECK(fha.purchase_cents == 4'950'000);
  CHECK(fha.WaFico() == doctest::Approx(700.0));

  REQUIRE(s.by_state.size() == 2);
  CHECK(s.by_state[0].name == "CA");
  CHECK(s.by_state[0].loans == 3);
  CHECK(s.by_state[0].eligible_balance_cents == 15'000'000);
  CHECK(s.by_state[0].purchase_cents == 14'950'000);
  // (80*100k + 95*50k) / 150k = 85
  CHECK(s.by_state[0].WaLtv() == doctest::Approx(85.0));
  CHECK(s.by_state[1].name == "TX");
  CHECK(s.by_state[1].purchase_cents == 20'100'000);
}

TEST_CASE("the summary file has the totals and no borrower data") {
  Checked c;
  testing::TempDir dir;
  REQUIRE(
      WriteSummaryFile(PurchaseSummary::Of(c.tape), dir / "s.csv", false).ok());
  const std::string text = testing::ReadFile(dir / "s.csv");
  CHECK(text ==
        std::string(kSummaryHeader) +
            "total,all,5,2,3,350000.00,350500.00,6.8571,702.9,87.86,100.1429\n"
            "product,CONF30,3,1,2,300000.00,301000.00,7.0000,703.3,86.67,100."
            "3333\n"
            "product,FHA30,1,0,1,50000.00,49500.00,6.0000,700.0,95.00,99.0000\n"
            "state,CA,3,1,2,150000.00,149500.00,6.3333,733.3,85.00,99.6667\n"
            "state,TX,1,0,1,200000.00,201000.00,7.2500,680.0,90.00,100.5000\n");
  CHECK(text.find("L1") == std::string::npos);  // no loan ids
}

TEST_CASE("purchase amounts round half up to the cent") {
  CHECK(PurchaseCents(10'001, 100'500) ==
        10'051);                                  // 100.01 * 1.005 = 100.51005
  CHECK(PurchaseCents(1'000, 100'050) == 1'001);  // 10.00 * 1.0005 = 10.005
  CHECK(PurchaseCents(1'000, 100'049) == 1'000);  // 10.0049
}

}  // namespace
}  // namespace pipeline
