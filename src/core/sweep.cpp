// Sweeps over experiment keys (docs/experiment.md [sweep], docs/run-directory.md
// Sweeps). A point's experiment is the file without [sweep], with --set and
// then the point's values applied as --set overrides, so a point runs exactly
// as `saddlescope run` of that experiment would, bit for bit.
#include "saddlescope/sweep.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config.hpp"
#include "npy.hpp"
#include "saddlescope/comm.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

namespace fs = std::filesystem;

// Sections whose keys may be swept as "section.key" (optimizer: also
// "optimizer.key" for every optimizer and "optimizer.N.key" for one).
const std::vector<std::string> kSweepSections = {"objective", "init",     "run",   "optimizer",
                                                 "plateau",   "analysis", "finder"};

const char* kResumeHint = "saddlescope run --resume";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const bool exists = fs::exists(path);
    throw InputError(fmt::format(
        "{}: {}", path, exists ? "cannot be read (permissions?)" : "no such experiment file"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string g17(double v) { return fmt::format("{:.17g}", v); }

using config::toml_string;

// The TOML text of a swept value (an --set value); "" for what cannot be swept
// (tables, dates).
std::string toml_text(const toml::node& n) {
  if (n.is_string()) return toml_string(n.as_string()->get());
  if (n.is_integer()) return std::to_string(n.as_integer()->get());
  if (n.is_boolean()) return n.as_boolean()->get() ? "true" : "false";
  if (n.is_floating_point()) {
    const double d = n.as_floating_point()->get();
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    std::string s = fmt::format("{}", d);  // shortest text that reads back exactly
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";
    return s;
  }
  if (const toml::array* a = n.as_array()) {
    std::string s = "[";
    for (std::size_t i = 0; i < a->size(); ++i) {
      const std::string el = toml_text(*a->get(i));
      if (el.empty()) return "";
      s += (i ? ", " : "") + el;
    }
    return s + "]";
  }
  return "";
}

// How a value is shown in progress, tables and sweep.csv: strings without quotes.
std::string display_text(const toml::node& n) {
  return n.is_string() ? n.as_string()->get() : toml_text(n);
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  return out;
}

// One swept key: its path, the list of values and where it was written.
struct Entry {
  std::string key;
  std::vector<std::string> parts;
  const toml::array* values = nullptr;
  toml::source_region where;
};

// The [sweep] lines blanked out (line numbers of everything else kept, so
// that messages about the other sections point into the file). When the
// result does not read back as the file without [sweep] (an unusual layout),
// the file without [sweep] as written by toml++ instead.
std::string strip_sweep(const std::string& text, const toml::table& doc,
                        const std::string& source) {
  toml::table want = doc;
  want.erase("sweep");
  const toml::node* sw = doc.get("sweep");
  std::vector<std::string> lines;
  {
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      lines.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }
  std::vector<bool> blank(lines.size() + 2, false);
  auto mark = [&](std::size_t a, std::size_t b) {
    for (std::size_t l = std::max<std::size_t>(a, 1); l <= b && l <= lines.size(); ++l)
      blank[l] = true;
  };
  mark(sw->source().begin.line, sw->source().begin.line);
  if (const toml::table* t = sw->as_table())
    for (const auto& [k, v] : *t)
      mark(std::min(k.source().begin.line, v.source().begin.line), v.source().end.line);
  std::string out;
  for (std::size_t l = 1; l <= lines.size(); ++l) out += (blank[l] ? "" : lines[l - 1]) + "\n";
  try {
    const toml::table got = toml::parse(out, std::string_view{source});
    if (got == want) return out;
  } catch (const toml::parse_error&) {
  }
  std::ostringstream s;
  s << toml::toml_formatter(want) << "\n";
  return s.str();
}

std::string digits_name(std::size_t k, std::size_t count) {
  std::size_t width = 3;
  for (std::size_t n = count > 0 ? count - 1 : 0; n >= 1000; n /= 10) ++width;
  return fmt::format("{:0{}}", k, width);
}

// How parse_experiment names the key in its messages.
std::vector<std::string> message_paths(const Entry& en, std::size_t optimizers) {
  if (en.parts[0] != "optimizer") return {en.key};
  if (en.parts.size() == 3) return {fmt::format("optimizer[{}].{}", en.parts[1], en.parts[2])};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < optimizers; ++i)
    out.push_back(fmt::format("optimizer[{}].{}", i, en.parts[1]));
  return out;
}

bool is_relative_path(const toml::node* n) {
  return n && n->is_string() && !fs::path(n->as_string()->get()).is_absolute();
}

void make_absolute(toml::node* n, const std::string& base_dir) {
  if (is_relative_path(n))
    n->as_string()->get() = config::resolve_path(base_dir, n->as_string()->get());
}

// --- headline statistics of a finished point (docs/run-directory.md Sweeps) ---

const std::vector<std::string> kHeadline = {
    "distinct_points", "critical_points",  "saddle_fraction", "saddle_fraction_weighted",
    "distinct_minima", "distinct_saddles", "distinct_maxima", "distinct_degenerate",
    "index_mean",      "index_median",     "index_max",       "premature_stops"};
const std::vector<std::string> kPerOptimizer = {"label",
                                                "converged_fraction",
                                                "final_loss_median",
                                                "trajectories_with_plateaus",
                                                "plateau_steps_median",
                                                "fraction_reached",
                                                "steps_to_target_median"};

std::vector<std::string> headline_columns(std::size_t optimizers) {
  std::vector<std::string> c = kHeadline;
  for (std::size_t i = 0; i < optimizers; ++i)
    for (const auto& k : kPerOptimizer) c.push_back(fmt::format("optimizer.{}.{}", i, k));
  return c;
}

// The field at `path`, or nullptr when any part is missing (fields written by
// newer or older versions are read null-safely).
const nlohmann::json* field(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* p = &j;
  for (const char* k : path) {
    if (!p->is_object()) return nullptr;
    const auto it = p->find(k);
    if (it == p->end()) return nullptr;
    p = &*it;
  }
  return p;
}

std::string cell(const nlohmann::json* v) {
  if (!v || v->is_null()) return "";
  if (v->is_number_unsigned()) return std::to_string(v->get<std::uint64_t>());
  if (v->is_number_integer()) return std::to_string(v->get<std::int64_t>());
  if (v->is_number_float()) return g17(v->get<double>());
  if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
  if (v->is_string()) return v->get<std::string>();
  return "";
}

// Indices of the distinct critical points (failed solves excluded): from
// distinct.csv where it has the columns, else from census.index_histogram.
std::vector<double> critical_indices(const fs::path& dir, const nlohmann::json& census) {
  std::vector<double> out;
  std::ifstream in(dir / "distinct.csv");
  std::string line;
  if (in && std::getline(in, line)) {
    const auto head = split_csv_line(line);
    const auto col = [&](const char* name) {
      return static_cast<std::size_t>(std::find(head.begin(), head.end(), name) - head.begin());
    };
    const std::size_t ci = col("critical"), ii = col("index"), cl = col("class");
    if (ci < head.size() && ii < head.size()) {
      while (std::getline(in, line)) {
        const auto row = split_csv_line(line);
        if (row.size() != head.size() || row[ci] != "1" || row[ii].empty()) continue;
        if (cl < head.size() && row[cl] == "failed") continue;
        out.push_back(std::strtod(row[ii].c_str(), nullptr));
      }
      return out;
    }
  }
  if (const auto* h = field(census, {"index_histogram"}); h && h->is_object())
    for (const auto& [index, count] : h->items())
      if (count.is_number())
        for (std::int64_t c = 0; c < count.get<std::int64_t>(); ++c)
          out.push_back(std::strtod(index.c_str(), nullptr));
  return out;
}

std::vector<std::string> headline(const fs::path& dir, std::size_t optimizers) {
  const std::vector<std::string> columns = headline_columns(optimizers);
  std::vector<std::string> row(columns.size());
  nlohmann::json s;
  try {
    s = nlohmann::json::parse(read_text((dir / "summary.json").string()));
  } catch (const nlohmann::json::exception& err) {
    throw Error(fmt::format("{}: unreadable summary.json: {}", dir.string(), err.what()), 1);
  }
  std::map<std::string, std::string> v;
  if (const auto* c = field(s, {"census"}); c && c->is_object()) {
    v["distinct_points"] = cell(field(*c, {"distinct_points"}));
    v["critical_points"] = cell(field(*c, {"critical_points"}));
    v["saddle_fraction"] = cell(field(*c, {"saddle_fraction_among_critical"}));
    v["saddle_fraction_weighted"] =
        cell(field(*c, {"multiplicity_weighted", "saddle_fraction_among_critical"}));
    v["distinct_minima"] = cell(field(*c, {"classes", "minimum"}));
    v["distinct_saddles"] = cell(field(*c, {"classes", "saddle"}));
    v["distinct_maxima"] = cell(field(*c, {"classes", "maximum"}));
    v["distinct_degenerate"] = cell(field(*c, {"classes", "degenerate"}));
    const std::vector<double> idx = critical_indices(dir, *c);
    if (!idx.empty()) {
      double sum = 0;
      for (const double x : idx) sum += x;
      const Quantiles q = quantiles(idx);
      v["index_mean"] = g17(sum / static_cast<double>(idx.size()));
      v["index_median"] = g17(q.median);
      v["index_max"] = g17(q.max);
    }
    v["premature_stops"] = cell(field(*c, {"stopped_at_saddle", "count"}));
  }
  const auto* opts = field(s, {"optimizers"});
  const auto* traj = field(s, {"trajectories"});
  for (std::size_t i = 0; opts && opts->is_array() && i < std::min(optimizers, opts->size()); ++i) {
    const nlohmann::json& o = (*opts)[i];
    const std::string p = fmt::format("optimizer.{}.", i);
    v[p + "label"] = cell(field(o, {"label"}));
    const auto* conv = field(o, {"outcomes", "converged"});
    if (conv && conv->is_number() && traj && traj->is_number() && traj->get<double>() > 0)
      v[p + "converged_fraction"] = g17(conv->get<double>() / traj->get<double>());
    v[p + "final_loss_median"] = cell(field(o, {"final_loss", "median"}));
    v[p + "trajectories_with_plateaus"] =
        cell(field(o, {"plateaus", "trajectories_with_plateaus"}));
    v[p + "plateau_steps_median"] = cell(field(o, {"plateaus", "plateau_steps", "median"}));
    v[p + "fraction_reached"] = cell(field(o, {"comparison", "fraction_reached"}));
    v[p + "steps_to_target_median"] = cell(field(o, {"comparison", "steps_to_target", "median"}));
  }
  for (std::size_t c = 0; c < columns.size(); ++c)
    if (const auto it = v.find(columns[c]); it != v.end()) row[c] = it->second;
  return row;
}

struct Row {
  std::size_t point = 0;
  std::vector<std::string> cells;  // headline_columns order
};

std::string csv_text(const Sweep& s, const std::vector<Row>& rows) {
  const std::size_t opts = s.points.empty() ? 0 : s.points[0].experiment.optimizers.size();
  std::string out = "point,dir";
  for (const auto& k : s.keys) out += "," + csv_cell(k);
  for (const auto& c : headline_columns(opts)) out += "," + c;
  out += "\n";
  for (const auto& r : rows) {
    const SweepPoint& p = s.points[r.point];
    out += fmt::format("{},{}", p.index, p.dir);
    for (const auto& v : p.values) out += "," + csv_cell(v);
    for (const auto& c : r.cells) out += "," + csv_cell(c);
    out += "\n";
  }
  return out;
}

// A cell for people: numbers to 4 significant digits, "-" when empty.
std::string short_num(const std::string& t) {
  if (t.empty()) return "-";
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  return end && *end == '\0' ? fmt::format("{:.4g}", v) : t;
}

// The table printed at the end (stdout).
void print_table(const Sweep& s, const std::vector<Row>& rows, const std::string& dir,
                 double seconds) {
  const std::size_t opts = s.points.empty() ? 0 : s.points[0].experiment.optimizers.size();
  const std::vector<std::string> columns = headline_columns(opts);
  auto col = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(columns.begin(), columns.end(), name) -
                                    columns.begin());
  };
  std::vector<std::string> head = {"point"};
  head.insert(head.end(), s.keys.begin(), s.keys.end());
  const std::vector<std::pair<std::string, std::string>> shown = {
      {"distinct", "distinct_points"},    {"critical", "critical_points"},
      {"saddle_frac", "saddle_fraction"}, {"minima", "distinct_minima"},
      {"saddles", "distinct_saddles"},    {"index_mean", "index_mean"},
      {"premature", "premature_stops"}};
  for (const auto& [title, c] : shown) head.push_back(title);
  for (std::size_t i = 0; i < opts; ++i)
    head.push_back(fmt::format("converged[{}]", s.points[0].experiment.optimizers[i].label));
  std::vector<std::vector<std::string>> table = {head};
  for (const auto& r : rows) {
    std::vector<std::string> line = {s.points[r.point].dir.substr(6)};
    for (const auto& v : s.points[r.point].values) line.push_back(v);
    for (const auto& [title, c] : shown) line.push_back(short_num(r.cells[col(c)]));
    for (std::size_t i = 0; i < opts; ++i)
      line.push_back(short_num(r.cells[col(fmt::format("optimizer.{}.converged_fraction", i))]));
    table.push_back(line);
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& line : table)
    for (std::size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  fmt::print("saddlescope {}: sweep {} ({} points over {})\n", SADDLESCOPE_VERSION, s.name,
             s.points.size(), fmt::join(s.keys, " x "));
  for (const auto& line : table) {
    std::string text;
    for (std::size_t c = 0; c < line.size(); ++c)
      text += fmt::format(c == 0 ? "{:<{}}" : "  {:>{}}", line[c], width[c]);
    fmt::print("{}\n", text);
  }
  fmt::print("time: {:.2f} s; results in {} (sweep.csv, sweep/NNN/)\n", seconds, dir);
}

// Errors of one point carry the point (and keep their exit code).
template <class F>
auto at_point(const Sweep& s, std::size_t k, F&& f) -> decltype(f()) {
  const std::string what = fmt::format("sweep point {}/{} ({}: {})", k + 1, s.points.size(),
                                       s.points[k].dir, s.describe(k));
  try {
    return f();
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", what, e.what()));
  } catch (const ResourceError& e) {
    throw ResourceError(fmt::format("{}: {}", what, e.what()));
  } catch (const Interrupted&) {
    throw;
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", what, e.what()), e.exit_code());
  }
}

// One backend per requested kind, selected once (the note goes to stderr
// unless quiet, and is kept in notes()).
class Backends {
 public:
  Backends(std::string override_backend, bool quiet, BackendSelector select)
      : override_(std::move(override_backend)), quiet_(quiet), select_(std::move(select)) {}
  Backend& get(const Experiment& e) {
    const std::string want = override_.empty() ? e.run.backend : override_;
    auto& b = backends_[want];
    if (!b) {
      std::string note;
      b = select_(want, note);
      notes_.push_back(note);
      if (!quiet_ && world().root()) std::fprintf(stderr, "%s\n", note.c_str());
    }
    return *b;
  }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::string override_;
  bool quiet_;
  BackendSelector select_;
  std::map<std::string, std::unique_ptr<Backend>> backends_;
  std::vector<std::string> notes_;
};

bool stop_requested(const SweepOptions& o) {
  return (o.stop && *o.stop) || world().stop_requested();
}

// Under MPI the ranks form min(R, points) groups of contiguous ranks; point
// k belongs to group k mod G (round robin: a sweep over growing sizes
// spreads its large points), and a group of several ranks shares each of its
// points' work (docs/design.md II.6). The groups depend on R and the sweep
// only, so a resume with the same R finds each point's checkpoints.
int sweep_groups(std::size_t points, int ranks) {
  return static_cast<int>(std::min<std::size_t>(points, static_cast<std::size_t>(ranks)));
}
int group_of_rank(int rank, int ranks, int groups) {
  for (int g = 0; g < groups; ++g)
    if (rank < share_of(ranks, g, groups).end()) return g;
  return groups - 1;
}

// A point's start file, ranks and memory plan (under MPI: for the largest
// share its group's ranks take).
MemoryPlan check_point(const Sweep& s, std::size_t k, Backends& backends) {
  const Experiment& e = s.points[k].experiment;
  check_start_file(e);
  const int ranks = world().size(), groups = sweep_groups(s.points.size(), ranks);
  const int group_ranks =
      static_cast<int>(share_of(ranks, static_cast<int>(k) % groups, groups).count);
  check_ranks(e, group_ranks);
  return plan_memory(rank_experiment(e, 0, group_ranks), backends.get(e));
}

// Runs the unfinished points of a sweep directory (every point of a new one)
// in order; finished points (summary.json) are kept. Writes sweep.csv after
// every point and summary.json last.
void run_points(const Sweep& s, const fs::path& dir, const SweepOptions& o, Backends& backends) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t n = s.points.size();
  const std::size_t opts = s.points[0].experiment.optimizers.size();
  Comm& all = world();
  const int groups = sweep_groups(n, all.size());
  const int mine = group_of_rank(all.rank(), all.size(), groups);
  {
    const std::unique_ptr<Comm> group = all.split(mine);
    const UseComm scope(*group);
    Comm& comm = *group;  // this group's ranks: they share each of its points
    // The group's rank 0 decides from the directory, writes it and names its points.
    const bool talk = !o.quiet && comm.root();
    for (std::size_t k = static_cast<std::size_t>(mine); k < n;
         k += static_cast<std::size_t>(groups)) {
      const SweepPoint& p = s.points[k];
      const Experiment& e = p.experiment;
      const fs::path pdir = dir / p.dir;
      if (comm.broadcast(comm.root() && fs::exists(pdir / "summary.json")))  // finished before
        continue;
      if (stop_requested(o))
        throw Interrupted(
            fmt::format("interrupted before sweep point {}/{}; continue the sweep with: {}{} {}",
                        k + 1, n, all.size() > 1 ? fmt::format("mpirun -np {} ", all.size()) : "",
                        kResumeHint, dir.string()));
      if (o.before_point) o.before_point(k);
      const bool resume =
          comm.broadcast(comm.root() && !checkpoint_files(pdir.string()).empty()) != 0;
      if (talk)
        std::fprintf(
            stderr, "sweep point %zu/%zu (%s) -> %s%s%s\n", k + 1, n, s.describe(k).c_str(),
            pdir.string().c_str(), resume ? " (resuming from its checkpoint)" : "",
            groups > 1 ? fmt::format(" [ranks {}-{}]", share_of(all.size(), mine, groups).first,
                                     share_of(all.size(), mine, groups).end() - 1)
                             .c_str()
                       : "");
      const auto tp = std::chrono::steady_clock::now();
      at_point(s, k, [&] {
        Backend& backend = backends.get(e);
        if (!resume && comm.root()) {
          // A point directory without a checkpoint and without summary.json was
          // cut short before its first checkpoint: it starts again.
          std::error_code ec;
          fs::remove_all(pdir, ec);
          prepare_run_dir(pdir.string(), e);
        }
        if (comm.size() > 1) comm.max(0);  // the point's directory is ready
        Checkpointing cp;
        cp.path = checkpoint_file(pdir.string());
        cp.every_seconds = e.run.checkpoint_every;
        cp.resume = resume;
        cp.stop = o.stop;
        RunResult r;
        try {
          r = run_experiment(e, backend, o.quiet ? ProgressFn{} : stderr_progress(e), &cp);
        } catch (const Interrupted& x) {
          throw Interrupted(fmt::format(
              "{} at sweep point {}/{} ({}): its finished work is saved in {}; continue "
              "the sweep with: {}{} {}",
              all.stop_requested() ? all.why() : "interrupted", k + 1, n, s.describe(k), cp.path,
              all.size() > 1 ? fmt::format("mpirun -np {} ", all.size()) : "", kResumeHint,
              dir.string()));
        }
        if (comm.root()) write_results(pdir.string(), e, r);
        return 0;
      });
      if (!comm.root()) continue;
      if (all.root()) npy::write_text((dir / "sweep.csv").string(), sweep_csv(s, dir.string()));
      if (talk) {
        const auto c = headline(pdir, opts);
        const auto columns = headline_columns(opts);
        auto get = [&](const char* name) {
          return short_num(c[static_cast<std::size_t>(
              std::find(columns.begin(), columns.end(), name) - columns.begin())]);
        };
        std::fprintf(stderr,
                     "sweep point %zu/%zu done in %.2f s: saddle fraction %s among %s distinct "
                     "critical points, %s distinct minima\n",
                     k + 1, n,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - tp).count(),
                     get("saddle_fraction").c_str(), get("critical_points").c_str(),
                     get("distinct_minima").c_str());
      }
    }
  }
  if (all.size() > 1) all.max(0);  // every group's points are written
  if (!all.root()) return;
  std::vector<Row> rows;
  for (std::size_t k = 0; k < n; ++k) rows.push_back({k, headline(dir / s.points[k].dir, opts)});
  // sweep.csv once more: every point finished.
  npy::write_text((dir / "sweep.csv").string(), csv_text(s, rows));
  nlohmann::json summary;
  summary["schema_version"] = 2;
  summary["version"] = SADDLESCOPE_VERSION;
  summary["kind"] = "sweep";
  summary["name"] = s.name;
  summary["keys"] = s.keys;
  summary["points"] = n;
  summary["files"] = {"sweep.toml", "sweep", "sweep.csv", "summary.json"};
  npy::write_text((dir / "summary.json").string(), summary.dump(2) + "\n");
  if (!o.quiet)
    print_table(s, rows, dir.string(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

std::string Sweep::describe(std::size_t point) const {
  std::string out;
  for (std::size_t j = 0; j < keys.size(); ++j)
    out += fmt::format("{}{}={}", j ? ", " : "", keys[j], points[point].values[j]);
  return out;
}

bool text_has_sweep(const std::string& text) {
  if (config::first_non_ascii_line(text) != 0) return false;
  try {
    const toml::table doc = toml::parse(text);
    return doc.contains("sweep");
  } catch (const toml::parse_error&) {
    return false;
  }
}

bool file_has_sweep(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  return text_has_sweep(ss.str());
}

bool is_sweep_dir(const std::string& dir) {
  return fs::is_regular_file(fs::path(dir) / "sweep.toml");
}

Sweep parse_sweep(const std::string& text, const std::string& source,
                  const std::vector<std::string>& sets, const std::string& base_dir,
                  const std::string& backend) {
  toml::table doc = config::parse_ascii_toml(text, source);
  toml::table with_sets = doc;
  for (const auto& a : sets) config::apply_set(with_sets, a);
  const toml::node* swn = with_sets.get("sweep");
  if (!swn) throw InputError(fmt::format("{}: no [sweep] table", source));
  const toml::table* sw = swn->as_table();
  if (!sw)
    throw InputError(
        fmt::format("{}: sweep must be a table: [sweep] with \"section.key\" = [values] lines "
                    "(docs/experiment.md [sweep])",
                    config::where(source, swn->source())));

  // The keys in file order (a TOML table iterates in key order).
  std::vector<Entry> entries;
  for (const auto& [k, v] : *sw) {
    Entry en;
    en.key = std::string(k.str());
    en.where = k.source().begin.line ? k.source() : v.source();
    en.values = v.as_array();
    entries.push_back(en);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::make_pair(a.where.begin.line, a.where.begin.column) <
           std::make_pair(b.where.begin.line, b.where.begin.column);
  });
  if (entries.empty())
    throw InputError(
        fmt::format("{}: [sweep] holds no keys; give \"section.key\" = [values], for example "
                    "\"objective.dim\" = [5, 10, 20] (docs/experiment.md [sweep])",
                    sw->source().begin.line ? config::where(source, sw->source()) : source));

  const toml::array* optimizers = with_sets["optimizer"].as_array();
  const std::size_t n_opt = optimizers ? optimizers->size() : 0;
  std::vector<std::string> valid_top = {"seed"};
  valid_top.insert(valid_top.end(), kSweepSections.begin(), kSweepSections.end());
  for (auto& en : entries) {
    const std::string loc = config::where(source, en.where);
    auto fail = [&](const std::string& message) {
      throw InputError(fmt::format("{}: [sweep] \"{}\" {}", loc, en.key, message));
    };
    {
      std::stringstream ss(en.key);
      for (std::string p; std::getline(ss, p, '.');) en.parts.push_back(p);
      if (en.key.empty() || en.key.back() == '.' ||
          std::find(en.parts.begin(), en.parts.end(), "") != en.parts.end())
        fail("is not a key path: write \"section.key\" (quoted), for example \"objective.dim\"");
    }
    const std::string& top = en.parts[0];
    if (const toml::node* v = sw->get(en.key); v && v->is_table())
      fail(
          fmt::format("is a table: write each swept key as one quoted path, for example "
                      "\"{}.KEY\" = [values]",
                      en.key));
    if (top == "name")
      fail("cannot be swept: each point is named <name>-NNN after its directory sweep/NNN");
    if (top == "sweep") fail("cannot be swept");
    if (en.parts.size() == 1 && top != "seed") {
      if (std::find(kSweepSections.begin(), kSweepSections.end(), top) != kSweepSections.end())
        fail(fmt::format("names a section; sweep one of its keys: \"{}.KEY\"", top));
      const std::string near = config::nearest(top, valid_top);
      fail(
          fmt::format("is not a key of the experiment{}; sweepable: \"seed\" and "
                      "\"section.key\" for the sections {}, \"optimizer.N.key\"",
                      near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near),
                      fmt::format("{}", fmt::join(kSweepSections, ", "))));
    }
    if (en.parts.size() > 1 &&
        std::find(kSweepSections.begin(), kSweepSections.end(), top) == kSweepSections.end()) {
      const std::string near = config::nearest(top, valid_top);
      fail(
          fmt::format("names an unknown section '{}'{}; sweepable: \"seed\" and \"section.key\" "
                      "for the sections {}",
                      top, near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near),
                      fmt::format("{}", fmt::join(kSweepSections, ", "))));
    }
    if (top == "seed" && en.parts.size() != 1) fail("is not a key path: seed is a top-level key");
    if (top == "optimizer") {
      if (n_opt == 0) fail("names an optimizer, and the experiment has no [[optimizer]]");
      if (en.parts.size() == 3) {
        const std::string& idx = en.parts[1];
        if (idx.find_first_not_of("0123456789") != std::string::npos || idx.size() > 6)
          fail(
              fmt::format("'{}' is not an optimizer index: use \"optimizer.N.key\" with N from "
                          "0 to {} (file order), or \"optimizer.key\" for every optimizer",
                          idx, n_opt - 1));
        if (std::stoul(idx) >= n_opt)
          fail(
              fmt::format("optimizer index {} is out of range: the experiment has {} "
                          "[[optimizer]] (0 to {})",
                          idx, n_opt, n_opt - 1));
      } else if (en.parts.size() != 2) {
        fail("use \"optimizer.N.key\" (one optimizer, 0-based) or \"optimizer.key\" (every one)");
      }
    } else if (top != "seed" && en.parts.size() != 2) {
      fail(fmt::format("is too deep: use \"{}.key\"", top));
    }
    if (!en.values) {
      const std::string got = toml_text(*sw->get(en.key));
      fail(fmt::format("must be a list of values, for example [5, 10, 20]; got {}",
                       got.empty() ? "a date or time" : got));
    }
    if (en.values->empty()) fail("= [] is empty: give at least one value");
    for (std::size_t i = 0; i < en.values->size(); ++i)
      if (toml_text(*en.values->get(i)).empty())
        throw InputError(fmt::format(
            "{}: [sweep] \"{}\" element {} cannot be swept: values are numbers, strings, "
            "booleans or arrays of them",
            config::where(source, en.values->get(i)->source()), en.key, i));
  }
  // Keys setting the same value twice would hide one of them.
  for (std::size_t a = 0; a < entries.size(); ++a)
    for (std::size_t b = 0; b < entries.size(); ++b) {
      const Entry &x = entries[a], &y = entries[b];
      if (x.parts[0] == "optimizer" && y.parts[0] == "optimizer" && x.parts.size() == 2 &&
          y.parts.size() == 3 && x.parts[1] == y.parts[2])
        throw InputError(fmt::format(
            "{}: [sweep] \"{}\" and \"{}\" both set optimizer {}'s {}: sweep one of them",
            config::where(source, y.where), x.key, y.key, y.parts[1], x.parts[1]));
    }

  std::size_t total = 1;
  for (const auto& en : entries) {
    total *= en.values->size();
    if (total > kMaxSweepPoints) {
      std::string sizes;
      for (const auto& e2 : entries)
        sizes += fmt::format("{}{} ({})", sizes.empty() ? "" : " x ", e2.values->size(), e2.key);
      throw InputError(fmt::format(
          "{}: [sweep] has too many points: {} is more than {}; sweep fewer values or split the "
          "sweep into several experiments",
          source, sizes, kMaxSweepPoints));
    }
  }

  Sweep s;
  s.source = source;
  for (const auto& en : entries) s.keys.push_back(en.key);
  {
    // The base name names the points: checked here, where it is written.
    const config::Section top(with_sets, "", source);
    s.name = top.string("name", "experiment");
    if (s.name.empty() ||
        s.name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            std::string::npos)
      top.fail("name", fmt::format("= \"{}\" must be non-empty and use only letters, digits, '.', "
                                   "'_' and '-' (it names the run directory)",
                                   s.name));
  }

  // sweep.toml: the file itself when that is what ran; else the file with
  // --set (and --backend) applied and relative start and data files made absolute,
  // written by toml++ with [sweep] in file order.
  const toml::node* init_file = with_sets["init"]["file"].node();
  const toml::node* finder_file = with_sets["finder"]["init"]["file"].node();
  bool relative = is_relative_path(init_file) || is_relative_path(finder_file) ||
                  is_relative_path(with_sets["objective"]["data"]["x"].node()) ||
                  is_relative_path(with_sets["objective"]["data"]["y"].node());
  const auto is_path = [](const std::string& key) {
    return key == "init.file" || key == "objective.data.x" || key == "objective.data.y";
  };
  for (const auto& en : entries)
    if (is_path(en.key))
      for (const auto& v : *en.values) relative = relative || is_relative_path(&v);
  if (sets.empty() && backend.empty() && !relative) {
    s.text = text;
  } else {
    toml::table out = with_sets;
    out.erase("sweep");
    if (!backend.empty()) {
      if (!out.contains("run")) out.insert("run", toml::table{});
      if (toml::table* run = out["run"].as_table()) run->insert_or_assign("backend", backend);
    }
    make_absolute(out["init"]["file"].node(), base_dir);
    make_absolute(out["finder"]["init"]["file"].node(), base_dir);
    make_absolute(out["objective"]["data"]["x"].node(), base_dir);
    make_absolute(out["objective"]["data"]["y"].node(), base_dir);
    std::ostringstream ss;
    ss << "# " << source;
    for (const auto& a : sets) ss << " --set " << a;
    if (!backend.empty()) ss << " --backend " << backend;
    ss << "\n# written by saddlescope run: a sweep (docs/experiment.md [sweep]); run --resume "
          "reads it\n";
    ss << toml::toml_formatter(out) << "\n\n[sweep]\n";
    for (const auto& en : entries) {
      toml::array values = *en.values;
      if (is_path(en.key))
        for (auto& v : values) make_absolute(&v, base_dir);
      ss << toml_string(en.key) << " = " << toml_text(values) << "\n";
    }
    s.text = ss.str();
  }

  // Every point, parsed and validated as `saddlescope run` would parse it.
  const std::string base_text = strip_sweep(text, doc, source);
  std::vector<std::size_t> idx(entries.size(), 0);
  for (std::size_t k = 0; k < total; ++k) {
    std::size_t rest = k;
    for (std::size_t j = entries.size(); j-- > 0;) {
      idx[j] = rest % entries[j].values->size();
      rest /= entries[j].values->size();
    }
    SweepPoint p;
    p.index = k;
    const std::string nnn = digits_name(k, total);
    p.dir = "sweep/" + nnn;
    std::vector<std::string> point_sets = sets;
    for (std::size_t j = 0; j < entries.size(); ++j) {
      const toml::node& v = *entries[j].values->get(idx[j]);
      p.values.push_back(display_text(v));
      point_sets.push_back(entries[j].key + "=" + toml_text(v));
    }
    if (!backend.empty()) point_sets.push_back("run.backend=" + toml_string(backend));
    point_sets.push_back("name=" + toml_string(s.name + "-" + nnn));
    s.points.push_back(std::move(p));
    SweepPoint& pt = s.points.back();
    try {
      pt.experiment = parse_experiment(base_text, source, point_sets, base_dir);
    } catch (const InputError& err) {
      const std::string msg = err.what();
      const std::string desc = s.describe(k);
      for (std::size_t j = 0; j < entries.size(); ++j)
        for (const auto& path : message_paths(entries[j], n_opt)) {
          if (msg.find(": " + path + " ") == std::string::npos &&
              msg.find("'" + path + "'") == std::string::npos)
            continue;
          const std::string inner = msg.rfind("--set: ", 0) == 0 ? msg.substr(7) : msg;
          const toml::node& v = *entries[j].values->get(idx[j]);
          throw InputError(fmt::format(
              "{}: [sweep] \"{}\" = {} at sweep point {}/{} ({}): {}",
              config::where(source, v.source().begin.line ? v.source() : entries[j].where),
              entries[j].key, toml_text(v), k + 1, total, desc, inner));
        }
      throw InputError(
          fmt::format("{}: at sweep point {}/{} ({}): {}", source, k + 1, total, desc, msg));
    }
  }
  return s;
}

Sweep load_sweep(const std::string& path, const std::vector<std::string>& sets,
                 const std::string& backend) {
  const std::string base = fs::path(path).parent_path().string();
  return parse_sweep(read_text(path), path, sets, base.empty() ? "." : base, backend);
}

void run_sweep(const Sweep& s, const std::string& dir_in, const SweepOptions& o,
               const BackendSelector& select) {
  Backends backends(o.backend, o.quiet, select);
  // Every point's start file and memory plan (this rank's share) before anything is written.
  Comm& comm = world();
  for (std::size_t k = 0; k < s.points.size(); ++k)
    at_point(s, k, [&] { return check_point(s, k, backends); });
  std::string dir = dir_in;
  if (dir.empty()) {
    Experiment named = s.points[0].experiment;
    named.name = s.name;
    dir = default_run_dir(named);
  }
  if (stop_requested(o)) throw Interrupted("interrupted before the sweep started; nothing written");
  if (comm.size() > 1) comm.max(0);  // every rank checked every point: now write
  if (comm.root()) prepare_output_dir(dir, "sweep.toml", s.text);
  if (comm.size() > 1) {
    comm.max(0);                     // the directory exists (or rank 0 failed and every rank stops)
    dir = comm.broadcast_text(dir);  // rank 0's (a default name has a timestamp)
  }
  if (!o.quiet && comm.root())
    std::fprintf(stderr, "sweep %s: %zu points over %s; results in %s\n", s.name.c_str(),
                 s.points.size(), fmt::format("{}", fmt::join(s.keys, " x ")).c_str(), dir.c_str());
  run_points(s, dir, o, backends);
}

void resume_sweep(const std::string& dir, const SweepOptions& o, const BackendSelector& select) {
  const fs::path d(dir);
  if (!fs::is_directory(d))
    throw InputError(fmt::format("run --resume {}: no such run directory", dir));
  if (!is_sweep_dir(dir))
    throw InputError(fmt::format("run --resume {}: no sweep.toml there: not a sweep", dir));
  if (fs::exists(d / "summary.json"))
    throw InputError(fmt::format(
        "run --resume {}: the sweep finished (summary.json exists); nothing to resume", dir));
  const Sweep s = load_sweep((d / "sweep.toml").string());
  Backends backends(o.backend, o.quiet, select);
  std::size_t done = 0;
  for (std::size_t k = 0; k < s.points.size(); ++k) {
    const fs::path pdir = d / s.points[k].dir;
    const Experiment& e = s.points[k].experiment;
    if (fs::exists(pdir / "config.toml") &&
        read_text((pdir / "config.toml").string()) != to_toml(e))
      throw InputError(fmt::format(
          "run --resume {}: {}/config.toml is not point {} of sweep.toml ({}); the sweep "
          "directory was changed",
          dir, s.points[k].dir, k, s.describe(k)));
    if (fs::exists(pdir / "summary.json")) {
      ++done;
      continue;
    }
    at_point(s, k, [&] { return check_point(s, k, backends); });
    // Its checkpoints hold the shares of the group that ran it: the same ranks must continue.
    const int ranks = world().size(), groups = sweep_groups(s.points.size(), ranks);
    const std::int64_t want = share_of(ranks, static_cast<int>(k) % groups, groups).count;
    for (const std::string& f : checkpoint_files(pdir.string())) {
      const int had = checkpoint_ranks(fs::path(f).filename().string());
      if (had != want)
        throw InputError(fmt::format(
            "run --resume {}: sweep point {} ({}) was checkpointed by {} rank{} and would now "
            "run on {}: resume the sweep with the number of MPI ranks it was started with "
            "(each checkpoint holds one rank's share)",
            dir, s.points[k].dir, s.describe(k), had, had == 1 ? "" : "s", want));
    }
  }
  if (!o.quiet && world().root())
    std::fprintf(stderr, "resuming sweep %s in %s: %zu of %zu points finished\n", s.name.c_str(),
                 dir.c_str(), done, s.points.size());
  run_points(s, d, o, backends);
}

void validate_sweep(const Sweep& s, const BackendSelector& select) {
  Backends backends("", true, select);
  std::vector<MemoryPlan> plans;
  for (std::size_t k = 0; k < s.points.size(); ++k)
    plans.push_back(at_point(s, k, [&] { return check_point(s, k, backends); }));
  Comm& comm = world();
  if (comm.size() > 1) comm.max(0);  // every rank checked every point
  if (!comm.root()) return;
  fmt::print(
      "# sweep {} ({}): {} points over {}, the last key varying fastest; each point "
      "below is a valid experiment\n",
      s.name, s.source, s.points.size(), fmt::join(s.keys, " x "));
  const int groups = sweep_groups(s.points.size(), comm.size());
  if (comm.size() > 1)
    fmt::print(
        "# {} MPI ranks in {} group{}: point k runs in group k mod {}, whose ranks share its "
        "work; the plans below are for the largest share of a point's group\n",
        comm.size(), groups, groups == 1 ? "" : "s", groups);
  for (const auto& note : backends.notes()) fmt::print("# {}\n", note);
  fmt::print("# point 0 ({}), resolved:\n{}\n", s.points[0].dir, to_toml(s.points[0].experiment));
  for (std::size_t k = 0; k < s.points.size(); ++k) {
    std::string ranks;
    if (comm.size() > 1) {
      const Share g = share_of(comm.size(), static_cast<int>(k) % groups, groups);
      ranks = g.count == 1 ? fmt::format(" [rank {}]", g.first)
                           : fmt::format(" [ranks {}-{}]", g.first, g.end() - 1);
    }
    fmt::print("# point {} {}: {}{}\n#   {}\n", k, s.points[k].dir, s.describe(k), ranks,
               plans[k].describe());
  }
}

std::string sweep_csv(const Sweep& s, const std::string& dir) {
  const std::size_t opts = s.points.empty() ? 0 : s.points[0].experiment.optimizers.size();
  std::vector<Row> rows;
  for (std::size_t k = 0; k < s.points.size(); ++k) {
    const fs::path pdir = fs::path(dir) / s.points[k].dir;
    if (fs::exists(pdir / "summary.json")) rows.push_back({k, headline(pdir, opts)});
  }
  return csv_text(s, rows);
}

}  // namespace saddlescope
