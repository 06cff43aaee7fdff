// Allocation-free parsing of CSV field text (numbers, money, header names),
// built on std::from_chars.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace pipeline {

// Strips ASCII spaces and tabs from both ends.
std::string_view Trim(std::string_view s);

// Whole-field parses: false unless the trimmed text is entirely a number.
bool ParseDouble(std::string_view s, double* out);
bool ParseInt(std::string_view s, int* out);
// Dollars with at most two decimals ("1234.5", "1234.56") to exact cents.
bool ParseCents(std::string_view s, int64_t* out);

// Index of the header column named `name` (trimmed, ASCII case-insensitive),
// or -1.
int FindColumn(const std::vector<std::string_view>& header,
               std::string_view name);

// Appends to a raw buffer; each returns the new end. The caller guarantees
// room (32 bytes is always enough).
char* WriteInt(char* out, int64_t v);
char* WriteCents(char* out, int64_t cents);            // "-1234.05"
char* WriteMilli(char* out, int64_t milli);            // "101.250"
char* WriteFixed(char* out, double v, int precision);  // "6.125"
// `field`, quoted if it holds a comma, quote or line break.
// REQUIRES: room for 2 * field.size() + 2 bytes.
char* WriteCsvField(char* out, std::string_view field);

}  // namespace pipeline
