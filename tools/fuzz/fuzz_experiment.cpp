// libFuzzer target for the experiment parser and validation: any input is
// either refused with InputError or accepted; an accepted experiment's
// resolved TOML must parse again to the same resolved TOML. A crash, hang,
// sanitizer report or a broken round trip is a finding (tools/fuzz.sh).
// The input may hold a --set override after a line "#--set ".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sets;
  const std::string marker = "\n#--set ";
  if (const auto p = text.find(marker); p != std::string::npos) {
    sets.push_back(text.substr(p + marker.size()));
    text.resize(p);
  }
  std::string resolved;
  try {
    resolved = saddlescope::to_toml(saddlescope::parse_experiment(text, "fuzz", sets));
  } catch (const saddlescope::InputError&) {
    return 0;  // refused with a message: fine
  }
  try {
    if (saddlescope::to_toml(saddlescope::parse_experiment(resolved, "fuzz-resolved")) != resolved)
      std::abort();  // config.toml would not reproduce the experiment
  } catch (const saddlescope::InputError&) {
    std::abort();  // config.toml of an accepted experiment is refused
  }
  return 0;
}
