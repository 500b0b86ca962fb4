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
#include "saddlescope/objective_registry.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

using config::kMaxCount;
using config::Section;

// saddle-free-newton decomposes a dense N x N Hessian per trajectory per step.
constexpr std::int64_t kMaxSaddleFreeNewtonDim = 4096;

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
    i.file_resolved = config::resolve_path(base_dir, i.file);
  }
  return i;
}

RunSpec read_run(const Section& s, std::int64_t dim) {
  s.allow_only({"trajectories", "max_steps", "grad_tol", "diverge_above", "record_every",
                "record_trajectories", "precision", "backend", "save_final_points", "record_paths",
                "target_loss", "target_accuracy", "checkpoint_every", "chunk_size",
                "sharpness_every"});
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
  r.target_accuracy = s.number("target_accuracy", std::nan(""), 0.0, 1.0, false, false, true);
  r.sharpness_every = s.integer("sharpness_every", 0, 0, kMaxCount);
  if (r.sharpness_every > 0 && r.sharpness_every % r.record_every != 0)
    s.fail("sharpness_every",
           fmt::format("is {}; it must be a multiple of run.record_every ({}): the sharpness is "
                       "measured at recorded points",
                       r.sharpness_every, r.record_every));
  if (r.sharpness_every > 0 && r.record_trajectories == 0)
    s.fail("sharpness_every",
           "needs recorded trajectories (run.record_trajectories >= 1): the sharpness is "
           "measured along them");
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
                "save_point_coords", "k", "probes", "lanczos_steps", "lanczos_tol"});
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
  a.method = s.choice("method", "eigh", {"eigh", "inertia", "lanczos", "slq", "none"});
  a.max_points = s.integer("max_points", 256, 1, 1'000'000);
  a.zero_tol = s.number("zero_tol", 1e-6, 0.0, 1.0);
  a.crit_tol = s.number("crit_tol", 1e-4, 0.0, 1e30);
  a.dedup_tol = s.number("dedup_tol", 0.0, 0.0, 1e30);
  a.precision =
      s.choice("precision", "f64", {"f32", "f64"}) == "f32" ? Precision::f32 : Precision::f64;
  a.save_point_coords = s.boolean("save_point_coords", false);
  // The Krylov methods' keys, refused under the others (they would do nothing).
  const std::pair<const char*, const char*> krylov_keys[] = {
      {"k", "lanczos"},
      {"probes", "slq"},
      {"lanczos_steps", "lanczos\" or \"slq"},
      {"lanczos_tol", "lanczos"}};
  for (const auto& [key, methods] : krylov_keys)
    if (s.node(key) && std::string(methods).find(a.method) == std::string::npos)
      s.fail(key, fmt::format("applies to analysis.method = \"{}\", and method is \"{}\"", methods,
                              a.method));
  a.k = s.integer("k", 10, 1, 10'000);
  a.probes = s.integer("probes", 8, 1, 10'000);
  a.lanczos_steps = s.integer("lanczos_steps", a.method == "slq" ? 80 : 200, 1, 100'000);
  a.lanczos_tol = s.number("lanczos_tol", a.precision == Precision::f32 ? 1e-4 : 1e-9, 1e-16, 1.0);
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

std::string quote(const std::string& s) { return config::toml_string(s); }

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
  e.objective = read_objective(*obj, base_dir);

  const toml::table empty;
  const auto init = top.table("init");
  e.init = read_init(init ? *init : Section(empty, "init", source), e.objective.dim, base_dir);
  const auto run = top.table("run");
  e.run = read_run(run ? *run : Section(empty, "run", source), e.objective.dim);

  if (!std::isnan(e.run.target_accuracy) && !e.objective.classifies())
    (run ? *run : Section(empty, "run", source))
        .fail("target_accuracy",
              "needs a classifier: kind = \"network\" with loss = \"cross-entropy\", or mse on "
              "data whose every target row is one-hot");
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
  s << objective_toml(e.objective);
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
  if (!std::isnan(r.target_accuracy))
    s << "target_accuracy = " << fmt_double(r.target_accuracy) << "\n";
  s << "checkpoint_every = " << fmt_double(r.checkpoint_every) << "\n";
  if (r.sharpness_every > 0) s << "sharpness_every = " << r.sharpness_every << "\n";
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
  if (a.method == "lanczos") s << "k = " << a.k << "\n";
  if (a.method == "slq") s << "probes = " << a.probes << "\n";
  if (a.krylov()) s << "lanczos_steps = " << a.lanczos_steps << "\n";
  if (a.method == "lanczos") s << "lanczos_tol = " << fmt_double(a.lanczos_tol) << "\n";
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

}  // namespace saddlescope
