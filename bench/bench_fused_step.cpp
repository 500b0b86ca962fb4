// Benchmark of the fused descent step (not a test): trajectory-steps per
// second and effective bytes per second for gd, momentum and adam on
// styblinski-tang (or another objective), beside a plain copy of the same
// bytes measured in the same process; the ratio step / copy is the fraction
// of the roof reached (meaningful for the memory-bound separable objectives;
// GEMM objectives such as gaussian-field are bound by their GEMMs).
//
//   bench_fused_step [--backend auto|cpu|cuda] [--trajectories B] [--dim N]
//                    [--steps K] [--precision f32|f64] [--out FILE.json]
//                    [--objective styblinski-tang|gaussian-field|...] [--features M]
//                    [--optimizers gd,momentum,adam] [--lr LR] [--export DIR]
//                    [--experiment FILE]
//
// --experiment FILE takes the objective of that experiment file (a network
// on .npy data: bench/peers_network.py). --export DIR writes what a peer
// needs to repeat the same work (bench/peers_gemm.py, peers_network.py):
// starts.npy [B, N] in the precision, a network's inputs X.npy [n, d_0]
// and mse targets Y.npy [n, d_L] in the precision, and per optimizer
// finals_<name>.npy [B, N] (float64), the last even iterate, with updates.json
// (updates applied: warm-up and timed steps, the learning rate, the sizes).
//
// Defaults: B x N = 1,024 x 20,000 on the CPU, 4,096 x 20,000 on a GPU.
// Bytes per element and step (f32): gd 8 (read x, write x'), momentum 16
// (+ the buffer), adam 24 (+ two moments); the gradient is computed in the
// same pass and moves no bytes.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/rng.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"
#include "src/core/npy.hpp"
#include "src/cpu/blas_kernels.hpp"

using namespace saddlescope;

int main(int argc, char** argv) {
  choose_blas_kernels(argv);
  std::string backend_name = "auto", out, precision = "f32", objective = "styblinski-tang";
  std::string optimizers = "gd,momentum,adam", export_dir, experiment;
  double lr = 1e-4;
  std::int64_t b = 0, n = 20000, steps = 0, features = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--backend")
      backend_name = v;
    else if (k == "--trajectories")
      b = std::stoll(v);
    else if (k == "--dim")
      n = std::stoll(v);
    else if (k == "--steps")
      steps = std::stoll(v);
    else if (k == "--precision")
      precision = v;
    else if (k == "--out")
      out = v;
    else if (k == "--objective")
      objective = v;
    else if (k == "--features")
      features = std::stoll(v);
    else if (k == "--optimizers")
      optimizers = v;
    else if (k == "--lr")
      lr = std::stod(v);
    else if (k == "--export")
      export_dir = v;
    else if (k == "--experiment")
      experiment = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    std::string note;
    auto backend = select_backend(backend_name, note);
    const bool gpu = backend->name() == "cuda";
    if (b == 0) b = gpu ? 4096 : 1024;
    if (steps == 0) steps = gpu ? 400 : 15;
    const Precision prec = precision == "f64" ? Precision::f64 : Precision::f32;
    const std::uint64_t tb = precision_bytes(prec);
    std::fprintf(stderr, "%s\n", note.c_str());

    // The objective through the experiment parser, so that it is built as a run builds it
    // (--experiment: the [objective] of that file, e.g. a network on .npy data).
    const Experiment ex =
        !experiment.empty()
            ? load_experiment(experiment)
            : parse_experiment(
                  fmt::format(
                      "seed = 1\n[objective]\nkind = \"{}\"\n{}{}[[optimizer]]\nkind = \"gd\"\n",
                      objective,
                      // mlp and deep-linear infer dim from their sizes (mlp default: 19,993)
                      objective == "mlp" || objective == "deep-linear"
                          ? ""
                          : fmt::format("dim = {}\n", n),
                      objective == "gaussian-field" ? fmt::format("features = {}\n", features)
                                                    : ""),
                  "bench");
    const ObjectiveData obj = build_objective(ex);
    n = obj.dim;
    std::vector<double> x0(static_cast<std::size_t>(b * n));
    for (std::size_t k = 0; k < x0.size(); ++k) x0[k] = 2.0 * rng::normal(1, rng::kInitStart, k);

    namespace fs = std::filesystem;
    const fs::path ed(export_dir);
    nlohmann::json updates = nlohmann::json::object();
    // Arrays in the run's precision: what the ensemble computes with.
    const auto write_prec = [&](const fs::path& p, std::vector<std::int64_t> shape,
                                const std::vector<double>& v) {
      if (prec == Precision::f64) return npy::write_f64(p.string(), shape, v);
      npy::write_f32(p.string(), shape, std::vector<float>(v.begin(), v.end()));
    };
    if (!export_dir.empty()) {
      fs::create_directories(ed);
      write_prec(ed / "starts.npy", {b, n}, x0);
      if (obj.kind == ObjectiveKind::network) {
        const NetworkShape& s = obj.net;
        write_prec(ed / "X.npy", {s.samples, s.widths.front()}, obj.net_x);
        if (!obj.net_y.empty()) write_prec(ed / "Y.npy", {s.samples, s.widths.back()}, obj.net_y);
      }
    }
    nlohmann::json rows = nlohmann::json::array();
    fmt::print("fused step, {}, B x N = {} x {}, {}, {} on {}\n", objective, b, n, precision,
               backend->name(), backend->device());
    fmt::print("{:<9} {:>12} {:>14} {:>12} {:>12} {:>8}\n", "optimizer", "step (ms)",
               "traj-steps/s", "GB/s step", "GB/s copy", "ratio");
    for (auto [name, kind] :
         {std::pair{"gd", OptimizerKind::gd}, std::pair{"momentum", OptimizerKind::momentum},
          std::pair{"adam", OptimizerKind::adam}}) {
      if (("," + optimizers + ",").find(std::string(",") + name + ",") == std::string::npos)
        continue;
      EnsembleSpec spec;
      spec.objective = &obj;
      spec.optimizer.kind = kind;
      spec.optimizer.lr = lr;
      spec.optimizer.momentum = kind == OptimizerKind::momentum ? 0.9 : 0.0;
      spec.precision = prec;
      spec.count = b;
      spec.stop = StopRule{0.0, 1e30, steps + 1000};  // nobody stops during the timing
      spec.record_count = 0;
      spec.records = 1;
      auto ens = backend->make_ensemble(spec);
      ens->set_starts(x0);
      ens->iterate(0);  // warm-up
      ens->running();
      // Median over batches of `per_batch` steps (a shared machine is noisy);
      // running() synchronizes with the device at the end of each batch.
      const std::int64_t per_batch = gpu ? 20 : 1;
      std::vector<double> batch_seconds;
      std::int64_t t = 1;
      for (std::int64_t r = 0; r < steps / per_batch; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::int64_t k = 0; k < per_batch; ++k) ens->iterate(t++);
        ens->running();
        batch_seconds.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      if (!export_dir.empty()) {
        // A running row's final point is read from buffer 0, which holds the
        // even iterate: x_{t-1} after t - 1 updates when t - 1 is even, else
        // x_t (the last iterate(t - 1) wrote it there).
        npy::write_f64((ed / fmt::format("finals_{}.npy", name)).string(), {b, n},
                       ens->result(true).finals);
        updates[name] = (t - 1) % 2 == 0 ? t - 1 : t;
      }
      std::sort(batch_seconds.begin(), batch_seconds.end());
      const double sec = batch_seconds[batch_seconds.size() / 2] / static_cast<double>(per_batch);
      const std::uint64_t bytes = static_cast<std::uint64_t>(b * n) * tb * 2 *
                                  (1 + static_cast<std::uint64_t>(spec.optimizer.state_count()));
      // The copy moves the same bytes: half read, half written.
      const double copy_bw = backend->copy_bandwidth(bytes / 2, gpu ? 20 : 3);
      const double step_bw = static_cast<double>(bytes) / sec;
      fmt::print("{:<9} {:>12.3f} {:>14.4g} {:>12.1f} {:>12.1f} {:>8.3f}\n", name, sec * 1e3,
                 static_cast<double>(b) / sec, step_bw / 1e9, copy_bw / 1e9, step_bw / copy_bw);
      rows.push_back({{"optimizer", name},
                      {"step_seconds", sec},
                      {"trajectory_steps_per_second", static_cast<double>(b) / sec},
                      {"bytes_per_step", bytes},
                      {"step_bytes_per_second", step_bw},
                      {"copy_bytes_per_second", copy_bw},
                      {"ratio_to_copy", step_bw / copy_bw}});
    }
    if (!experiment.empty()) objective = ex.objective.kind + " (" + experiment + ")";
    nlohmann::json j = {{"benchmark", "fused_step"},
                        {"objective", objective},
                        {"features", objective == "gaussian-field" ? features : 0},
                        {"backend", backend->name()},
                        {"device", backend->device()},
                        {"trajectories", b},
                        {"dim", n},
                        {"precision", precision},
                        {"steps_timed", steps},
                        {"statistic", "median over batches of steps"},
                        {"version", SADDLESCOPE_VERSION},
                        {"date", static_cast<std::int64_t>(std::time(nullptr))},
                        {"results", rows}};
    if (!export_dir.empty())
      std::ofstream(ed / "updates.json") << nlohmann::json{{"updates", updates},
                                                           {"lr", lr},
                                                           {"momentum", 0.9},
                                                           {"objective", objective},
                                                           {"precision", precision},
                                                           {"trajectories", b},
                                                           {"dim", n}}
                                                .dump(2)
                                         << "\n";
    if (!out.empty()) {
      std::ofstream(out) << j.dump(2) << "\n";
      std::fprintf(stderr, "wrote %s\n", out.c_str());
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_fused_step: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
