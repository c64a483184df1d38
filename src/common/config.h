// Config: TOML configuration files (toml++), read through dotted keys ("server.listen").
// Every error names the file, the line where one is known, and the key. Unknown keys are errors
// (CheckKnownKeys) so a misspelt setting is never silently ignored.
// Immutable after loading; safe to share between threads.
#ifndef CHUKAN_COMMON_CONFIG_H_
#define CHUKAN_COMMON_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace chukan {

class Config {
 public:
  // Reads and parses `path`. Errors: kNotFound (missing file), kInvalidArgument (syntax error,
  // "path:line:column: reason"), kResourceExhausted (file over 1 MiB).
  static Result<Config> LoadFile(const std::string& path);
  // Parses `text`; `source_name` is used in error messages in place of a path.
  static Result<Config> Parse(std::string_view text, std::string source_name);

  const std::string& source() const { return source_; }
  bool Has(std::string_view key) const;

  // Typed getters. Errors: kNotFound ("file: key 'a.b' is required"), kInvalidArgument
  // ("file:line: key 'a.b': expected an integer, found a string" / out of range).
  Result<std::string> GetString(std::string_view key) const;
  Result<std::string> GetString(std::string_view key, std::string fallback) const;
  Result<int64_t> GetInt(std::string_view key, int64_t min, int64_t max) const;
  Result<int64_t> GetInt(std::string_view key, int64_t fallback, int64_t min, int64_t max) const;
  Result<bool> GetBool(std::string_view key) const;
  Result<bool> GetBool(std::string_view key, bool fallback) const;
  Result<std::vector<std::string>> GetStringArray(std::string_view key) const;

  // Fails with kInvalidArgument naming the first key (dotted, with its line) that is not in
  // `known`. An entry "a.*" allows any key under table "a".
  Status CheckKnownKeys(const std::vector<std::string>& known) const;

 private:
  struct Impl;
  Config(std::shared_ptr<const Impl> impl, std::string source);
  std::shared_ptr<const Impl> impl_;
  std::string source_;
};

// `p` resolved against the directory `base` (a relative path in a configuration file means
// relative to that file's directory); absolute and empty paths are returned as they are.
std::string ResolvePath(const std::string& base, const std::string& p);

// The absolute directory of the file `config_path`.
std::string ConfigDirectory(const std::string& config_path);

}  // namespace chukan

#endif  // CHUKAN_COMMON_CONFIG_H_
