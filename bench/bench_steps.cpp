// Benchmark of the finder's and the census's steps through the backend (not
// a test), before and after objectives were prepared once (docs/design.md,
// II.1): "one-off" calls prepare the objective anew per call (converted, or
// on CUDA uploaded, each time: what every call did before), "prepared"
// calls go through one PreparedObjective. Per step, best of `repeats`:
//   finder: value_grad and the dense Hessians of `batch` points (a Newton
//           step's evaluations);
//   census: value_grad, 6 Hessian-vector products at 2 x 3 x batch points
//           (the rho estimate) and the Hessians' eigenvalues (one-off:
//           hessian then eigh, through the host; prepared: hessian_eigh).
// Prints one JSON object: seconds and host bytes moved per step (bytes
// between host and device on CUDA; on the CPU, bytes converted between
// double and the precision), and a checksum of each so that both ways are
// seen to do equal work.
//
//   bench_steps --experiment FILE.toml [--set key=value ...] [--backend auto|cpu|cuda]
//               [--batch B] [--repeats R]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"
#include "src/cpu/blas_kernels.hpp"

using namespace saddlescope;

namespace {

double sum(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v) s += x;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  choose_blas_kernels(argv);
  std::string path, backend_name = "auto";
  std::vector<std::string> sets;
  std::int64_t batch = 8;
  int repeats = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--experiment")
      path = v;
    else if (k == "--set")
      sets.push_back(v);
    else if (k == "--backend")
      backend_name = v;
    else if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--repeats")
      repeats = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    if (path.empty()) throw InputError("--experiment FILE.toml is required");
    const Experiment e = load_experiment(path, sets);
    std::string note;
    auto backend = select_backend(backend_name, note);
    const ObjectiveData obj = build_objective(e, backend->host_linalg());
    const Precision p = e.analysis.precision;
    const std::int64_t n = obj.dim, probes = 6 * batch;
    const std::vector<double> x = make_starts(e, 0, batch);
    const std::vector<double> xs = make_starts(e, batch, probes);
    const std::vector<double> vs = make_starts(e, batch + probes, probes);

    struct Timed {
      double seconds = 1e300, check = 0;
      std::uint64_t bytes = 0;
    };
    auto best = [&](auto&& step) {
      Timed t;
      for (int r = 0; r < repeats; ++r) {
        std::uint64_t bytes = 0;
        const auto t0 = std::chrono::steady_clock::now();
        const double check = step(bytes);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s < t.seconds) t = {s, check, bytes};
      }
      return t;
    };
    // One-off: each call prepares anew (its bytes include the objective's).
    auto once = [&](std::uint64_t& bytes, auto&& call) {
      const auto prepared = backend->prepare(obj, p);
      auto r = call(*prepared);
      bytes += prepared->host_bytes();
      return r;
    };
    const auto prepared = backend->prepare(obj, p);
    prepared->value_grad(batch, x);  // work spaces grown before timing
    auto kept = [&](std::uint64_t& bytes, auto&& call) {
      const std::uint64_t b0 = prepared->host_bytes();
      auto r = call(*prepared);
      bytes += prepared->host_bytes() - b0;
      return r;
    };

    auto finder_step = [&](auto&& via) {
      return [&, via](std::uint64_t& bytes) {
        const ObjectiveEval ev =
            via(bytes, [&](PreparedObjective& o) { return o.value_grad(batch, x); });
        const std::vector<double> h =
            via(bytes, [&](PreparedObjective& o) { return o.hessian(batch, x); });
        return sum(ev.g) + sum(h);
      };
    };
    auto census_step = [&](auto&& via, bool one_off) {
      return [&, via, one_off](std::uint64_t& bytes) {
        const ObjectiveEval ev =
            via(bytes, [&](PreparedObjective& o) { return o.value_grad(batch, x); });
        double check = sum(ev.g);
        for (int it = 0; it < 6; ++it)
          check += sum(via(bytes, [&](PreparedObjective& o) { return o.hvp(probes, xs, vs); }));
        EighResult eg;
        if (one_off) {
          const std::vector<double> h =
              via(bytes, [&](PreparedObjective& o) { return o.hessian(batch, x); });
          eg = backend->eigh(p, batch, n, h, false);
          bytes += h.size() * precision_bytes(p) + eg.values.size() * precision_bytes(p);
        } else {
          eg = via(bytes, [&](PreparedObjective& o) { return o.hessian_eigh(batch, x, false); });
        }
        return check + sum(eg.values);
      };
    };
    const Timed f_once = best(finder_step(once)), f_kept = best(finder_step(kept));
    const Timed c_once = best(census_step(once, true)), c_kept = best(census_step(kept, false));
    auto row = [](const Timed& t) {
      return nlohmann::json{{"seconds", t.seconds}, {"host_bytes", t.bytes}, {"checksum", t.check}};
    };
    nlohmann::json out = {
        {"benchmark", "steps"},
        {"experiment", e.name},
        {"objective", e.objective.kind},
        {"dim", n},
        {"batch", batch},
        {"precision", p == Precision::f64 ? "f64" : "f32"},
        {"backend", backend->name()},
        {"device", backend->device()},
        {"finder_step", {{"one_off", row(f_once)}, {"prepared", row(f_kept)}}},
        {"census_step", {{"one_off", row(c_once)}, {"prepared", row(c_kept)}}},
    };
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const Error& err) {
    std::fprintf(stderr, "bench_steps: %s\n", err.what());
    return err.exit_code();
  }
}
