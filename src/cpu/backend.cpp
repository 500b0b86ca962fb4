// CPU backend: OpenMP loops over the shared per-element math in kernels/,
// OpenBLAS GEMMs for coupled objectives. It is the reference backend that
// every CUDA result is tested against. Its parts (docs/design.md, Part II):
// src/cpu/objectives.cpp (objective arrays, coupled evaluation on fixed GEMM
// row tiles, the prepared objective), src/cpu/ensemble.cpp (the
// fused row passes and the ensemble), src/cpu/linalg.cpp (eigh, count_below),
// src/cpu/host_linalg.cpp (core's host LAPACK/BLAS calls),
// src/cpu/vector_math.cpp (SLEEF tanh); this file ties them into the Backend.
#include "saddlescope/backend.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "saddlescope/errors.hpp"
#include "saddlescope/host_linalg.hpp"
#include "src/cpu/ensemble.hpp"
#include "src/cpu/linalg.hpp"
#include "src/cpu/objectives.hpp"

namespace saddlescope {

std::uint64_t available_host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 4ull << 30;
}

namespace {

using cpu_detail::count_below_t;
using cpu_detail::eigh_t;
using cpu_detail::make_cpu_ensemble;

class CpuBackend final : public Backend {
 public:
  // Parallelism comes from OpenMP (loops and row-split GEMMs), not from OpenBLAS.
  CpuBackend() { openblas_set_num_threads(1); }
  std::string name() const override { return "cpu"; }
  std::string device() const override {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    std::string model = "CPU";
    while (std::getline(in, line))
      if (line.rfind("model name", 0) == 0) {
        model = line.substr(line.find(':') + 2);
        break;
      }
    std::ostringstream s;
    s << model << " (" << omp_get_max_threads() << " threads)";
    return s.str();
  }
  std::uint64_t memory_budget() const override { return available_host_memory() / 10 * 7; }
  // The roof: the faster of two copies of the same bytes, memcpy (glibc
  // picks streaming stores for large sizes) and a plain vectorized loop
  // (regular stores, as the fused pass does); on the development machine the
  // loop measured 1.5x memcpy's bandwidth. Bytes read plus bytes written.
  double copy_bandwidth(std::uint64_t bytes, int repeats) override {
    const std::size_t words = std::max<std::size_t>(1, bytes / sizeof(std::uint64_t));
    std::vector<std::uint64_t> a(words, 1), b(words, 0);
    double best = 1e300;
    for (int r = 0; r < repeats + 1; ++r) {  // the first round warms the pages
      for (int way = 0; way < 2; ++way) {
        const auto t0 = std::chrono::steady_clock::now();
        if (way == 0) {
#pragma omp parallel
          {
            const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
            const std::size_t id = static_cast<std::size_t>(omp_get_thread_num());
            const std::size_t lo = words * id / nt, hi = words * (id + 1) / nt;
            std::memcpy(b.data() + lo, a.data() + lo, (hi - lo) * sizeof(std::uint64_t));
          }
        } else {
          const std::uint64_t* src = a.data();
          std::uint64_t* dst = b.data();
#pragma omp parallel for simd schedule(static)
          for (std::size_t i = 0; i < words; ++i) dst[i] = src[i] + static_cast<std::uint64_t>(r);
        }
        const double t =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) best = std::min(best, t);
      }
    }
    if (b[words / 2] != 1 + static_cast<std::uint64_t>(repeats))
      throw Error("copy benchmark: copy did not happen", 1);
    return 2.0 * static_cast<double>(words * sizeof(std::uint64_t)) / best;
  }
  std::unique_ptr<Ensemble> make_ensemble(const EnsembleSpec& s) override {
    return make_cpu_ensemble(s);
  }
  std::unique_ptr<PreparedObjective> prepare(const ObjectiveData& d, Precision p) override {
    return cpu_detail::prepare_objective(d, p);
  }
  std::vector<std::int64_t> count_below(Precision p, std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts,
                                        std::int64_t k) override {
    return p == Precision::f32 ? count_below_t<float>(batch, n, h, shifts, k)
                               : count_below_t<double>(batch, n, h, shifts, k);
  }
  EighResult eigh(Precision p, std::int64_t batch, std::int64_t n, const std::vector<double>& h,
                  bool vectors) override {
    return p == Precision::f32 ? eigh_t<float>(batch, n, h, vectors)
                               : eigh_t<double>(batch, n, h, vectors);
  }
  const HostLinalg& host_linalg() const override { return cpu_host_linalg(); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace saddlescope
