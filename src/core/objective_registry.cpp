// The objective registry's generic half (see objective_registry.hpp): the
// list of kinds, reading and writing [objective], the docs' tables and
// build_objective. Each kind's own half is src/core/objectives/<kind>.cpp.
#include "saddlescope/objective_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "config.hpp"
#include "objectives/registry.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {

ObjectiveKey real_key(const char* key, double ObjectiveSpec::*field, double def, double lo,
                      double hi, bool lo_open, const char* help) {
  ObjectiveKey k{key, ObjectiveKey::number, help};
  k.real = field;
  k.def = def;
  k.lo = lo;
  k.hi = hi;
  k.lo_open = lo_open;
  return k;
}

ObjectiveKey integer_key(const char* key, std::int64_t ObjectiveSpec::*field, std::int64_t def,
                         std::int64_t lo, std::int64_t hi, const char* help) {
  ObjectiveKey k{key, ObjectiveKey::integer, help};
  k.whole = field;
  k.def = static_cast<double>(def);
  k.lo = static_cast<double>(lo);
  k.hi = static_cast<double>(hi);
  return k;
}

ObjectiveKey flag_key(const char* key, bool ObjectiveSpec::*field, bool def, const char* help) {
  ObjectiveKey k{key, ObjectiveKey::flag, help};
  k.boolean = field;
  k.def = def ? 1.0 : 0.0;
  return k;
}

ObjectiveKey custom_key(const char* key, ObjectiveKey::Type type, const char* default_text,
                        const char* allowed_text, const char* help,
                        std::string (*value)(const ObjectiveSpec&),
                        bool (*written)(const ObjectiveSpec&)) {
  ObjectiveKey k{key, type, help};
  k.default_text = default_text;
  k.allowed_text = allowed_text;
  k.value = value;
  k.written = written;
  return k;
}

ObjectiveKey tf32_key() {
  ObjectiveKey k = flag_key("tf32", &ObjectiveSpec::tf32, false,
                            "f32 GEMMs on CUDA may use TF32 tensor cores (about 1e-3 relative "
                            "error per product); needs run.precision = \"f32\"");
  k.scope = "the GEMM-based kinds p-spin, gaussian-field, mlp, deep-linear, network";
  return k;
}

ObjectiveKey dim_key(const char* default_text, const char* allowed_text) {
  return custom_key("dim", ObjectiveKey::integer, default_text, allowed_text,
                    "the number of parameters N",
                    [](const ObjectiveSpec& o) { return fmt::format("{}", o.dim); });
}

std::string toml_integers(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t l = 0; l < v.size(); ++l) s += fmt::format("{}{}", l ? ", " : "", v[l]);
  return s + "]";
}

const std::vector<ObjectiveInfo>& objective_registry() {
  static const std::vector<ObjectiveInfo> table = {
#define SS_OBJECTIVE_INFO(fn) objectives::fn(),
      SS_OBJECTIVES(SS_OBJECTIVE_INFO)
#undef SS_OBJECTIVE_INFO
  };
  return table;
}

const ObjectiveInfo* find_objective(const std::string& name) {
  for (const ObjectiveInfo& o : objective_registry())
    if (name == o.name) return &o;
  return nullptr;
}

const ObjectiveInfo& objective_info(const ObjectiveSpec& spec) {
  const ObjectiveInfo* o = find_objective(spec.preset.empty() ? spec.kind : spec.preset);
  if (!o) throw std::logic_error("objective kind outside the registry: " + spec.kind);
  return *o;
}

std::vector<std::string> objective_names() {
  std::vector<std::string> names;
  for (const ObjectiveInfo& o : objective_registry()) names.emplace_back(o.name);
  return names;
}

std::int64_t ObjectiveSpec::hessian_dim() const {
  return objective_info(*this).sphere ? dim - 1 : dim;
}

namespace {

const ObjectiveKey* find_key(const ObjectiveInfo& o, const std::string& key) {
  for (const ObjectiveKey& k : o.keys)  // "data" finds the table of "data.x"
    if (key == k.key || std::string(k.key).rfind(key + ".", 0) == 0) return &k;
  return nullptr;
}

// `applies only to kind = "quadratic"`, `... kind = "mlp" or "deep-linear"`,
// or the key's own scope.
std::string scope_of(const std::string& key) {
  std::vector<std::string> kinds;
  const ObjectiveKey* any = nullptr;
  for (const ObjectiveInfo& o : objective_registry())
    if (const ObjectiveKey* k = find_key(o, key)) {
      kinds.push_back(fmt::format("\"{}\"", o.name));
      any = k;
    }
  if (!any) return "";
  if (any->scope) return any->scope;
  std::string s = "kind = " + kinds[0];
  for (std::size_t i = 1; i < kinds.size(); ++i)
    s += (i + 1 == kinds.size() ? " or " : ", ") + kinds[i];
  return s;
}

}  // namespace

ObjectiveSpec read_objective(const config::Section& s, const std::string& base_dir) {
  const std::vector<std::string> names = objective_names();
  if (s.string("kind", "").empty()) {
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    s.fail("kind", "is required; one of: " + list);
  }
  const std::string kind = s.choice("kind", "", names);
  const ObjectiveInfo& info = *find_objective(kind);
  if (info.precheck) info.precheck(s);
  std::vector<std::string> keys = {"kind"};
  for (const ObjectiveKey& k : info.keys) {  // a dotted key's table once
    const std::string key = std::string(k.key).substr(0, std::string(k.key).find('.'));
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  for (const auto& [k, v] : s.raw()) {
    const std::string key(k.str());
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    const std::string scope = scope_of(key);
    if (!scope.empty())
      s.fail(key, fmt::format("applies only to {} (this is \"{}\")", scope, kind));
  }
  s.allow_only(keys);

  ObjectiveSpec o;
  o.kind = kind;
  for (const ObjectiveKey& k : info.keys) {
    if (k.real) o.*k.real = s.number(k.key, k.def, k.lo, k.hi, k.lo_open);
    if (k.whole)
      o.*k.whole = s.integer(k.key, static_cast<std::int64_t>(k.def),
                             static_cast<std::int64_t>(k.lo), static_cast<std::int64_t>(k.hi));
    if (k.boolean) o.*k.boolean = s.boolean(k.key, k.def != 0.0);
  }
  info.read(s, o);
  if (info.resolve) info.resolve(o, base_dir);
  return o;
}

std::string objective_toml(const ObjectiveSpec& o) {
  const ObjectiveInfo& info = objective_info(o);
  std::string s = "[objective]\n";
  s += fmt::format("kind = \"{}\"\n", info.name);
  for (const ObjectiveKey& k : info.keys) {
    if (k.written && !k.written(o)) continue;
    s += fmt::format("{} = ", k.key);
    if (k.real)
      s += config::toml_number(o.*k.real);
    else if (k.whole)
      s += fmt::format("{}", o.*k.whole);
    else if (k.boolean)
      s += o.*k.boolean ? "true" : "false";
    else
      s += k.value(o);
    s += "\n";
  }
  return s;
}

std::string objective_key_default(const ObjectiveKey& k) {
  if (k.default_text) return k.default_text;
  switch (k.type) {
    case ObjectiveKey::number:
      return "`" + config::toml_number(k.def) + "`";
    case ObjectiveKey::integer:
      return fmt::format("`{}`", static_cast<std::int64_t>(k.def));
    case ObjectiveKey::flag:
      return k.def != 0.0 ? "`true`" : "`false`";
    default:
      return "-";
  }
}

std::string objective_key_range(const ObjectiveKey& k) {
  if (k.allowed_text) return k.allowed_text;
  switch (k.type) {
    case ObjectiveKey::number:
      return fmt::format("{}{}, {}]", k.lo_open ? "(" : "[", k.lo, k.hi);
    case ObjectiveKey::integer:
      return fmt::format("{} to {}", static_cast<std::int64_t>(k.lo),
                         static_cast<std::int64_t>(k.hi));
    case ObjectiveKey::flag:
      return "true, false";
    default:
      return "";
  }
}

namespace {

const char* type_name(ObjectiveKey::Type t) {
  switch (t) {
    case ObjectiveKey::number:
      return "float";
    case ObjectiveKey::integer:
      return "integer";
    case ObjectiveKey::flag:
      return "boolean";
    case ObjectiveKey::numbers:
      return "array of floats";
    case ObjectiveKey::integers:
      return "array of integers";
    case ObjectiveKey::text:
      return "string";
  }
  return "";
}

std::string strip_ticks(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '`'), s.end());
  return s;
}

}  // namespace

namespace {

// Words of `text` in lines of at most `width` columns, every line after the
// first indented by `indent` spaces.
std::string wrap(const std::string& text, std::size_t width, std::size_t indent) {
  std::string out, line;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line;
}

// "a = 10.0", "eigenvalues", "dim (required)".
std::string key_summary(const ObjectiveKey& k) {
  const std::string def = objective_key_default(k);
  if (def == "-") return k.key;
  if (def.front() == '`') return std::string(k.key) + " = " + strip_ticks(def);
  return std::string(k.key) + " (" + strip_ticks(def) + ")";
}

}  // namespace

std::string describe_objectives() {
  std::string s =
      "Objectives ([objective] kind = ...; value, gradient, Hessian-vector product, Hessian):\n";
  for (const ObjectiveInfo& o : objective_registry()) {
    s += fmt::format("  {:<17}{}\n", o.name, wrap(o.formula, 100, 19));
    std::string keys;
    for (const ObjectiveKey& k : o.keys) keys += (keys.empty() ? "" : "; ") + key_summary(k);
    s += fmt::format("  {:<17}{}\n", "", wrap("keys: " + keys, 100, 19));
  }
  s += "Definitions, data and derivatives of each kind: docs/experiment.md, [objective].\n"
       "tf32 = true lets f32 GEMMs on CUDA use TF32 tensor cores (inputs rounded to 10 mantissa\n"
       "bits, about 1e-3 relative error per product instead of 1e-7); the CPU backend computes in\n"
       "f32 regardless.\n";
  return s;
}

std::string objective_tables_markdown() {
  std::string s;
  for (const ObjectiveInfo& o : objective_registry()) {
    s += fmt::format("#### `{}`\n\n{}\n\n", o.name, o.doc);
    s += "| key | type | default | allowed | meaning |\n| --- | --- | --- | --- | --- |\n";
    for (const ObjectiveKey& k : o.keys)
      s += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.key, type_name(k.type),
                       objective_key_default(k), objective_key_range(k), k.help);
    s += "\n";
  }
  return s;
}

ObjectiveData build_objective(const Experiment& e, const HostLinalg& la) {
  const ObjectiveSpec& o = e.objective;
  ObjectiveData d;
  d.dim = o.dim;
  const ObjectiveInfo& info = objective_info(o);
  d.kind = info.kernel;
  info.build(o, e.seed, la, d);
  d.tf32 = o.tf32;
  return d;
}

}  // namespace saddlescope
