// Parse rates of the replica import readers, on 1,000,000 generated rows of 12 fields shaped like
// a tax (地方税) replica: a 15-digit atena_no, dates, amounts, kanji names and addresses,
// half-width kana, and one quoted field with a comma in every tenth row.
//
// The input is a 10,000-row block served 100 times by RepeatSource, so generating it costs
// nothing inside the timed loop and memory stays small. Baselines on the same bytes:
// BM_Baseline_MemchrLines (memchr for '\n' only: the floor of any line-based parser) and
// BM_Cp932DecodeOnly (the iconv decoding alone).
//
// BM_Dbm20113 reads 100,000 DBM_20113 entries (libxml2's SAX push parser; the embedded CDATA
// document of each parsed by a second parser context).
//
// Run: ./build/release/src/replica_io/chukan_replica_io_bench  (or build/dev for -O1 figures)
#include <benchmark/benchmark.h>
#include <iconv.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "replica_io/byte_source.h"
#include "replica_io/charset.h"
#include "replica_io/csv_reader.h"
#include "replica_io/csv_writer.h"
#include "replica_io/dbm20113_reader.h"
#include "replica_io/dbm20113_writer.h"
#include "replica_io/json_lines_reader.h"

namespace chukan::replica_io {
namespace {

constexpr int kBlockRows = 10'000;
constexpr int kRepeats = 100;
constexpr int64_t kRows = int64_t{kBlockRows} * kRepeats;

struct Row {
  std::vector<std::string> fields;
};

std::vector<std::string> Header() {
  return {"atena_no", "nendo", "kubun", "shimei",  "shimei_kana", "seinengappi",
          "jusho",    "yubin", "kazei", "shotoku", "zeigaku",     "biko"};
}

std::vector<std::string> MakeRow(int i) {
  char atena[16];
  std::snprintf(atena, sizeof atena, "%015d", 100000 + i);
  return {atena,
          "2025",
          std::to_string(i % 3),
          i % 2 ? "山田 太郎" : "髙橋 花子",
          i % 2 ? "ﾔﾏﾀﾞ ﾀﾛｳ" : "ﾀｶﾊｼ ﾊﾅｺ",
          "1980" + std::string(i % 2 ? "0401" : "1231"),
          "東京都千代田区霞が関" + std::to_string(i % 9 + 1) + "-2-3",
          "1000013",
          std::to_string(3500000 + i % 1000),
          std::to_string(2400000 + i % 777),
          std::to_string(120000 + i % 555),
          i % 10 == 0 ? "備考, あり" : "①"};
}

std::string CsvBlock() {
  std::string out;
  for (int i = 0; i < kBlockRows; ++i) {
    const std::vector<std::string> row = MakeRow(i);
    std::vector<std::string_view> views(row.begin(), row.end());
    AppendCsvRecord(out, views);
  }
  return out;
}

std::string CsvHeader() {
  const std::vector<std::string> h = Header();
  std::vector<std::string_view> views(h.begin(), h.end());
  std::string out;
  AppendCsvRecord(out, views);
  return out;
}

std::string JsonBlock() {
  const std::vector<std::string> h = Header();
  std::string out;
  for (int i = 0; i < kBlockRows; ++i) {
    const std::vector<std::string> row = MakeRow(i);
    out += '{';
    for (size_t f = 0; f < row.size(); ++f) {
      if (f > 0) out += ',';
      out += '"' + h[f] + "\":\"" + row[f] + '"';
    }
    out += "}\n";
  }
  return out;
}

std::string ToCp932(const std::string& utf8) {
  iconv_t cd = iconv_open("CP932", "UTF-8");
  std::string in = utf8;
  std::string out(in.size() * 2, '\0');
  char* ip = in.data();
  size_t il = in.size();
  char* op = out.data();
  size_t ol = out.size();
  if (iconv(cd, &ip, &il, &op, &ol) == static_cast<size_t>(-1)) std::abort();
  iconv_close(cd);
  out.resize(out.size() - ol);
  return out;
}

// Serves `head` once, then `block` `repeats` times.
class RepeatSource final : public ByteSource {
 public:
  RepeatSource(std::string_view head, std::string_view block, int repeats)
      : head_(head), block_(block), segments_(repeats + 1) {}
  Result<size_t> Read(char* buf, size_t n) override {
    while (pos_ == current().size()) {
      if (segment_ + 1 >= segments_) return size_t{0};
      ++segment_;
      pos_ = 0;
    }
    const size_t k = std::min(n, current().size() - pos_);
    std::memcpy(buf, current().data() + pos_, k);
    pos_ += k;
    return k;
  }
  static size_t Total(std::string_view head, std::string_view block) {
    return head.size() + block.size() * kRepeats;
  }

 private:
  std::string_view current() const { return segment_ == 0 ? head_ : block_; }
  std::string_view head_, block_;
  int segments_;
  int segment_ = 0;
  size_t pos_ = 0;
};

void Report(benchmark::State& state, int64_t rows, size_t bytes) {
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void BM_CsvUtf8(benchmark::State& state) {
  const std::string head = CsvHeader(), block = CsvBlock();
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    RepeatSource src(head, block, kRepeats);
    CsvReader reader(src);
    size_t fields = 0;
    for (;;) {
      Result<bool> more = reader.Next();
      if (!more.ok()) state.SkipWithError(more.status().ToString().c_str());
      if (!more.ok() || !*more) break;
      fields += reader.fields().size();
    }
    benchmark::DoNotOptimize(fields);
    if (reader.records() != kRows + 1) state.SkipWithError("wrong row count");
    rows += kRows;
    bytes += RepeatSource::Total(head, block);
  }
  Report(state, rows, bytes);
}

void BM_CsvCp932(benchmark::State& state) {
  const std::string head = ToCp932(CsvHeader()), block = ToCp932(CsvBlock());
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    Result<std::unique_ptr<ByteSource>> src =
        MakeCp932ToUtf8Source(std::make_unique<RepeatSource>(head, block, kRepeats));
    CsvReader reader(**src);
    size_t fields = 0;
    for (;;) {
      Result<bool> more = reader.Next();
      if (!more.ok()) state.SkipWithError(more.status().ToString().c_str());
      if (!more.ok() || !*more) break;
      fields += reader.fields().size();
    }
    benchmark::DoNotOptimize(fields);
    if (reader.records() != kRows + 1) state.SkipWithError("wrong row count");
    rows += kRows;
    bytes += RepeatSource::Total(head, block);  // CP932 input bytes
  }
  Report(state, rows, bytes);
}

void BM_Cp932DecodeOnly(benchmark::State& state) {
  const std::string head = ToCp932(CsvHeader()), block = ToCp932(CsvBlock());
  std::vector<char> buf(256 << 10);
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    Result<std::unique_ptr<ByteSource>> src =
        MakeCp932ToUtf8Source(std::make_unique<RepeatSource>(head, block, kRepeats));
    for (;;) {
      Result<size_t> n = (*src)->Read(buf.data(), buf.size());
      if (!n.ok() || *n == 0) break;
    }
    rows += kRows;
    bytes += RepeatSource::Total(head, block);
  }
  Report(state, rows, bytes);
}

void BM_JsonLines(benchmark::State& state) {
  const std::string block = JsonBlock();
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    RepeatSource src("", block, kRepeats);
    JsonLinesReader reader(src);
    size_t fields = 0;
    for (;;) {
      Result<bool> more = reader.Next();
      if (!more.ok()) state.SkipWithError(more.status().ToString().c_str());
      if (!more.ok() || !*more) break;
      fields += reader.fields().size();
    }
    benchmark::DoNotOptimize(fields);
    if (reader.records() != kRows) state.SkipWithError("wrong row count");
    rows += kRows;
    bytes += RepeatSource::Total("", block);
  }
  Report(state, rows, bytes);
}

void BM_Baseline_MemchrLines(benchmark::State& state) {
  const std::string head = CsvHeader(), block = CsvBlock();
  std::vector<char> buf(256 << 10);
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    RepeatSource src(head, block, kRepeats);
    int64_t lines = 0;
    for (;;) {
      Result<size_t> n = src.Read(buf.data(), buf.size());
      if (!n.ok() || *n == 0) break;
      const char* p = buf.data();
      const char* e = p + *n;
      while ((p = static_cast<const char*>(std::memchr(p, '\n', e - p))) != nullptr) {
        ++lines;
        ++p;
      }
    }
    benchmark::DoNotOptimize(lines);
    rows += kRows;
    bytes += RepeatSource::Total(head, block);
  }
  Report(state, rows, bytes);
}

// DBM_20113: 100,000 entries of 地方税関係情報 (16 items in a CDATA document each, as business
// systems write them): a 1,000-entry block served 100 times, then the closing root element.
void BM_Dbm20113(benchmark::State& state) {
  constexpr int kEntries = 1000;
  std::string head, block, tail;
  AppendDbm20113Head(head);
  for (int i = 0; i < kEntries; ++i) {
    char atena[16];
    std::snprintf(atena, sizeof(atena), "%015d", i + 1);
    const std::string id = std::to_string(i + 1), income = std::to_string(1000000 + i);
    const std::string values[16] = {"2026",   "2026-01-01", "1",      income,  "100000", "50000",
                                    "200000", "30000",      "150000", "20000", "1",      "0",
                                    "1",      "2",          "",       "10000"};
    std::vector<std::string> codes;
    for (int k = 1; k <= 16; ++k) {
      char code[20];
      std::snprintf(code, sizeof(code), "IT000002000000%02d", k);
      codes.emplace_back(code);
    }
    Dbm20113EntryOut e;
    e.fields[static_cast<size_t>(Dbm20113Field::kRecordIdentificationNumber)] = id;
    e.fields[static_cast<size_t>(Dbm20113Field::kIntegratedAddressNumber)] = atena;
    e.fields[static_cast<size_t>(Dbm20113Field::kSpecificPersonalInformationCode)] =
        "TM00000000000002";
    e.fields[static_cast<size_t>(Dbm20113Field::kSpiMajorVersion)] = "0002";
    e.fields[static_cast<size_t>(Dbm20113Field::kPublicationDate)] = "2026-04-01";
    e.fields[static_cast<size_t>(Dbm20113Field::kAdministrativeRegionCode)] = "101";
    e.copy_root = "TM00000000000002";
    for (int k = 0; k < 16; ++k) {
      e.items.push_back({codes[static_cast<size_t>(k)], values[k], values[k].empty(),
                         values[k].empty() ? "1" : "", "0002", "2026-11-30"});
    }
    AppendDbm20113Entry(block, e);
  }
  AppendDbm20113Tail(tail);
  // The closing part rides on the last repetition: RepeatSource serves head, then the block.
  const std::string last = block + tail;
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    RepeatSource body(head, block, kRepeats - 1);
    struct Chain final : ByteSource {
      ByteSource* a;
      StringSource b;
      Chain(ByteSource* first, std::string_view second) : a(first), b(second) {}
      Result<size_t> Read(char* buf, size_t n) override {
        if (a != nullptr) {
          Result<size_t> got = a->Read(buf, n);
          if (!got.ok() || *got > 0) return got;
          a = nullptr;
        }
        return b.Read(buf, n);
      }
    } src(&body, last);
    Dbm20113Reader reader(src);
    int64_t n = 0;
    for (;;) {
      Result<bool> more = reader.Next();
      if (!more.ok()) {
        state.SkipWithError(more.status().ToString().c_str());
        return;
      }
      if (!*more) break;
      benchmark::DoNotOptimize(reader.entry().items.size());
      ++n;
    }
    rows += n;
    bytes += head.size() + block.size() * (kRepeats - 1) + last.size();
  }
  Report(state, rows, bytes);
}

void BM_CsvWrite(benchmark::State& state) {
  std::vector<std::vector<std::string>> rows_data;
  for (int i = 0; i < kBlockRows; ++i) rows_data.push_back(MakeRow(i));
  std::vector<std::vector<std::string_view>> views;
  for (const auto& r : rows_data) views.emplace_back(r.begin(), r.end());
  std::string out;
  out.reserve(4 << 20);
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < kRepeats; ++rep) {
      for (const auto& v : views) {
        AppendCsvRecord(out, v);
        if (out.size() > (2 << 20)) {  // as if flushed to the response body
          bytes += out.size();
          out.clear();
        }
      }
    }
    bytes += out.size();
    out.clear();
    rows += kRows;
  }
  Report(state, rows, bytes);
}

BENCHMARK(BM_CsvUtf8)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_CsvCp932)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Cp932DecodeOnly)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_JsonLines)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Baseline_MemchrLines)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_CsvWrite)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Dbm20113)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace chukan::replica_io

BENCHMARK_MAIN();
