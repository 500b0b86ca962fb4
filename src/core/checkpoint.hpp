// Checkpoints (docs/design.md section 4, `--resume`): a little-endian binary record
// of where a run is (optimizer, chunk, last finished iteration), the results
// of every finished chunk, and the running chunk's ensemble state. Under MPI
// each rank writes its own (RUN_DIR/checkpoint.rank-K.bin) for its share of
// the work: the trajectories, finder starts and census points it computes. Written
// to RUN_DIR/checkpoint.bin.tmp and renamed, so a killed writer leaves the
// previous checkpoint intact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "saddlescope/checkpoint_bytes.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope::ckpt {

void write_result(Writer& w, const EnsembleResult& r);
EnsembleResult read_result(Reader& r);
void write_optimizer(Writer& w, const OptimizerResult& o);
OptimizerResult read_optimizer(Reader& r);

// Where a run stands.
struct State {
  std::string config;  // the resolved experiment (config.toml) it belongs to
  std::string backend;
  std::int32_t ranks = 1;              // processes sharing the run (each checkpoints its share)
  std::uint64_t optimizer = 0;         // the optimizer running (== count: all done, census next)
  std::int64_t chunk = 0;              // its chunk running
  std::int64_t chunk_size = 0;         // trajectories per chunk when it was written
  std::int64_t iteration = -1;         // last finished iteration of that chunk (-1: none)
  std::vector<std::uint8_t> ensemble;  // its ensemble state (empty: restart the chunk)
  std::vector<OptimizerResult> done;   // optimizers so far; the last one partial (its chunks)
  std::vector<std::uint8_t>
      census;  // the census's own state (finder, Hessian groups); empty: not begun
};

void save(const std::string& path, const State& s);
// Throws InputError when the file is missing, truncated or not a checkpoint.
State load(const std::string& path);

}  // namespace saddlescope::ckpt
