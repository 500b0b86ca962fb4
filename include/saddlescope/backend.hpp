// The backend interface: memory, the fused descent iteration over a chunk of
// trajectories, and batched objective evaluation (value, gradient,
// Hessian-vector product, dense Hessian) through objectives prepared once
// per precision. Only backends know about devices; the core drives them
// through this interface. Results cross it as host double arrays, or stay
// with the backend as ResidentRows between calls; the CPU backend is the
// reference for the CUDA one.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../../kernels/network.hpp"
#include "../../kernels/objectives.hpp"
#include "../../kernels/optimizers.hpp"
#include "../../kernels/trajectory.hpp"
#include "host_linalg.hpp"

namespace saddlescope {

enum class Precision { f32, f64 };

inline std::size_t precision_bytes(Precision p) { return p == Precision::f32 ? 4 : 8; }

// p-spin with p = 3: the contraction Y = X T^T runs over blocks of rows whose
// [rows, N^2] work space holds at most this many elements (both backends).
constexpr std::int64_t kPspinWorkElements = std::int64_t{8} << 20;

// Elements of the precision per trajectory of the coupled passes' work
// space: the one count the memory plan (through the objective registry,
// src/core/objectives/) and the CUDA backend's arrays use. The gaussian
// field: the feature arguments Z and their weights (or U = V W^T of a
// Hessian-vector product), M each; the networks: their work row
// (kernels/network.hpp: every layer's activations and gradients).
inline std::int64_t field_work_per_row(std::int64_t features) { return 2 * features; }
inline std::int64_t network_work_per_row(const NetworkShape& s) { return NetworkLayout(s).work; }

// An objective instance, built once on the host from the experiment (random
// parts drawn from the seed), identical for every backend.
struct ObjectiveData {
  ObjectiveKind kind = ObjectiveKind::quadratic;
  std::int64_t dim = 0;
  std::vector<double> lambda;  // quadratic: eigenvalues (length dim)
  std::vector<double> matrix;  // quadratic, rotated: A = Q diag(lambda) Q^T, row-major dim x dim
  double rastrigin_a = 10.0;
  // gaussian-field: frequencies W [features, dim], amplitudes a and phases b [features], mu.
  std::vector<double> field_w, field_a, field_b;
  double field_mu = 0.0;
  std::int64_t features() const { return static_cast<std::int64_t>(field_a.size()); }
  // The networks (kinds network, mlp and deep-linear; kernels/network.hpp):
  // the shape, inputs X [n, d_0], mse targets Y [n, d_L] (empty for
  // cross-entropy) and class labels [n]: cross-entropy's, or mse's when
  // every target row is one-hot (for the training accuracy); else empty.
  NetworkShape net;
  std::vector<double> net_x, net_y;
  std::vector<std::int32_t> net_labels;
  // True when the objective reports a training accuracy.
  bool classifies() const { return kind == ObjectiveKind::network && !net_labels.empty(); }
  // p-spin (kernels/pspin.hpp): p and the Euclidean Hessian's tensor: p = 2,
  // A = 2 N^{-1/2} sym(J) [dim, dim]; p = 3, T = 6 N^{-1} sym(J) [dim, dim, dim].
  int pspin_p = 0;
  std::vector<double> couplings;
  // objective.tf32: GEMMs in f32 may use TF32 tensor cores (CUDA only).
  bool tf32 = false;
  bool coupled() const {
    return !matrix.empty() || kind == ObjectiveKind::gaussian_field ||
           kind == ObjectiveKind::network || kind == ObjectiveKind::p_spin;
  }
  // Optimizers move on the sphere |x|^2 = dim (p-spin): projected gradients,
  // retraction by normalization, Riemannian Hessians.
  bool sphere() const { return kind == ObjectiveKind::p_spin; }
  // Size of the Hessians the census analyses: the N - 1 tangent directions on the sphere.
  std::int64_t hessian_dim() const { return sphere() ? dim - 1 : dim; }
  // The coupled passes' work space per trajectory (elements; 0 for the
  // others: the p-spin's contraction space is counted with its data).
  std::int64_t work_per_row() const {
    if (kind == ObjectiveKind::gaussian_field) return field_work_per_row(features());
    if (kind == ObjectiveKind::network) return network_work_per_row(net);
    return 0;
  }
};

// One chunk of trajectories for one optimizer.
struct EnsembleSpec {
  const ObjectiveData* objective = nullptr;
  OptimizerParams optimizer;
  Precision precision = Precision::f32;
  std::int64_t count = 0;  // trajectories in the chunk
  std::int64_t first = 0;  // global index of its first trajectory (keys the optimizer's noise)
  StopRule stop{1e-6, 1e10, 1000};
  std::int64_t record_count = 0;  // the chunk's first record_count trajectories keep curves
  std::int64_t record_every = 10;
  std::int64_t records = 1;  // max_steps / record_every + 1
  bool record_paths = false;
  PlateauRule plateau;               // plateau detection (always on)
  bool keep_plateau_points = false;  // keep each trajectory's plateau point (census)
};

// Host copy of a finished chunk.
struct EnsembleResult {
  std::vector<std::int8_t> outcome;  // Outcome per trajectory
  std::vector<std::int64_t> steps;
  std::vector<double> f_init, f_final, gnorm_final;
  std::vector<double> accuracy_final;  // a classifier's training accuracy at the end (else empty)
  std::vector<float> curves;           // [record_count, records, 2]
  std::vector<double> paths;           // [record_count, records, dim] when record_paths
  std::vector<double> finals;          // [count, dim] when asked
  // Plateau statistics per trajectory (kernels/plateau.hpp): episodes, total
  // and longest length, first escape step (-1: none), and the plateau point
  // of the longest episode: its step (-1: none), loss and gradient norm, and
  // its coordinates [count, dim] when keep_plateau_points (NaN rows for none).
  std::vector<std::int64_t> plateau_count, plateau_steps, longest_plateau, first_escape_step;
  std::vector<std::int64_t> plateau_step;
  std::vector<std::int64_t> target_step;  // first iteration with f <= run.target_loss (-1: none)
  std::vector<double> plateau_f, plateau_g, plateau_points;
};

// B x N state of one optimizer on one backend. Iteration t (t = 0 ..
// max_steps) evaluates f and grad f at x_t of every running trajectory,
// records and judges it (end_iteration), and unless t == max_steps applies
// optimizer step t + 1. No host synchronization happens inside iterate().
class Ensemble {
 public:
  virtual ~Ensemble() = default;
  // Starts, row-major [count, dim], converted to the ensemble's precision.
  virtual void set_starts(const std::vector<double>& x0) = 0;
  virtual void iterate(std::int64_t t) = 0;
  // Trajectories still running (synchronizes with the device).
  virtual std::int64_t running() = 0;
  virtual EnsembleResult result(bool want_finals) = 0;
  // Checkpointing: the complete state after the last iterate() (synchronizes
  // with the device), and its restoration into a fresh ensemble of the same
  // spec on the same backend, after which iterate(t + 1) continues exactly
  // as if never interrupted. An empty state means "not supported": a resume
  // then restarts the chunk.
  virtual std::vector<std::uint8_t> save_state() { return {}; }
  virtual void load_state(const std::vector<std::uint8_t>& state) { (void)state; }
};

// Batched objective evaluation; X, V are row-major [batch, dim] host arrays.
struct ObjectiveEval {
  std::vector<double> f;  // [batch]
  std::vector<double> g;  // [batch, dim]
};

// Symmetric eigendecompositions of a batch of dense matrices.
struct EighResult {
  std::vector<double> values;   // [batch, n], ascending
  std::vector<double> vectors;  // [batch, n, n] row-major, column k = eigenvector k (when asked)
  std::vector<int> info;        // [batch]: 0 = success, else the solver's failure code
};

// Rows [count, dim] of an objective's dimension kept by a backend in the
// precision of a PreparedObjective (on CUDA in device memory), so that an
// iterative caller keeps its vectors where the objective is evaluated
// between calls. Their storage grows on demand and is kept.
class ResidentRows {
 public:
  virtual ~ResidentRows() = default;
  std::int64_t count() const { return count_; }

 protected:
  std::int64_t count_ = 0;
};

// An objective prepared on a backend in one precision (docs/design.md,
// II.1): its arrays converted (on CUDA: uploaded) once and its work spaces
// kept between calls, so that the finders, the census and the host-driven
// optimizers pay for the objective once, not per step. The ObjectiveData
// must outlive it. Row arguments are ResidentRows made by this object's
// rows(); the host-array calls below go through them and give the same bits.
class PreparedObjective {
 public:
  virtual ~PreparedObjective() = default;
  virtual const ObjectiveData& data() const = 0;
  virtual Precision precision() const = 0;

  // Empty rows (count 0).
  virtual std::unique_ptr<ResidentRows> rows() = 0;
  // r holds the rows of x ([count, dim] host doubles, rounded to the
  // precision); its count becomes x.size() / dim.
  virtual void put(ResidentRows& r, const std::vector<double>& x) = 0;
  // The rows of r as host doubles [count, dim].
  virtual std::vector<double> get(const ResidentRows& r) = 0;
  // g = grad f at the rows of x (g takes x's count); returns f per row.
  virtual std::vector<double> value_grad(const ResidentRows& x, ResidentRows& g) = 0;
  // A classifying network's training accuracy at the rows of x (the
  // fraction of samples whose label is the first largest output); empty
  // when the objective does not classify (ObjectiveData::classifies).
  virtual std::vector<double> accuracy(const ResidentRows& x) = 0;
  // hv = H(x_r) v_r per row (v has x's count; hv takes it).
  virtual void hvp(const ResidentRows& x, const ResidentRows& v, ResidentRows& hv) = 0;
  // Dense Hessians at the rows of x, [count, dim, dim] host doubles. On the
  // sphere (p-spin): the embedded Riemannian Hessian at x as given (see
  // Backend::hessian).
  virtual std::vector<double> hessian(const ResidentRows& x) = 0;
  // The eigendecompositions of those Hessians, equal bit for bit to
  // Backend::eigh(precision, count, dim, hessian(x), vectors) of the same
  // backend: on CUDA the Hessians go from their assembly to the eigensolver
  // on the device (no host round trip), and only the results come back.
  virtual EighResult hessian_eigh(const ResidentRows& x, bool vectors) = 0;
  // Row algebra for the Krylov methods of the census (docs/design.md,
  // II.5): the vectors stay with the backend and only per-row scalars cross.
  // Each row's result depends on that row alone (never on the count or the
  // other rows); sums run in double in a fixed order.
  // Per-row dot products <a_r, b_r>, [count] (b has a's count).
  virtual std::vector<double> dots(const ResidentRows& a, const ResidentRows& b) = 0;
  // y_r = a_r x_r + b_r y_r per row (a, b: [x's count]); y takes x's count,
  // and where b_r == 0 its old row is not read (it may be garbage).
  virtual void combine(const std::vector<double>& a, const ResidentRows& x,
                       const std::vector<double>& b, ResidentRows& y) = 0;
  // Classical Gram-Schmidt of w against the rows of the basis (each with w's
  // count): c_lr = <q_l,r, w_r> for every l first, then w_r -= sum_l c_lr
  // q_l,r (l ascending). Returns c, [basis.size(), count]. With a non-empty
  // `rows` ([count], 0 or 1) only the rows marked 1 take part: the others
  // are left as they are, with c_lr = 0.
  virtual std::vector<double> project_out(const std::vector<const ResidentRows*>& basis,
                                          ResidentRows& w,
                                          const std::vector<std::uint8_t>& rows) = 0;
  // Bytes this object has moved between host and device (CUDA), or
  // converted between double and its precision (CPU), since it was made:
  // the objective's arrays once, then each call's rows (bench/).
  virtual std::uint64_t host_bytes() const = 0;

  // The same on host arrays [batch, dim] (through rows kept by this object).
  ObjectiveEval value_grad(std::int64_t batch, const std::vector<double>& x);
  std::vector<double> accuracy(std::int64_t batch, const std::vector<double>& x);
  std::vector<double> hvp(std::int64_t batch, const std::vector<double>& x,
                          const std::vector<double>& v);
  std::vector<double> hessian(std::int64_t batch, const std::vector<double>& x);
  EighResult hessian_eigh(std::int64_t batch, const std::vector<double>& x, bool vectors);

 private:
  ResidentRows& scratch(int k);
  std::unique_ptr<ResidentRows> scratch_[3];
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;    // "cpu" or "cuda"
  virtual std::string device() const = 0;  // human-readable device name
  // Bytes the memory plan may use on the device (state, objective data, workspaces).
  virtual std::uint64_t memory_budget() const = 0;
  // Host memory its callers may use beside the backend's own (the census's
  // Hessians staged on the host in double, results kept on the host), or 0
  // when the backend's memory is the host's and memory_budget() covers both
  // (the CPU backend).
  virtual std::uint64_t separate_host_budget() const { return 0; }
  virtual std::unique_ptr<Ensemble> make_ensemble(const EnsembleSpec& spec) = 0;
  // Measured copy bandwidth in bytes/s (bytes read + bytes written) for a
  // buffer of `bytes`, best of `repeats`: the roof of the benchmarks.
  virtual double copy_bandwidth(std::uint64_t bytes, int repeats) = 0;

  // The objective prepared in precision p (see PreparedObjective); obj must
  // outlive it. Iterative callers prepare once and evaluate through it.
  virtual std::unique_ptr<PreparedObjective> prepare(const ObjectiveData& obj, Precision p) = 0;

  // One-off evaluations (each prepares the objective anew): values and
  // gradients, Hessian-vector products, and dense Hessians [batch, dim,
  // dim]. On the sphere (p-spin): the Riemannian gradient, the Riemannian
  // Hessian-vector product P (Y - c I) P v and the embedded Riemannian
  // Hessian (zero on the normal; see kernels/pspin.hpp), at x as given (not
  // retracted); the value is E = H / N.
  ObjectiveEval value_grad(const ObjectiveData& obj, Precision p, std::int64_t batch,
                           const std::vector<double>& x) {
    return prepare(obj, p)->value_grad(batch, x);
  }
  std::vector<double> hvp(const ObjectiveData& obj, Precision p, std::int64_t batch,
                          const std::vector<double>& x, const std::vector<double>& v) {
    return prepare(obj, p)->hvp(batch, x, v);
  }
  std::vector<double> hessian(const ObjectiveData& obj, Precision p, std::int64_t batch,
                              const std::vector<double>& x) {
    return prepare(obj, p)->hessian(batch, x);
  }
  // Eigenvalues (and eigenvectors when `vectors`) of `batch` symmetric n x n
  // matrices h [batch, n, n] (only the lower triangle is read), in precision
  // p. A failed solve is reported in info, never thrown.
  virtual EighResult eigh(Precision p, std::int64_t batch, std::int64_t n,
                          const std::vector<double>& h, bool vectors) = 0;
  // Sylvester counts: for matrix b and each of its `k` shifts s = shifts[b * k + j],
  // the number of eigenvalues below s, read off the block-diagonal D of a
  // Bunch-Kaufman LDL^T factorization of H_b - s I (Sylvester's law of
  // inertia). Returns [batch, k]; -1 where the factorization failed.
  virtual std::vector<std::int64_t> count_below(Precision p, std::int64_t batch, std::int64_t n,
                                                const std::vector<double>& h,
                                                const std::vector<double>& shifts,
                                                std::int64_t k) = 0;
  // The largest order count_below accepts (the memory plan refuses larger
  // inertia censuses before anything runs): unlimited on the CPU; cuSOLVER's
  // sytrf takes 32-bit sizes, n^2 < 2^31, on CUDA.
  virtual std::int64_t max_count_order() const { return std::numeric_limits<std::int64_t>::max(); }
  // The largest order eigh accepts (the memory plan refuses larger eigh
  // censuses and saddle-free Newton before anything runs): unlimited on the
  // CPU; on CUDA, cuSOLVER's syevd-family workspace query is reported to fail
  // from n of about 23,100 (legacy 32-bit API) to 25,000 (64-bit Xsyevd).
  virtual std::int64_t max_eigh_order() const { return std::numeric_limits<std::int64_t>::max(); }
  // The host's dense linear algebra for core's own small solves (objective
  // construction, Lanczos, finder steps): cpu_host_linalg() on every backend,
  // so those numbers do not depend on the backend.
  virtual const HostLinalg& host_linalg() const = 0;
};

// The plateau statistics of a finished chunk's states into r (both backends).
void plateau_results(const std::vector<PlateauState>& states, EnsembleResult& r);

// The backends, defined by the targets above core (docs/design.md, Part II):
// saddlescope_cpu (make_cpu_backend), saddlescope_cuda (the CUDA backend or
// its stub) and saddlescope_backends (select_backend). Core never calls them:
// whoever drives core hands it a Backend, or a BackendSelector.
std::unique_ptr<Backend> make_cpu_backend();
// Throws BackendError("built without CUDA" / "no CUDA device") when unavailable.
std::unique_ptr<Backend> make_cuda_backend();
// True when the binary was built with CUDA and a device is present.
bool cuda_available();
// Why CUDA is unavailable ("" when it is available).
std::string cuda_unavailable_reason();
// The CUDA devices this process sees (0 without CUDA), and the one the CUDA
// backends made after this call use (ranks of one node take one each).
int cuda_device_count();
void cuda_use_device(int ordinal);
// Choose the backend for `requested` (auto | cpu | cuda); says why on `note`.
std::unique_ptr<Backend> select_backend(const std::string& requested, std::string& note);
// How core is given backends it must choose itself (a sweep: one per
// run.backend of its points): select_backend, or a stand-in.
using BackendSelector =
    std::function<std::unique_ptr<Backend>(const std::string& requested, std::string& note)>;

// Host memory available now (MemAvailable), defined by the CPU target
// (src/cpu/backend.cpp): the backends' budgets start from it.
std::uint64_t available_host_memory();

// Bytes a chunk of `count` trajectories needs on the device, objective data excluded.
std::uint64_t ensemble_bytes(const EnsembleSpec& spec, std::int64_t dim);

}  // namespace saddlescope
