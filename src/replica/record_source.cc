#include "replica/record_source.h"

#include <utility>

#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "replica_io/charset.h"
#include "replica_io/csv_reader.h"
#include "replica_io/json_lines_reader.h"

namespace chukan::replica {
namespace {

constexpr std::string_view kAtenaColumn = "atena_no";

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

class StreamFactory final : public RecordSourceFactory {
 public:
  StreamFactory(HashingSource* hashing, std::unique_ptr<replica_io::ByteSource> decoded,
                FileFormat format)
      : hashing_(hashing), decoded_(std::move(decoded)), format_(format) {}

  Result<std::unique_ptr<RecordSource>> Open(const layout::LayoutVersion& version) override {
    if (opened_) return FailedPreconditionError("record source already opened");
    opened_ = true;
    if (format_ == FileFormat::kJsonLines) {
      return std::unique_ptr<RecordSource>(
          std::make_unique<JsonLinesRecordSource>(*decoded_, version));
    }
    auto csv = std::make_unique<CsvRecordSource>(*decoded_, version);
    RETURN_IF_ERROR(csv->ReadHeader());
    return std::unique_ptr<RecordSource>(std::move(csv));
  }

  Status Drain() override {
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
  HashingSource* hashing_;  // owned through decoded_
  std::unique_ptr<replica_io::ByteSource> decoded_;
  FileFormat format_;
  bool opened_ = false;
};

}  // namespace

Result<FileFormat> ParseFileFormat(std::string_view s) {
  if (s == "csv" || s == "text/csv") return FileFormat::kCsv;
  if (s == "jsonl" || s == "application/jsonl" || s == "application/x-ndjson" ||
      s == "application/x-jsonlines") {
    return FileFormat::kJsonLines;
  }
  return InvalidArgumentError("format: expected csv (text/csv) or jsonl (application/jsonl)");
}

Result<std::unique_ptr<RecordSourceFactory>> MakeRecordSourceFactory(
    std::unique_ptr<replica_io::ByteSource> raw, FileFormat format, std::string_view charset) {
  ASSIGN_OR_RETURN(replica_io::Charset cs,
                   replica_io::ParseCharset(charset.empty() ? "utf-8" : charset));
  auto hashing = std::make_unique<HashingSource>(std::move(raw));
  HashingSource* hashing_ptr = hashing.get();
  ASSIGN_OR_RETURN(std::unique_ptr<replica_io::ByteSource> decoded,
                   replica_io::MakeDecodingSource(cs, std::move(hashing)));
  return std::unique_ptr<RecordSourceFactory>(
      std::make_unique<StreamFactory>(hashing_ptr, std::move(decoded), format));
}

}  // namespace chukan::replica
