// Benchmark of the census's Krylov methods (docs/experiment.md, Krylov
// methods; not a test): the stopping points of an experiment (by default
// examples/mlp-20k.toml: N = 19,993) analysed by
//   lanczos  (k lowest and highest eigenpairs, analysis.lanczos_tol),
//   slq      (probes x steps),
//   eigh     (dense, one point, extrapolated to all; --dense 1),
// on a backend, all points in groups of --group. Prints one JSON object
// (seconds, steps, Hessian-vector products, results' checksums). With
// --export DIR it writes the objective's data and the first point
// (X.npy, Y.npy, x.npy, shape.json) and our results for that point
// (ritz.npy, quadrature.npy) for bench/krylov_peers.py, which runs
// PyHessian on the same point beside them.
//
//   bench_krylov --experiment FILE.toml [--set key=value ...] [--backend auto|cpu|cuda]
//                [--points P] [--k K] [--lanczos-steps L] [--probes J] [--steps S] [--group G]
//                [--dense 0|1] [--export DIR]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "saddlescope/census.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"
#include "src/core/npy.hpp"
#include "src/cpu/blas_kernels.hpp"

using namespace saddlescope;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double finite_sum(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v)
    if (std::isfinite(x)) s += x;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  choose_blas_kernels(argv);
  std::string path, backend_name = "auto", export_dir;
  std::vector<std::string> sets;
  std::int64_t points = 64, k = 10, probes = 8, steps = 80, group = 16, lanczos_steps = 200;
  bool dense = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], v = argv[i + 1];
    if (key == "--experiment")
      path = v;
    else if (key == "--set")
      sets.push_back(v);
    else if (key == "--backend")
      backend_name = v;
    else if (key == "--points")
      points = std::stoll(v);
    else if (key == "--k")
      k = std::stoll(v);
    else if (key == "--lanczos-steps")
      lanczos_steps = std::stoll(v);
    else if (key == "--probes")
      probes = std::stoll(v);
    else if (key == "--steps")
      steps = std::stoll(v);
    else if (key == "--group")
      group = std::stoll(v);
    else if (key == "--dense")
      dense = v == "1";
    else if (key == "--export")
      export_dir = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  try {
    if (path.empty()) throw InputError("--experiment FILE.toml is required");
    Experiment e = load_experiment(path, sets);
    e.analysis.method = "none";
    e.run.save_final_points = true;
    std::string note;
    auto backend = select_backend(backend_name, note);
    const ObjectiveData obj = build_objective(e, backend->host_linalg());
    const std::int64_t n = obj.dim;

    // The stopping points: the run itself, then an even share per optimizer.
    auto t0 = std::chrono::steady_clock::now();
    const RunResult run = run_experiment(e, *backend, nullptr);
    const double run_seconds = seconds_since(t0);
    std::vector<std::vector<std::int8_t>> outcomes;
    for (const auto& o : run.optimizers) outcomes.push_back(o.traj.outcome);
    std::vector<double> x;
    for (const auto& [o, b] : select_stops(outcomes, points)) {
      const auto& f = run.optimizers[o].traj.finals;
      x.insert(x.end(), f.begin() + b * n, f.begin() + (b + 1) * n);
    }
    const std::int64_t count = static_cast<std::int64_t>(x.size()) / n;
    std::fprintf(stderr, "bench_krylov: %lld stopping points of N = %lld (run: %.1f s)\n",
                 static_cast<long long>(count), static_cast<long long>(n), run_seconds);

    AnalysisHooks hooks;
    hooks.seed = e.seed;
    nlohmann::json out;
    out["experiment"] = path;
    out["sets"] = sets;
    out["backend"] = backend->name();
    out["device"] = backend->device();
    out["dim"] = n;
    out["points"] = count;
    out["group"] = group;
    out["precision"] = e.analysis.precision == Precision::f64 ? "f64" : "f32";

    AnalysisSpec lz = e.analysis;
    lz.method = "lanczos";
    lz.k = k;
    lz.lanczos_steps = lanczos_steps;
    t0 = std::chrono::steady_clock::now();
    const Spectra sl = analyze_points(obj, *backend, lz, x, count, group, {}, hooks);
    const double lz_s = seconds_since(t0);
    std::int64_t lz_steps = 0, converged = 0;
    for (std::int64_t p = 0; p < count; ++p) {
      lz_steps += sl.krylov.lanczos_steps[p];
      converged += sl.krylov.converged[p];
    }
    out["lanczos"] = {{"k", k},
                      {"lanczos_steps", lz.lanczos_steps},
                      {"lanczos_tol", lz.lanczos_tol},
                      {"seconds", lz_s},
                      {"seconds_per_point", lz_s / static_cast<double>(count)},
                      {"hvps", lz_steps},
                      {"converged_points", converged},
                      {"checksum", finite_sum(sl.krylov.ritz)}};
    std::fprintf(stderr, "lanczos: %.1f s (%lld Hessian-vector products, %lld of %lld converged)\n",
                 lz_s, static_cast<long long>(lz_steps), static_cast<long long>(converged),
                 static_cast<long long>(count));

    AnalysisSpec sq = e.analysis;
    sq.method = "slq";
    sq.probes = probes;
    sq.lanczos_steps = steps;
    t0 = std::chrono::steady_clock::now();
    const Spectra ss = analyze_points(obj, *backend, sq, x, count, group, {}, hooks);
    const double sq_s = seconds_since(t0);
    out["slq"] = {{"probes", probes},
                  {"lanczos_steps", steps},
                  {"seconds", sq_s},
                  {"seconds_per_point", sq_s / static_cast<double>(count)},
                  {"hvps", count * probes * steps},
                  {"checksum", finite_sum(ss.krylov.quadrature)}};
    std::fprintf(stderr, "slq: %.1f s\n", sq_s);
    out["lanczos_plus_slq_seconds"] = lz_s + sq_s;

    if (dense) {
      AnalysisSpec eg = e.analysis;
      eg.method = "eigh";
      const std::vector<double> x1(x.begin(), x.begin() + n);
      t0 = std::chrono::steady_clock::now();
      const Spectra sd = analyze_points(obj, *backend, eg, x1, 1, 1);
      const double d_s = seconds_since(t0);
      out["eigh"] = {{"seconds_one_point", d_s},
                     {"seconds_extrapolated", d_s * static_cast<double>(count)},
                     {"lambda_min", sd.inertia[0].lambda_min},
                     {"lambda_max", sd.inertia[0].lambda_max}};
      std::fprintf(stderr, "eigh: %.1f s for one point\n", d_s);
    }

    if (!export_dir.empty()) {
      namespace fs = std::filesystem;
      fs::create_directories(export_dir);
      const fs::path d(export_dir);
      if (obj.kind != ObjectiveKind::network || obj.net.layers() != 2 || obj.net_y.empty())
        throw InputError("--export needs an mlp objective");
      const NetworkShape& s = obj.net;
      npy::write_f64((d / "X.npy").string(), {s.samples, s.widths.front()}, obj.net_x);
      npy::write_f64((d / "Y.npy").string(), {s.samples, s.widths.back()}, obj.net_y);
      npy::write_f64((d / "x.npy").string(), {n}, std::vector<double>(x.begin(), x.begin() + n));
      npy::write_f64((d / "ritz.npy").string(), {2 * k, 2},
                     std::vector<double>(sl.krylov.ritz.begin(), sl.krylov.ritz.begin() + 4 * k));
      npy::write_f64((d / "quadrature.npy").string(), {probes, steps, 2},
                     std::vector<double>(ss.krylov.quadrature.begin(),
                                         ss.krylov.quadrature.begin() + probes * steps * 2));
      std::ofstream(d / "shape.json") << nlohmann::json{
          {"d", s.widths[0]},
          {"h", s.widths[1]},
          {"o", s.widths[2]},
          {"n", s.samples},
          {"precision", out["precision"]},
          {"ours", out}}.dump(2);
    }
    std::printf("%s\n", out.dump(2).c_str());
  } catch (const Error& err) {
    std::fprintf(stderr, "bench_krylov: %s\n", err.what());
    return err.exit_code();
  }
  return 0;
}
