// Benchmark of the distinct-point merge (not a test; docs/experiment.md,
// census rules): P points of dimension D in C well-separated clusters
// (P / C jittered copies of each centre, the way many trajectories reach the
// same critical points), merged with the census's radius test. Prints one
// JSON object per size with the time, the peak resident memory, the member
// comparisons and distance evaluations per point, and whether the C
// clusters were found, so the growth with P can be read off (it must not be
// quadratic: the work per point stays flat as P grows).
//
//   bench_distinct [--dim D] [--clusters C] [--sizes 10000,30000,100000,300000]
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "saddlescope/distinct.hpp"

int main(int argc, char** argv) {
  std::int64_t dim = 100, clusters = 1000;
  std::vector<std::int64_t> sizes = {10'000, 30'000, 100'000, 300'000};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--dim") {
      dim = std::stoll(v);
    } else if (k == "--clusters") {
      clusters = std::stoll(v);
    } else if (k == "--sizes") {
      sizes.clear();
      std::stringstream ss(v);
      for (std::string item; std::getline(ss, item, ',');) sizes.push_back(std::stoll(item));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (const std::int64_t p : sizes) {
    std::mt19937_64 gen(7);
    std::normal_distribution<double> normal;
    std::vector<double> centres(static_cast<std::size_t>(clusters * dim));
    for (auto& c : centres) c = normal(gen);
    std::vector<double> x(static_cast<std::size_t>(p * dim));
    std::uniform_real_distribution<double> jitter(-1e-9, 1e-9);
    for (std::int64_t i = 0; i < p; ++i) {
      const std::int64_t c =
          static_cast<std::int64_t>(gen() % static_cast<std::uint64_t>(clusters));
      for (std::int64_t k = 0; k < dim; ++k) x[i * dim + k] = centres[c * dim + k] + jitter(gen);
    }
    const std::vector<double> radius(static_cast<std::size_t>(p), 1e-7);
    const auto t0 = std::chrono::steady_clock::now();
    saddlescope::MergeStats stats;
    const auto ids = saddlescope::merge_points(x.data(), p, dim, radius, &stats);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::int64_t found = ids.empty() ? 0 : *std::max_element(ids.begin(), ids.end()) + 1;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double input_mb = static_cast<double>(x.size() * sizeof(double)) / 1e6;
    out.push_back(
        {{"points", p},
         {"dim", dim},
         {"clusters", clusters},
         {"distinct_found", found},
         {"seconds", secs},
         {"microseconds_per_point", 1e6 * secs / static_cast<double>(p)},
         {"comparisons_per_point", static_cast<double>(stats.comparisons) / static_cast<double>(p)},
         {"distances_per_point", static_cast<double>(stats.distances) / static_cast<double>(p)},
         {"input_mb", input_mb},
         {"peak_rss_mb", static_cast<double>(ru.ru_maxrss) / 1e3}});
    std::fprintf(stderr,
                 "%lld points x %lld: %.3f s, %lld distinct (of %lld), %.2f comparisons and %.2f "
                 "distances per point\n",
                 static_cast<long long>(p), static_cast<long long>(dim), secs,
                 static_cast<long long>(found), static_cast<long long>(clusters),
                 static_cast<double>(stats.comparisons) / static_cast<double>(p),
                 static_cast<double>(stats.distances) / static_cast<double>(p));
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
