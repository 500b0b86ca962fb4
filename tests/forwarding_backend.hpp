// A backend that forwards every call to another (the CPU backend by
// default): tests derive from it and override the one call they watch or
// change (a stop at the n-th Hessian, a smaller count order).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "saddlescope/backend.hpp"

namespace saddlescope::testing {

class ForwardingBackend : public Backend {
 public:
  explicit ForwardingBackend(std::unique_ptr<Backend> inner = make_cpu_backend())
      : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  std::string device() const override { return inner_->device(); }
  std::uint64_t memory_budget() const override { return inner_->memory_budget(); }
  std::uint64_t separate_host_budget() const override { return inner_->separate_host_budget(); }
  std::unique_ptr<Ensemble> make_ensemble(const EnsembleSpec& s) override {
    return inner_->make_ensemble(s);
  }
  double copy_bandwidth(std::uint64_t b, int r) override { return inner_->copy_bandwidth(b, r); }
  ObjectiveEval value_grad(const ObjectiveData& o, Precision p, std::int64_t b,
                           const std::vector<double>& x) override {
    return inner_->value_grad(o, p, b, x);
  }
  std::vector<double> hvp(const ObjectiveData& o, Precision p, std::int64_t b,
                          const std::vector<double>& x, const std::vector<double>& v) override {
    return inner_->hvp(o, p, b, x, v);
  }
  std::vector<double> hessian(const ObjectiveData& o, Precision p, std::int64_t b,
                              const std::vector<double>& x) override {
    return inner_->hessian(o, p, b, x);
  }
  EighResult eigh(Precision p, std::int64_t b, std::int64_t n, const std::vector<double>& h,
                  bool v) override {
    return inner_->eigh(p, b, n, h, v);
  }
  std::vector<std::int64_t> count_below(Precision p, std::int64_t b, std::int64_t n,
                                        const std::vector<double>& h, const std::vector<double>& s,
                                        std::int64_t k) override {
    return inner_->count_below(p, b, n, h, s, k);
  }
  std::int64_t max_count_order() const override { return inner_->max_count_order(); }
  const HostLinalg& host_linalg() const override { return inner_->host_linalg(); }

 private:
  std::unique_ptr<Backend> inner_;
};

}  // namespace saddlescope::testing
