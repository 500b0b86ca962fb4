// The experiment schema: which sections and keys exist, their types, ranges
// and defaults (docs/design.md section 3), and the resolved TOML written to
// config.toml.
#include "saddlescope/experiment.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

using config::Section;

constexpr std::int64_t kMaxDim = 100'000'000;
constexpr std::int64_t kMaxCount = 1'000'000'000;

const std::vector<std::string> kObjectiveKinds = {
    "quadratic",       "saddle-2d",      "bowl-2d",    "double-well",
    "styblinski-tang", "rastrigin",      "rosenbrock", "goe-quadratic",
    "p-spin",          "gaussian-field", "mlp",        "deep-linear"};
// The objectives whose work is GEMM-shaped (objective.tf32 applies to them).
const std::vector<std::string> kGemmObjectives = {"p-spin", "gaussian-field", "mlp", "deep-linear"};
// saddle-free-newton decomposes a dense N x N Hessian per trajectory per step.
constexpr std::int64_t kMaxSaddleFreeNewtonDim = 4096;

ObjectiveSpec read_objective(const Section& s) {
  ObjectiveSpec o;
  if (s.string("kind", "").empty())
    s.fail("kind",
           "is required; one of: quadratic, saddle-2d, bowl-2d, double-well, styblinski-tang, "
           "rastrigin, rosenbrock, goe-quadratic, p-spin, gaussian-field, mlp, deep-linear");
  const std::string kind = s.choice("kind", "", kObjectiveKinds);
  const bool gemm =
      std::find(kGemmObjectives.begin(), kGemmObjectives.end(), kind) != kGemmObjectives.end();
  std::vector<std::string> keys = {"kind", "dim"};
  if (gemm) keys.push_back("tf32");
  if (kind == "p-spin") keys.push_back("p");
  if (kind == "quadratic" || kind == "saddle-2d" || kind == "bowl-2d")
    keys.insert(keys.end(), {"eigenvalues", "negative", "curvature", "rotate"});
  if (kind == "rastrigin") keys.push_back("a");
  if (kind == "goe-quadratic") keys.push_back("sigma");
  if (kind == "gaussian-field") keys.insert(keys.end(), {"features", "length_scale", "mu"});
  const std::vector<std::string> mlp_keys = {"inputs",  "hidden",         "outputs",
                                             "samples", "teacher_hidden", "noise"};
  if (kind == "mlp") keys.insert(keys.end(), mlp_keys.begin(), mlp_keys.end());
  if (kind == "deep-linear") keys.insert(keys.end(), {"widths", "samples"});
  for (const auto& [k, v] : s.raw()) {
    const std::string key(k.str());
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    if (key == "eigenvalues" || key == "negative" || key == "curvature" || key == "rotate")
      s.fail(key, fmt::format("applies only to kind = \"quadratic\" (this is \"{}\")", kind));
    if (key == "a") s.fail(key, "applies only to kind = \"rastrigin\"");
    if (key == "sigma") s.fail(key, "applies only to kind = \"goe-quadratic\"");
    if (key == "features" || key == "length_scale" || key == "mu")
      s.fail(key, "applies only to kind = \"gaussian-field\"");
    if (key == "widths") s.fail(key, "applies only to kind = \"deep-linear\"");
    if (key == "p") s.fail(key, "applies only to kind = \"p-spin\"");
    if (key == "tf32")
      s.fail(key, "applies only to the GEMM-based kinds p-spin, gaussian-field, mlp, deep-linear");
    if (std::find(mlp_keys.begin(), mlp_keys.end(), key) != mlp_keys.end())
      s.fail(key, key == "samples" ? "applies only to kind = \"mlp\" or \"deep-linear\""
                                   : "applies only to kind = \"mlp\"");
  }
  s.allow_only(keys);

  o.kind = kind;
  o.tf32 = gemm && s.boolean("tf32", false);
  if (kind == "saddle-2d" || kind == "bowl-2d") {
    for (const char* k : {"eigenvalues", "negative", "curvature"})
      if (s.has(k))
        s.fail(k, fmt::format("cannot be combined with the preset \"{}\" (it fixes the "
                              "eigenvalues); use kind = \"quadratic\" to choose them",
                              kind));
    o.preset = kind;
    o.kind = "quadratic";
    o.eigenvalues =
        kind == "saddle-2d" ? std::vector<double>{2.0, -2.0} : std::vector<double>{2.0, 2.0};
    o.dim = s.integer("dim", 2, 2, 2);
    o.rotate = s.boolean("rotate", false);
    return o;
  }
  if (kind == "quadratic") {
    o.eigenvalues = s.numbers("eigenvalues");
    o.rotate = s.boolean("rotate", false);
    if (s.has("eigenvalues") && s.has("negative"))
      s.fail("negative",
             "cannot be combined with eigenvalues: give either the eigenvalue "
             "list or negative = k with curvature = c");
    if (s.has("eigenvalues")) {
      if (o.eigenvalues.empty()) s.fail("eigenvalues", "must hold at least one value");
      if (s.has("curvature"))
        s.fail("curvature", "applies only with negative = k (the eigenvalues are given)");
      o.dim = s.integer("dim", static_cast<std::int64_t>(o.eigenvalues.size()), 1, kMaxDim);
      if (o.dim != static_cast<std::int64_t>(o.eigenvalues.size()))
        s.fail("dim", fmt::format("= {} does not match the {} eigenvalues given", o.dim,
                                  o.eigenvalues.size()));
      return o;
    }
    if (!s.has("dim"))
      s.fail_section("needs dim with negative = k (and curvature = c), or an eigenvalues list");
    o.dim = s.integer("dim", 1, 1, kMaxDim);
    o.negative = s.integer("negative", 0, 0, o.dim);
    o.curvature = s.number("curvature", 1.0, 0.0, 1e30, true);
    o.eigenvalues.assign(static_cast<std::size_t>(o.dim), o.curvature);
    for (std::int64_t i = 0; i < o.negative; ++i) o.eigenvalues[i] = -o.curvature;
    return o;
  }
  if (kind == "deep-linear") {
    if (s.has("widths")) {
      const auto w = s.numbers("widths");
      if (w.size() < 2) s.fail("widths", "needs at least 2 widths [d_0, ..., d_L] (one layer)");
      o.widths.clear();
      for (double v : w) {
        if (v < 1 || v > 1e6 || v != std::floor(v))
          s.fail("widths", fmt::format("holds {}; widths must be integers from 1 to 1e6", v));
        o.widths.push_back(static_cast<std::int64_t>(v));
      }
    }
    o.samples = s.integer("samples", 100, 1, 100'000'000);
    std::int64_t p = 0;
    for (std::size_t l = 1; l < o.widths.size(); ++l) p += o.widths[l] * o.widths[l - 1];
    o.dim = s.integer("dim", p, 1, kMaxDim);
    if (o.dim != p)
      s.fail("dim", fmt::format("= {} does not match sum_l widths[l] * widths[l-1] = {}; omit dim",
                                o.dim, p));
    return o;
  }
  if (kind == "mlp") {
    o.inputs = s.integer("inputs", 100, 1, 1'000'000);
    o.hidden = s.integer("hidden", 196, 1, 1'000'000);
    o.outputs = s.integer("outputs", 1, 1, 1'000'000);
    o.samples = s.integer("samples", 256, 1, 100'000'000);
    o.teacher_hidden = s.integer("teacher_hidden", 8, 1, 1'000'000);
    o.noise = s.number("noise", 0.0, 0.0, 1e30);
    const std::int64_t p = o.hidden * o.inputs + o.hidden + o.outputs * o.hidden + o.outputs;
    o.dim = s.integer("dim", p, 1, kMaxDim);
    if (o.dim != p)
      s.fail("dim",
             fmt::format("= {} does not match the student's parameter count hidden * inputs "
                         "+ hidden + outputs * hidden + outputs = {}; omit dim or set it to {}",
                         o.dim, p, p));
    return o;
  }
  if (!s.has("dim"))
    s.fail_section(fmt::format("needs dim (the number of parameters N) for kind = \"{}\"", kind));
  o.dim = s.integer("dim", 1, kind == "rosenbrock" || kind == "p-spin" ? 2 : 1, kMaxDim);
  if (kind == "p-spin") o.p = static_cast<int>(s.integer("p", 3, 2, 3));
  if (kind == "rastrigin") o.a = s.number("a", 10.0, 0.0, 1e30);
  if (kind == "goe-quadratic") o.sigma = s.number("sigma", 1.0, 0.0, 1e30, true);
  if (kind == "gaussian-field") {
    o.features = s.integer("features", 1024, 1, 100'000'000);
    o.length_scale = s.number("length_scale", 1.0, 0.0, 1e30, true);
    o.mu = s.number("mu", 0.1, 0.0, 1e30);
  }
  return o;
}

InitSpec read_init(const Section& s, std::int64_t dim, const std::string& base_dir) {
  InitSpec i;
  i.kind = s.choice("kind", "gaussian", {"gaussian", "uniform", "sphere", "point", "file"});
  std::vector<std::string> keys = {"kind"};
  if (i.kind == "gaussian" || i.kind == "uniform" || i.kind == "sphere") keys.push_back("scale");
  if (i.kind == "point") keys.push_back("point");
  if (i.kind == "file") keys.push_back("file");
  for (const char* k : {"scale", "point", "file"})
    if (s.has(k) && std::find(keys.begin(), keys.end(), k) == keys.end())
      s.fail(k, fmt::format("does not apply to init.kind = \"{}\"", i.kind));
  s.allow_only(keys);
  i.scale = s.number("scale", 1.0, 0.0, 1e30, true);
  if (i.kind == "point") {
    if (!s.has("point"))
      s.fail_section(
          "kind = \"point\" needs point = [x1, ..., xN] (or one value for every coordinate)");
    i.point = s.numbers("point");
    if (i.point.size() != 1 && static_cast<std::int64_t>(i.point.size()) != dim)
      s.fail("point", fmt::format("has {} values; it needs 1 (used for every coordinate) or "
                                  "objective.dim = {}",
                                  i.point.size(), dim));
  }
  if (i.kind == "file") {
    i.file = s.string("file", "");
    if (i.file.empty())
      s.fail_section(
          "kind = \"file\" needs file = \"starts.npy\" (float array [trajectories, dim])");
    std::filesystem::path p(i.file);
    // Absolute, so that config.toml runs again from any folder.
    i.file_resolved =
        std::filesystem::absolute(p.is_absolute() ? p : std::filesystem::path(base_dir) / p)
            .lexically_normal()
            .string();
  }
  return i;
}

RunSpec read_run(const Section& s, std::int64_t dim) {
  s.allow_only({"trajectories", "max_steps", "grad_tol", "diverge_above", "record_every",
                "record_trajectories", "precision", "backend", "save_final_points", "record_paths",
                "target_loss", "checkpoint_every", "chunk_size"});
  RunSpec r;
  r.trajectories = s.integer("trajectories", 1024, 1, kMaxCount);
  r.max_steps = s.integer("max_steps", 10000, 1, kMaxCount);
  r.grad_tol = s.number("grad_tol", 1e-6, 0.0, 1e30);
  r.diverge_above = s.number("diverge_above", 1e10, 0.0, 1e300, true);
  r.record_every = s.integer("record_every", 10, 1, kMaxCount);
  r.record_trajectories = s.integer("record_trajectories",
                                    std::min<std::int64_t>(64, r.trajectories), 0, r.trajectories);
  r.precision =
      s.choice("precision", "f32", {"f32", "f64"}) == "f64" ? Precision::f64 : Precision::f32;
  r.backend = s.choice("backend", "auto", {"auto", "cpu", "cuda"});
  r.save_final_points = s.boolean("save_final_points", false);
  r.record_paths = s.boolean("record_paths", dim <= 3);
  r.chunk_size = s.integer("chunk_size", 0, 0, kMaxCount);
  r.checkpoint_every = s.number("checkpoint_every", 300.0, 0.0, 1e9, true);
  r.target_loss = s.number("target_loss", std::nan(""), -1e300, 1e300, false, false, true);
  return r;
}

FinderSpec read_finder(const Section& s, const InitSpec& init, std::int64_t dim,
                       const std::string& base_dir, double& dedup_tol) {
  FinderSpec f;
  f.kind = s.choice("kind", "none", {"none", "gradient-norm", "newton"});
  s.allow_only({"kind", "starts", "max_steps", "lr", "init", "dedup_tol"});
  f.starts = s.integer("starts", 256, 1, kMaxCount);
  f.max_steps = s.integer("max_steps", 2000, 1, kMaxCount);
  f.lr = s.number("lr", f.kind == "newton" ? 1.0 : 1e-3, 0.0, 1e30, true);
  // finder.dedup_tol of saddlescope 0.1 is now analysis.dedup_tol (a merge
  // distance for every source); read here when [analysis] does not set it.
  if (s.has("dedup_tol")) dedup_tol = s.number("dedup_tol", 0.0, 0.0, 1e30);
  f.init = init;
  if (const auto fi = s.table("init")) {
    f.init = read_init(*fi, dim, base_dir);
    f.own_init = true;
  }
  return f;
}

PlateauRule read_plateau(const Section& s) {
  s.allow_only({"grad_threshold", "min_steps", "min_drop"});
  PlateauRule p;
  p.grad_threshold = s.number("grad_threshold", 1e-3, 0.0, 1e30, true);
  p.min_steps = s.integer("min_steps", 50, 1, kMaxCount);
  p.min_drop = s.number("min_drop", 1e-3, 0.0, 1e30);
  return p;
}

AnalysisSpec read_analysis(const Section& s) {
  s.allow_only({"points", "method", "max_points", "zero_tol", "crit_tol", "dedup_tol", "precision",
                "save_point_coords"});
  AnalysisSpec a;
  if (const toml::node* n = s.node("points")) {
    const toml::array* arr = n->as_array();
    if (!arr || arr->empty())
      s.fail("points",
             "must be a non-empty array of strings: any of \"stops\", \"plateaus\", \"critical\"");
    a.points.clear();
    for (const auto& el : *arr) {
      const std::string v = el.is_string() ? el.as_string()->get() : "";
      if (v != "stops" && v != "plateaus" && v != "critical")
        s.fail("points", fmt::format("holds {}; allowed: \"stops\", \"plateaus\", \"critical\"",
                                     el.is_string() ? "\"" + v + "\"" : "a non-string"));
      if (std::find(a.points.begin(), a.points.end(), v) == a.points.end()) a.points.push_back(v);
    }
  }
  a.method = s.choice("method", "eigh", {"eigh", "inertia", "none"});
  a.max_points = s.integer("max_points", 256, 1, 1'000'000);
  a.zero_tol = s.number("zero_tol", 1e-6, 0.0, 1.0);
  a.crit_tol = s.number("crit_tol", 1e-4, 0.0, 1e30);
  a.dedup_tol = s.number("dedup_tol", 0.0, 0.0, 1e30);
  a.precision =
      s.choice("precision", "f64", {"f32", "f64"}) == "f32" ? Precision::f32 : Precision::f64;
  a.save_point_coords = s.boolean("save_point_coords", false);
  return a;
}

OptimizerSpec read_optimizer(const Section& s) {
  const std::vector<std::string> names = optimizer_names();
  if (!s.has("kind")) s.fail_section(fmt::format("needs kind; one of: {}", fmt::join(names, ", ")));
  const OptimizerInfo& info = *find_optimizer(s.choice("kind", "", names));
  OptimizerSpec o;
  OptimizerParams& p = o.params;
  p.kind = info.kind;
  p.lr = 0.0;  // the rate of an optimizer without an lr key (annealing)
  std::vector<std::string> keys = {"kind", "label"};
  for (std::size_t i = 0; i < info.key_count; ++i) keys.emplace_back(info.keys[i].key);
  s.allow_only(keys);
  o.label = s.string("label", "");
  if (o.label.find_first_of(",\"\n\r") != std::string::npos)
    s.fail("label", fmt::format("= \"{}\" may not contain commas, quotes or line breaks (it is a "
                                "column of trajectories.csv)",
                                o.label));
  // Every key of the optimizer's table (kernels/optimizers/<name>.hpp), its
  // default where the file does not set it.
  for (std::size_t i = 0; i < info.key_count; ++i) {
    const OptimizerKey& k = info.keys[i];
    switch (k.type) {
      case OptimizerKey::number:
        p.*k.value = s.number(k.key, k.def, k.lo, k.hi, k.lo_open, k.hi_open);
        break;
      case OptimizerKey::integer:
        p.*k.count = s.integer(k.key, static_cast<std::int64_t>(k.def), 0, kMaxCount);
        break;
      case OptimizerKey::flag:
        p.*k.boolean = s.boolean(k.key, k.def != 0.0);
        break;
      case OptimizerKey::false_only:
        if (s.boolean(k.key, false)) s.fail(k.key, k.help);
        break;
      case OptimizerKey::pair: {
        p.*k.value = k.def;
        p.*k.second = k.def2;
        if (!s.has(k.key)) break;
        const auto b = s.numbers(k.key);
        if (b.size() != 2)
          s.fail(k.key, fmt::format("must hold 2 values [beta1, beta2], got {}", b.size()));
        if (!(b[0] >= k.lo && b[0] < k.hi) || !(b[1] >= k.lo && b[1] < k.hi))
          s.fail(k.key, fmt::format("= [{}, {}] is out of range: each beta must be in [0, 1)", b[0],
                                    b[1]));
        p.*k.value = b[0];
        p.*k.second = b[1];
        break;
      }
    }
  }
  const OptimizerCheck bad = info.check(p);
  if (bad.key != nullptr) s.fail(bad.key, bad.message);
  return o;
}

std::string fmt_double(double v) { return config::toml_number(v); }
std::string fmt_list(const std::vector<double>& v) { return config::toml_numbers(v); }

// A TOML basic string that is pure ASCII: quotes and backslashes escaped,
// control characters and non-ASCII code points (values may hold them via
// \u escapes) written as \uXXXX / \UXXXXXXXX, so that config.toml is
// accepted again (experiment files are ASCII).
std::string quote(const std::string& s) {
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

// An [init]-shaped table ([init], [finder.init]) in config.toml.
void write_init(std::ostream& s, const char* header, const InitSpec& i) {
  s << "\n[" << header << "]\nkind = " << quote(i.kind) << "\n";
  if (i.kind == "gaussian" || i.kind == "uniform" || i.kind == "sphere")
    s << "scale = " << fmt_double(i.scale) << "\n";
  if (i.kind == "point") s << "point = " << fmt_list(i.point) << "\n";
  if (i.kind == "file") s << "file = " << quote(i.file_resolved) << "\n";
}

// Unique labels: the kind alone when unique, else kind(lr=...), else kind#i.
void assign_labels(std::vector<OptimizerSpec>& opts) {
  std::map<std::string, int> count;
  for (auto& o : opts)
    if (o.label.empty()) count[optimizer_kind_name(o.params.kind)]++;
  for (auto& o : opts)
    if (o.label.empty()) {
      const std::string k = optimizer_kind_name(o.params.kind);
      o.label = count[k] == 1 ? k : fmt::format("{}(lr={})", k, o.params.lr);
    }
  std::map<std::string, int> seen;
  for (std::size_t i = 0; i < opts.size(); ++i)
    if (seen[opts[i].label]++) opts[i].label += fmt::format("#{}", i);
}

}  // namespace

Experiment parse_experiment(const std::string& text, const std::string& source,
                            const std::vector<std::string>& sets, const std::string& base_dir) {
  toml::table doc = config::parse_ascii_toml(text, source);
  for (const auto& a : sets) config::apply_set(doc, a);

  const Section top(doc, "", source);
  if (top.has("sweep"))  // docs/experiment.md [sweep]: src/core/sweep.cpp runs each point
    top.fail("sweep",
             "makes this file several experiments, one per point: run it with `saddlescope run "
             "FILE` (a run directory per point under RUN_DIR/sweep/) or check it with "
             "`saddlescope validate FILE`");
  top.allow_only(
      {"name", "seed", "objective", "init", "run", "optimizer", "plateau", "analysis", "finder"});

  Experiment e;
  e.source = source;
  e.name = top.string("name", "experiment");
  if (e.name.empty() ||
      e.name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
    top.fail("name", fmt::format("= \"{}\" must be non-empty and use only letters, digits, '.', "
                                 "'_' and '-' (it names the run directory)",
                                 e.name));
  e.seed = static_cast<std::uint64_t>(top.integer("seed", 0, 0, INT64_MAX));

  const auto obj = top.table("objective");
  if (!obj) throw InputError(fmt::format("{}: missing [objective] section (kind and dim)", source));
  e.objective = read_objective(*obj);

  const toml::table empty;
  const auto init = top.table("init");
  e.init = read_init(init ? *init : Section(empty, "init", source), e.objective.dim, base_dir);
  const auto run = top.table("run");
  e.run = read_run(run ? *run : Section(empty, "run", source), e.objective.dim);

  if (e.objective.tf32 && e.run.precision == Precision::f64)
    obj->fail("tf32",
              "= true needs run.precision = \"f32\" (TF32 rounds f32 GEMM inputs; f64 "
              "GEMMs never use it)");
  // [[optimizer]] may be absent in a finder-only experiment (checked below).
  if (const toml::node* opt = top.node("optimizer")) {
    const toml::array* arr = opt->as_array();
    if (!arr || arr->empty())
      top.fail("optimizer", "must be an array of tables: write each one as [[optimizer]]");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = arr->get(i)->as_table();
      if (!t) top.fail("optimizer", "must be an array of tables: write each one as [[optimizer]]");
      e.optimizers.push_back(read_optimizer(Section(*t, fmt::format("optimizer[{}]", i), source)));
    }
  }
  assign_labels(e.optimizers);
  for (std::size_t i = 0; i < e.optimizers.size(); ++i) {
    auto& o = e.optimizers[i];
    o.params.seed = e.seed;  // keys the noise of langevin, perturbed-gd, annealing
    if (o.params.kind == OptimizerKind::saddle_free_newton &&
        e.objective.dim > kMaxSaddleFreeNewtonDim)
      throw InputError(fmt::format(
          "{}: optimizer[{}] saddle-free-newton eigendecomposes a dense {} x {} Hessian per "
          "trajectory per step; it is limited to objective.dim <= {}: lower the dim or use a "
          "first-order optimizer (perturbed-gd escapes saddles too)",
          source, i, e.objective.dim, e.objective.dim, kMaxSaddleFreeNewtonDim));
  }
  // Without an [analysis] section no census runs (method = "none"): a census
  // of dense N x N Hessians is a deliberate choice at large N.
  if (const auto pl = top.table("plateau")) e.plateau = read_plateau(*pl);
  if (const auto an = top.table("analysis")) e.analysis = read_analysis(*an);
  if (const auto fi = top.table("finder")) {
    double dedup = -1;
    e.finder = read_finder(*fi, e.init, e.objective.dim, base_dir, dedup);
    if (dedup >= 0) {
      const auto an = top.table("analysis");
      if (an && an->has("dedup_tol"))
        fi->fail("dedup_tol",
                 "is set twice: it moved to analysis.dedup_tol (a merge distance for every "
                 "source); remove it from [finder]");
      e.analysis.dedup_tol = dedup;
    }
  } else {
    e.finder.init = e.init;
  }
  const bool wants_critical = std::find(e.analysis.points.begin(), e.analysis.points.end(),
                                        "critical") != e.analysis.points.end() &&
                              e.analysis.method != "none";
  if (wants_critical && e.finder.kind == "none")
    top.fail("analysis",
             "points include \"critical\", which needs a [finder] (kind = \"gradient-norm\" "
             "or \"newton\")");
  if (e.finder.kind != "none" && !wants_critical)
    top.fail("finder",
             "finds critical points for the census: add \"critical\" to analysis.points "
             "(and [analysis] method = \"eigh\")");
  if (e.optimizers.empty() && e.finder.kind == "none")
    throw InputError(
        fmt::format("{}: missing [[optimizer]]: list at least one (kind = one of {}), or give "
                    "a [finder] for a finder-only census",
                    source, fmt::join(optimizer_names(), ", ")));
  if (e.optimizers.empty()) {
    // Finder only: the census has no trajectory points to analyse.
    for (const auto& p : e.analysis.points)
      if (p != "critical")
        top.fail("analysis",
                 fmt::format("points include \"{}\", but the experiment has no [[optimizer]] "
                             "(a finder-only census analyses \"critical\" points only)",
                             p));
  }
  return e;
}

Experiment load_experiment(const std::string& path, const std::vector<std::string>& sets) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const bool exists = std::filesystem::exists(path);
    throw InputError(fmt::format(
        "{}: {}", path, exists ? "cannot be read (permissions?)" : "no such experiment file"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string base = std::filesystem::path(path).parent_path().string();
  return parse_experiment(ss.str(), path, sets, base.empty() ? "." : base);
}

std::string to_toml(const Experiment& e) {
  std::ostringstream s;
  s << "# Resolved experiment: every default filled in. saddlescope " << SADDLESCOPE_VERSION
    << "\n";
  s << "name = " << quote(e.name) << "\n";
  s << "seed = " << e.seed << "\n\n";
  const auto& o = e.objective;
  s << "[objective]\n";
  s << "kind = " << quote(o.preset.empty() ? o.kind : o.preset) << "\n";
  s << "dim = " << o.dim << "\n";
  if (o.kind == "quadratic") {
    if (o.preset.empty()) {
      if (o.negative >= 0) {
        s << "negative = " << o.negative << "\n";
        s << "curvature = " << fmt_double(o.curvature) << "\n";
      } else {
        s << "eigenvalues = " << fmt_list(o.eigenvalues) << "\n";
      }
    }
    s << "rotate = " << (o.rotate ? "true" : "false") << "\n";
  }
  if (o.kind == "rastrigin") s << "a = " << fmt_double(o.a) << "\n";
  if (o.kind == "goe-quadratic") s << "sigma = " << fmt_double(o.sigma) << "\n";
  if (o.kind == "p-spin") s << "p = " << o.p << "\n";
  if (std::find(kGemmObjectives.begin(), kGemmObjectives.end(), o.kind) != kGemmObjectives.end())
    s << "tf32 = " << (o.tf32 ? "true" : "false") << "\n";
  if (o.kind == "deep-linear") {
    s << "widths = [";
    for (std::size_t l = 0; l < o.widths.size(); ++l) s << (l ? ", " : "") << o.widths[l];
    s << "]\nsamples = " << o.samples << "\n";
  }
  if (o.kind == "mlp")
    s << "inputs = " << o.inputs << "\nhidden = " << o.hidden << "\noutputs = " << o.outputs
      << "\nsamples = " << o.samples << "\nteacher_hidden = " << o.teacher_hidden
      << "\nnoise = " << fmt_double(o.noise) << "\n";
  if (o.kind == "gaussian-field")
    s << "features = " << o.features << "\nlength_scale = " << fmt_double(o.length_scale)
      << "\nmu = " << fmt_double(o.mu) << "\n";
  write_init(s, "init", e.init);
  const auto& r = e.run;
  s << "\n[run]\n";
  s << "trajectories = " << r.trajectories << "\n";
  s << "max_steps = " << r.max_steps << "\n";
  s << "grad_tol = " << fmt_double(r.grad_tol) << "\n";
  s << "diverge_above = " << fmt_double(r.diverge_above) << "\n";
  s << "record_every = " << r.record_every << "\n";
  s << "record_trajectories = " << r.record_trajectories << "\n";
  s << "precision = " << quote(r.precision == Precision::f64 ? "f64" : "f32") << "\n";
  s << "backend = " << quote(r.backend) << "\n";
  s << "save_final_points = " << (r.save_final_points ? "true" : "false") << "\n";
  s << "record_paths = " << (r.record_paths ? "true" : "false") << "\n";
  s << "chunk_size = " << r.chunk_size << "\n";
  s << "target_loss = " << fmt_double(r.target_loss) << "\n";
  s << "checkpoint_every = " << fmt_double(r.checkpoint_every) << "\n";
  s << "\n[plateau]\ngrad_threshold = " << fmt_double(e.plateau.grad_threshold)
    << "\nmin_steps = " << e.plateau.min_steps << "\nmin_drop = " << fmt_double(e.plateau.min_drop)
    << "\n";
  const auto& a = e.analysis;
  s << "\n[analysis]\npoints = [";
  for (std::size_t k = 0; k < a.points.size(); ++k) s << (k ? ", " : "") << quote(a.points[k]);
  s << "]\nmethod = " << quote(a.method) << "\n";
  s << "max_points = " << a.max_points << "\n";
  s << "zero_tol = " << fmt_double(a.zero_tol) << "\n";
  s << "crit_tol = " << fmt_double(a.crit_tol) << "\n";
  s << "dedup_tol = " << fmt_double(a.dedup_tol) << "\n";
  s << "precision = " << quote(a.precision == Precision::f64 ? "f64" : "f32") << "\n";
  s << "save_point_coords = " << (a.save_point_coords ? "true" : "false") << "\n";
  const auto& f = e.finder;
  s << "\n[finder]\nkind = " << quote(f.kind) << "\n";
  if (f.kind != "none") {
    s << "starts = " << f.starts << "\n";
    s << "max_steps = " << f.max_steps << "\n";
    s << "lr = " << fmt_double(f.lr) << "\n";
    if (f.own_init) write_init(s, "finder.init", f.init);
  }
  for (const auto& opt : e.optimizers) {
    const auto& p = opt.params;
    s << "\n[[optimizer]]\nkind = " << quote(optimizer_kind_name(p.kind)) << "\n";
    s << "label = " << quote(opt.label) << "\n";
    const OptimizerInfo& info = optimizer_info(p.kind);
    for (std::size_t i = 0; i < info.key_count; ++i) {
      const OptimizerKey& k = info.keys[i];
      s << k.key << " = ";
      switch (k.type) {
        case OptimizerKey::number:
          s << fmt_double(p.*k.value);
          break;
        case OptimizerKey::integer:
          s << p.*k.count;
          break;
        case OptimizerKey::flag:
          s << (p.*k.boolean ? "true" : "false");
          break;
        case OptimizerKey::pair:
          s << fmt_list({p.*k.value, p.*k.second});
          break;
        case OptimizerKey::false_only:
          s << "false";
          break;
      }
      s << "\n";
    }
  }
  return s.str();
}

const char* optimizer_kind_name(OptimizerKind k) { return optimizer_info(k).name; }

std::string describe_objectives() {
  return R"(Objectives ([objective] kind = ...; value, gradient, Hessian-vector product, Hessian):
  quadratic        f = 1/2 x^T Q diag(lambda) Q^T x.  keys: dim, eigenvalues = [...] | negative = k
                   with curvature = c (default 1: k eigenvalues -c, the rest +c), rotate = false
                   (true: Q is a Haar-random rotation drawn from the seed; else Q = I)
  saddle-2d        preset: quadratic x^2 - y^2 (eigenvalues [2, -2]), dim 2
  bowl-2d          preset: quadratic x^2 + y^2 (eigenvalues [2, 2]), dim 2
  double-well      f = sum_i x_i^4 - 4 x_i^2 + x_i.  keys: dim.  minima -1.472998 (global),
                   1.346997 (local), maximum 0.126000 per coordinate; 3^N critical points
  styblinski-tang  f = 1/2 sum_i x_i^4 - 16 x_i^2 + 5 x_i.  keys: dim
  rastrigin        f = a N + sum_i x_i^2 - a cos(2 pi x_i).  keys: dim, a = 10
  rosenbrock       f = sum_{i<N-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2.  keys: dim (>= 2)
  goe-quadratic    f = 1/2 x^T A x, A from the Gaussian orthogonal ensemble drawn from the seed:
                   off-diagonal variance sigma^2/N, diagonal 2 sigma^2/N; its spectrum tends to
                   the semicircle on [-2 sigma, 2 sigma].  keys: dim, sigma = 1
  p-spin           spherical pure p-spin H(s) = N^{-(p-1)/2} sum J_{i1..ip} s_i1 .. s_ip,
                   J ~ N(0,1) iid over all ordered index tuples, on the sphere |s|^2 = N.
                   The value reported (curves, tables, census) is the energy per spin E = H/N;
                   gradients, grad_tol and Hessians are those of H on the sphere (Riemannian:
                   optimizers see the projected gradient and every step is followed by the
                   retraction s <- sqrt(N) s/|s|; the census's Hessian has the N - 1 tangent
                   directions). p = 3 stores N^3 couplings.  keys: dim, p = 3 (2 or 3)
  gaussian-field   f = mu/2 |x|^2 + sqrt(2/M) sum_j a_j cos(w_j.x + b_j), a ~ N(0,1),
                   w ~ N(0, I/l^2), b ~ U[0, 2 pi): random features of an isotropic Gaussian
                   field (covariance exp(-|x-y|^2 / 2 l^2)) with a confining term; GEMM-based.
                   keys: dim, features = 1024 (M), length_scale = 1 (l), mu = 0.1
  mlp              teacher-student regression: a one-hidden-layer tanh student, parameters
                   x = [W1 (hidden x inputs), b1, W2 (outputs x hidden), b2], fitted by
                   L = 1/(2 samples) ||tanh(X W1^T + b1) W2^T + b2 - Y||^2 to Gaussian inputs X
                   labelled by a random tanh teacher of width teacher_hidden (plus noise).
                   keys: inputs = 100, hidden = 196, outputs = 1, samples = 256,
                   teacher_hidden = 8, noise = 0; dim = 19,993 by default (inferred)
  deep-linear      L = 1/(2n) ||W_L ... W_1 X - Y||_F^2, X (d_0 x n) Gaussian, Y = T X for a
                   Gaussian teacher T (d_L x d_0, variance 1/d_0); small starts give the
                   classic plateaus.  keys: widths = [10, 10, 10] (d_0 .. d_L), samples = 100;
                   dim = sum_l d_l d_(l-1) (inferred)
The GEMM-based kinds (p-spin, gaussian-field, mlp, deep-linear) also take tf32 = false: true
lets f32 GEMMs on CUDA use TF32 tensor cores (inputs rounded to 10 mantissa bits, about 1e-3
relative error per product instead of 1e-7); the CPU backend computes in f32 regardless.
)";
}

}  // namespace saddlescope
