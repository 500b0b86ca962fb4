// The host's view of the optimizer registry (kernels/optimizers/registry.hpp):
// each optimizer's name, torch counterpart, help and key table, for the
// experiment parser, `saddlescope list`, config.toml and the docs' tables
// (docs/design.md section II.3).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../../kernels/optimizers.hpp"

namespace saddlescope {

struct OptimizerInfo {
  OptimizerKind kind;
  const char* name;     // experiment-file kind ("perturbed-gd")
  const char* torch;    // the torch.optim class it matches, else the work it follows
  const char* summary;  // one line
  bool host_driven;
  const OptimizerKey* keys;  // config.toml order
  std::size_t key_count;
  OptimizerCheck (*check)(const OptimizerParams&);
};

// Every optimizer, in registry order.
const std::vector<OptimizerInfo>& optimizer_registry();
const OptimizerInfo& optimizer_info(OptimizerKind k);
// nullptr when no optimizer has this experiment-file name.
const OptimizerInfo* find_optimizer(const std::string& name);
std::vector<std::string> optimizer_names();

// The text of a key's default as config.toml writes it ("0.001", "[0.9, 0.999]", "false").
std::string optimizer_key_default(const OptimizerKey& k);
// The allowed values of a key ("[0, 1e30]", "each in [0, 1)", "only false").
std::string optimizer_key_range(const OptimizerKey& k);

// `saddlescope list optimizers`: every optimizer with its keys and defaults.
std::string describe_optimizers();
// docs/experiment.md's optimizer tables (one per optimizer), generated; a
// test keeps the docs equal to it.
std::string optimizer_tables_markdown();

}  // namespace saddlescope
