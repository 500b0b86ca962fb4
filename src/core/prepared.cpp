// PreparedObjective's host-array calls (include/saddlescope/backend.hpp):
// each goes through rows kept by the object, so that a caller stepping on
// host arrays pays no allocation per call and gets the same bits as one
// keeping its rows resident.
#include <string>

#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"

namespace saddlescope {

ResidentRows& PreparedObjective::scratch(int k) {
  if (!scratch_[k]) scratch_[k] = rows();
  return *scratch_[k];
}

namespace {

void check_rows(const char* what, std::int64_t batch, std::int64_t dim, std::size_t size) {
  if (batch < 0 || size != static_cast<std::size_t>(batch) * static_cast<std::size_t>(dim))
    throw Error(std::string(what) + ": " + std::to_string(size) + " elements are not " +
                    std::to_string(batch) + " rows of " + std::to_string(dim),
                1);
}

}  // namespace

ObjectiveEval PreparedObjective::value_grad(std::int64_t batch, const std::vector<double>& x) {
  check_rows("value_grad", batch, data().dim, x.size());
  ResidentRows &xr = scratch(0), &gr = scratch(1);
  put(xr, x);
  ObjectiveEval r;
  r.f = value_grad(xr, gr);
  r.g = get(gr);
  return r;
}

std::vector<double> PreparedObjective::accuracy(std::int64_t batch, const std::vector<double>& x) {
  check_rows("accuracy", batch, data().dim, x.size());
  ResidentRows& xr = scratch(0);
  put(xr, x);
  return accuracy(xr);
}

std::vector<double> PreparedObjective::hvp(std::int64_t batch, const std::vector<double>& x,
                                           const std::vector<double>& v) {
  check_rows("hvp", batch, data().dim, x.size());
  check_rows("hvp", batch, data().dim, v.size());
  ResidentRows &xr = scratch(0), &vr = scratch(1), &hr = scratch(2);
  put(xr, x);
  put(vr, v);
  hvp(xr, vr, hr);
  return get(hr);
}

std::vector<double> PreparedObjective::hessian(std::int64_t batch, const std::vector<double>& x) {
  check_rows("hessian", batch, data().dim, x.size());
  ResidentRows& xr = scratch(0);
  put(xr, x);
  return hessian(xr);
}

EighResult PreparedObjective::hessian_eigh(std::int64_t batch, const std::vector<double>& x,
                                           bool vectors) {
  check_rows("hessian_eigh", batch, data().dim, x.size());
  ResidentRows& xr = scratch(0);
  put(xr, x);
  return hessian_eigh(xr, vectors);
}

}  // namespace saddlescope
