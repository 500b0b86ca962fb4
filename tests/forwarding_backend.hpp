// A backend that forwards every call to another (the CPU backend by
// default): tests derive from it and override the one call they watch or
// change (a stop at the n-th Hessian, a smaller count order).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "saddlescope/backend.hpp"

namespace saddlescope::testing {

// A prepared objective that forwards every call to another (a test's
// backend wraps its inner backend's and overrides the call it watches).
class ForwardingPrepared : public PreparedObjective {
 public:
  explicit ForwardingPrepared(std::unique_ptr<PreparedObjective> inner)
      : inner_(std::move(inner)) {}
  const ObjectiveData& data() const override { return inner_->data(); }
  Precision precision() const override { return inner_->precision(); }
  std::unique_ptr<ResidentRows> rows() override { return inner_->rows(); }
  void put(ResidentRows& r, const std::vector<double>& x) override { inner_->put(r, x); }
  std::vector<double> get(const ResidentRows& r) override { return inner_->get(r); }
  std::vector<double> value_grad(const ResidentRows& x, ResidentRows& g) override {
    return inner_->value_grad(x, g);
  }
  std::vector<double> accuracy(const ResidentRows& x) override { return inner_->accuracy(x); }
  void hvp(const ResidentRows& x, const ResidentRows& v, ResidentRows& hv) override {
    inner_->hvp(x, v, hv);
  }
  std::vector<double> hessian(const ResidentRows& x) override { return inner_->hessian(x); }
  EighResult hessian_eigh(const ResidentRows& x, bool vectors) override {
    return inner_->hessian_eigh(x, vectors);
  }
  std::vector<double> dots(const ResidentRows& a, const ResidentRows& b) override {
    return inner_->dots(a, b);
  }
  void combine(const std::vector<double>& a, const ResidentRows& x, const std::vector<double>& b,
               ResidentRows& y) override {
    inner_->combine(a, x, b, y);
  }
  std::vector<double> project_out(const std::vector<const ResidentRows*>& basis, ResidentRows& w,
                                  const std::vector<std::uint8_t>& rows) override {
    return inner_->project_out(basis, w, rows);
  }
  std::uint64_t host_bytes() const override { return inner_->host_bytes(); }
  using PreparedObjective::hessian;
  using PreparedObjective::hessian_eigh;
  using PreparedObjective::hvp;
  using PreparedObjective::value_grad;

 private:
  std::unique_ptr<PreparedObjective> inner_;
};

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
  std::unique_ptr<PreparedObjective> prepare(const ObjectiveData& o, Precision p) override {
    return inner_->prepare(o, p);
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
  std::int64_t max_eigh_order() const override { return inner_->max_eigh_order(); }
  const HostLinalg& host_linalg() const override { return inner_->host_linalg(); }

 private:
  std::unique_ptr<Backend> inner_;
};

}  // namespace saddlescope::testing
