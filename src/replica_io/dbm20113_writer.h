// The DBM_20113 attachment as the export writes it (docs/import-formats.md, "DBM_20113"): the
// shape Dbm20113Reader reads, with the replica items in an embedded document in CDATA as the
// business systems write them. Pure functions.
#ifndef CHUKAN_REPLICA_IO_DBM20113_WRITER_H_
#define CHUKAN_REPLICA_IO_DBM20113_WRITER_H_

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replica_io/dbm20113_reader.h"

namespace chukan::replica_io {

struct Dbm20113ItemOut {
  std::string_view code;
  std::string_view value;
  bool nil = false;
  std::string_view reason_of_null;
  std::string_view version;
  std::string_view updated;
};

struct Dbm20113EntryOut {
  // Written in field order; absent fields are not written. kKojinNo is never written.
  std::array<std::optional<std::string_view>, kDbm20113FieldCount> fields;
  std::string_view copy_root;  // the replica data's root element (the TM code)
  std::vector<Dbm20113ItemOut> items;
};

// `<?xml …?>` and the opening root element.
void AppendDbm20113Head(std::string& out);
// One InformationOfSPIRegistrationDelete.
void AppendDbm20113Entry(std::string& out, const Dbm20113EntryOut& entry);
// The list-level SegmentOfRegistrationDelete ("1", 登録) and the closing root element.
void AppendDbm20113Tail(std::string& out);
// Appends `s` with &, <, >, ", ', CR, LF and TAB escaped (text and attribute values alike: an
// attribute value keeps its line breaks and tabs only as character references).
void AppendXmlEscaped(std::string& out, std::string_view s);

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_DBM20113_WRITER_H_
