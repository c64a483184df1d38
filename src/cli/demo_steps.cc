#include "cli/demo_steps.h"

#include <chrono>
#include <cstdio>
#include <utility>

namespace chukan::cli {

void Steps::Run(std::string ja, std::string en, const std::function<Result<std::string>()>& body) {
  StepResult r;
  r.ja = std::move(ja);
  r.en = std::move(en);
  const auto t0 = std::chrono::steady_clock::now();
  Result<std::string> out = body();
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.ok = out.ok();
  r.detail = out.ok() ? *out : out.status().ToString();
  std::printf(" [%s] %2zu. %s / %s (%.1f ms)\n      %s\n", r.ok ? "ok" : "NG", results_.size() + 1,
              r.ja.c_str(), r.en.c_str(), r.ms, r.detail.c_str());
  std::fflush(stdout);
  results_.push_back(std::move(r));
}

bool Steps::all_ok() const {
  for (const auto& r : results_) {
    if (!r.ok) return false;
  }
  return !results_.empty();
}

size_t Steps::passed() const {
  size_t n = 0;
  for (const auto& r : results_) n += r.ok ? 1 : 0;
  return n;
}

Status Check(bool condition, std::string what) {
  return condition ? Status() : InternalError("check failed: " + std::move(what));
}

std::string SampleTaxCsv(int rows, int bad_line) {
  std::string f = "atena_no";
  // Every item of version 0002 (the export writes them all, and the demo shows export = input).
  for (int i = 1; i <= 18; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000002000000%02d", i);
    f += code;
  }
  f += "\n";
  for (int p = 1; p <= rows; ++p) {
    char row[220];
    std::snprintf(row, sizeof(row),
                  "%015d,2026,%s,1,%d,%d,50000,200000,30000,150000,20000,1,0,1,2,,10000,0,60000\n",
                  p, p + 1 == bad_line ? "2026-02-30" : "2026-01-01", 2000000 + p * 1000,
                  1800000 + p * 1000);
    f += row;
  }
  return f;
}

}  // namespace chukan::cli
