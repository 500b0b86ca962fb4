// Benchmark of the census eigensolvers (not a test): for a stack of
// symmetric matrices read from a .npy file [batch, n, n] (float64), times
// the eigenvalues-only solve (method eigh) and the Sylvester counts (method
// inertia: two LDL^T factorizations + Lanczos for max|lambda|) on a backend,
// best of `repeats`, and prints one JSON object with the times and the
// eigenvalues' checksum so a peer script can check equal work.
//
//   bench_census --matrices M.npy [--backend auto|cpu|cuda] [--precision f64|f32]
//                [--repeats R] [--eigenvalues-out W.npy]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "saddlescope/census.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"
#include "src/core/npy.hpp"
#include "src/cpu/blas_kernels.hpp"

using namespace saddlescope;

int main(int argc, char** argv) {
  choose_blas_kernels(argv);
  std::string matrices, backend_name = "auto", precision = "f64", values_out;
  int repeats = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--matrices")
      matrices = v;
    else if (k == "--backend")
      backend_name = v;
    else if (k == "--precision")
      precision = v;
    else if (k == "--repeats")
      repeats = std::stoi(v);
    else if (k == "--eigenvalues-out")
      values_out = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    if (matrices.empty()) throw InputError("--matrices FILE.npy is required");
    const npy::Array a = npy::read(matrices);
    if (a.shape.size() != 3 || a.shape[1] != a.shape[2])
      throw InputError("--matrices must be [batch, n, n]");
    const std::int64_t batch = a.shape[0], n = a.shape[1];
    std::string note;
    auto backend = select_backend(backend_name, note);
    const Precision p = precision == "f32" ? Precision::f32 : Precision::f64;
    auto best = [&](auto&& fn) {
      double t_best = 1e300;
      for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        t_best = std::min(
            t_best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      return t_best;
    };
    EighResult e;
    const double t_eigh = best([&] { e = backend->eigh(p, batch, n, a.data, false); });
    std::int64_t failed = 0;
    for (int info : e.info) failed += info != 0;
    // Inertia: the same two steps the census takes (Lanczos tolerance, then counts).
    std::vector<std::int64_t> counts;
    const double t_inertia = best([&] {
      const InertiaShifts is = inertia_shifts(a.data.data(), batch, n, 1e-6);
      counts = backend->count_below(p, batch, n, a.data, is.shifts, 2);
    });
    // Equal work: inertia's index must match the eigenvalues' count below -tol.
    std::int64_t mismatches = 0;
    for (std::int64_t b = 0; b < batch; ++b) {
      std::int64_t below = 0;
      const double* w = e.values.data() + b * n;
      double amax = 0;
      for (std::int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(w[i]));
      for (std::int64_t i = 0; i < n; ++i) below += w[i] < -1e-6 * std::max(1.0, amax);
      mismatches += below != counts[2 * b];
    }
    if (!values_out.empty()) npy::write_f64(values_out, {batch, n}, e.values);
    nlohmann::json j = {{"backend", backend->name()},
                        {"device", backend->device()},
                        {"batch", batch},
                        {"n", n},
                        {"precision", precision},
                        {"eigh_seconds", t_eigh},
                        {"inertia_seconds", t_inertia},
                        {"failed_solves", failed},
                        {"inertia_index_mismatches", mismatches}};
    std::printf("%s\n", j.dump().c_str());
  } catch (const Error& err) {
    std::fprintf(stderr, "bench_census: %s\n", err.what());
    return err.exit_code();
  }
  return 0;
}
