// CSV writing for replica export (照合用出力): the exact dialect CsvReader reads, so that
// export → import is an identity (docs/import-formats.md, "Export").
//
// Thread-safety: pure functions.
#ifndef CHUKAN_REPLICA_IO_CSV_WRITER_H_
#define CHUKAN_REPLICA_IO_CSV_WRITER_H_

#include <span>
#include <string>
#include <string_view>

namespace chukan::replica_io {

// Appends one record to `out`: fields separated by commas, ended by LF (never CRLF). A field is
// written between double quotes, with each " doubled, when it contains a comma, a double quote,
// CR or LF, begins or ends with a space or tab, or begins with U+FEFF (which would otherwise be
// taken for a byte order mark at the start of a file); otherwise it is written as is. A record
// of one empty field is written as `""` (an empty line is not a record), and an empty span the
// same way. Fields are expected to be valid UTF-8 (CsvReader rejects anything else); they are
// not checked here. Never fails; allocates only by growing `out`.
void AppendCsvRecord(std::string& out, std::span<const std::string_view> fields);

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_CSV_WRITER_H_
