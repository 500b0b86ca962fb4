// Structured Hessians in the census (docs/experiment.md, [analysis]; docs/design.md,
// Part II): the local objectives (double-well, styblinski-tang, rastrigin,
// the unrotated quadratic, rosenbrock) have the band of kernels/objectives.hpp
// (H_ii, H_i,i+1) as their whole Hessian, diagonal for the separable ones and
// tridiagonal for rosenbrock. The census solves it as such on the host, with
// O(n) memory per point: under "eigh" the sorted diagonal or the
// tridiagonal's eigenvalues (HostLinalg::stev), under "inertia" Sturm counts
// and the extreme eigenvalues by bisection, all exact to rounding.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "census.hpp"

namespace saddlescope {

// Whether the census takes obj's Hessians as bands: every objective that is
// neither coupled nor on the sphere.
bool banded_hessian(const ObjectiveData& obj);

// The Hessian bands at m points x [m, dim], evaluated in precision p (x
// rounded to it, LocalObjective::hessian_band, then to double, as the dense
// Hessians of the backends are): diag [m, dim] = H_ii, upper [m, dim] =
// H_i,i+1 (0 in each point's last entry).
struct HessianBands {
  std::vector<double> diag, upper;
};
HessianBands hessian_bands(const ObjectiveData& obj, Precision p, const double* x, std::int64_t m);

// The number of eigenvalues below s (or_equal: at most s) of the symmetric
// tridiagonal matrix with diagonal d [n] and off-diagonal e [n - 1], by the
// signs of the pivots of its LDL^T factorization minus s (a Sturm count):
// d_0 = a_0 - s, d_i = (a_i - s) - e_{i-1}^2 / d_{i-1}. With e = 0 it
// counts the diagonal entries below (at most) s exactly.
std::int64_t tridiagonal_count_below(const double* d, const double* e, std::int64_t n, double s,
                                     bool or_equal);

// The smallest and largest eigenvalues of the same matrix: the diagonal's
// extremes when e = 0, else by bisection on Sturm counts from its
// Gershgorin interval, to 2 eps (|lambda|max bound).
std::pair<double, double> tridiagonal_extremes(const double* d, const double* e, std::int64_t n);

// The census of points [first, first + m) of a group, x [m, dim] (docs/experiment.md,
// census rules, with spec.method "eigh" or "inertia"): into s's rows, as
// analyze_points does with dense Hessians; facts: the group's facts, or
// nullptr. A band with a non-finite entry fails the point (info -1).
void analyze_banded(const ObjectiveData& obj, const HostLinalg& la, const AnalysisSpec& spec,
                    const std::vector<double>& x, std::int64_t first, std::int64_t m,
                    const PointFacts* facts, Spectra& s);

}  // namespace saddlescope
