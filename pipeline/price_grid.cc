#include "pipeline/price_grid.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <memory>

#include "pipeline/csv_reader.h"
#include "pipeline/field_parse.h"
#include "pipeline/mapped_file.h"

namespace pipeline {
namespace {

bool Matches(const PriceGrid::Row& r, double rate, int fico, double ltv) {
  return rate >= r.rate_min && rate <= r.rate_max && fico >= r.fico_min &&
         fico <= r.fico_max && ltv >= r.ltv_min && ltv <= r.ltv_max;
}

constexpr const char* kColumns[] = {"type",     "product",  "rate_min",
                                    "rate_max", "fico_min", "fico_max",
                                    "ltv_min",  "ltv_max",  "price"};
constexpr int kNumColumns = 9;

}  // namespace

PriceGrid PriceGrid::FromRows(std::vector<Row> rows) {
  PriceGrid g;
  for (const Row& r : rows) {
    if (r.product == "*") continue;
    bool known = false;
    for (const std::string& name : g.product_names_) known |= name == r.product;
    if (!known) g.product_names_.push_back(r.product);
  }
  // The index views the names, which stay put from here on.
  g.products_ = StringIndex(g.product_names_.size());
  for (size_t i = 0; i < g.product_names_.size(); ++i) {
    g.products_.FindOrInsert(g.product_names_[i], static_cast<uint32_t>(i + 1));
  }
  g.buckets_.resize(g.product_names_.size() + 1);
  for (Row& r : rows) {
    // "*" rows go to every bucket so a lookup scans one list.
    for (size_t b = 0; b < g.buckets_.size(); ++b) {
      const bool mine =
          r.product == "*" || (b > 0 && g.product_names_[b - 1] == r.product);
      if (!mine) continue;
      (r.is_base ? g.buckets_[b].base : g.buckets_[b].llpa).push_back(r);
    }
  }
  for (Bucket& bucket : g.buckets_) {
    bucket.llpa_start.reserve(kFicoTable + 1);
    for (int f = 0; f < kFicoTable; ++f) {
      bucket.llpa_start.push_back(
          static_cast<uint32_t>(bucket.llpa_by_fico.size()));
      for (size_t i = 0; i < bucket.llpa.size(); ++i) {
        const Row& r = bucket.llpa[i];
        if (f >= r.fico_min && f <= r.fico_max) {
          bucket.llpa_by_fico.push_back(static_cast<uint16_t>(i));
        }
      }
    }
    bucket.llpa_start.push_back(
        static_cast<uint32_t>(bucket.llpa_by_fico.size()));
  }
  return g;
}

PriceGrid PriceGrid::Par() {
  Row r;
  r.product = "*";
  r.price_milli = 100000;
  return FromRows({r});
}

std::optional<int32_t> PriceGrid::Price(std::string_view product, double rate,
                                        int fico, double ltv) const {
  if (buckets_.empty()) return std::nullopt;
  uint32_t b = products_.Find(product);
  if (b == StringIndex::kAbsent) b = 0;
  const Bucket& bucket = buckets_[b];
  const Row* base = nullptr;
  for (const Row& r : bucket.base) {
    if (Matches(r, rate, fico, ltv)) {
      base = &r;
      break;
    }
  }
  if (base == nullptr) return std::nullopt;
  int32_t price = base->price_milli;
  if (fico >= 0 && fico < kFicoTable) {
    const size_t f = static_cast<size_t>(fico);
    for (uint32_t k = bucket.llpa_start[f]; k < bucket.llpa_start[f + 1]; ++k) {
      const Row& r = bucket.llpa[bucket.llpa_by_fico[k]];
      if (Matches(r, rate, fico, ltv)) price += r.price_milli;
    }
  } else {
    for (const Row& r : bucket.llpa) {
      if (Matches(r, rate, fico, ltv)) price += r.price_milli;
    }
  }
  return price;
}

Result<PriceGrid> PriceGrid::Parse(std::string_view csv,
                                   const std::string& source) {
  CsvReader reader(csv);
  CsvRecord rec;
  if (!reader.Next(&rec) || rec.error != nullptr) {
    return Status::Error(Code::kInvalidInput,
                         source + ": not a price grid (no header row)");
  }
  int col[kNumColumns];
  std::string missing;
  for (int c = 0; c < kNumColumns; ++c) {
    col[c] = FindColumn(rec.fields, kColumns[c]);
    if (col[c] < 0)
      missing += std::string(missing.empty() ? "" : ", ") + kColumns[c];
  }
  if (!missing.empty()) {
    return Status::Error(
        Code::kInvalidInput,
        source + ": not a price grid, header lacks columns: " + missing);
  }
  std::vector<Row> rows;
  while (reader.Next(&rec)) {
    auto bad = [&](const std::string& why) {
      return Status::Error(
          Code::kInvalidInput,
          fmt::format("{}: line {}: {}", source, rec.line, why));
    };
    if (rec.error != nullptr) return bad(rec.error);
    auto field = [&](int c) {
      return static_cast<size_t>(col[c]) < rec.fields.size()
                 ? Trim(rec.fields[static_cast<size_t>(col[c])])
                 : std::string_view();
    };
    Row r;
    const std::string_view type = field(0);
    if (type != "base" && type != "llpa") {
      return bad("type must be 'base' or 'llpa', got '" + std::string(type) +
                 "'");
    }
    r.is_base = type == "base";
    r.product = std::string(field(1));
    if (r.product.empty()) return bad("product is empty (use * for any)");
    bool ok = true;
    auto opt_double = [&](int c, double* out) {
      if (!field(c).empty() && !ParseDouble(field(c), out)) ok = false;
    };
    auto opt_int = [&](int c, int* out) {
      if (!field(c).empty() && !ParseInt(field(c), out)) ok = false;
    };
    opt_double(2, &r.rate_min);
    opt_double(3, &r.rate_max);
    opt_int(4, &r.fico_min);
    opt_int(5, &r.fico_max);
    opt_double(6, &r.ltv_min);
    opt_double(7, &r.ltv_max);
    double price = 0;
    if (!ParseDouble(field(8), &price)) ok = false;
    if (!ok) return bad("a bound or the price is not a number");
    r.price_milli = static_cast<int32_t>(std::lround(price * 1000));
    rows.push_back(std::move(r));
    if (rows.size() > 60000) return bad("more than 60000 rows");
  }
  return FromRows(std::move(rows));
}

Result<PriceGrid> PriceGrid::Load(const std::string& path) {
  Result<MappedFile> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  return Parse(file.value().data(), path);
}

std::string PriceGrid::ToCsv(const std::vector<Row>& rows) {
  std::string out =
      "type,product,rate_min,rate_max,fico_min,fico_max,"
      "ltv_min,ltv_max,price\n";
  auto d = [](double v) {
    return std::abs(v) > 1e299 ? std::string() : fmt::format("{:.3f}", v);
  };
  auto i = [](int v) {
    return v == INT32_MIN || v == INT32_MAX ? std::string()
                                            : fmt::format("{}", v);
  };
  for (const Row& r : rows) {
    out += fmt::format("{},{},{},{},{},{},{},{},{:.3f}\n",
                       r.is_base ? "base" : "llpa", r.product, d(r.rate_min),
                       d(r.rate_max), i(r.fico_min), i(r.fico_max),
                       d(r.ltv_min), d(r.ltv_max), r.price_milli / 1000.0);
  }
  return out;
}

}  // namespace pipeline
