#include "pipeline/sample_generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "pipeline/atomic_file.h"
#include "pipeline/eligibility_rules.h"
#include "pipeline/field_parse.h"
#include "pipeline/split_mix64.h"

namespace pipeline {
namespace {

struct Product {
  const char* name;
  double share;     // cumulative below
  double par_rate;  // coupon priced at 100
  int term;
  int64_t min_cents, max_cents;
  double max_ltv;
};
constexpr Product kProducts[] = {
    {"CONF30", 0.50, 6.500, 360, 6'000'000, 76'600'000, 95.0},
    {"CONF15", 0.15, 5.750, 180, 6'000'000, 76'600'000, 95.0},
    {"JUMBO30", 0.10, 6.750, 360, 80'000'000, 190'000'000, 89.0},
    {"FHA30", 0.15, 6.250, 360, 6'000'000, 50'000'000, 96.5},
    {"ARM71", 0.10, 6.000, 360, 6'000'000, 120'000'000, 90.0},
};

// Populous states repeat, for a realistic skew.
constexpr const char* kStates[] = {
    "CA", "CA", "CA", "CA", "TX", "TX", "TX", "FL", "FL", "FL", "NY", "NY",
    "PA", "IL", "OH", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ", "MA", "TN",
    "IN", "MO", "MD", "WI", "CO", "MN", "SC", "AL", "LA", "KY", "OR", "OK",
    "CT", "UT", "IA", "NV", "AR", "MS", "KS", "NM", "NE", "ID", "WV", "HI",
    "NH", "ME", "MT", "RI", "DE", "SD", "ND", "AK", "DC", "VT", "WY"};
constexpr const char* kFirst[] = {"James", "Mary",      "Robert",  "Patricia",
                                  "John",  "Jennifer",  "Michael", "Linda",
                                  "David", "Elizabeth", "Maria",   "Wei",
                                  "Jose",  "Aisha",     "Olga",    "Nguyen"};
constexpr const char* kLast[] = {"Smith",     "Johnson",  "Williams", "Brown",
                                 "Jones",     "Garcia",   "Miller",   "Davis",
                                 "Rodriguez", "Martinez", "O'Brien",  "Chen",
                                 "Patel",     "Kowalski", "Nakamura", "Okafor"};
constexpr const char* kStreets[] = {"Main St",        "Oak Ave",   "Maple Dr",
                                    "Cedar Ln",       "Park Blvd", "Elm St",
                                    "Washington Ave", "Lake Rd"};
constexpr const char* kCities[] = {"Springfield", "Riverside",  "Fairview",
                                   "Franklin",    "Greenville", "Madison",
                                   "Georgetown",  "Clinton"};
constexpr const char* kOccupancy[] = {"Primary", "Primary", "Primary",
                                      "Second Home", "Investment"};

constexpr const char* kHeader =
    "loan_id,borrower_name,property_address,city,state,zip,occupancy,"
    "product,original_balance,balance,note_rate,fico,ltv,dti,term_months,"
    "origination_date,maturity_date\r\n";

template <size_t N>
const char* Pick(SplitMix64& rng, const char* const (&list)[N]) {
  return list[rng.Below(N)];
}

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

const Product& PickProduct(SplitMix64& rng) {
  double u = rng.Unit();
  for (const Product& p : kProducts) {
    if (u < p.share) return p;
    u -= p.share;
  }
  return kProducts[0];
}

double Round(double v, double step) { return std::round(v / step) * step; }

}  // namespace

std::vector<PriceGrid::Row> SamplePriceGridRows() {
  std::vector<PriceGrid::Row> rows;
  for (const Product& p : kProducts) {
    for (double lo = 2.0; lo < 12.0; lo += 0.5) {
      PriceGrid::Row r;
      r.product = p.name;
      r.rate_min = lo;
      r.rate_max = lo + 0.5;  // first matching base row wins at the edge
      const double price =
          std::clamp(100.0 + 4.5 * (lo + 0.25 - p.par_rate), 94.0, 106.0);
      r.price_milli =
          static_cast<int32_t>(std::lround(Round(price, 0.125) * 1000));
      rows.push_back(r);
    }
  }
  const int fico_lo[] = {620, 640, 660, 680, 700, 720, 740, 760, 780};
  const double ltv_lo[] = {0, 60.01, 70.01, 75.01, 80.01, 85.01, 90.01, 95.01};
  const double ltv_hi[] = {60, 70, 75, 80, 85, 90, 95, 97};
  for (int f = 0; f < 9; ++f) {
    for (int l = 0; l < 8; ++l) {
      PriceGrid::Row r;
      r.is_base = false;
      r.product = "*";
      r.fico_min = fico_lo[f];
      r.fico_max = f == 8 ? 900 : fico_lo[f] + 19;
      r.ltv_min = ltv_lo[l];
      r.ltv_max = ltv_hi[l];
      const double hit = (8 - f) * 0.25 * (0.25 + 0.2 * l);
      r.price_milli =
          -static_cast<int32_t>(std::lround(Round(hit, 0.125) * 1000));
      rows.push_back(r);
    }
  }
  for (auto [name, adj] : {std::pair{"JUMBO30", -250}, std::pair{"ARM71", 125},
                           std::pair{"FHA30", 500}}) {
    PriceGrid::Row r;
    r.is_base = false;
    r.product = name;
    r.price_milli = adj;
    rows.push_back(r);
  }
  return rows;
}

Result<SampleStats> GenerateSample(const SampleOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (!fs::is_directory(o.out_dir)) {
    return Status::Error(Code::kIoError, "cannot create folder " + o.out_dir);
  }
  SampleStats stats;
  const std::string day = o.date.Compact();
  const fs::path dir(o.out_dir);
  stats.tape_path = (dir / ("loan_tape_" + day + ".csv")).string();
  stats.rules_path = (dir / ("eligibility_rules_" + day + ".toml")).string();
  stats.grid_path = (dir / ("price_grid_" + day + ".csv")).string();

  Status s = WriteFileAtomically(stats.rules_path,
                                 EligibilityRules::Defaults().ToToml(), o.sync);
  if (!s.ok()) return s;
  s = WriteFileAtomically(stats.grid_path,
                          PriceGrid::ToCsv(SamplePriceGridRows()), o.sync);
  if (!s.ok()) return s;

  auto created = AtomicFile::Create(stats.tape_path, o.sync);
  if (!created.ok()) return created.status();
  AtomicFile& file = *created.value();
  file.Append("\xEF\xBB\xBF");  // spreadsheet exports start with a BOM
  file.Append(kHeader);

  SplitMix64 rng(o.seed);
  // Malformed rows sit at seeded positions; none in tiny samples.
  std::vector<uint64_t> malformed;
  if (o.loans >= 100) {
    for (uint64_t i = 0; i < 3 + o.loans / 250000; ++i) {
      malformed.push_back(rng.Below(o.loans));
    }
    std::sort(malformed.begin(), malformed.end());
  }
  size_t next_bad = 0;
  char id[16] = "LN";
  char prev_id[16] = "LN0000000000";
  for (uint64_t i = 0; i < o.loans; ++i) {
    char* const start = file.Reserve(1024);
    char* p = start;
    std::memcpy(prev_id, id, sizeof id);
    // LN + 10 digits.
    uint64_t n = i + 1;
    for (int d = 11; d >= 2; --d, n /= 10)
      id[d] = static_cast<char>('0' + n % 10);
    id[12] = '\0';
    const Product& prod = PickProduct(rng);
    const int breaks = rng.Chance(0.05) ? static_cast<int>(rng.Below(13)) : -1;
    bool bad_row = false;
    while (next_bad < malformed.size() && malformed[next_bad] == i) {
      bad_row = true;
      ++next_bad;
    }

    p = Put(p, breaks == 12 && i > 0 ? std::string_view(prev_id, 12)
                                     : std::string_view(id, 12));
    *p++ = ',';
    // Borrower name; some carry a quoted nickname.
    char name[64];
    char* q = name;
    q = Put(q, Pick(rng, kFirst));
    if (rng.Chance(0.01)) q = Put(q, " \"Bud\"");
    *q++ = ' ';
    q = Put(q, Pick(rng, kLast));
    p = WriteCsvField(p, std::string_view(name, static_cast<size_t>(q - name)));
    *p++ = ',';
    if (bad_row && i % 2 == 0) {  // junk after a closing quote
      p = Put(p, "\"12 Elm St\"x,Clinton,OH\r\n");
      file.Release(p);
      ++stats.malformed_rows;
      continue;
    }
    // Address: "12 Oak Ave, Unit 4" needs quoting; a few span two lines.
    char addr[96];
    q = addr;
    q = WriteInt(q, static_cast<int64_t>(1 + rng.Below(9899)));
    *q++ = ' ';
    q = Put(q, Pick(rng, kStreets));
    const uint64_t unit = rng.Below(1000);
    if (unit < 200) {
      q = Put(q, unit < 2 ? "\nUnit " : ", Unit ");
      q = WriteInt(q, static_cast<int64_t>(1 + unit % 40));
    }
    p = WriteCsvField(p, std::string_view(addr, static_cast<size_t>(q - addr)));
    *p++ = ',';
    p = Put(p, Pick(rng, kCities));
    *p++ = ',';
    if (bad_row) {  // a truncated row: too few fields
      p = Put(p, "TX\r\n");
      file.Release(p);
      ++stats.malformed_rows;
      continue;
    }
    if (breaks >= 0 && !(breaks == 12 && i == 0)) ++stats.rule_breakers;
    const char* state = Pick(rng, kStates);
    if (breaks == 3) state = rng.Chance(0.5) ? "PR" : "GU";
    if (breaks == 10) state = "";
    p = Put(p, state);
    *p++ = ',';
    for (int d = 0; d < 5; ++d) *p++ = static_cast<char>('0' + rng.Below(10));
    *p++ = ',';
    p = Put(p, Pick(rng, kOccupancy));
    *p++ = ',';
    p = Put(p, breaks == 4 ? "HELOC" : prod.name);
    *p++ = ',';

    int64_t balance = prod.min_cents +
                      static_cast<int64_t>(
                          (rng.Unit() + rng.Unit()) / 2 *
                          static_cast<double>(prod.max_cents - prod.min_cents));
    if (breaks == 5)
      balance = 500'000 + static_cast<int64_t>(rng.Below(4'000'000));
    if (breaks == 6)
      balance = 210'000'000 + static_cast<int64_t>(rng.Below(90'000'000));
    p = WriteCents(p, balance + static_cast<int64_t>(rng.Below(2'000'000)));
    *p++ = ',';
    p = WriteCents(p, balance);
    *p++ = ',';
    double rate = Round(prod.par_rate + rng.Between(-1.0, 1.0), 0.125);
    if (breaks == 7) rate = Round(rng.Between(12.25, 14.0), 0.125);
    p = WriteFixed(p, rate, 3);
    *p++ = ',';
    int fico = 640 + static_cast<int>((rng.Below(91) + rng.Below(91)));
    if (breaks == 0) fico = 560 + static_cast<int>(rng.Below(60));
    p = WriteInt(p, fico);
    *p++ = ',';
    double ltv = Round(rng.Between(35.0, prod.max_ltv), 0.01);
    if (breaks == 1) ltv = Round(rng.Between(97.5, 105.0), 0.01);
    p = breaks == 11 ? Put(p, "N/A") : WriteFixed(p, ltv, 2);
    *p++ = ',';
    double dti = Round(rng.Between(12.0, 48.0), 0.1);
    if (breaks == 2) dti = Round(rng.Between(50.5, 65.0), 0.1);
    p = WriteFixed(p, dti, 1);
    *p++ = ',';
    const int term = breaks == 9 ? 480 : prod.term;
    p = WriteInt(p, term);
    *p++ = ',';
    const CivilDate orig{o.date.days - 10 -
                         static_cast<int32_t>(rng.Below(80))};
    p = orig.WriteIso(p);
    *p++ = ',';
    const CivilDate maturity =
        breaks == 8 ? CivilDate{o.date.days - 30} : orig.AddMonths(term);
    p = maturity.WriteIso(p);
    *p++ = '\r';
    *p++ = '\n';
    file.Release(p);
  }
  stats.loans = o.loans;
  s = file.Commit();
  if (!s.ok()) return s;
  return stats;
}

}  // namespace pipeline
