// Minimal .npy (NumPy format 1.0) reading and atomic writing, C order only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace saddlescope::npy {

struct Array {
  std::vector<std::int64_t> shape;
  std::vector<double> data;  // converted from float32 / float64
  std::string dtype;         // "<f4" or "<f8"
};

// Throws InputError naming the file and the problem (missing, not .npy,
// unsupported dtype, Fortran order, truncated).
Array read(const std::string& path);

// Write to path + ".tmp" and rename, so a killed writer leaves no file that looks complete.
void write_f32(const std::string& path, const std::vector<std::int64_t>& shape,
               const std::vector<float>& data);
void write_f64(const std::string& path, const std::vector<std::int64_t>& shape,
               const std::vector<double>& data);

// Atomic text file write (tmp + rename).
void write_text(const std::string& path, const std::string& text);

}  // namespace saddlescope::npy
