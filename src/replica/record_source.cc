#include "replica/record_source.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <span>
#include <thread>
#include <utility>

#include "common/mutex.h"
#include "common/thread_name.h"
#include "crypto/bytes.h"
#include "crypto/file_stream.h"
#include "crypto/hash.h"
#include "layout/date.h"
#include "replica_io/charset.h"
#include "replica_io/csv_reader.h"
#include "replica_io/dbm20113_reader.h"
#include "replica_io/json_lines_reader.h"

namespace chukan::replica {
namespace {

constexpr std::string_view kAtenaColumn = "atena_no";

// Reads a crypto::TempStream back as a byte source.
class TempStreamSource final : public replica_io::ByteSource {
 public:
  explicit TempStreamSource(std::unique_ptr<crypto::TempStream> stream)
      : stream_(std::move(stream)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    return stream_->Read(std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf), n));
  }

 private:
  std::unique_ptr<crypto::TempStream> stream_;
};

// The line feeds in `b`, by memchr (vectorised by libc): a byte-at-a-time count was a quarter
// of the receiving thread's time (docs/performance.md).
int64_t CountLineFeeds(std::span<const uint8_t> b) {
  int64_t n = 0;
  const uint8_t* p = b.data();
  const uint8_t* const end = p + b.size();
  while (p < end) {
    p = static_cast<const uint8_t*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (p == nullptr) break;
    ++n;
    ++p;
  }
  return n;
}

// Passes bytes through and hashes them, so the import records the hash of what it received.
class HashingSource final : public replica_io::ByteSource {
 public:
  explicit HashingSource(std::unique_ptr<replica_io::ByteSource> inner)
      : inner_(std::move(inner)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    ASSIGN_OR_RETURN(size_t got, inner_->Read(buf, n));
    hasher_.Update(std::string_view(buf, got));
    return got;
  }
  // Reads what is left of the input into a temporary file and reads from that file from now on
  // (RecordSourceFactory::Receive); nothing is hashed twice — the file's bytes are hashed as
  // they are read back.
  Status Receive(const std::function<void(int64_t lines)>& progress) {
    const char* tmp = std::getenv("TMPDIR");
    ASSIGN_OR_RETURN(std::unique_ptr<crypto::TempStream> spool,
                     crypto::TempStream::Create(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp"));
    crypto::Bytes buf(crypto::kFileStreamChunkBytes);
    // The upload's plaintext passes through `buf`: wiped before it is freed, however this ends.
    struct Wipe {
      crypto::Bytes& b;
      ~Wipe() { crypto::WipeBytes(b); }
    } wipe{buf};
    int64_t lines = 0;
    while (true) {
      ASSIGN_OR_RETURN(size_t got, inner_->Read(reinterpret_cast<char*>(buf.data()), buf.size()));
      if (got == 0) break;
      RETURN_IF_ERROR(spool->Write(std::span<const uint8_t>(buf.data(), got)));
      if (progress) {
        lines += CountLineFeeds(std::span<const uint8_t>(buf.data(), got));
        progress(lines);
      }
    }
    RETURN_IF_ERROR(spool->Rewind());
    inner_ = std::make_unique<TempStreamSource>(std::move(spool));
    return Status();
  }
  std::string Hash() const {
    crypto::Blake2bHasher copy = hasher_;  // Finish() consumes; hash a copy
    return "blake2b-256:" + crypto::ToHex(copy.Finish());
  }

 private:
  std::unique_ptr<replica_io::ByteSource> inner_;
  crypto::Blake2bHasher hasher_{32};
};

// Messages about the file never quote it: a header or a key that is not an item code may be a
// value (a file without its header row starts with a resident's name or number). They name the
// position — line, column, member — and, once a name is known to be an item code of the layout,
// that code.
std::string NotAnItem(const layout::LayoutVersion& version) {
  return "not an item of " + version.info().code().str() + " version " + version.version();
}

class CsvRecordSource final : public RecordSource {
 public:
  CsvRecordSource(replica_io::ByteSource& src, const layout::LayoutVersion& version)
      : reader_(src), version_(version), values_(version.item_count()) {}

  Status ReadHeader() {
    ASSIGN_OR_RETURN(bool has, reader_.Next());
    if (!has) return InvalidArgumentError("line 1: the file is empty (a header row is required)");
    const std::span<const std::string_view> header = reader_.fields();
    std::vector<bool> used(version_.item_count(), false);
    column_to_item_.assign(header.size(), kSkip);
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string_view name = header[c];
      const std::string where = "line 1, column " + std::to_string(c + 1) + ": ";
      if (name == kAtenaColumn) {
        if (atena_column_ != kSkip) return InvalidArgumentError(where + "atena_no appears twice");
        atena_column_ = c;
        continue;
      }
      std::optional<size_t> idx = version_.ItemIndex(name);
      if (!idx) return InvalidArgumentError(where + NotAnItem(version_));
      if (used[*idx])
        return InvalidArgumentError(where + "item " + std::string(name) + " appears twice");
      used[*idx] = true;
      column_to_item_[c] = *idx;
    }
    if (atena_column_ == kSkip) {
      return InvalidArgumentError("line 1: the header has no atena_no column");
    }
    return Status();
  }

  Result<bool> Next(RowView& row, std::optional<RowProblem>& problem) override {
    problem.reset();
    ASSIGN_OR_RETURN(bool has, reader_.Next());
    if (!has) return false;
    const std::span<const std::string_view> fields = reader_.fields();
    if (fields.size() != column_to_item_.size()) {
      problem = RowProblem{reader_.line(), "", "field_count",
                           "expected " + std::to_string(column_to_item_.size()) +
                               " fields as in the header, found " + std::to_string(fields.size())};
      return true;
    }
    std::fill(values_.begin(), values_.end(), std::string_view());
    for (size_t c = 0; c < fields.size(); ++c) {
      if (column_to_item_[c] != kSkip) values_[column_to_item_[c]] = fields[c];
    }
    row.line = reader_.line();
    row.atena_no = fields[atena_column_];
    row.values = values_;
    return true;
  }

 private:
  static constexpr size_t kSkip = static_cast<size_t>(-1);
  replica_io::CsvReader reader_;
  const layout::LayoutVersion& version_;
  std::vector<size_t> column_to_item_;
  size_t atena_column_ = kSkip;
  std::vector<std::string_view> values_;
};

class JsonLinesRecordSource final : public RecordSource {
 public:
  JsonLinesRecordSource(replica_io::ByteSource& src, const layout::LayoutVersion& version)
      : reader_(src, ReaderOptions(version)), version_(version), values_(version.item_count()) {}

  Result<bool> Next(RowView& row, std::optional<RowProblem>& problem) override {
    problem.reset();
    ASSIGN_OR_RETURN(bool has, reader_.Next());
    if (!has) return false;
    std::fill(values_.begin(), values_.end(), std::string_view());
    row.atena_no = {};
    const auto& fields = reader_.fields();
    for (size_t i = 0; i < fields.size(); ++i) {
      const auto& [key, value] = fields[i];
      if (key == kAtenaColumn) {
        row.atena_no = value;
        continue;
      }
      std::optional<size_t> idx = version_.ItemIndex(key);
      if (!idx) {
        problem = RowProblem{
            reader_.line(), "", "unknown_field",
            "member " + std::to_string(reader_.members()[i]) + ": " + NotAnItem(version_)};
        return true;
      }
      values_[*idx] = value;
    }
    row.line = reader_.line();
    row.values = values_;
    return true;
  }

 private:
  // The reader may name atena_no and the version's item codes in its messages, no other key.
  static replica_io::JsonLinesOptions ReaderOptions(const layout::LayoutVersion& version) {
    replica_io::JsonLinesOptions options;
    options.nameable_key = [&version](std::string_view key) {
      return key == kAtenaColumn || version.ItemIndex(key).has_value();
    };
    return options;
  }

  replica_io::JsonLinesReader reader_;
  const layout::LayoutVersion& version_;
  std::vector<std::string_view> values_;
};

// Bytes already read (to sniff the XML declaration) and then the rest of `inner`.
class ReplaySource final : public replica_io::ByteSource {
 public:
  ReplaySource(std::string head, std::unique_ptr<replica_io::ByteSource> inner)
      : head_(std::move(head)), inner_(std::move(inner)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    if (pos_ < head_.size()) {
      const size_t k = std::min(n, head_.size() - pos_);
      std::memcpy(buf, head_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    return inner_->Read(buf, n);
  }

 private:
  std::string head_;
  size_t pos_ = 0;
  std::unique_ptr<replica_io::ByteSource> inner_;
};

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The DBM_20113 attachment (docs/import-formats.md, "DBM_20113"): one row per
// InformationOfSPIRegistrationDelete. Problems of one entry (a wrong TM or 版番号, a bad date, an
// unknown item code, a My Number given) skip it; the reader's errors stop the file.
class Dbm20113RecordSource final : public RecordSource {
 public:
  using F = replica_io::Dbm20113Field;

  Dbm20113RecordSource(replica_io::ByteSource& src, const layout::LayoutVersion& version)
      : reader_(src), version_(version), values_(version.item_count()) {}

  Result<bool> Next(RowView& row, std::optional<RowProblem>& problem) override {
    problem.reset();
    ASSIGN_OR_RETURN(bool has, reader_.Next());
    const std::string_view list = reader_.list_segment();
    if (!list.empty() && list != "1" && list != "2") {
      return InvalidArgumentError("line " + std::to_string(reader_.list_segment_line()) +
                                  ": SegmentOfRegistrationDelete (登録削除区分): expected 1 (登録) "
                                  "or 2 (削除)");
    }
    if (!has) {
      // The public shape writes the list's 登録削除区分 after the entries: it can only confirm
      // the default (1, 登録) for the entries that had none of their own.
      if (list == "2" && defaulted_ > 0) {
        return InvalidArgumentError(
            "line " + std::to_string(reader_.list_segment_line()) +
            ": SegmentOfRegistrationDelete 2 (削除) comes after " + std::to_string(defaulted_) +
            " record(s) without their own; put it before the records, or give each record its "
            "SegmentOfRegistrationDelete");
      }
      return false;
    }
    const replica_io::Dbm20113Entry& e = reader_.entry();
    row = RowView{};
    row.line = e.line;
    row.record = e.record;
    row.record_id_line = e.FieldLine(F::kRecordIdentificationNumber);
    auto bad = [&](std::string field, std::string reason, std::string message) {
      problem = RowProblem{e.line,   std::move(field),  std::move(reason), std::move(message),
                           e.record, row.record_id_line};
      return true;
    };
    const std::string_view rid = e.Field(F::kRecordIdentificationNumber);
    if (rid.empty() || rid.size() > 20 || !AllDigits(rid)) {
      return bad("RecordIdentificationNumber", "bad_record_id",
                 "RecordIdentificationNumber (レコード識別番号): expected 1 to 20 digits");
    }
    if (!e.Field(F::kKojinNo).empty()) {
      return bad("KojinNo", "my_number_given",
                 "KojinNo (個人番号): must be empty — chukan never receives a My Number; give "
                 "IntegratedAddressNumber (団体内統合宛名番号)");
    }
    const std::string& tm = version_.info().code().str();
    if (e.Field(F::kSpecificPersonalInformationCode) != tm) {
      return bad("SpecificPersonalInformationCode", "wrong_tm",
                 "SpecificPersonalInformationCode (特定個人情報名コード): not the TM of this "
                 "import (" +
                     tm + ")");
    }
    if (e.Field(F::kSpiMajorVersion) != version_.version()) {
      return bad("SPIMajorVersion", "wrong_version",
                 "SPIMajorVersion (版番号): not the version of this import (" + version_.version() +
                     "); a file holds one TM and one version");
    }
    const std::string_view from = e.Field(F::kPublicationDate);
    const std::string_view until = e.Field(F::kPublishedEndDate);
    std::optional<layout::Date> from_date, until_date;
    if (!from.empty() && !(from_date = layout::Date::Parse(from))) {
      return bad("PublicationDate", "not_a_date",
                 "PublicationDate (公開開始日): expected a date YYYY-MM-DD");
    }
    if (!until.empty() && !(until_date = layout::Date::Parse(until))) {
      return bad("PublishedEndDate", "not_a_date",
                 "PublishedEndDate (公開終了日): expected a date YYYY-MM-DD");
    }
    if (from_date && until_date && *until_date < *from_date) {
      return bad("PublishedEndDate", "date_order",
                 "PublishedEndDate (公開終了日): before PublicationDate (公開開始日)");
    }
    const std::string_view region = e.Field(F::kAdministrativeRegionCode);
    if (!region.empty() && (region.size() != 3 || !AllDigits(region))) {
      return bad("AdministrativeRegionCode", "bad_region_code",
                 "AdministrativeRegionCode (行政区コード): expected 3 digits or nothing");
    }
    std::string_view segment = e.Field(F::kSegmentOfRegistrationDelete);
    if (segment.empty()) {
      segment = list.empty() ? "1" : list;
      if (list.empty()) ++defaulted_;
    }
    if (segment != "1" && segment != "2") {
      return bad("SegmentOfRegistrationDelete", "bad_segment",
                 "SegmentOfRegistrationDelete (登録削除区分): expected 1 (登録) or 2 (削除)");
    }
    if (!e.copy_root.empty() && e.copy_root != tm) {
      return bad("DuplicateCopyData", "bad_copy_root",
                 "DuplicateCopyData (副本データ): the root element is not " + tm);
    }
    std::fill(values_.begin(), values_.end(), std::string_view());
    seen_.assign(version_.item_count(), false);
    envelope_.clear();
    envelope_.push_back(rid);
    envelope_.push_back(e.Field(F::kDataSetIdentificationItemCode));
    envelope_.push_back(e.Field(F::kDataSetRecordKey));
    envelope_.push_back(e.Field(F::kParentDataSetRecordKey));
    envelope_.push_back(region);
    for (const replica_io::Dbm20113Item& item : e.items) {
      // Built only for a problem: this runs for every item of every record.
      auto where = [&item] {
        return "DuplicateCopyData (副本データ), item " + std::to_string(item.position) + " (line " +
               std::to_string(item.line) + "): ";
      };
      std::optional<size_t> idx = version_.ItemIndex(item.code);
      if (!idx) return bad("", "unknown_item", where() + NotAnItem(version_));
      if (seen_[*idx]) {
        return bad(std::string(item.code), "duplicate_item", where() + "the item appears twice");
      }
      seen_[*idx] = true;
      values_[*idx] = item.value;
      envelope_.push_back(item.code);
      envelope_.push_back(item.version);
      envelope_.push_back(item.updated);
      envelope_.push_back(item.nil ? "1" : "");
      envelope_.push_back(item.reason_of_null);
    }
    row.atena_no = e.Field(F::kIntegratedAddressNumber);
    row.values = values_;
    row.remove = segment == "2";
    row.publish_from = from;
    row.publish_until = until;
    row.envelope = envelope_;
    return true;
  }

 private:
  replica_io::Dbm20113Reader reader_;
  const layout::LayoutVersion& version_;
  std::vector<std::string_view> values_;
  std::vector<bool> seen_;
  std::vector<std::string_view> envelope_;
  int64_t defaulted_ = 0;  // entries that took the default 登録削除区分
};

// Reads a RecordSource on a thread of its own, a bounded number of rows ahead of the caller:
// the DBM_20113 reader (XML, two libxml2 parser contexts a record) then runs beside the import's
// checks and sealing instead of before them (docs/performance.md, "DBM_20113 replica
// registration"). Rows travel in batches, copied into the batch's own storage; at most kMaxBatches
// are queued, so memory stays bounded whatever the file. The thread reads the byte source alone
// until it ends; Stop() (the destructor, and the factory before Drain) makes it stop after the row
// it is reading and waits for it.
class ReadAhead {
 public:
  static constexpr size_t kBatchRows = 256;
  static constexpr size_t kBatchBytes = 1 << 20;  // a batch closes at this many bytes of text
  static constexpr size_t kMaxBatches = 4;        // queued, not counting the one being read

  struct Span {
    size_t off = 0;
    size_t len = 0;
  };
  struct Row {
    RowView meta;  // line, record, record_id_line, remove; its views are set from the spans
    Span atena_no, publish_from, publish_until;
    size_t values_at = 0, values_count = 0;      // into Batch::spans
    size_t envelope_at = 0, envelope_count = 0;  // into Batch::spans
    std::optional<RowProblem> problem;
  };
  struct Batch {
    std::string text;
    std::vector<Span> spans;
    std::vector<Row> rows;
    bool last = false;  // the source ended (end_status says how) after these rows
    Status end_status;
    void Clear() {
      text.clear();
      spans.clear();
      rows.clear();
      last = false;
      end_status = Status();
    }
  };

  explicit ReadAhead(std::unique_ptr<RecordSource> source) : source_(std::move(source)) {
    thread_ = std::thread([this] {
      NameThisThread("import-read");
      Run();
    });
  }
  ~ReadAhead() { Stop(); }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    space_.SignalAll();
    ready_.SignalAll();
    if (thread_.joinable()) thread_.join();
  }

  // The next full batch (nullptr after Stop()); `done` is handed back for reuse.
  std::unique_ptr<Batch> Take(std::unique_ptr<Batch> done) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (done != nullptr) {
      done->Clear();
      free_.push_back(std::move(done));
    }
    while (full_.empty() && !stop_) ready_.Wait(lock);
    if (full_.empty()) return nullptr;
    std::unique_ptr<Batch> b = std::move(full_.front());
    full_.pop_front();
    space_.Signal();
    return b;
  }

 private:
  void Run() EXCLUDES(mu_) {
    RowView row;
    std::optional<RowProblem> problem;
    for (;;) {
      std::unique_ptr<Batch> b;
      {
        MutexLock lock(mu_);
        while (full_.size() >= kMaxBatches && !stop_) space_.Wait(lock);
        if (stop_) return;
        if (!free_.empty()) {
          b = std::move(free_.back());
          free_.pop_back();
        }
      }
      if (b == nullptr) b = std::make_unique<Batch>();
      while (b->rows.size() < kBatchRows && b->text.size() < kBatchBytes) {
        Result<bool> more = source_->Next(row, problem);
        if (!more.ok() || !*more) {
          b->last = true;
          if (!more.ok()) b->end_status = more.status();
          break;
        }
        Append(*b, row, problem);
        if (StopRequested()) return;
      }
      const bool last = b->last;
      {
        MutexLock lock(mu_);
        full_.push_back(std::move(b));
      }
      ready_.Signal();
      if (last) return;
    }
  }

  bool StopRequested() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return stop_;
  }

  static Span Put(Batch& b, std::string_view s) {
    Span sp{b.text.size(), s.size()};
    b.text.append(s);
    return sp;
  }
  static void Append(Batch& b, const RowView& row, std::optional<RowProblem>& problem) {
    Row& r = b.rows.emplace_back();
    r.meta.line = row.line;
    r.meta.record = row.record;
    r.meta.record_id_line = row.record_id_line;
    r.meta.remove = row.remove;
    if (problem) {
      r.problem = std::move(problem);
      problem.reset();
      return;  // the row is not valid
    }
    r.atena_no = Put(b, row.atena_no);
    r.publish_from = Put(b, row.publish_from);
    r.publish_until = Put(b, row.publish_until);
    r.values_at = b.spans.size();
    r.values_count = row.values.size();
    for (std::string_view v : row.values) b.spans.push_back(Put(b, v));
    r.envelope_at = b.spans.size();
    r.envelope_count = row.envelope.size();
    for (std::string_view v : row.envelope) b.spans.push_back(Put(b, v));
  }

  std::unique_ptr<RecordSource> source_;  // the thread's alone until it ends
  Mutex mu_;
  CondVar ready_;  // a batch was queued, or stop
  CondVar space_;  // a batch was taken, or stop
  std::deque<std::unique_ptr<Batch>> full_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Batch>> free_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The caller's side of a ReadAhead: rows out of its batches, views valid until the next Next().
class ReadAheadRecordSource final : public RecordSource {
 public:
  explicit ReadAheadRecordSource(std::shared_ptr<ReadAhead> ahead) : ahead_(std::move(ahead)) {}

  Result<bool> Next(RowView& row, std::optional<RowProblem>& problem) override {
    problem.reset();
    while (batch_ == nullptr || next_ == batch_->rows.size()) {
      if (batch_ != nullptr && batch_->last) {
        if (!batch_->end_status.ok()) return batch_->end_status;
        return false;
      }
      batch_ = ahead_->Take(std::move(batch_));
      next_ = 0;
      if (batch_ == nullptr) return CancelledError("the import's reader was stopped");
    }
    const ReadAhead::Row& r = batch_->rows[next_++];
    row = r.meta;
    if (r.problem) {
      problem = r.problem;
      return true;
    }
    auto view = [this](ReadAhead::Span s) {
      return std::string_view(batch_->text).substr(s.off, s.len);
    };
    values_.resize(r.values_count);
    for (size_t i = 0; i < r.values_count; ++i) values_[i] = view(batch_->spans[r.values_at + i]);
    envelope_.resize(r.envelope_count);
    for (size_t i = 0; i < r.envelope_count; ++i) {
      envelope_[i] = view(batch_->spans[r.envelope_at + i]);
    }
    row.atena_no = view(r.atena_no);
    row.publish_from = view(r.publish_from);
    row.publish_until = view(r.publish_until);
    row.values = values_;
    row.envelope = envelope_;
    return true;
  }

 private:
  std::shared_ptr<ReadAhead> ahead_;
  std::unique_ptr<ReadAhead::Batch> batch_;
  size_t next_ = 0;
  std::vector<std::string_view> values_;
  std::vector<std::string_view> envelope_;
};

class StreamFactory final : public RecordSourceFactory {
 public:
  StreamFactory(HashingSource* hashing, std::unique_ptr<replica_io::ByteSource> decoded,
                FileFormat format, bool sniff_charset)
      : hashing_(hashing),
        decoded_(std::move(decoded)),
        format_(format),
        sniff_charset_(sniff_charset) {}

  Result<std::unique_ptr<RecordSource>> Open(const layout::LayoutVersion& version) override {
    if (opened_) return FailedPreconditionError("record source already opened");
    opened_ = true;
    if (format_ == FileFormat::kDbm20113) {
      if (sniff_charset_) RETURN_IF_ERROR(SniffCharset());
      read_ahead_ =
          std::make_shared<ReadAhead>(std::make_unique<Dbm20113RecordSource>(*decoded_, version));
      return std::unique_ptr<RecordSource>(std::make_unique<ReadAheadRecordSource>(read_ahead_));
    }
    if (format_ == FileFormat::kJsonLines) {
      return std::unique_ptr<RecordSource>(
          std::make_unique<JsonLinesRecordSource>(*decoded_, version));
    }
    auto csv = std::make_unique<CsvRecordSource>(*decoded_, version);
    RETURN_IF_ERROR(csv->ReadHeader());
    return std::unique_ptr<RecordSource>(std::move(csv));
  }

  Status Receive(const std::function<void(int64_t lines)>& progress) override {
    if (opened_) return FailedPreconditionError("record source already opened");
    return hashing_->Receive(progress);
  }

  Status Drain() override {
    if (read_ahead_ != nullptr) read_ahead_->Stop();  // the byte source is ours again
    // Read the raw bytes (not the decoded ones): the hash covers the file even after a
    // decoding error stopped the reader.
    std::vector<char> buf(64 << 10);
    while (true) {
      ASSIGN_OR_RETURN(size_t n, hashing_->Read(buf.data(), buf.size()));
      if (n == 0) return Status();
    }
  }

  std::string FileHash() const override { return hashing_->Hash(); }

 private:
  // No charset was given: the XML declaration's encoding decides (UTF-8 or Shift_JIS).
  Status SniffCharset() {
    std::string head(1024, '\0');
    size_t got = 0;
    while (got < head.size()) {
      ASSIGN_OR_RETURN(size_t n, decoded_->Read(head.data() + got, head.size() - got));
      if (n == 0) break;
      got += n;
    }
    head.resize(got);
    const std::optional<std::string_view> cs = replica_io::SniffXmlDeclaredCharset(head);
    if (!cs) {
      return InvalidArgumentError(
          "line 1: the XML declaration names an encoding other than UTF-8 and Shift_JIS");
    }
    const bool sjis = *cs == "shift_jis";
    decoded_ = std::make_unique<ReplaySource>(std::move(head), std::move(decoded_));
    if (sjis) {
      ASSIGN_OR_RETURN(decoded_, replica_io::MakeDecodingSource(replica_io::Charset::kCp932,
                                                                std::move(decoded_)));
    }
    return Status();
  }

  HashingSource* hashing_;  // owned through decoded_
  std::unique_ptr<replica_io::ByteSource> decoded_;
  FileFormat format_;
  bool sniff_charset_ = false;
  bool opened_ = false;
  std::shared_ptr<ReadAhead> read_ahead_;  // DBM_20113: reads decoded_ until stopped
};

}  // namespace

Result<FileFormat> ParseFileFormat(std::string_view s) {
  if (s == "csv" || s == "text/csv") return FileFormat::kCsv;
  if (s == "jsonl" || s == "application/jsonl" || s == "application/x-ndjson" ||
      s == "application/x-jsonlines") {
    return FileFormat::kJsonLines;
  }
  if (s == "dbm20113" || s == "application/xml" || s == "text/xml") return FileFormat::kDbm20113;
  return InvalidArgumentError(
      "format: expected csv (text/csv), jsonl (application/jsonl) or dbm20113 (application/xml)");
}

Result<std::unique_ptr<RecordSourceFactory>> MakeRecordSourceFactory(
    std::unique_ptr<replica_io::ByteSource> raw, FileFormat format, std::string_view charset) {
  ASSIGN_OR_RETURN(replica_io::Charset cs,
                   replica_io::ParseCharset(charset.empty() ? "utf-8" : charset));
  auto hashing = std::make_unique<HashingSource>(std::move(raw));
  HashingSource* hashing_ptr = hashing.get();
  ASSIGN_OR_RETURN(std::unique_ptr<replica_io::ByteSource> decoded,
                   replica_io::MakeDecodingSource(cs, std::move(hashing)));
  return std::unique_ptr<RecordSourceFactory>(std::make_unique<StreamFactory>(
      hashing_ptr, std::move(decoded), format, format == FileFormat::kDbm20113 && charset.empty()));
}

}  // namespace chukan::replica
