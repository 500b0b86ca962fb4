// Distinct points (docs/experiment.md, census rules): the connected
// components of points under a pairwise distance test, without comparing
// every pair.
#pragma once

#include <cstdint>
#include <vector>

namespace saddlescope {

// Points i and j (rows of x [count, dim]) are linked when both radii are
// >= 0 and ||x_i - x_j|| <= radius[i] + radius[j]; a negative radius keeps a
// point alone. Returns, per point, the id of its connected component, ids
// numbered 0, 1, ... in the order of each component's first point. The
// result does not depend on the order of the pairs examined.
//
// The points are projected on one fixed pseudo-random direction; two linked
// points have projections within radius[i] + radius[j], so a sweep over the
// intervals [p_i - r_i, p_i + r_i] sorted by their start compares a point
// only with the components whose intervals overlap its own, and with one of
// their members when it is within reach: O(P log P) time for P points in
// separated clusters however many copies each holds, O(P) memory beside x.
// The work done, to check it is not quadratic: member visits (`comparisons`)
// and full distance evaluations among them.
struct MergeStats {
  std::int64_t comparisons = 0, distances = 0;
};
std::vector<std::int64_t> merge_points(const double* x, std::int64_t count, std::int64_t dim,
                                       const std::vector<double>& radius,
                                       MergeStats* stats = nullptr);

// For each point i with role[i] == 1, the nearest point j with role[j] == 2
// such that ||x_i - x_j|| <= radius[i] + radius[j] (both >= 0), or -1; the
// same interval sweep as merge_points. Points of other roles are ignored.
std::vector<std::int64_t> nearest_within(const double* x, std::int64_t count, std::int64_t dim,
                                         const std::vector<double>& radius,
                                         const std::vector<std::int8_t>& role);

// The census's distinct points (docs/experiment.md, census rules): critical
// points (anchor[i] true) are linked transitively by merge_points; every
// other point with radius >= 0 joins the nearest anchor within reach, never
// linking two anchors; the rest stay alone. Ids are numbered by first
// appearance.
std::vector<std::int64_t> distinct_ids(const double* x, std::int64_t count, std::int64_t dim,
                                       const std::vector<double>& radius,
                                       const std::vector<char>& anchor);

}  // namespace saddlescope
