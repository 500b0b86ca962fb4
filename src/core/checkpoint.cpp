// Checkpoint files (see checkpoint.hpp).
#include "checkpoint.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "saddlescope/errors.hpp"

namespace saddlescope::ckpt {
namespace {
constexpr std::uint64_t kMagic = 0x3574706b63737373ull;  // "ssckpt5" + version byte
}

void Reader::fail() const {
  throw InputError(fmt::format("{}: truncated or not a saddlescope checkpoint", what_));
}

void write_result(Writer& w, const EnsembleResult& r) {
  w.vec(r.outcome);
  w.vec(r.steps);
  w.vec(r.f_init);
  w.vec(r.f_final);
  w.vec(r.gnorm_final);
  w.vec(r.accuracy_final);
  w.vec(r.curves);
  w.vec(r.paths);
  w.vec(r.finals);
  w.vec(r.plateau_count);
  w.vec(r.plateau_steps);
  w.vec(r.longest_plateau);
  w.vec(r.first_escape_step);
  w.vec(r.plateau_step);
  w.vec(r.target_step);
  w.vec(r.plateau_f);
  w.vec(r.plateau_g);
  w.vec(r.plateau_points);
}

EnsembleResult read_result(Reader& rd) {
  EnsembleResult r;
  r.outcome = rd.vec<std::int8_t>();
  r.steps = rd.vec<std::int64_t>();
  r.f_init = rd.vec<double>();
  r.f_final = rd.vec<double>();
  r.gnorm_final = rd.vec<double>();
  r.accuracy_final = rd.vec<double>();
  r.curves = rd.vec<float>();
  r.paths = rd.vec<double>();
  r.finals = rd.vec<double>();
  r.plateau_count = rd.vec<std::int64_t>();
  r.plateau_steps = rd.vec<std::int64_t>();
  r.longest_plateau = rd.vec<std::int64_t>();
  r.first_escape_step = rd.vec<std::int64_t>();
  r.plateau_step = rd.vec<std::int64_t>();
  r.target_step = rd.vec<std::int64_t>();
  r.plateau_f = rd.vec<double>();
  r.plateau_g = rd.vec<double>();
  r.plateau_points = rd.vec<double>();
  return r;
}

void write_optimizer(Writer& w, const OptimizerResult& o) {
  w.str(o.label);
  write_result(w, o.traj);
  w.pod(o.seconds);
  w.pod(o.trajectory_steps);
  w.vec(o.target_seconds);
  w.vec(o.sharpness);
}

OptimizerResult read_optimizer(Reader& rd) {
  OptimizerResult o;
  o.label = rd.str();
  o.traj = read_result(rd);
  o.seconds = rd.pod<double>();
  o.trajectory_steps = rd.pod<std::int64_t>();
  o.target_seconds = rd.vec<double>();
  o.sharpness = rd.vec<double>();
  return o;
}

void save(const std::string& path, const State& s) {
  Writer w;
  w.pod(kMagic);
  w.str(s.config);
  w.str(s.backend);
  w.pod(s.ranks);
  w.pod(s.optimizer);
  w.pod(s.chunk);
  w.pod(s.chunk_size);
  w.pod(s.iteration);
  w.vec(s.ensemble);
  w.pod(static_cast<std::uint64_t>(s.done.size()));
  for (const OptimizerResult& o : s.done) write_optimizer(w, o);
  w.vec(s.census);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(w.bytes().data()),
              static_cast<std::streamsize>(w.bytes().size()));
    out.flush();
    if (!out) throw Error(fmt::format("{}: cannot write the checkpoint (disk full?)", tmp), 1);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("{}: cannot rename the checkpoint: {}", tmp, ec.message()), 1);
}

State load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(
        fmt::format("{}: no checkpoint to resume from (the run finished, or was "
                    "killed before its first checkpoint: start it again)",
                    path));
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  Reader rd(bytes, path);
  if (bytes.size() < sizeof(kMagic) || rd.pod<std::uint64_t>() != kMagic)
    throw InputError(fmt::format("{}: not a checkpoint of this saddlescope version", path));
  State s;
  s.config = rd.str();
  s.backend = rd.str();
  s.ranks = rd.pod<std::int32_t>();
  s.optimizer = rd.pod<std::uint64_t>();
  s.chunk = rd.pod<std::int64_t>();
  s.chunk_size = rd.pod<std::int64_t>();
  s.iteration = rd.pod<std::int64_t>();
  s.ensemble = rd.vec<std::uint8_t>();
  const auto n = rd.pod<std::uint64_t>();
  if (n > 1'000'000) throw InputError(fmt::format("{}: corrupt checkpoint", path));
  for (std::uint64_t k = 0; k < n; ++k) s.done.push_back(read_optimizer(rd));
  s.census = rd.vec<std::uint8_t>();
  if (!rd.done()) throw InputError(fmt::format("{}: corrupt checkpoint (trailing data)", path));
  return s;
}

}  // namespace saddlescope::ckpt
