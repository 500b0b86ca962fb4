// Typed, range-checked reading of TOML tables with messages that name the
// file, line, key and what is allowed; --set overrides; nearest-key hints.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace saddlescope::config {

// The largest count an experiment file may give (trajectories, steps,
// starts, an optimizer's integer keys): 1e9, as `list` and the docs say.
constexpr std::int64_t kMaxCount = 1'000'000'000;

// A float as TOML writes it: shortest round-trip form, always with a '.' or
// exponent ("1.0", "0.001", "1e-10"), nan and +-inf spelled as TOML does.
std::string toml_number(double v);
// A TOML basic string that is pure ASCII: quotes and backslashes escaped,
// control characters and non-ASCII code points as \uXXXX / \UXXXXXXXX, so
// that config.toml is accepted again (experiment files are ASCII).
std::string toml_string(const std::string& s);
// A file named in an experiment (init.file, objective.data.x, ...) as an
// absolute, normalized path: relative ones are taken from base_dir (the
// experiment file's folder), so that config.toml runs again from any folder.
std::string resolve_path(const std::string& base_dir, const std::string& p);
// A TOML array of floats ("[0.9, 0.999]").
std::string toml_numbers(const std::vector<double>& v);

// The valid name closest to `name` (edit distance), or "" when none is close.
std::string nearest(const std::string& name, const std::vector<std::string>& valid);

// "file:line:col" for a node, or "--set" for values that came from the command line.
std::string where(const std::string& file, const toml::source_region& r);

// Apply one "path.to.key=value" override to the document (value parsed as a
// TOML value, else taken as a string). Throws InputError on a malformed flag.
void apply_set(toml::table& doc, const std::string& assignment);
// Experiment files and --set values must be ASCII: toml++ 3.3 (Debian 12)
// reaches an unreachable branch (undefined behaviour) on non-ASCII code
// points U+00A1-U+0499 and U+2D6E-U+3167 in several lexing paths, found by
// tools/fuzz.sh. Returns the 1-based line of the first non-ASCII byte, or 0.
std::size_t first_non_ascii_line(const std::string& text);
// An experiment file's text as a TOML document: refuses non-ASCII text and
// malformed TOML with InputError naming `source`, line and column.
toml::table parse_ascii_toml(const std::string& text, const std::string& source);

// A table being read: tracks its path for messages and refuses unknown keys.
class Section {
 public:
  Section(const toml::table& table, std::string path, std::string file);

  // Throws on keys outside `valid`, suggesting the nearest.
  void allow_only(const std::vector<std::string>& valid) const;
  bool has(const std::string& key) const;
  const toml::node* node(const std::string& key) const;

  std::int64_t integer(const std::string& key, std::int64_t def, std::int64_t lo,
                       std::int64_t hi) const;
  // Floating value (integers accepted) in [lo, hi]; open ends when lo_open / hi_open.
  double number(const std::string& key, double def, double lo, double hi, bool lo_open = false,
                bool hi_open = false, bool allow_nan = false) const;
  bool boolean(const std::string& key, bool def) const;
  std::string string(const std::string& key, const std::string& def) const;
  std::string choice(const std::string& key, const std::string& def,
                     const std::vector<std::string>& choices) const;
  std::vector<double> numbers(const std::string& key) const;
  std::optional<Section> table(const std::string& key) const;

  // Throws InputError("<where>: <path.key> <message>").
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  [[noreturn]] void fail_section(const std::string& message) const;
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  const toml::table& raw() const { return table_; }

 private:
  std::string key_path(const std::string& key) const;
  const toml::table& table_;
  std::string path_, file_;
};

}  // namespace saddlescope::config
