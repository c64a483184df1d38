#include "common/config.h"

#include <filesystem>

// Header-only, exception-free toml++: Debian's shared library is built with exceptions.
#define TOML_EXCEPTIONS 0
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "common/toml_guard.h"

namespace chukan {

struct Config::Impl {
  toml::table table;
};

namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

std::string_view TypeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string Where(const std::string& source, const toml::node& n) {
  const auto& b = n.source().begin;
  if (b.line == 0) return source;
  return source + ":" + std::to_string(b.line);
}

void CollectKeys(const toml::table& t, const std::string& prefix,
                 std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, v] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = v.as_table()) {
      CollectKeys(*sub, key, out);
    } else {
      out.emplace_back(std::move(key), &v);
    }
  }
}

}  // namespace

Config::Config(std::shared_ptr<const Impl> impl, std::string source)
    : impl_(std::move(impl)), source_(std::move(source)) {}

Result<Config> Config::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open configuration file");
  std::string text;
  char buf[8192];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return ResourceExhaustedError(path + ": configuration file is larger than 1 MiB");
    }
  }
  return Parse(text, path);
}

Result<Config> Config::Parse(std::string_view text, std::string source_name) {
  if (text.size() > kMaxConfigBytes) {
    return ResourceExhaustedError(source_name + ": configuration is larger than 1 MiB");
  }
  ASSIGN_OR_RETURN(const std::string safe_text, PrecheckToml(text, source_name));
  toml::parse_result r = toml::parse(safe_text, source_name);
  if (!r) {
    const auto& err = r.error();
    const auto& b = err.source().begin;
    return InvalidArgumentError(source_name + ":" + std::to_string(b.line) + ":" +
                                std::to_string(b.column) + ": " + std::string(err.description()));
  }
  auto impl = std::make_shared<Impl>();
  impl->table = std::move(r).table();
  return Config(std::move(impl), std::move(source_name));
}

bool Config::Has(std::string_view key) const {
  return static_cast<bool>(impl_->table.at_path(key));
}

namespace {
// Finds `key` and checks its type with `is`; errors name the file, line and key.
Result<const toml::node*> Lookup(const toml::table& table, const std::string& source,
                                 std::string_view key, std::string_view want,
                                 bool (toml::node::*is)() const noexcept) {
  const toml::node* n = table.at_path(key).node();
  if (n == nullptr) return NotFoundError(source + ": key '" + std::string(key) + "' is required");
  if (!(n->*is)()) {
    return InvalidArgumentError(Where(source, *n) + ": key '" + std::string(key) + "': expected " +
                                std::string(want) + ", found " + std::string(TypeName(n->type())));
  }
  return n;
}
}  // namespace

Result<std::string> Config::GetString(std::string_view key) const {
  ASSIGN_OR_RETURN(const toml::node* n,
                   Lookup(impl_->table, source_, key, "a string", &toml::node::is_string));
  return std::string(n->as_string()->get());
}

Result<std::string> Config::GetString(std::string_view key, std::string fallback) const {
  if (!Has(key)) return fallback;
  return GetString(key);
}

Result<int64_t> Config::GetInt(std::string_view key, int64_t min, int64_t max) const {
  ASSIGN_OR_RETURN(const toml::node* n,
                   Lookup(impl_->table, source_, key, "an integer", &toml::node::is_integer));
  const int64_t v = n->as_integer()->get();
  if (v < min || v > max) {
    return InvalidArgumentError(Where(source_, *n) + ": key '" + std::string(key) +
                                "': " + std::to_string(v) + " is outside [" + std::to_string(min) +
                                ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<int64_t> Config::GetInt(std::string_view key, int64_t fallback, int64_t min,
                               int64_t max) const {
  if (!Has(key)) return fallback;
  return GetInt(key, min, max);
}

Result<bool> Config::GetBool(std::string_view key) const {
  ASSIGN_OR_RETURN(const toml::node* n,
                   Lookup(impl_->table, source_, key, "a boolean", &toml::node::is_boolean));
  return n->as_boolean()->get();
}

Result<bool> Config::GetBool(std::string_view key, bool fallback) const {
  if (!Has(key)) return fallback;
  return GetBool(key);
}

Result<std::vector<std::string>> Config::GetStringArray(std::string_view key) const {
  ASSIGN_OR_RETURN(const toml::node* n,
                   Lookup(impl_->table, source_, key, "an array", &toml::node::is_array));
  std::vector<std::string> out;
  size_t i = 0;
  for (const auto& el : *n->as_array()) {
    if (!el.is_string()) {
      return InvalidArgumentError(Where(source_, el) + ": key '" + std::string(key) + "[" +
                                  std::to_string(i) + "]': expected a string, found " +
                                  std::string(TypeName(el.type())));
    }
    out.emplace_back(el.as_string()->get());
    ++i;
  }
  return out;
}

Status Config::CheckKnownKeys(const std::vector<std::string>& known) const {
  std::vector<std::pair<std::string, const toml::node*>> keys;
  CollectKeys(impl_->table, "", keys);
  for (const auto& [key, node] : keys) {
    bool ok = false;
    for (const auto& k : known) {
      if (k == key) ok = true;
      if (k.size() > 2 && k.ends_with(".*") && key.starts_with(k.substr(0, k.size() - 1))) {
        ok = true;
      }
      if (ok) break;
    }
    if (!ok) {
      return InvalidArgumentError(Where(source_, *node) + ": unknown key '" + key + "'");
    }
  }
  return Status();
}

std::string ResolvePath(const std::string& base, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (std::filesystem::path(base) / path).lexically_normal().string();
}

std::string ConfigDirectory(const std::string& config_path) {
  return std::filesystem::absolute(std::filesystem::path(config_path)).parent_path().string();
}

}  // namespace chukan
