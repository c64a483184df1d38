#include "replica_io/dbm20113_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "replica_io/dbm20113_writer.h"
#include "replica_io/test_sources.h"

namespace chukan::replica_io {
namespace {

using ::chukan::replica_io::testing::ChunkedSource;
using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Cdata(std::string_view doc);

constexpr char kSecret[] = "山田太郎";  // stands for a value: never in a message

std::string Entry(std::string_view record_id, std::string_view copy) {
  return "<InformationOfSPIRegistrationDelete>\n"
         "<RecordIdentificationNumber>" +
         std::string(record_id) +
         "</RecordIdentificationNumber>\n"
         "<IntegratedAddressNumber>000000000000001</IntegratedAddressNumber>\n"
         "<SpecificPersonalInformationCode>TM00000000000004</SpecificPersonalInformationCode>\n"
         "<SPIMajorVersion>0001</SPIMajorVersion>\n"
         "<PublicationDate>2026-04-01</PublicationDate>\n"
         "<PublishedEndDate xsi:nil=\"true\" "
         "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>\n"
         "<DuplicateCopyData>" +
         std::string(copy) +
         "</DuplicateCopyData>\n"
         "</InformationOfSPIRegistrationDelete>\n";
}

std::string File(const std::string& entries) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SPIRegistrationDeleteList>\n" + entries +
         "<SegmentOfRegistrationDelete>1</SegmentOfRegistrationDelete>\n"
         "</SPIRegistrationDeleteList>\n";
}

const char kCdataCopy[] =
    "<![CDATA[<?xml version=\"1.0\" encoding=\"utf-8\"?><TM00000000000004>"
    "<IT00000400000001 Version=\"0001\" TimeAndDateOfUpdate=\"2026-12-01\">0101</IT00000400000001>"
    "<IT00000400000003 Version=\"0001\" ReasonOfNull=\"9\" xsi:nil=\"true\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>"
    "</TM00000000000004>]]>";

// The reader's answer, with an error as a test failure.
bool Next(Dbm20113Reader& reader) {
  Result<bool> r = reader.Next();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() && *r;
}

Status ReadAllStatus(const std::string& xml, Dbm20113Limits limits = {}) {
  StringSource src(xml);
  Dbm20113Reader reader(src, limits);
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok()) return more.status();
    if (!*more) return Status();
  }
}

TEST(Dbm20113ReaderTest, ReadsTheCdataFormInChunks) {
  const std::string xml = File(Entry("1", kCdataCopy) + Entry("2", kCdataCopy));
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}}) {
    ChunkedSource src(xml, chunk);
    Dbm20113Reader reader(src);
    ASSERT_TRUE(Next(reader));
    const Dbm20113Entry& e = reader.entry();
    EXPECT_EQ(e.record, 1);
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.Field(Dbm20113Field::kRecordIdentificationNumber), "1");
    EXPECT_EQ(e.FieldLine(Dbm20113Field::kRecordIdentificationNumber), 4);
    EXPECT_EQ(e.Field(Dbm20113Field::kIntegratedAddressNumber), "000000000000001");
    EXPECT_EQ(e.Field(Dbm20113Field::kPublicationDate), "2026-04-01");
    EXPECT_TRUE(e.fields[static_cast<size_t>(Dbm20113Field::kPublishedEndDate)].has_value());
    EXPECT_EQ(e.Field(Dbm20113Field::kPublishedEndDate), "");
    EXPECT_FALSE(e.fields[static_cast<size_t>(Dbm20113Field::kKojinNo)].has_value());
    EXPECT_EQ(e.copy_root, "TM00000000000004");
    ASSERT_EQ(e.items.size(), 2u);
    EXPECT_EQ(e.items[0].code, "IT00000400000001");
    EXPECT_EQ(e.items[0].value, "0101");
    EXPECT_EQ(e.items[0].version, "0001");
    EXPECT_EQ(e.items[0].updated, "2026-12-01");
    EXPECT_FALSE(e.items[0].nil);
    EXPECT_EQ(e.items[1].code, "IT00000400000003");
    EXPECT_EQ(e.items[1].value, "");
    EXPECT_TRUE(e.items[1].nil);
    EXPECT_EQ(e.items[1].reason_of_null, "9");
    ASSERT_TRUE(Next(reader));
    EXPECT_EQ(reader.entry().record, 2);
    EXPECT_EQ(reader.entry().Field(Dbm20113Field::kRecordIdentificationNumber), "2");
    ASSERT_FALSE(Next(reader));
    EXPECT_EQ(reader.list_segment(), "1");
  }
}

// The reader parses a read at a time and queues the entries it completed: what each entry
// reports must still be what the file said up to that entry — the list's 登録削除区分 as of the
// entry's end, a BOM dropped, an error in a later entry only after the entries before it.
TEST(Dbm20113ReaderTest, EntriesParsedAheadKeepTheirOwnPosition) {
  const std::string xml = "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<SPIRegistrationDeleteList>\n" +
                          Entry("1", kCdataCopy) +
                          "<SegmentOfRegistrationDelete>2</SegmentOfRegistrationDelete>\n" +
                          Entry("2", kCdataCopy) + Entry("3", Cdata("<TM00000000000004>")) +
                          "</SPIRegistrationDeleteList>\n";
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{65536}}) {
    SCOPED_TRACE(chunk);
    ChunkedSource src(xml, chunk);
    Dbm20113Reader reader(src);
    ASSERT_TRUE(Next(reader));
    EXPECT_EQ(reader.entry().record, 1);
    EXPECT_EQ(reader.list_segment(), "");  // the list's segment comes after record 1
    EXPECT_EQ(reader.entry().items[0].value, "0101");
    ASSERT_TRUE(Next(reader));
    EXPECT_EQ(reader.entry().record, 2);
    EXPECT_EQ(reader.entry().line, 13);
    EXPECT_EQ(reader.list_segment(), "2");
    EXPECT_EQ(reader.list_segment_line(), 12);
    EXPECT_THAT(reader.Next().status(),
                StatusIs(StatusCode::kInvalidArgument,
                         "line 29: record 3: DuplicateCopyData: not well-formed XML (the document "
                         "ends inside an element)"));
  }
}

TEST(Dbm20113ReaderTest, ReadsNestedItemsAndGroupWrappers) {
  const std::string copy =
      "<TM00000000000004><GR01 Version=\"1\"><IT00000400000001>0102</IT00000400000001>"
      "<IT00000400000002>a&amp;b</IT00000400000002></GR01></TM00000000000004>";
  StringSource src(File(Entry("7", copy)));
  Dbm20113Reader reader(src);
  ASSERT_TRUE(Next(reader));
  const Dbm20113Entry& e = reader.entry();
  ASSERT_EQ(e.items.size(), 2u);
  EXPECT_EQ(e.items[0].code, "IT00000400000001");
  EXPECT_EQ(e.items[0].value, "0102");
  EXPECT_EQ(e.items[1].value, "a&b");
  EXPECT_EQ(e.items[1].position, 2);
}

TEST(Dbm20113ReaderTest, WriterOutputReadsBack) {
  Dbm20113EntryOut out;
  out.fields[static_cast<size_t>(Dbm20113Field::kRecordIdentificationNumber)] = "12";
  out.fields[static_cast<size_t>(Dbm20113Field::kIntegratedAddressNumber)] = "000000000000009";
  out.fields[static_cast<size_t>(Dbm20113Field::kSegmentOfRegistrationDelete)] = "2";
  out.copy_root = "TM00000000000004";
  out.items = {{"IT1", "x<]]>&'\"\r\ny", false, "", "0001", "2026-01-02"},
               {"IT3", "z", false, "", "a\tb\nc", ""},
               {"IT2", "", true, "3", "0001", ""},
               {"IT4", "v", false, "2", "", ""}};  // a reason beside a value is kept too
  std::string xml;
  AppendDbm20113Head(xml);
  AppendDbm20113Entry(xml, out);
  AppendDbm20113Tail(xml);
  StringSource src(xml);
  Dbm20113Reader reader(src);
  ASSERT_TRUE(Next(reader));
  const Dbm20113Entry& e = reader.entry();
  EXPECT_EQ(e.Field(Dbm20113Field::kSegmentOfRegistrationDelete), "2");
  ASSERT_EQ(e.items.size(), 4u);
  EXPECT_EQ(e.items[0].value, "x<]]>&'\"\r\ny");
  EXPECT_EQ(e.items[0].updated, "2026-01-02");
  EXPECT_EQ(e.items[1].version, "a\tb\nc");
  EXPECT_TRUE(e.items[2].nil);
  EXPECT_EQ(e.items[2].reason_of_null, "3");
  EXPECT_EQ(e.items[3].value, "v");
  EXPECT_FALSE(e.items[3].nil);
  EXPECT_EQ(e.items[3].reason_of_null, "2");
}

TEST(Dbm20113ReaderTest, RefusesADoctype) {
  const std::string xml =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
      "\"&lol;&lol;&lol;\">]>\n<SPIRegistrationDeleteList>&lol2;</SPIRegistrationDeleteList>";
  EXPECT_THAT(ReadAllStatus(xml),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2: a DOCTYPE is not accepted (no DTD, no entities)"));
}

TEST(Dbm20113ReaderTest, RefusesBrokenXmlNamingTheLine) {
  std::string xml = File(Entry("1", kCdataCopy));
  xml.replace(xml.find("</SPIMajorVersion>"), 18, "</SPIMajorVersio>");
  EXPECT_THAT(ReadAllStatus(xml),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("line 7, column 39: not well-formed XML (mismatched tag)")));
}

TEST(Dbm20113ReaderTest, RefusesBrokenEmbeddedDocumentNamingTheRecord) {
  const std::string copy =
      "<![CDATA[<TM00000000000004><IT1>" + std::string(kSecret) + "</IT2></TM00000000000004>]]>";
  const Status s = ReadAllStatus(File(Entry("1", kCdataCopy) + Entry("2", copy)));
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument,
                          "line 19: record 2: DuplicateCopyData: not well-formed XML "
                          "(mismatched tag)"));
  EXPECT_THAT(s.message(), Not(HasSubstr(kSecret)));
}

TEST(Dbm20113ReaderTest, RefusesDeepNesting) {
  std::string copy = "<TM00000000000004>";
  for (int i = 0; i < 20; ++i) copy += "<G>";
  copy += "<IT1>x</IT1>";
  for (int i = 0; i < 20; ++i) copy += "</G>";
  copy += "</TM00000000000004>";
  EXPECT_THAT(ReadAllStatus(File(Entry("1", copy))),
              StatusIs(StatusCode::kResourceExhausted,
                       "line 10: record 1: elements nested deeper than 12"));
}

TEST(Dbm20113ReaderTest, RefusesOversizedText) {
  const std::string copy =
      "<TM00000000000004><IT1>" + std::string(70000, 'a') + "</IT1></TM00000000000004>";
  EXPECT_THAT(ReadAllStatus(File(Entry("1", copy))),
              StatusIs(StatusCode::kResourceExhausted,
                       "line 10: record 1: replica data, item at position 1: longer than 65536 "
                       "bytes"));
  std::string big_field = File(Entry("1", kCdataCopy));
  big_field.replace(big_field.find(">1<"), 3, ">" + std::string(300, '1') + "<");
  EXPECT_THAT(ReadAllStatus(big_field),
              StatusIs(StatusCode::kResourceExhausted,
                       "line 4: record 1: RecordIdentificationNumber is longer than 256 bytes"));
}

TEST(Dbm20113ReaderTest, RefusesTheHeaderFileAndStrayElements) {
  EXPECT_THAT(ReadAllStatus("<IF_DBM_20113_R01><MessageHeader/></IF_DBM_20113_R01>"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("line 1: this is the DBM_20113 header file")));
  std::string stray = File(Entry("1", kCdataCopy));
  stray.replace(stray.find("<SPIMajorVersion>"), 0, "<Name>" + std::string(kSecret) + "</Name>");
  const Status s = ReadAllStatus(stray);
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument,
                          "line 7: record 1: an element that is not a field of "
                          "InformationOfSPIRegistrationDelete"));
  std::string twice = File(Entry("1", kCdataCopy));
  twice.replace(twice.find("<SPIMajorVersion>"), 0, "<SPIMajorVersion>0001</SPIMajorVersion>");
  EXPECT_THAT(ReadAllStatus(twice), StatusIs(StatusCode::kInvalidArgument,
                                             "line 7: record 1: SPIMajorVersion appears twice"));
}

TEST(Dbm20113ReaderTest, RefusesAnEmptyFile) {
  EXPECT_THAT(ReadAllStatus(""), StatusIs(StatusCode::kInvalidArgument,
                                          HasSubstr("not well-formed XML (no element found)")));
}

// Each record's embedded document must be one complete document of its own, judged and named
// on its own, whatever the records around it and however the file is cut into reads.
std::string Cdata(std::string_view doc) { return "<![CDATA[" + std::string(doc) + "]]>"; }

TEST(Dbm20113ReaderTest, EachEmbeddedDocumentStandsAlone) {
  const std::string good = kCdataCopy;
  struct Case {
    std::string doc;
    std::string message;
  };
  const std::vector<Case> cases = {
      // The root closes early, then a second root.
      {"<TM00000000000004/><IT1>" + std::string(kSecret) + "</IT1>",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (junk after document element)"},
      // An end tag more than the document opened.
      {"<TM00000000000004></TM00000000000004></TM00000000000004>",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (junk after document element)"},
      // The root left open: the next record must not close it.
      {"<TM00000000000004><IT1>1</IT1>",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (the document ends inside an "
       "element)"},
      // Markup left open at the end of the record.
      {"<TM00000000000004/><!-- ",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (unclosed token)"},
      {"<TM00000000000004/><?pi ",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (unclosed token)"},
      {"<TM00000000000004/><IT1",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (junk after document element)"},
      {"<TM00000000000004><IT1 Version=\"1",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (unclosed token)"},
      // Text outside the root; no root at all.
      {"<TM00000000000004/>" + std::string(kSecret),
       "line 19: record 2: DuplicateCopyData: not well-formed XML (junk after document element)"},
      {"<?xml version=\"1.0\"?><!-- only a comment -->",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (no element found)"},
      // A DOCTYPE, after the declaration or alone.
      {"<?xml version=\"1.0\"?><!DOCTYPE TM00000000000004 [<!ENTITY a \"b\">]>"
       "<TM00000000000004><IT1>&a;</IT1></TM00000000000004>",
       "line 19: record 2: a DOCTYPE is not accepted (no DTD, no entities)"},
      {"<!DOCTYPE TM00000000000004 SYSTEM \"file:///etc/passwd\"><TM00000000000004/>",
       "line 19: record 2: a DOCTYPE is not accepted (no DTD, no entities)"},
      // Declarations: another encoding, or not well-formed, or not at the start.
      {"<?xml version=\"1.0\" encoding=\"EUC-JP\"?><TM00000000000004/>",
       "line 19: record 2: DuplicateCopyData: the embedded document declares an encoding other "
       "than UTF-8 or Shift_JIS"},
      {"<?xml encoding=\"utf-8\"?><TM00000000000004/>",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (XML declaration not "
       "well-formed)"},
      {"<?xml version=\"1.0\" encoding=\"utf-8\" foo=\"1\"?><TM00000000000004/>",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (XML declaration not "
       "well-formed)"},
      {"<?xml version=\"1.0\" encoding=\"utf-8\"",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (XML declaration not "
       "well-formed)"},
      {"<TM00000000000004/><?xml version=\"1.0\"?>",
       "line 19: record 2: DuplicateCopyData: not well-formed XML (XML declaration not at the "
       "start)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.doc);
    for (size_t chunk : {size_t{1}, size_t{13}, size_t{65536}}) {
      const std::string xml = File(Entry("1", good) + Entry("2", Cdata(c.doc)) + Entry("3", good));
      ChunkedSource src(xml, chunk);
      Dbm20113Reader reader(src);
      ASSERT_TRUE(Next(reader));
      Result<bool> second = reader.Next();
      EXPECT_THAT(second.status(), StatusIs(StatusCode::kInvalidArgument, c.message));
      EXPECT_THAT(second.status().message(), Not(HasSubstr(kSecret)));
    }
  }
}

TEST(Dbm20113ReaderTest, EmbeddedDeclarationsAndLinesPerRecord) {
  // A Shift_JIS file's embedded documents say so (the file was decoded whole); a BOM, a
  // declaration without encoding, single quotes, standalone: all accepted.
  const std::vector<std::string> docs = {
      "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n<TM00000000000004>\n<IT1>a</IT1>\n"
      "</TM00000000000004>",
      "\xEF\xBB\xBF<?xml version='1.0' standalone='yes'?><TM00000000000004><IT1>b</IT1>"
      "</TM00000000000004>\n",
      "\n<!-- c --><TM00000000000004><IT1>c</IT1></TM00000000000004><?done?>",
      "<?xml version=\"1.0\"?>\n\n<TM00000000000004><IT1>d</IT1>\n<IT2>d</IT3>"
      "</TM00000000000004>",
  };
  std::string entries;
  for (size_t i = 0; i < docs.size(); ++i) entries += Entry(std::to_string(i + 1), Cdata(docs[i]));
  const std::string xml = File(entries);
  for (unsigned seed : {1u, 2u, 3u}) {
    ChunkedSource src(xml, 17, seed);
    Dbm20113Reader reader(src);
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(Next(reader));
      const Dbm20113Entry& e = reader.entry();
      EXPECT_EQ(e.record, static_cast<int64_t>(i + 1));
      EXPECT_EQ(e.copy_root, "TM00000000000004");
      ASSERT_EQ(e.items.size(), 1u);
      EXPECT_EQ(e.items[0].value, std::string(1, static_cast<char>('a' + i)));
    }
    // Records 1 to 3 take 9 lines each and 5 more in their documents: record 3's
    // DuplicateCopyData is on line 32 (its item on 33, after a newline), record 4's on line 42,
    // and its mismatched tag on the fourth line of its document (the declaration's is the first).
    EXPECT_EQ(reader.entry().items[0].line, 33);
    EXPECT_THAT(reader.Next().status(),
                StatusIs(StatusCode::kInvalidArgument,
                         "line 45: record 4: DuplicateCopyData: not well-formed XML "
                         "(mismatched tag)"));
  }
}

TEST(Dbm20113ReaderTest, EmbeddedDocumentLimitsHoldPerRecord) {
  std::string deep = "<TM00000000000004>";
  for (int i = 0; i < 20; ++i) deep += "<G>";
  deep += "<IT1>x</IT1>";
  for (int i = 0; i < 20; ++i) deep += "</G>";
  deep += "</TM00000000000004>";
  EXPECT_THAT(ReadAllStatus(File(Entry("1", kCdataCopy) + Entry("2", Cdata(deep)))),
              StatusIs(StatusCode::kResourceExhausted,
                       "line 19: record 2: elements nested deeper than 12"));
  // Depth 12 is the limit of each record, not of the records together.
  std::string at_limit = "<TM00000000000004>";
  for (int i = 0; i < 7; ++i) at_limit += "<G>";
  at_limit += "<IT1>x</IT1>";
  for (int i = 0; i < 7; ++i) at_limit += "</G>";
  at_limit += "</TM00000000000004>";
  std::string entries;
  for (int i = 0; i < 5; ++i) entries += Entry(std::to_string(i + 1), Cdata(at_limit));
  EXPECT_TRUE(ReadAllStatus(File(entries)).ok());
  Dbm20113Limits limits;
  limits.max_items = 2;
  std::string three = "<TM00000000000004><IT1/><IT2/></TM00000000000004>";
  std::string many;
  for (int i = 0; i < 4; ++i) many += Entry(std::to_string(i + 1), Cdata(three));
  EXPECT_TRUE(ReadAllStatus(File(many), limits).ok());
  three.insert(three.find("</TM"), "<IT3/>");
  EXPECT_THAT(
      ReadAllStatus(File(many + Entry("5", Cdata(three))), limits),
      StatusIs(StatusCode::kResourceExhausted, "line 46: record 5: more than 2 replica items"));
}

TEST(Dbm20113ReaderTest, ManyItemsAndLinesPerRecord) {
  // 3,000 items a record, each on a line of its own, with names no other record uses: each
  // item's line is counted from its record's DuplicateCopyData.
  std::string entries;
  for (int r = 0; r < 4; ++r) {
    std::string doc = "<TM00000000000004>";
    for (int i = 0; i < 3000; ++i) {
      const std::string name = "IT" + std::to_string(r) + "_" + std::to_string(i);
      doc += "<" + name + ">" + std::to_string(i) + "</" + name + ">\n";
    }
    if (r == 3) doc += "<X></Y>";
    doc += "</TM00000000000004>";
    entries += Entry(std::to_string(r + 1), Cdata(doc));
  }
  StringSource src(File(entries));
  Dbm20113Reader reader(src);
  for (int r = 0; r < 3; ++r) {
    ASSERT_TRUE(Next(reader));
    const Dbm20113Entry& e = reader.entry();
    ASSERT_EQ(e.items.size(), 3000u);
    EXPECT_EQ(e.items[2999].code, "IT" + std::to_string(r) + "_2999");
    EXPECT_EQ(e.items[2999].value, "2999");
    EXPECT_EQ(e.items[2999].line, 10 + r * 3009 + 2999);
  }
  EXPECT_THAT(reader.Next().status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 12037: record 4: DuplicateCopyData: not well-formed XML "
                       "(mismatched tag)"));
}

TEST(Dbm20113HeaderTest, ParsesTheHeader) {
  Result<Dbm20113Header> h = ParseDbm20113Header(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><IF_DBM_20113_R01><MessageHeader><MsgId/>"
      "<MsgTypeId>IF_DBM_20113_R01</MsgTypeId><MsgMode>1</MsgMode>"
      "<SourceSystemID>K000000001</SourceSystemID><DestinationSystemID>T000000001"
      "</DestinationSystemID><MsgResult/></MessageHeader><MessageBody>"
      "<RequestSourceUnitCode>DB</RequestSourceUnitCode><RequestSourceUserID>u1"
      "</RequestSourceUserID></MessageBody></IF_DBM_20113_R01>");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->msg_mode, "1");
  EXPECT_EQ(h->source_system_id, "K000000001");
  EXPECT_EQ(h->destination_system_id, "T000000001");
  EXPECT_EQ(h->request_unit_code, "DB");
  EXPECT_EQ(h->request_user_id, "u1");
  EXPECT_THAT(ParseDbm20113Header("<IF_DBM_20113_R01><MessageHeader><MsgTypeId>IF_DBM_20113_R01"
                                  "</MsgTypeId><MsgMode>2</MsgMode></MessageHeader>"
                                  "</IF_DBM_20113_R01>"),
              StatusIs(StatusCode::kInvalidArgument,
                       "MessageHeader/MsgMode: expected 0 (本番) or 1 (テスト)"));
}

// Found by fuzzing: a field given twice was read as its two texts run together (and past 256
// bytes, as "longer than 256 bytes"); which one the sender meant cannot be known.
TEST(Dbm20113HeaderTest, RefusesAFieldGivenTwice) {
  EXPECT_THAT(ParseDbm20113Header("<IF_DBM_20113_R01><MessageHeader>\n"
                                  "<MsgTypeId>IF_DBM_20113_R01</MsgTypeId>\n"
                                  "<MsgTypeId>IF_DBM_20113_R01</MsgTypeId><MsgMode>1</MsgMode>"
                                  "</MessageHeader></IF_DBM_20113_R01>"),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 3: MessageHeader/MsgTypeId appears more than once"));
  EXPECT_THAT(ParseDbm20113Header("<IF_DBM_20113_R01><MessageHeader><MsgTypeId>IF_DBM_20113_R01"
                                  "</MsgTypeId><MsgMode>1</MsgMode></MessageHeader><MessageBody>"
                                  "<RequestSourceUserID>u1</RequestSourceUserID>"
                                  "<RequestSourceUserID>u2</RequestSourceUserID></MessageBody>"
                                  "</IF_DBM_20113_R01>"),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1: MessageBody/RequestSourceUserID appears more than once"));
}

TEST(Dbm20113SniffTest, ReadsTheDeclaredEncoding) {
  EXPECT_EQ(SniffXmlDeclaredCharset("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a/>"),
            std::optional<std::string_view>("shift_jis"));
  EXPECT_EQ(SniffXmlDeclaredCharset("<?xml version='1.0' encoding='UTF-8'?>"),
            std::optional<std::string_view>("utf-8"));
  EXPECT_EQ(SniffXmlDeclaredCharset("<a/>"), std::optional<std::string_view>("utf-8"));
  EXPECT_EQ(SniffXmlDeclaredCharset("<?xml version=\"1.0\" encoding=\"EUC-JP\"?>"), std::nullopt);
}

}  // namespace
}  // namespace chukan::replica_io
