// Writers for the pipeline's output files: purchase and exceptions (in the
// output folder, may hold loan data) and the shareable summary (no borrower
// data). Each file is written atomically; formats are in docs/pipeline.md.
#pragma once

#include <string>

#include "pipeline/purchase_summary.h"
#include "pipeline/status.h"
#include "pipeline/tape_checker.h"

namespace pipeline {

inline constexpr const char* kPurchaseHeader =
    "loan_id,product,state,balance,note_rate,fico,ltv,dti,term_months,"
    "maturity_date,price,purchase_amount\n";
inline constexpr const char* kExceptionsHeader =
    "line,loan_id,rule,field,value,limit\n";
inline constexpr const char* kSummaryHeader =
    "section,group,loans,exceptions,eligible,eligible_balance,"
    "purchase_amount,wa_note_rate,wa_fico,wa_ltv,wa_price\n";

// One row per eligible loan, in tape order.
Status WritePurchaseFile(const CheckedTape& tape, const std::string& path,
                         bool sync);
// One row per failed rule, by line.
Status WriteExceptionsFile(const CheckedTape& tape, const std::string& path,
                           bool sync);
// A "total" row, then "product" rows, then "state" rows.
Status WriteSummaryFile(const PurchaseSummary& summary, const std::string& path,
                        bool sync);

}  // namespace pipeline
