// Test support for json/sax_reader.h (tests and fuzz/json_reader): a SAX handler that records
// the events of either reader, so that ReadSax's can be compared with nlohmann's.
#ifndef CHUKAN_JSON_SAX_TEST_UTIL_H_
#define CHUKAN_JSON_SAX_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace chukan::json::testing {

// Writes each event of ReadSax or nlohmann::json::sax_parse down, typed (a float's double bit
// for bit, with its text), and never stops either: the two readers' events compare as lists.
class SaxRecorder {
 public:
  bool null() { return Add("n"); }
  bool boolean(bool b) { return Add(b ? "t" : "f"); }
  bool number_integer(int64_t v) { return Add("i" + std::to_string(v)); }
  bool number_unsigned(uint64_t v) { return Add("u" + std::to_string(v)); }
  bool number_float(double v, const std::string& raw) {
    char bits[sizeof v];
    std::memcpy(bits, &v, sizeof v);
    return Add("d" + std::string(bits, sizeof bits) + raw);
  }
  bool string(std::string& s) { return Add("s" + s); }
  bool binary(nlohmann::json::binary_t& /*b*/) { return Add("binary"); }
  bool key(std::string& k) { return Add("k" + k); }
  bool start_object(size_t n) { return Add("{" + std::to_string(n)); }
  bool end_object() { return Add("}"); }
  bool start_array(size_t n) { return Add("[" + std::to_string(n)); }
  bool end_array() { return Add("]"); }
  bool parse_error(size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*ex*/) {
    return false;
  }

  const std::vector<std::string>& events() const { return events_; }

 private:
  bool Add(std::string e) {
    events_.push_back(std::move(e));
    return true;
  }
  std::vector<std::string> events_;
};

}  // namespace chukan::json::testing

#endif  // CHUKAN_JSON_SAX_TEST_UTIL_H_
