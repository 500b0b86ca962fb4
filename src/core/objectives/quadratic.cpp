// quadratic: 1/2 x^T Q diag(lambda) Q^T x, and its presets saddle-2d and
// bowl-2d (kernels/objectives.hpp; rotated: a dense matrix, coupled).
#include <vector>

#include "common.hpp"
#include "kernels/rng.hpp"
#include "saddlescope/errors.hpp"

namespace saddlescope::objectives {
namespace {

// Haar-distributed rotation: QR of a Gaussian matrix with R's diagonal made
// positive (Mezzadri 2007). Row-major n x n.
std::vector<double> haar_rotation(std::int64_t n, std::uint64_t seed, const HostLinalg& la) {
  std::vector<double> q(static_cast<std::size_t>(n * n));
  for (std::int64_t k = 0; k < n * n; ++k)
    q[k] = rng::normal(seed, rng::kObjectiveRotation, static_cast<std::uint64_t>(k));
  std::vector<double> tau(static_cast<std::size_t>(n));
  const int ln = static_cast<int>(n);
  int info = la.geqrf(ln, ln, q.data(), ln, tau.data());
  if (info != 0) throw Error(fmt::format("LAPACKE_dgeqrf failed (info = {})", info), 1);
  std::vector<double> sign(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) sign[j] = q[j * n + j] < 0 ? -1.0 : 1.0;
  info = la.orgqr(ln, ln, ln, q.data(), ln, tau.data());
  if (info != 0) throw Error(fmt::format("LAPACKE_dorgqr failed (info = {})", info), 1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) q[i * n + j] *= sign[j];
  return q;
}

void build_quadratic(const ObjectiveSpec& o, std::uint64_t seed, const HostLinalg& la,
                     ObjectiveData& d) {
  d.lambda = o.eigenvalues;
  if (!o.rotate) return;
  const std::int64_t n = o.dim;
  const std::vector<double> q = haar_rotation(n, seed, la);
  std::vector<double> ql(q);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) ql[i * n + j] *= o.eigenvalues[j];
  d.matrix.assign(static_cast<std::size_t>(n * n), 0.0);
  const int ln = static_cast<int>(n);
  // A = (Q diag(lambda)) Q^T
  la.gemm(false, true, ln, ln, ln, 1.0, ql.data(), ln, q.data(), ln, 0.0, d.matrix.data(), ln);
  // Symmetrize exactly so that the matrix is symmetric to the last bit.
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j) {
      const double m = 0.5 * (d.matrix[i * n + j] + d.matrix[j * n + i]);
      d.matrix[i * n + j] = d.matrix[j * n + i] = m;
    }
}

// lambda per coordinate, plus A (n x n) when rotated.
std::uint64_t quadratic_bytes(const ObjectiveSpec& o, std::uint64_t t) {
  const auto n = static_cast<std::uint64_t>(o.dim);
  return n * t + (o.rotate ? n * n * t : 0);
}

bool rotated(const ObjectiveSpec& o) { return o.rotate; }

ObjectiveKey rotate_key() {
  return flag_key("rotate", &ObjectiveSpec::rotate, false,
                  "true: Q is a Haar-random rotation drawn from seed (a dense N x N matrix); "
                  "false: Q = I");
}

// saddle-2d and bowl-2d: fixed eigenvalues, dim 2.
// Their eigenvalues are set by read() from the name.
ObjectiveInfo preset(const char* name, const char* formula, const char* doc) {
  ObjectiveInfo o{
      name, formula, doc, {dim_key("`2`", "exactly 2"), rotate_key()}, ObjectiveKind::quadratic};
  o.precheck = [](const config::Section& s) {
    const std::string kind = s.string("kind", "");
    for (const char* k : {"eigenvalues", "negative", "curvature"})
      if (s.has(k))
        s.fail(k, fmt::format("cannot be combined with the preset \"{}\" (it fixes the "
                              "eigenvalues); use kind = \"quadratic\" to choose them",
                              kind));
  };
  o.read = [](const config::Section& s, ObjectiveSpec& spec) {
    spec.preset = spec.kind;
    spec.kind = "quadratic";
    spec.eigenvalues =
        spec.preset == "saddle-2d" ? std::vector<double>{2.0, -2.0} : std::vector<double>{2.0, 2.0};
    spec.dim = s.integer("dim", 2, 2, 2);
  };
  o.build = build_quadratic;
  o.coupled = rotated;
  o.data_bytes = quadratic_bytes;
  o.work_bytes = no_bytes;
  return o;
}

}  // namespace

ObjectiveInfo quadratic() {
  ObjectiveInfo o{
      "quadratic",
      "f = 1/2 x^T Q diag(lambda) Q^T x",
      "f = 1/2 x^T A x, A = Q diag(lambda) Q^T. Give either `eigenvalues = [...]`, or `dim` "
      "with `negative = k` and `curvature = c`: eigenvalues -c for coordinates 0..k-1 and +c for "
      "the rest (`dim` alone: k = 0). With `rotate = true` Q is a Haar-random rotation drawn "
      "from `seed` (QR of a Gaussian matrix, signs fixed) and A is a dense N x N matrix in the "
      "run precision (memory and time grow as N^2); else Q = I.",
      {dim_key("required, or the number of `eigenvalues`", "1 to 100000000"),
       custom_key(
           "eigenvalues", ObjectiveKey::numbers, "-", "at least 1 finite value",
           "lambda, one per coordinate (or use negative and curvature)",
           [](const ObjectiveSpec& s) { return config::toml_numbers(s.eigenvalues); },
           [](const ObjectiveSpec& s) { return s.negative < 0; }),
       custom_key(
           "negative", ObjectiveKey::integer, "`0`", "0 to `dim`",
           "k: coordinates 0..k-1 get eigenvalue -curvature, the rest +curvature",
           [](const ObjectiveSpec& s) { return fmt::format("{}", s.negative); },
           [](const ObjectiveSpec& s) { return s.negative >= 0; }),
       real_key("curvature", &ObjectiveSpec::curvature, 1.0, 0.0, 1e30, true,
                "c, with negative = k (not with eigenvalues)"),
       rotate_key()},
      ObjectiveKind::quadratic};
  o.keys[3].written = [](const ObjectiveSpec& s) { return s.negative >= 0; };
  o.read = [](const config::Section& s, ObjectiveSpec& spec) {
    spec.eigenvalues = s.numbers("eigenvalues");
    if (s.has("eigenvalues") && s.has("negative"))
      s.fail("negative",
             "cannot be combined with eigenvalues: give either the eigenvalue "
             "list or negative = k with curvature = c");
    if (s.has("eigenvalues")) {
      if (spec.eigenvalues.empty()) s.fail("eigenvalues", "must hold at least one value");
      if (s.has("curvature"))
        s.fail("curvature", "applies only with negative = k (the eigenvalues are given)");
      spec.dim = s.integer("dim", static_cast<std::int64_t>(spec.eigenvalues.size()), 1, kMaxDim);
      if (spec.dim != static_cast<std::int64_t>(spec.eigenvalues.size()))
        s.fail("dim", fmt::format("= {} does not match the {} eigenvalues given", spec.dim,
                                  spec.eigenvalues.size()));
      return;
    }
    if (!s.has("dim"))
      s.fail_section("needs dim with negative = k (and curvature = c), or an eigenvalues list");
    spec.dim = s.integer("dim", 1, 1, kMaxDim);
    spec.negative = s.integer("negative", 0, 0, spec.dim);
    spec.eigenvalues.assign(static_cast<std::size_t>(spec.dim), spec.curvature);
    for (std::int64_t i = 0; i < spec.negative; ++i) spec.eigenvalues[i] = -spec.curvature;
  };
  o.build = build_quadratic;
  o.coupled = rotated;
  o.data_bytes = quadratic_bytes;
  o.work_bytes = no_bytes;
  return o;
}

ObjectiveInfo saddle_2d() {
  return preset("saddle-2d", "preset: quadratic x^2 - y^2 (eigenvalues [2, -2]), dim 2",
                "Quadratic preset, lambda = [2, -2]: f = x^2 - y^2. `eigenvalues`, `negative` "
                "and `curvature` are refused (the preset fixes them); config.toml keeps the "
                "preset's name.");
}

ObjectiveInfo bowl_2d() {
  return preset("bowl-2d", "preset: quadratic x^2 + y^2 (eigenvalues [2, 2]), dim 2",
                "Quadratic preset, lambda = [2, 2]: f = x^2 + y^2. `eigenvalues`, `negative` and "
                "`curvature` are refused (the preset fixes them); config.toml keeps the preset's "
                "name.");
}

}  // namespace saddlescope::objectives
