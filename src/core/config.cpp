// Typed TOML reading with precise messages (see config.hpp).
#include "config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "saddlescope/errors.hpp"

namespace saddlescope::config {

std::string toml_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// A TOML basic string that is pure ASCII: quotes and backslashes escaped,
// control characters and non-ASCII code points (values may hold them via
// \u escapes) written as \uXXXX / \UXXXXXXXX, so that config.toml is
// accepted again (experiment files are ASCII).
std::string resolve_path(const std::string& base_dir, const std::string& p) {
  const std::filesystem::path path(p);
  return std::filesystem::absolute(path.is_absolute() ? path
                                                      : std::filesystem::path(base_dir) / path)
      .lexically_normal()
      .string();
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned c = u[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else if (c < 0x80) {
      out += fmt::format("\\u{:04X}", c);
    } else {  // UTF-8 sequence (toml++ decoded valid UTF-8 only)
      const int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      unsigned cp = c & (len == 4 ? 0x07u : len == 3 ? 0x0Fu : 0x1Fu);
      for (int k = 1; k < len && i + 1 < s.size(); ++k) cp = (cp << 6) | (u[++i] & 0x3Fu);
      out += cp > 0xFFFF ? fmt::format("\\U{:08X}", cp) : fmt::format("\\u{:04X}", cp);
    }
  }
  return out + "\"";
}

std::string toml_numbers(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + toml_number(v[i]);
  return s + "]";
}

namespace {
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

std::string show(const toml::node& n) {
  std::ostringstream s;
  if (n.is_string())
    s << '"' << n.as_string()->get() << '"';
  else if (n.is_floating_point())
    s << fmt::format("{}", n.as_floating_point()->get());
  else if (n.is_integer())
    s << n.as_integer()->get();
  else if (n.is_boolean())
    s << (n.as_boolean()->get() ? "true" : "false");
  else
    s << type_name(n);
  return s.str();
}
}  // namespace

std::string nearest(const std::string& name, const std::vector<std::string>& valid) {
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& v : valid) {
    const std::size_t d = edit_distance(name, v);
    if (d < best_d) {
      best_d = d;
      best = v;
    }
  }
  if (best_d == std::string::npos || best_d > std::max<std::size_t>(2, name.size() / 2)) return "";
  return best;
}

std::string where(const std::string& file, const toml::source_region& r) {
  if (r.begin.line == 0 || (r.path && *r.path == "--set")) return "--set";
  return fmt::format("{}:{}:{}", file, r.begin.line, r.begin.column);
}

std::size_t first_non_ascii_line(const std::string& text) {
  std::size_t line = 1;
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return line;
    line += c == '\n';
  }
  return 0;
}

void apply_set(toml::table& doc, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(
        fmt::format("--set '{}': expected section.key=value, for example --set run.trajectories=64",
                    assignment));
  if (first_non_ascii_line(assignment) != 0)
    throw InputError(
        fmt::format("--set '{}': holds a non-ASCII character; experiments are ASCII", assignment));
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  // Parse the value as TOML; a bare word (double-well, f64) is taken as a string.
  // The parse is tagged with the source "--set" so that messages say where it came from.
  toml::table parsed;
  bool is_toml = true;
  try {
    parsed = toml::parse("v = " + text, std::string_view{"--set"});
  } catch (const toml::parse_error&) {
    is_toml = false;
  }
  auto put = [&](toml::table& t, const std::string& key) {
    if (is_toml)
      parsed.get("v")->visit([&](auto& v) { t.insert_or_assign(key, v); });
    else
      t.insert_or_assign(key, text);
  };
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) throw InputError(fmt::format("--set '{}': empty key in '{}'", assignment, path));
    parts.push_back(p);
  }
  // optimizer.key (every optimizer) and optimizer.N.key (one, 0-based).
  if (parts[0] == "optimizer") {
    auto* arr = doc["optimizer"].as_array();
    if (!arr || arr->empty())
      throw InputError(fmt::format("--set '{}': the experiment has no [[optimizer]]", assignment));
    std::vector<toml::table*> targets;
    std::string key;
    if (parts.size() == 3) {
      std::size_t idx = 0;
      try {
        idx = std::stoul(parts[1]);
      } catch (...) {
        throw InputError(fmt::format("--set '{}': '{}' is not an optimizer index (0 to {})",
                                     assignment, parts[1], arr->size() - 1));
      }
      if (idx >= arr->size())
        throw InputError(fmt::format("--set '{}': optimizer index {} is out of range (0 to {})",
                                     assignment, idx, arr->size() - 1));
      targets.push_back(arr->get(idx)->as_table());
      key = parts[2];
    } else if (parts.size() == 2) {
      for (auto& el : *arr) targets.push_back(el.as_table());
      key = parts[1];
    } else {
      throw InputError(fmt::format(
          "--set '{}': use optimizer.KEY=VALUE (every optimizer) or optimizer.INDEX.KEY=VALUE",
          assignment));
    }
    for (auto* t : targets)
      if (t) put(*t, key);
    return;
  }
  // section.key, key, or a key of a table inside a section
  // (objective.data.samples, finder.init.scale).
  toml::table* target = &doc;
  for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
    if (!target->contains(parts[k])) target->insert(parts[k], toml::table{});
    target = (*target)[parts[k]].as_table();
    if (!target)
      throw InputError(
          fmt::format("--set '{}': '{}' is not a section or table", assignment, parts[k]));
  }
  put(*target, parts.back());
}

Section::Section(const toml::table& table, std::string path, std::string file)
    : table_(table), path_(std::move(path)), file_(std::move(file)) {}

std::string Section::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void Section::fail(const std::string& key, const std::string& message) const {
  const toml::node* n = node(key);
  const std::string loc = n ? where(file_, n->source()) : where(file_, table_.source());
  throw InputError(fmt::format("{}: {} {}", loc, key_path(key), message));
}

void Section::fail_section(const std::string& message) const {
  throw InputError(fmt::format("{}: [{}] {}", where(file_, table_.source()), path_, message));
}

void Section::allow_only(const std::vector<std::string>& valid) const {
  for (const auto& [k, v] : table_) {
    const std::string key(k.str());
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    const std::string near = nearest(key, valid);
    const std::string loc = where(file_, v.source().begin.line ? v.source() : k.source());
    throw InputError(fmt::format("{}: unknown key '{}'{}; valid keys{}: {}", loc, key_path(key),
                                 near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near),
                                 path_.empty() ? "" : " in [" + path_ + "]", join(valid)));
  }
}

bool Section::has(const std::string& key) const { return table_.contains(key); }
const toml::node* Section::node(const std::string& key) const { return table_.get(key); }

std::int64_t Section::integer(const std::string& key, std::int64_t def, std::int64_t lo,
                              std::int64_t hi) const {
  const toml::node* n = node(key);
  if (!n) return def;
  std::int64_t v = 0;
  if (n->is_integer()) {
    v = n->as_integer()->get();
  } else if (n->is_floating_point() &&
             std::floor(n->as_floating_point()->get()) == n->as_floating_point()->get() &&
             std::fabs(n->as_floating_point()->get()) < 9e15) {
    v = static_cast<std::int64_t>(n->as_floating_point()->get());
  } else {
    fail(key, fmt::format("must be an integer from {} to {}, got {}", lo, hi, show(*n)));
  }
  if (v < lo || v > hi) fail(key, fmt::format("= {} is out of range: allowed {} to {}", v, lo, hi));
  return v;
}

double Section::number(const std::string& key, double def, double lo, double hi, bool lo_open,
                       bool hi_open, bool allow_nan) const {
  const toml::node* n = node(key);
  if (!n) return def;
  double v = 0;
  if (n->is_floating_point())
    v = n->as_floating_point()->get();
  else if (n->is_integer())
    v = static_cast<double>(n->as_integer()->get());
  else
    fail(key, fmt::format("must be a number, got {}", show(*n)));
  const std::string range =
      fmt::format("{}{}, {}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
  if (std::isnan(v)) {
    if (allow_nan) return v;
    fail(key, fmt::format("= nan is not allowed: must be a number in {}", range));
  }
  const bool bad_lo = lo_open ? !(v > lo) : !(v >= lo);
  const bool bad_hi = hi_open ? !(v < hi) : !(v <= hi);
  if (bad_lo || bad_hi) fail(key, fmt::format("= {} is out of range: allowed {}", v, range));
  return v;
}

bool Section::boolean(const std::string& key, bool def) const {
  const toml::node* n = node(key);
  if (!n) return def;
  if (!n->is_boolean()) fail(key, fmt::format("must be true or false, got {}", show(*n)));
  return n->as_boolean()->get();
}

std::string Section::string(const std::string& key, const std::string& def) const {
  const toml::node* n = node(key);
  if (!n) return def;
  if (!n->is_string()) fail(key, fmt::format("must be a string, got {}", show(*n)));
  return n->as_string()->get();
}

std::string Section::choice(const std::string& key, const std::string& def,
                            const std::vector<std::string>& choices) const {
  const std::string v = string(key, def);
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return v;
  const std::string near = nearest(v, choices);
  fail(key, fmt::format("= \"{}\" is not one of: {}{}", v, join(choices),
                        near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near)));
}

std::vector<double> Section::numbers(const std::string& key) const {
  const toml::node* n = node(key);
  if (!n) return {};
  const toml::array* a = n->as_array();
  if (!a) fail(key, fmt::format("must be an array of numbers, got {}", show(*n)));
  std::vector<double> out;
  for (const auto& el : *a) {
    if (el.is_floating_point())
      out.push_back(el.as_floating_point()->get());
    else if (el.is_integer())
      out.push_back(static_cast<double>(el.as_integer()->get()));
    else
      fail(key,
           fmt::format("must be an array of numbers; element {} is {}", out.size(), type_name(el)));
    if (!std::isfinite(out.back()))
      fail(key, fmt::format("element {} is {}: values must be finite", out.size() - 1, out.back()));
  }
  return out;
}

std::optional<Section> Section::table(const std::string& key) const {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  if (!n->is_table())
    fail(key, fmt::format("must be a table ([{}]), got {}", key_path(key), type_name(*n)));
  return Section(*n->as_table(), key_path(key), file_);
}

toml::table parse_ascii_toml(const std::string& text, const std::string& source) {
  if (const std::size_t line = first_non_ascii_line(text))
    throw InputError(fmt::format(
        "{}:{}: holds a non-ASCII character; experiment files are ASCII (the TOML library of "
        "this build mishandles some non-ASCII characters), comments and strings included",
        source, line));
  try {
    return toml::parse(text, std::string_view{source});
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}:{}: malformed TOML: {}", source, e.source().begin.line,
                                 e.source().begin.column, e.description()));
  }
}

}  // namespace saddlescope::config
