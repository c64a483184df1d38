// Structured logging: one JSON object per line (spdlog underneath), with an event name and
// typed fields. Logs never carry personal data: fields whose key names personal data
// (atena_no, resident_id, my_number, subject_code, value, payload, token, password, secret, key)
// are written as "[redacted]", so a careless call cannot leak them. Thread-safe.
//
//   log::Info("http.listen", {{"port", 8443}, log::RequestIdField(rid)});
//   → {"ts":"2026-04-01T00:00:00.000000Z","level":"info","event":"http.listen","port":8443,...}
#ifndef CHUKAN_COMMON_LOG_H_
#define CHUKAN_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "common/ids.h"
#include "common/status.h"

namespace chukan::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  Field(std::string_view k, int64_t v) : key(k), value(v) {}
  Field(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  std::variant<std::string, int64_t, bool> value;
};

inline Field RequestIdField(const RequestId& id) { return Field("request_id", id.str()); }
inline Field StatusField(const Status& s) { return Field("status", s.ToString()); }

struct Options {
  Level level = Level::kInfo;
  // Empty: standard error. Otherwise a file path, appended to.
  std::string path;
};

// Replaces the process logger. Errors: kInvalidArgument if `path` cannot be opened.
Status Init(const Options& options);
// Parses "debug", "info", "warn", "error", "off".
Result<Level> ParseLevel(std::string_view s);
void SetLevel(Level level);
bool Enabled(Level level);

void Write(Level level, std::string_view event, std::initializer_list<Field> fields);
inline void Debug(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, e, f);
}
inline void Info(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, e, f);
}
inline void Warn(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, e, f);
}
inline void Error(std::string_view e, std::initializer_list<Field> f = {}) {
  Write(Level::kError, e, f);
}

// Formats one log line (without the trailing newline); exposed for tests.
std::string FormatLine(std::string_view ts, Level level, std::string_view event,
                       std::initializer_list<Field> fields);

// Appends `s` to `out` as a JSON string literal (quotes included, UTF-8 passed through,
// control characters escaped, invalid UTF-8 bytes replaced by U+FFFD).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace chukan::log

#endif  // CHUKAN_COMMON_LOG_H_
