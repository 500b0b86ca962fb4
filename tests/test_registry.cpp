// The optimizer registry (kernels/optimizers/registry.hpp): every optimizer
// reachable by its experiment-file name, its key table's defaults and
// ranges applied by the parser, config.toml written from the same table and
// read back to the same parameters, the docs' tables equal to the generated
// ones, and the step scalars of consecutive steps (nadam's running product)
// equal to those computed from scratch.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/objective_registry.hpp"
#include "saddlescope/optimizer_registry.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

std::string experiment_with(const std::string& optimizer_table) {
  return "[objective]\nkind = \"double-well\"\ndim = 2\n[run]\ntrajectories = 4\n"
         "max_steps = 10\n[[optimizer]]\n" +
         optimizer_table;
}

bool same_params(const OptimizerParams& a, const OptimizerParams& b) {
  return a.kind == b.kind && a.lr == b.lr && a.weight_decay == b.weight_decay &&
         a.momentum == b.momentum && a.dampening == b.dampening && a.nesterov == b.nesterov &&
         a.alpha == b.alpha && a.eps == b.eps && a.beta1 == b.beta1 && a.beta2 == b.beta2 &&
         a.lr_decay == b.lr_decay && a.initial_accumulator_value == b.initial_accumulator_value &&
         a.momentum_decay == b.momentum_decay && a.radius == b.radius && a.g_thres == b.g_thres &&
         a.t_thres == b.t_thres && a.temperature == b.temperature &&
         a.temperature_decay == b.temperature_decay && a.damping == b.damping &&
         a.step_size == b.step_size;
}

}  // namespace

TEST(OptimizerRegistry, NamesAndKeysAreUnique) {
  std::set<std::string> names;
  for (const OptimizerInfo& o : optimizer_registry()) {
    EXPECT_TRUE(names.insert(o.name).second) << o.name;
    EXPECT_EQ(find_optimizer(o.name), &o);
    EXPECT_EQ(&optimizer_info(o.kind), &o);
    EXPECT_STREQ(optimizer_kind_name(o.kind), o.name);
    std::set<std::string> keys;
    for (std::size_t i = 0; i < o.key_count; ++i) {
      EXPECT_TRUE(keys.insert(o.keys[i].key).second) << o.name << "." << o.keys[i].key;
      EXPECT_GT(std::strlen(o.keys[i].help), 0u) << o.name << "." << o.keys[i].key;
    }
    EXPECT_EQ(o.host_driven, host_driven(o.kind)) << o.name;
  }
  EXPECT_EQ(names.size(), 12u);
  EXPECT_EQ(find_optimizer("adamax"), nullptr);
}

// A table holding only `kind` gets every key's default; the parameters
// round-trip through config.toml.
TEST(OptimizerRegistry, DefaultsComeFromTheKeyTableAndRoundTrip) {
  for (const OptimizerInfo& o : optimizer_registry()) {
    SCOPED_TRACE(o.name);
    const Experiment e =
        parse_experiment(experiment_with("kind = \"" + std::string(o.name) + "\"\n"), "t.toml");
    ASSERT_EQ(e.optimizers.size(), 1u);
    const OptimizerParams& p = e.optimizers[0].params;
    EXPECT_EQ(p.kind, o.kind);
    bool has_lr = false;
    for (std::size_t i = 0; i < o.key_count; ++i) {
      const OptimizerKey& k = o.keys[i];
      has_lr = has_lr || std::strcmp(k.key, "lr") == 0;
      switch (k.type) {
        case OptimizerKey::number:
          EXPECT_EQ(p.*k.value, k.def) << k.key;
          break;
        case OptimizerKey::integer:
          EXPECT_EQ(static_cast<double>(p.*k.count), k.def) << k.key;
          break;
        case OptimizerKey::flag:
          EXPECT_EQ(p.*k.boolean, k.def != 0.0) << k.key;
          break;
        case OptimizerKey::pair:
          EXPECT_EQ(p.*k.value, k.def) << k.key;
          EXPECT_EQ(p.*k.second, k.def2) << k.key;
          break;
        case OptimizerKey::false_only:
          break;
      }
    }
    if (!has_lr) EXPECT_EQ(p.lr, 0.0);  // annealing: no rate
    const Experiment back = parse_experiment(to_toml(e), "config.toml");
    EXPECT_TRUE(same_params(back.optimizers[0].params, p));
  }
}

TEST(OptimizerRegistry, NewOptimizersReadTheirKeys) {
  const Experiment e = parse_experiment(
      experiment_with("kind = \"nadam\"\nlr = 0.01\nbetas = [0.8, 0.95]\nmomentum_decay = 0.02\n"
                      "weight_decay = 0.1\n"),
      "t.toml");
  const OptimizerParams& p = e.optimizers[0].params;
  EXPECT_EQ(p.kind, OptimizerKind::nadam);
  EXPECT_EQ(p.lr, 0.01);
  EXPECT_EQ(p.beta1, 0.8);
  EXPECT_EQ(p.beta2, 0.95);
  EXPECT_EQ(p.momentum_decay, 0.02);
  EXPECT_EQ(p.weight_decay, 0.1);
  EXPECT_EQ(p.state_count(), 2);
  // Keys of other optimizers are refused, naming the valid ones.
  try {
    parse_experiment(experiment_with("kind = \"radam\"\nmomentum_decay = 0.1\n"), "t.toml");
    FAIL();
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("momentum_decay"), std::string::npos) << err.what();
  }
  EXPECT_THROW(parse_experiment(experiment_with("kind = \"adamw\"\namsgrad = true\n"), "t.toml"),
               InputError);
  EXPECT_THROW(
      parse_experiment(experiment_with("kind = \"adamw\"\nbetas = [0.9, 1.0]\n"), "t.toml"),
      InputError);
  // The unknown kind lists every registered one.
  try {
    parse_experiment(experiment_with("kind = \"adamax\"\n"), "t.toml");
    FAIL();
  } catch (const InputError& err) {
    for (const std::string& name : optimizer_names())
      EXPECT_NE(std::string(err.what()).find(name), std::string::npos) << name;
  }
}

// nadam carries prod mu_i (float32) from step to step; the sequence the
// ensembles use equals the scalars computed from step 1, bit for bit.
TEST(OptimizerRegistry, StepScalarSequenceEqualsScratch) {
  for (const OptimizerInfo& o : optimizer_registry()) {
    OptimizerParams p;
    p.kind = o.kind;
    p.lr = 0.01;
    p.weight_decay = 0.1;
    StepScalarSequence seq(p);
    for (std::int64_t k = 1; k <= 300; ++k) {
      const StepScalars a = seq.at(k);
      const StepScalars b = step_scalars(p, k);
      ASSERT_EQ(std::memcmp(&a.lr, &b.lr, sizeof(double)), 0);
      ASSERT_EQ(a.mu_product, b.mu_product) << o.name << " step " << k;
      ASSERT_EQ(a.c_grad, b.c_grad) << o.name << " step " << k;
      ASSERT_EQ(a.c_avg, b.c_avg) << o.name << " step " << k;
      ASSERT_EQ(a.rect, b.rect) << o.name << " step " << k;
      ASSERT_EQ(a.step_size, b.step_size) << o.name << " step " << k;
      ASSERT_EQ(a.decay, b.decay) << o.name << " step " << k;
    }
  }
  // The schedule itself: mu_k -> beta1 (1 - 0.96^(k psi) / 2), radam
  // un-adapted until rho_k > 5 (step 6 for beta2 = 0.999).
  OptimizerParams r;
  r.kind = OptimizerKind::radam;
  EXPECT_EQ(step_scalars(r, 5).rect, 0.0);
  EXPECT_GT(step_scalars(r, 6).rect, 0.0);
}

namespace {

// The text between a begin and an end marker line of docs/experiment.md.
std::string docs_between(const std::string& begin, const std::string& end) {
  std::ifstream in(SADDLESCOPE_DOCS "/experiment.md");
  EXPECT_TRUE(in) << SADDLESCOPE_DOCS "/experiment.md";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const auto a = doc.find(begin + "\n"), b = doc.find(end);
  EXPECT_NE(a, std::string::npos) << begin;
  EXPECT_NE(b, std::string::npos) << end;
  if (a == std::string::npos || b == std::string::npos || b < a) return "";
  return doc.substr(a + begin.size() + 1, b - a - begin.size() - 1);
}

}  // namespace

// docs/experiment.md holds the generated optimizer tables verbatim.
TEST(OptimizerRegistry, DocsTablesAreTheGeneratedOnes) {
  EXPECT_EQ(docs_between(kOptimizerTablesBegin, kOptimizerTablesEnd), optimizer_tables_markdown())
      << "regenerate with: saddlescope list optimizers --markdown";
}

// ... and the generated objective tables.
TEST(ObjectiveRegistry, DocsTablesAreTheGeneratedOnes) {
  EXPECT_EQ(docs_between(kObjectiveTablesBegin, kObjectiveTablesEnd), objective_tables_markdown())
      << "regenerate with: saddlescope list objectives --markdown";
}

namespace {

// A small valid experiment of each kind.
std::string small_objective(const std::string& kind) {
  std::string s = "name = \"r\"\nseed = 5\n[objective]\nkind = \"" + kind + "\"\n";
  if (kind == "quadratic") s += "dim = 3\nnegative = 1\n";
  if (kind == "mlp") s += "inputs = 3\nhidden = 2\nsamples = 5\n";
  if (kind == "deep-linear") s += "widths = [2, 3, 2]\nsamples = 4\n";
  if (kind == "network") s += "layers = [3, 4, 2]\nsamples = 5\n";
  if (kind == "gaussian-field") s += "dim = 3\nfeatures = 8\n";
  const ObjectiveInfo& info = *find_objective(kind);
  if (std::string(info.keys[0].default_text) == "required" && s.find("dim =") == std::string::npos)
    s += "dim = 4\n";
  return s + "[[optimizer]]\nkind = \"gd\"\n";
}

// A valid TOML value of a key's type.
std::string some_value(const ObjectiveKey& k) {
  switch (k.type) {
    case ObjectiveKey::flag:
      return "false";
    case ObjectiveKey::numbers:
      return "[1.0]";
    case ObjectiveKey::integers:
      return "[2, 2]";
    default:
      return "2";
  }
}

}  // namespace

TEST(ObjectiveRegistry, EveryKindParsesWithItsDefaultsAndWritesItself) {
  for (const ObjectiveInfo& info : objective_registry()) {
    SCOPED_TRACE(info.name);
    ASSERT_STREQ(info.keys[0].key, "dim");
    const Experiment e = parse_experiment(small_objective(info.name), "small.toml");
    EXPECT_EQ(&objective_info(e.objective), &info);
    for (const ObjectiveKey& k : info.keys) {  // typed keys not given hold their defaults
      if (small_objective(info.name).find(std::string("\n") + k.key + " =") != std::string::npos)
        continue;
      if (k.real) EXPECT_EQ(e.objective.*k.real, k.def) << k.key;
      if (k.whole) EXPECT_EQ(static_cast<double>(e.objective.*k.whole), k.def) << k.key;
      if (k.boolean) EXPECT_EQ(e.objective.*k.boolean, k.def != 0.0) << k.key;
    }
    // config.toml holds the kind's name and only its keys, and reads back the same.
    const std::string toml = to_toml(e);
    EXPECT_NE(toml.find(std::string("kind = \"") + info.name + "\"\n"), std::string::npos);
    const Experiment again = parse_experiment(toml, "config.toml");
    EXPECT_EQ(to_toml(again), toml);
    EXPECT_EQ(again.objective.dim, e.objective.dim);
    EXPECT_EQ(again.objective.hessian_dim(), info.sphere ? e.objective.dim - 1 : e.objective.dim);
  }
}

// A key of another kind is refused, naming the kinds it applies to.
TEST(ObjectiveRegistry, ForeignKeysAreRefusedNamingTheirKinds) {
  int checked = 0;
  for (const ObjectiveInfo& info : objective_registry()) {
    if (info.precheck) continue;  // presets refuse the quadratic's keys with their own message
    for (const ObjectiveInfo& other : objective_registry())
      for (const ObjectiveKey& k : other.keys) {
        bool own = false;
        for (const ObjectiveKey& mine : info.keys) own = own || std::strcmp(mine.key, k.key) == 0;
        if (own) continue;
        std::string text = small_objective(info.name);
        text.insert(text.find("[[optimizer]]"), std::string(k.key) + " = " + some_value(k) + "\n");
        try {
          parse_experiment(text, "foreign.toml");
          ADD_FAILURE() << k.key << " accepted for " << info.name;
        } catch (const InputError& err) {
          const std::string msg = err.what();
          const std::string table = std::string(k.key).substr(0, std::string(k.key).find('.'));
          EXPECT_NE(msg.find("objective." + table + " applies only to"), std::string::npos) << msg;
          EXPECT_TRUE(msg.find(std::string("\"") + other.name + "\"") != std::string::npos ||
                      (k.scope && msg.find(k.scope) != std::string::npos))
              << msg;
          ++checked;
        }
      }
  }
  EXPECT_GT(checked, 100);
}

// The memory plan's data bytes per kind equal the arrays build_objective
// fills, and its work bytes the built objective's work space.
TEST(ObjectiveRegistry, DataBytesAreTheBuiltData) {
  for (const ObjectiveInfo& info : objective_registry()) {
    SCOPED_TRACE(info.name);
    std::string text = small_objective(info.name);
    if (std::string(info.name) == "quadratic") text.insert(text.find("[["), "rotate = true\n");
    const Experiment e = parse_experiment(text, "small.toml");
    const ObjectiveData d = build_objective(e);
    EXPECT_EQ(d.kind, info.kernel);
    EXPECT_EQ(d.coupled(), info.coupled(e.objective));
    const std::uint64_t elements = d.lambda.size() + d.matrix.size() + d.field_w.size() +
                                   d.field_a.size() + d.field_b.size() + d.net_x.size() +
                                   d.net_y.size();
    for (std::uint64_t t : {4u, 8u}) {
      std::uint64_t expect = elements * t + 4 * d.net_labels.size();  // labels: int32
      if (info.sphere)  // the couplings and their host copy, and the p = 3 contraction's block
        expect += d.couplings.size() * (t + 8) +
                  (d.pspin_p == 3 ? static_cast<std::uint64_t>(kPspinWorkElements) * t : 0);
      EXPECT_EQ(info.data_bytes(e.objective, t), expect) << t;
      // The work space: the built objective's count, which the CUDA backend
      // sizes its arrays by (ObjectiveData::work_per_row).
      EXPECT_EQ(info.work_bytes(e.objective, t), static_cast<std::uint64_t>(d.work_per_row()) * t);
    }
  }
}
