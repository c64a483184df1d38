#include "common/log.h"

#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/utf8.h"

namespace chukan::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
Mutex g_mu;
// The logger itself is thread-safe (an _mt sink); the mutex guards replacing the pointer.
std::shared_ptr<spdlog::logger> g_logger GUARDED_BY(g_mu);

std::shared_ptr<spdlog::logger> Logger() EXCLUDES(g_mu) {
  MutexLock lock(g_mu);
  if (!g_logger) {
    g_logger = std::make_shared<spdlog::logger>("chukan",
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g_logger->set_pattern("%v");
    g_logger->set_level(spdlog::level::trace);
  }
  return g_logger;
}

constexpr std::array<std::string_view, 11> kSensitiveKeys = {
    "atena_no", "resident_id", "my_number", "subject_code", "value",    "payload",
    "token",    "password",    "secret",    "key",          "plaintext"};

bool IsSensitive(std::string_view key) {
  return std::find(kSensitiveKeys.begin(), kSensitiveKeys.end(), key) != kSensitiveKeys.end();
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kOff:
      return "off";
  }
  return "info";
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    // A run of printable ASCII that needs no escape — nearly all of a JSON body's strings
    // (base64url, hex, codes, ids) — goes in with one append, not a push_back a byte (which was
    // 2.5 % of the hub's CPU under load, docs/performance.md).
    const size_t run = PlainJsonRunEnd(s, i, /*del_as_is=*/false);
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out.push_back('"');
}

std::string FormatLine(std::string_view ts, Level level, std::string_view event,
                       std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(128);
  line += "{\"ts\":";
  AppendJsonString(line, ts);
  line += ",\"level\":";
  AppendJsonString(line, LevelName(level));
  line += ",\"event\":";
  AppendJsonString(line, event);
  for (const Field& f : fields) {
    line.push_back(',');
    AppendJsonString(line, f.key);
    line.push_back(':');
    if (IsSensitive(f.key)) {
      line += "\"[redacted]\"";
    } else if (const auto* s = std::get_if<std::string>(&f.value)) {
      AppendJsonString(line, *s);
    } else if (const auto* i = std::get_if<int64_t>(&f.value)) {
      line += std::to_string(*i);
    } else {
      line += std::get<bool>(f.value) ? "true" : "false";
    }
  }
  line.push_back('}');
  return line;
}

Status Init(const Options& options) {
  std::shared_ptr<spdlog::logger> logger;
  if (options.path.empty()) {
    logger = std::make_shared<spdlog::logger>("chukan",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    // The file is made (or narrowed to) 0600 before spdlog opens it: logs name tenants,
    // clients and request ids, which other local users have no business reading.
    const int fd = ::open(options.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || ::fchmod(fd, 0600) != 0) {
      const std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return InvalidArgumentError(options.path + ": cannot open log file: " + why);
    }
    ::close(fd);
    try {
      logger = std::make_shared<spdlog::logger>(
          "chukan", std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.path));
    } catch (const spdlog::spdlog_ex& e) {
      return InvalidArgumentError(options.path + ": cannot open log file: " + e.what());
    }
  }
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  // Every line reaches the file as it is written (one write call per line): a process that is
  // killed, or hangs, must leave its trace. Lines are few (requests are logged at debug only).
  logger->flush_on(spdlog::level::trace);
  {
    MutexLock lock(g_mu);
    g_logger = std::move(logger);
  }
  SetLevel(options.level);
  return Status();
}

Result<Level> ParseLevel(std::string_view s) {
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn") return Level::kWarn;
  if (s == "error") return Level::kError;
  if (s == "off") return Level::kOff;
  return InvalidArgumentError("log level: expected debug, info, warn, error or off, got \"" +
                              std::string(s.substr(0, 16)) + "\"");
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }

bool Enabled(Level level) {
  return level != Level::kOff && static_cast<int>(level) >= g_level.load();
}

void Write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  const std::string line =
      FormatLine(FormatRfc3339(SystemClock::Get().Now()), level, event, fields);
  Logger()->log(level == Level::kError  ? spdlog::level::err
                : level == Level::kWarn ? spdlog::level::warn
                : level == Level::kInfo ? spdlog::level::info
                                        : spdlog::level::debug,
                "{}", line);
}

}  // namespace chukan::log
