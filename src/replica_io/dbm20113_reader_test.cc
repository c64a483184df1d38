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
               {"IT2", "", true, "3", "0001", ""}};
  std::string xml;
  AppendDbm20113Head(xml);
  AppendDbm20113Entry(xml, out);
  AppendDbm20113Tail(xml);
  StringSource src(xml);
  Dbm20113Reader reader(src);
  ASSERT_TRUE(Next(reader));
  const Dbm20113Entry& e = reader.entry();
  EXPECT_EQ(e.Field(Dbm20113Field::kSegmentOfRegistrationDelete), "2");
  ASSERT_EQ(e.items.size(), 3u);
  EXPECT_EQ(e.items[0].value, "x<]]>&'\"\r\ny");
  EXPECT_EQ(e.items[0].updated, "2026-01-02");
  EXPECT_EQ(e.items[1].version, "a\tb\nc");
  EXPECT_TRUE(e.items[2].nil);
  EXPECT_EQ(e.items[2].reason_of_null, "3");
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
                       HasSubstr("line 7, column 24: not well-formed XML (mismatched tag)")));
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
