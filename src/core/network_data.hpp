// The network objective's data from .npy files (its experiment-file keys
// data.x, data.y and data.samples, issue 17): read, checked and cut to the
// samples asked for. Every problem is an InputError (exit 2) naming the file
// and what is wrong: shape, dtype, NaN or Inf, labels out of range, too few
// samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace saddlescope {

struct NetworkDataSpec {
  std::string x_path, y_path;  // data.x, data.y (paths as given, for the messages)
  std::int64_t samples = 0;    // data.samples: the first n rows; 0 = all
  std::int64_t inputs = 0;     // layers[0]
  std::int64_t outputs = 0;    // layers[L]
  bool labels = false;         // cross-entropy: y holds class labels in [0, outputs)
};

struct NetworkData {
  std::int64_t samples = 0, inputs = 0, outputs = 0;
  std::vector<double> x;  // [samples, inputs]
  std::vector<double> y;  // [samples, outputs] (mse) or [samples] labels (cross-entropy)
};

NetworkData load_network_data(const NetworkDataSpec& spec);

}  // namespace saddlescope
