// The objective registry: one entry per experiment-file kind, defined in its
// own file under src/core/objectives/ and listed once in
// src/core/objectives/registry.hpp. An entry holds the kind's keys (type,
// default, range, help, config.toml form), its description, how it reads
// its dimension, how it draws its data from the seed, and the bytes its data
// and per-trajectory work take. Parsing, config.toml, `saddlescope list`, the
// docs' tables (`saddlescope list --markdown`), build_objective and the
// memory plan loop over it (docs/design.md, Part II, section II.3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.hpp"
#include "experiment.hpp"
#include "host_linalg.hpp"

namespace saddlescope {

namespace config {
class Section;
}

// One key of an [objective] kind besides `kind`; a dotted key ("data.x") is
// a key of a table in [objective] (written `data.x = ...` or as
// [objective.data]), read by the kind's read(). Typed keys (a member
// pointer set) are read, range-checked and written by the registry; the
// others (dim, list-valued keys, keys with cross-checks) by the kind's read()
// and value() functions, and carry their default and allowed values as text.
struct ObjectiveKey {
  enum Type { number, integer, flag, numbers, integers, text };
  const char* key;
  Type type;
  const char* help;
  double ObjectiveSpec::*real = nullptr;
  std::int64_t ObjectiveSpec::*whole = nullptr;
  bool ObjectiveSpec::*boolean = nullptr;
  double def = 0, lo = 0, hi = 0;
  bool lo_open = false;
  const char* default_text = nullptr;  // untyped keys: default as the docs show it
  const char* allowed_text = nullptr;  // untyped keys: allowed values as the docs show them
  // The scope named when the key is given to a kind without it ("the
  // GEMM-based kinds"); nullptr: the kinds that have it, by name.
  const char* scope = nullptr;
  // config.toml: the key is written when `written` holds (nullptr: always),
  // untyped keys with the text `value` returns.
  bool (*written)(const ObjectiveSpec&) = nullptr;
  std::string (*value)(const ObjectiveSpec&) = nullptr;
};

// Constructors of the key kinds (C++17 has no designated initializers).
ObjectiveKey real_key(const char* key, double ObjectiveSpec::*field, double def, double lo,
                      double hi, bool lo_open, const char* help);
ObjectiveKey integer_key(const char* key, std::int64_t ObjectiveSpec::*field, std::int64_t def,
                         std::int64_t lo, std::int64_t hi, const char* help);
ObjectiveKey flag_key(const char* key, bool ObjectiveSpec::*field, bool def, const char* help);
ObjectiveKey custom_key(const char* key, ObjectiveKey::Type type, const char* default_text,
                        const char* allowed_text, const char* help,
                        std::string (*value)(const ObjectiveSpec&),
                        bool (*written)(const ObjectiveSpec&) = nullptr);
// The `tf32` key of the GEMM-based kinds and the `dim` key (value: spec.dim).
ObjectiveKey tf32_key();
ObjectiveKey dim_key(const char* default_text, const char* allowed_text);

struct ObjectiveInfo {
  const char* name;                // experiment-file kind ("gaussian-field")
  const char* formula;             // f(x) in one line, for `saddlescope list`
  const char* doc;                 // the docs' paragraph (markdown): definition, data, derivatives
  std::vector<ObjectiveKey> keys;  // config.toml order; the first is dim
  ObjectiveKind kernel;            // the kernels' kind (presets: quadratic)
  bool sphere = false;             // optimizers move on |x|^2 = dim (p-spin)
  bool field_value = false;        // census rows also carry f_field (gaussian-field)
  // Runs before the keys are checked: refuse keys with a kind-specific
  // message (presets refuse eigenvalues). May be nullptr.
  void (*precheck)(const config::Section&) = nullptr;
  // After the typed keys are read into spec: dim (required, fixed or
  // inferred), untyped keys and cross-checks. Throws InputError.
  void (*read)(const config::Section&, ObjectiveSpec&) = nullptr;
  // After read: paths resolved against the experiment file's folder and
  // data files checked (may be nullptr). Throws InputError.
  void (*resolve)(ObjectiveSpec&, const std::string& base_dir) = nullptr;
  // The instance drawn from the seed: ObjectiveData's kind and arrays (dense
  // linear algebra through la: core makes no LAPACK call of its own).
  void (*build)(const ObjectiveSpec&, std::uint64_t seed, const HostLinalg& la,
                ObjectiveData&) = nullptr;
  // True when the gradient rows come from a coupled evaluation (GEMMs, a
  // dense matrix, network passes): one more N-vector per trajectory.
  bool (*coupled)(const ObjectiveSpec&) = nullptr;
  // Bytes of the objective's data on the device, in elements of `t` bytes
  // (plus host copies the backends keep), and of its coupled evaluation's
  // work space per trajectory (the *_work_per_row count of backend.hpp, by
  // which the CUDA backend sizes its arrays).
  std::uint64_t (*data_bytes)(const ObjectiveSpec&, std::uint64_t t) = nullptr;
  std::uint64_t (*work_bytes)(const ObjectiveSpec&, std::uint64_t t) = nullptr;
  // Advice when the data alone exceeds the budget ("lower objective.dim ...").
  std::string (*too_big)(const ObjectiveSpec&, std::uint64_t t) = nullptr;
};

// Every kind, in registry order (presets included).
const std::vector<ObjectiveInfo>& objective_registry();
// nullptr when no kind has this name.
const ObjectiveInfo* find_objective(const std::string& name);
// The entry of a resolved spec (its preset when it has one).
const ObjectiveInfo& objective_info(const ObjectiveSpec& spec);
std::vector<std::string> objective_names();

// The [objective] section: kind, the kind's keys, dim; data paths resolved
// against base_dir (the experiment file's folder). Throws InputError.
ObjectiveSpec read_objective(const config::Section& s, const std::string& base_dir = ".");
// The [objective] section of config.toml (header included).
std::string objective_toml(const ObjectiveSpec& spec);

// Default and allowed values of a key as the docs show them.
std::string objective_key_default(const ObjectiveKey& k);
std::string objective_key_range(const ObjectiveKey& k);

// `saddlescope list objectives` and docs/experiment.md's objective tables
// (generated; a test keeps the docs equal to it).
std::string describe_objectives();
std::string objective_tables_markdown();
// The lines around the generated tables in docs/experiment.md.
inline constexpr const char* kObjectiveTablesBegin =
    "<!-- objective tables: begin (generated by saddlescope list --markdown) -->";
inline constexpr const char* kObjectiveTablesEnd = "<!-- objective tables: end -->";

// Formatting shared by the kinds' value() functions.
std::string toml_integers(const std::vector<std::int64_t>& v);

}  // namespace saddlescope
