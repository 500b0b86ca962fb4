// Error types carrying the command's exit code (docs/design.md section 2):
// 2 bad input, 3 resources, 1 anything else.
#pragma once

#include <stdexcept>
#include <string>

namespace saddlescope {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int exit_code) : std::runtime_error(what), code_(exit_code) {}
  int exit_code() const { return code_; }

 private:
  int code_;
};

// Bad input: experiment file, flags, start files. Exit code 2.
class InputError : public Error {
 public:
  explicit InputError(const std::string& what) : Error(what, 2) {}
};

// Not enough memory (or another resource) for the plan. Exit code 3.
class ResourceError : public Error {
 public:
  explicit ResourceError(const std::string& what) : Error(what, 3) {}
};

// A run stopped by SIGINT / SIGTERM after writing its checkpoint. Exit code 1.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& what) : Error(what, 1) {}
};

// A backend that is not available (built without CUDA, no device). Exit code 1.
class BackendError : public Error {
 public:
  explicit BackendError(const std::string& what) : Error(what, 1) {}
};

}  // namespace saddlescope
