// Minimal .npy (NumPy format 1.0) reading and atomic writing, C order only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace saddlescope::npy {

struct Array {
  std::vector<std::int64_t> shape;
  std::vector<double> data;  // converted from float32 / float64 (or the integers)
  std::string dtype;         // "<f4" or "<f8" (or an integer dtype: "<i8", "|u1", ...)
  bool integer() const { return !dtype.empty() && dtype[1] != 'f'; }
};

// Throws InputError naming the file, the key that named it (`key`, for the
// message) and the problem (missing, not .npy, unsupported dtype, Fortran
// order, truncated). With `integers`, little-endian integer arrays of 1 to 8
// bytes are read too (exactly: values beyond 2^53 are refused).
Array read(const std::string& path, const std::string& key = "init.file", bool integers = false);

// Write to path + ".tmp" and rename, so a killed writer leaves no file that looks complete.
void write_f32(const std::string& path, const std::vector<std::int64_t>& shape,
               const std::vector<float>& data);
void write_f64(const std::string& path, const std::vector<std::int64_t>& shape,
               const std::vector<double>& data);

// Atomic text file write (tmp + rename).
void write_text(const std::string& path, const std::string& text);

}  // namespace saddlescope::npy
