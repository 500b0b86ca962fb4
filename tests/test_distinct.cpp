// Distinct-point merging (src/core/distinct.cpp): connected components of the
// "within radius_i + radius_j" graph, checked against an all-pairs reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "saddlescope/distinct.hpp"

using saddlescope::merge_points;

namespace {

// All pairs + repeated relaxation: the reference partition.
std::vector<std::int64_t> brute_force(const std::vector<double>& x, std::int64_t n,
                                      std::int64_t dim, const std::vector<double>& r) {
  std::vector<std::int64_t> comp(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) comp[i] = i;
  bool changed = true;
  while (changed) {
    changed = false;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        if (r[i] < 0 || r[j] < 0 || comp[i] == comp[j]) continue;
        double d2 = 0;
        for (std::int64_t k = 0; k < dim; ++k)
          d2 += (x[i * dim + k] - x[j * dim + k]) * (x[i * dim + k] - x[j * dim + k]);
        if (std::sqrt(d2) <= r[i] + r[j]) {
          const std::int64_t m = std::min(comp[i], comp[j]);
          comp[i] = comp[j] = m;
          changed = true;
        }
      }
  }
  // Renumber by first appearance.
  std::map<std::int64_t, std::int64_t> ids;
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < n; ++i) {
    auto it = ids.find(comp[i]);
    if (it == ids.end()) it = ids.emplace(comp[i], static_cast<std::int64_t>(ids.size())).first;
    out.push_back(it->second);
  }
  return out;
}

}  // namespace

TEST(Distinct, ClustersAreFoundAndNumberedByFirstAppearance) {
  // 7 centres 1 apart in 5-D, 20 copies each jittered by 1e-9, interleaved.
  const std::int64_t dim = 5, centres = 7, copies = 20;
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> jit(-1e-9, 1e-9);
  std::vector<double> x;
  std::vector<std::int64_t> truth;
  for (std::int64_t c = 0; c < copies; ++c)
    for (std::int64_t k = centres - 1; k >= 0; --k) {  // centre 6 appears first
      for (std::int64_t d = 0; d < dim; ++d)
        x.push_back((d == 0 ? static_cast<double>(k) : 0.3) + jit(gen));
      truth.push_back(centres - 1 - k);
    }
  const std::vector<double> r(truth.size(), 1e-8);
  EXPECT_EQ(merge_points(x.data(), static_cast<std::int64_t>(truth.size()), dim, r), truth);
}

TEST(Distinct, LinksAreTransitiveAndExactAtTheTolerance) {
  // A chain spaced 1 apart: radius 0.5 links neighbours (distance == tolerance),
  // so the whole chain is one point; radius 0.49 links none.
  const std::int64_t n = 9;
  std::vector<double> x;
  for (std::int64_t i = 0; i < n; ++i) x.insert(x.end(), {static_cast<double>(i), 0.0});
  const auto one = merge_points(x.data(), n, 2, std::vector<double>(n, 0.5));
  EXPECT_TRUE(std::all_of(one.begin(), one.end(), [](std::int64_t v) { return v == 0; }));
  const auto none = merge_points(x.data(), n, 2, std::vector<double>(n, 0.49));
  for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(none[i], i);
}

TEST(Distinct, NegativeRadiusKeepsAPointAlone) {
  const std::vector<double> x = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0};  // three identical 2-D points
  const auto ids = merge_points(x.data(), 3, 2, {1e-3, -1.0, 1e-3});
  EXPECT_EQ(ids, (std::vector<std::int64_t>{0, 1, 0}));
}

TEST(Distinct, MatchesAllPairsOnRandomPointsAndRadii) {
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int trial = 0; trial < 40; ++trial) {
    const std::int64_t n = 60 + trial * 3, dim = 1 + trial % 4;
    std::vector<double> x(static_cast<std::size_t>(n * dim)), r(static_cast<std::size_t>(n));
    for (auto& v : x) v = u(gen);
    for (auto& v : r) v = u(gen) < 0.1 ? -1.0 : 0.06 * u(gen);
    const auto ref = brute_force(x, n, dim, r);
    EXPECT_EQ(merge_points(x.data(), n, dim, r), ref) << "trial " << trial;
    // The partition does not depend on the order of the input rows.
    std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) perm[i] = n - 1 - i;
    std::vector<double> xp, rp;
    for (auto i : perm) {
      xp.insert(xp.end(), x.begin() + i * dim, x.begin() + (i + 1) * dim);
      rp.push_back(r[i]);
    }
    const auto ids_p = merge_points(xp.data(), n, dim, rp);
    for (std::int64_t a = 0; a < n; ++a)
      for (std::int64_t b = 0; b < n; ++b)
        ASSERT_EQ(ids_p[a] == ids_p[b], ref[perm[a]] == ref[perm[b]]);
  }
}

TEST(Distinct, NonFinitePointsStayAlone) {
  const std::vector<double> x = {0.0, NAN, 0.0, 0.0};
  const auto ids = merge_points(x.data(), 4, 1, std::vector<double>(4, 1.0));
  EXPECT_EQ(ids, (std::vector<std::int64_t>{0, 1, 0, 0}));
}

TEST(Distinct, WorkPerPointStaysFlatWithManyCopies) {
  // 50 points found 400 times each (20,000 points): an all-pairs merge would
  // compare about P^2 / (2 * 50) = 4e6 pairs; the sweep compares each point
  // with about one member of its own component.
  const std::int64_t dim = 10, centres = 50, copies = 400;
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> jit(-1e-10, 1e-10);
  std::vector<double> c(static_cast<std::size_t>(centres * dim));
  for (auto& v : c) v = normal(gen);
  std::vector<double> x;
  std::vector<std::int64_t> truth;
  for (std::int64_t k = 0; k < copies; ++k)
    for (std::int64_t q = 0; q < centres; ++q) {
      for (std::int64_t d = 0; d < dim; ++d) x.push_back(c[q * dim + d] + jit(gen));
      truth.push_back(q);
    }
  const auto count = static_cast<std::int64_t>(truth.size());
  saddlescope::MergeStats st;
  EXPECT_EQ(merge_points(x.data(), count, dim, std::vector<double>(truth.size(), 1e-8), &st),
            truth);
  EXPECT_LT(st.comparisons, 4 * count);
  EXPECT_LT(st.distances, 2 * count);
}
