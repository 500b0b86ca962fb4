// Distinct points: connected components by an interval sweep along a random
// projection (see distinct.hpp).
#include "saddlescope/distinct.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace saddlescope {
namespace {

struct UnionFind {
  std::vector<std::int64_t> parent;
  explicit UnionFind(std::int64_t n) : parent(static_cast<std::size_t>(n)) {
    std::iota(parent.begin(), parent.end(), std::int64_t{0});
  }
  std::int64_t find(std::int64_t i) {
    while (parent[i] != i) {
      parent[i] = parent[parent[i]];  // path halving
      i = parent[i];
    }
    return i;
  }
  void join(std::int64_t a, std::int64_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

// The points with a usable radius, in the order of their intervals' starts
// along a fixed pseudo-random direction, and their projections.
struct Sweep {
  std::vector<double> proj;
  std::vector<std::int64_t> order;
};

Sweep sweep_order(const double* x, std::int64_t count, std::int64_t dim,
                  const std::vector<double>& radius) {
  // A fixed direction (mt19937_64 is specified bit for bit by the standard).
  std::mt19937_64 gen(0x5ad1e5c09eULL);
  std::vector<double> dir(static_cast<std::size_t>(dim));
  double norm = 0;
  for (auto& d : dir) {
    d = static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.5;
    norm += d * d;
  }
  norm = std::sqrt(norm);
  for (auto& d : dir) d /= norm;
  Sweep s;
  s.proj.resize(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    double p = 0;
    for (std::int64_t k = 0; k < dim; ++k) p += dir[k] * x[i * dim + k];
    s.proj[i] = p;
    if (radius[i] >= 0 && std::isfinite(p) && std::isfinite(radius[i])) s.order.push_back(i);
  }
  auto lo = [&](std::int64_t i) { return s.proj[i] - radius[i]; };
  std::sort(s.order.begin(), s.order.end(), [&](std::int64_t a, std::int64_t b) {
    return lo(a) < lo(b) || (lo(a) == lo(b) && a < b);
  });
  return s;
}

// Calls visit(i, j, distance) for every pair whose intervals overlap and
// whose distance is within radius[i] + radius[j] (i arriving after j in the
// sweep), unless skip(i, j) says the pair need not be measured.
template <class Skip, class Visit>
void sweep_pairs(const double* x, std::int64_t dim, const std::vector<double>& radius,
                 const Sweep& s, Skip skip, Visit visit) {
  std::vector<std::int64_t> active;  // intervals that may still overlap the next ones
  for (const std::int64_t i : s.order) {
    const double start = s.proj[i] - radius[i];
    std::size_t keep = 0;
    for (std::size_t a = 0; a < active.size(); ++a) {
      const std::int64_t j = active[a];
      if (s.proj[j] + radius[j] < start) continue;  // ended before this one starts: drop it
      active[keep++] = j;
      const double tol = radius[i] + radius[j];
      if (skip(i, j) || std::fabs(s.proj[i] - s.proj[j]) > tol) continue;
      double d2 = 0;
      for (std::int64_t k = 0; k < dim; ++k) {
        const double diff = x[i * dim + k] - x[j * dim + k];
        d2 += diff * diff;
      }
      const double d = std::sqrt(d2);
      if (d <= tol) visit(i, j, d);
    }
    active.resize(keep);
    active.push_back(i);
  }
}

// Links every pair within radius[i] + radius[j] into uf's components. The
// sweep keeps the active intervals grouped by component: a point is compared
// with the members of each overlapping component until one is within reach,
// and not at all with its own component's, so many copies of one point cost
// O(1) each. Members whose interval ended stay in a component's list until
// the list has doubled since it was last cleaned (they can never be within
// reach again), and a component whose last interval ended leaves the sweep:
// O(P log P) in all, with small-to-large merges of the lists.
void link_components(const double* x, std::int64_t dim, const std::vector<double>& radius,
                     const Sweep& s, UnionFind& uf, MergeStats* stats) {
  MergeStats local;
  MergeStats& st = stats ? *stats : local;
  const auto count = static_cast<std::int64_t>(uf.parent.size());
  const auto uc = static_cast<std::size_t>(count);
  std::vector<std::vector<std::int64_t>> members(uc);
  std::vector<double> end(uc, -std::numeric_limits<double>::infinity());  // latest interval end
  std::vector<std::size_t> cleaned(uc, 0);
  std::vector<std::int64_t> seen(uc, -1), active, next;
  auto unite = [&](std::int64_t a, std::int64_t b) {  // roots a, b -> the new root
    if (a == b) return a;
    const std::int64_t r = std::min(a, b), o = std::max(a, b);
    uf.parent[o] = r;
    if (members[r].size() < members[o].size()) std::swap(members[r], members[o]);
    members[r].insert(members[r].end(), members[o].begin(), members[o].end());
    std::vector<std::int64_t>().swap(members[o]);
    end[r] = std::max(end[r], end[o]);
    cleaned[r] = std::max(cleaned[r], cleaned[o]);
    return r;
  };
  auto within = [&](std::int64_t i, std::int64_t j) {
    const double tol = radius[i] + radius[j];
    ++st.comparisons;
    if (std::fabs(s.proj[i] - s.proj[j]) > tol) return false;
    ++st.distances;
    double d2 = 0;
    for (std::int64_t k = 0; k < dim; ++k) {
      const double diff = x[i * dim + k] - x[j * dim + k];
      d2 += diff * diff;
    }
    return std::sqrt(d2) <= tol;
  };
  for (std::size_t step = 0; step < s.order.size(); ++step) {
    const std::int64_t i = s.order[step];
    const double start = s.proj[i] - radius[i];
    const auto stamp = static_cast<std::int64_t>(step);
    members[i] = {i};
    end[i] = s.proj[i] + radius[i];
    next.clear();
    for (const std::int64_t c : active) {
      std::int64_t rc = uf.find(c);
      if (seen[rc] == stamp) continue;
      auto& mem = members[rc];
      if (end[rc] < start) {  // every interval of the component ended: it leaves
        std::vector<std::int64_t>().swap(mem);
        continue;
      }
      if (mem.size() >= 2 * cleaned[rc] + 8) {
        st.comparisons += static_cast<std::int64_t>(mem.size());
        std::size_t keep = 0;
        for (const std::int64_t j : mem)
          if (s.proj[j] + radius[j] >= start) mem[keep++] = j;
        mem.resize(keep);
        cleaned[rc] = keep;
      }
      const std::int64_t ri = uf.find(i);
      if (ri != rc)
        for (const std::int64_t j : mem)
          if (within(i, j)) {
            rc = unite(ri, rc);
            break;
          }
      rc = uf.find(rc);
      if (seen[rc] != stamp) {
        seen[rc] = stamp;
        next.push_back(rc);
      }
    }
    const std::int64_t ri = uf.find(i);
    if (seen[ri] != stamp) {
      seen[ri] = stamp;
      next.push_back(ri);
    }
    active.swap(next);
  }
}

std::vector<std::int64_t> number_by_first(UnionFind& uf, std::int64_t count) {
  std::vector<std::int64_t> id(static_cast<std::size_t>(count), -1),
      root_id(static_cast<std::size_t>(count), -1);
  std::int64_t next = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t r = uf.find(i);
    if (root_id[r] < 0) root_id[r] = next++;
    id[i] = root_id[r];
  }
  return id;
}

}  // namespace

std::vector<std::int64_t> merge_points(const double* x, std::int64_t count, std::int64_t dim,
                                       const std::vector<double>& radius, MergeStats* stats) {
  const Sweep s = sweep_order(x, count, dim, radius);
  UnionFind uf(count);
  link_components(x, dim, radius, s, uf, stats);
  return number_by_first(uf, count);
}

std::vector<std::int64_t> nearest_within(const double* x, std::int64_t count, std::int64_t dim,
                                         const std::vector<double>& radius,
                                         const std::vector<std::int8_t>& role) {
  std::vector<double> r(radius);
  for (std::int64_t i = 0; i < count; ++i)
    if (role[i] != 1 && role[i] != 2) r[i] = -1;
  const Sweep s = sweep_order(x, count, dim, r);
  std::vector<std::int64_t> best(static_cast<std::size_t>(count), -1);
  std::vector<double> best_d(static_cast<std::size_t>(count),
                             std::numeric_limits<double>::infinity());
  sweep_pairs(
      x, dim, r, s, [&](std::int64_t i, std::int64_t j) { return role[i] == role[j]; },
      [&](std::int64_t i, std::int64_t j, double d) {
        const std::int64_t from = role[i] == 1 ? i : j, to = role[i] == 1 ? j : i;
        if (d < best_d[from] || (d == best_d[from] && to < best[from])) {
          best_d[from] = d;
          best[from] = to;
        }
      });
  return best;
}

std::vector<std::int64_t> distinct_ids(const double* x, std::int64_t count, std::int64_t dim,
                                       const std::vector<double>& radius,
                                       const std::vector<char>& anchor) {
  std::vector<double> r_anchor(radius);
  std::vector<std::int8_t> role(static_cast<std::size_t>(count), 0);
  for (std::int64_t i = 0; i < count; ++i) {
    if (radius[i] < 0) continue;
    role[i] = anchor[i] ? 2 : 1;
    if (!anchor[i]) r_anchor[i] = -1;
  }
  // Anchors among themselves; then each other point to its nearest anchor.
  UnionFind uf(count);
  link_components(x, dim, r_anchor, sweep_order(x, count, dim, r_anchor), uf, nullptr);
  const std::vector<std::int64_t> near = nearest_within(x, count, dim, radius, role);
  for (std::int64_t i = 0; i < count; ++i)
    if (near[i] >= 0) uf.join(i, near[i]);
  return number_by_first(uf, count);
}

}  // namespace saddlescope
