// The host's view of the optimizer registry (see optimizer_registry.hpp).
#include "saddlescope/optimizer_registry.hpp"

#include <fmt/format.h>

#include <iterator>
#include <stdexcept>

#include "config.hpp"

namespace saddlescope {

const std::vector<OptimizerInfo>& optimizer_registry() {
  static const std::vector<OptimizerInfo> table = {
#define SS_INFO(kind_, Rule)                                                            \
  OptimizerInfo{OptimizerKind::kind_, Rule::name, Rule::torch,           Rule::summary, \
                Rule::host_driven,    Rule::keys, std::size(Rule::keys), &Rule::check},
      SS_OPTIMIZERS(SS_INFO)
#undef SS_INFO
  };
  return table;
}

const OptimizerInfo& optimizer_info(OptimizerKind k) {
  for (const OptimizerInfo& o : optimizer_registry())
    if (o.kind == k) return o;
  throw std::logic_error("optimizer kind outside the registry");
}

const OptimizerInfo* find_optimizer(const std::string& name) {
  for (const OptimizerInfo& o : optimizer_registry())
    if (name == o.name) return &o;
  return nullptr;
}

std::vector<std::string> optimizer_names() {
  std::vector<std::string> names;
  for (const OptimizerInfo& o : optimizer_registry()) names.emplace_back(o.name);
  return names;
}

std::string optimizer_key_default(const OptimizerKey& k) {
  switch (k.type) {
    case OptimizerKey::number:
      return config::toml_number(k.def);
    case OptimizerKey::integer:
      return fmt::format("{}", static_cast<std::int64_t>(k.def));
    case OptimizerKey::flag:
      return k.def != 0.0 ? "true" : "false";
    case OptimizerKey::pair:
      return config::toml_numbers({k.def, k.def2});
    case OptimizerKey::false_only:
      return "false";
  }
  return "";
}

std::string optimizer_key_range(const OptimizerKey& k) {
  const auto interval = [&] {
    return fmt::format("{}{}, {}{}", k.lo_open ? "(" : "[", k.lo, k.hi, k.hi_open ? ")" : "]");
  };
  switch (k.type) {
    case OptimizerKey::number:
      return interval();
    case OptimizerKey::integer:
      static_assert(config::kMaxCount == 1'000'000'000, "the range's text is 1e9");
      return "0 to 1e9";
    case OptimizerKey::flag:
      return "true, false";
    case OptimizerKey::pair:
      return "each in " + interval();
    case OptimizerKey::false_only:
      return "only false";
  }
  return "";
}

namespace {

const char* type_name(OptimizerKey::Type t) {
  switch (t) {
    case OptimizerKey::number:
      return "float";
    case OptimizerKey::integer:
      return "integer";
    case OptimizerKey::flag:
    case OptimizerKey::false_only:
      return "boolean";
    case OptimizerKey::pair:
      return "array of 2 floats";
  }
  return "";
}

// "matches torch.optim.Adam step for step" or "after Dauphin et al. 2014".
std::string source_text(const OptimizerInfo& o) {
  return std::string(o.torch).rfind("torch.optim.", 0) == 0
             ? fmt::format("matches {} step for step", o.torch)
             : fmt::format("after {}", o.torch);
}

}  // namespace

std::string describe_optimizers() {
  std::string s =
      "Optimizers ([[optimizer]] kind = ...; update rules and defaults of torch.optim where one "
      "exists):\n";
  for (const OptimizerInfo& o : optimizer_registry()) {
    s += fmt::format("  {:<19}{}{}\n", o.name, o.summary, o.host_driven ? " [host-driven]" : "");
    s += fmt::format("  {:<19}{}\n", "", source_text(o));
    std::string keys;
    for (std::size_t i = 0; i < o.key_count; ++i)
      keys +=
          fmt::format("{}{} = {}", i ? ", " : "", o.keys[i].key, optimizer_key_default(o.keys[i]));
    s += fmt::format("  {:<19}keys: {}\n", "", keys.empty() ? "(none)" : keys);
  }
  s += "Host-driven optimizers step the whole batch through the backend's value, Hessian and\n"
       "eigensolver calls (on CUDA each step moves the batch). Noise (langevin, perturbed-gd,\n"
       "annealing) is drawn from the experiment seed per trajectory, coordinate and step: the\n"
       "same on every backend and chunk size. Every optimizer also takes label = \"...\" (its\n"
       "name in outputs; default: the kind, or kind(lr=...) when a kind appears more than "
       "once).\n";
  return s;
}

std::string optimizer_tables_markdown() {
  std::string s;
  for (const OptimizerInfo& o : optimizer_registry()) {
    s += fmt::format("#### `{}`\n\n{}{}; {}.\n\n", o.name, o.summary,
                     o.host_driven ? " (host-driven)" : "", source_text(o));
    if (o.key_count == 0) continue;
    s += "| key | type | default | allowed | meaning |\n| --- | --- | --- | --- | --- |\n";
    for (std::size_t i = 0; i < o.key_count; ++i) {
      const OptimizerKey& k = o.keys[i];
      s += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", k.key, type_name(k.type),
                       optimizer_key_default(k), optimizer_key_range(k), k.help);
    }
    s += "\n";
  }
  return s;
}

}  // namespace saddlescope
