#include "pipeline/csv_reader.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace pipeline {
namespace {

struct Row {
  std::vector<std::string> fields;
  uint32_t line;
  bool error;
};

std::vector<Row> ReadAll(std::string_view data) {
  CsvReader reader(data);
  CsvRecord rec;
  std::vector<Row> rows;
  while (reader.Next(&rec)) {
    Row r{{}, rec.line, rec.error != nullptr};
    for (auto f : rec.fields) r.fields.emplace_back(f);
    rows.push_back(r);
  }
  return rows;
}

using Fields = std::vector<std::string>;

TEST_CASE("plain rows split on commas and report their line numbers") {
  auto rows = ReadAll("a,b,c\n1,2,3\n");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].fields == Fields{"a", "b", "c"});
  CHECK(rows[1].fields == Fields{"1", "2", "3"});
  CHECK(rows[1].line == 2);
}

TEST_CASE("a quoted field keeps its commas and line breaks") {
  auto rows = ReadAll(
      "id,addr\n1,\"12 Oak Ave, Unit 4\"\n2,\"line one\nline two\"\n3,x\n");
  REQUIRE(rows.size() == 4);
  CHECK(rows[1].fields == Fields{"1", "12 Oak Ave, Unit 4"});
  CHECK(rows[2].fields == Fields{"2", "line one\nline two"});
  CHECK(rows[2].line == 3);
  CHECK(rows[3].line == 5);  // the quoted newline counted as a line
}

TEST_CASE("doubled quotes inside a quoted field become one quote") {
  auto rows = ReadAll("name\n\"Robert \"\"Bob\"\" Smith\"\n\"\"\"\"\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].fields == Fields{"Robert \"Bob\" Smith"});
  CHECK(rows[2].fields == Fields{"\""});
}

TEST_CASE("a UTF-8 byte order mark is skipped") {
  auto rows = ReadAll("\xEF\xBB\xBFloan_id,fico\nL1,700\n");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].fields[0] == "loan_id");
}

TEST_CASE("CRLF line ends are stripped outside quotes and kept inside them") {
  auto rows = ReadAll("a,b\r\n1,2\r\n\"x\r\ny\",3\r\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].fields == Fields{"1", "2"});
  CHECK(rows[2].fields == Fields{"x\r\ny", "3"});
}

TEST_CASE("blank and whitespace-only lines are skipped but counted") {
  auto rows = ReadAll("a\n\n1\r\n  \r\n\n2\n\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].fields == Fields{"1"});
  CHECK(rows[1].line == 3);
  CHECK(rows[2].line == 6);
}

TEST_CASE("empty fields, a trailing comma and no final newline") {
  auto rows = ReadAll("a,,c\n1,2,");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].fields == Fields{"a", "", "c"});
  CHECK(rows[1].fields == Fields{"1", "2", ""});
  CHECK_FALSE(rows[1].error);
}

TEST_CASE("a malformed row is reported and reading resumes on the next line") {
  SUBCASE("a quote inside an unquoted field") {
    auto rows = ReadAll("a,b\n1,ab\"c\n2,ok\n");
    REQUIRE(rows.size() == 3);
    CHECK(rows[1].error);
    CHECK(rows[1].line == 2);
    CHECK(rows[2].fields == Fields{"2", "ok"});
    CHECK_FALSE(rows[2].error);
  }
  SUBCASE("text after a closing quote") {
    auto rows = ReadAll("a,b\n1,\"x\"y,z\n2,ok\n");
    REQUIRE(rows.size() == 3);
    CHECK(rows[1].error);
    CHECK(rows[2].fields == Fields{"2", "ok"});
  }
  SUBCASE("a quote that is never closed") {
    auto rows = ReadAll("a,b\n1,\"never closed\n2,ok\n3,ok\n");
    REQUIRE(rows.size() == 4);
    CHECK(rows[1].error);
    CHECK(rows[1].line == 2);
    CHECK(rows[2].fields == Fields{"2", "ok"});
    CHECK(rows[3].line == 4);
  }
}

TEST_CASE("AppendCsvField quotes only when it must") {
  std::string out;
  AppendCsvField("plain", &out);
  out += '|';
  AppendCsvField("a,b", &out);
  out += '|';
  AppendCsvField("say \"hi\"", &out);
  CHECK(out == "plain|\"a,b\"|\"say \"\"hi\"\"\"");
}

}  // namespace
}  // namespace pipeline
