// The test binary's main: OpenBLAS's kernels chosen as the CLI chooses them
// (src/cpu/blas_kernels.hpp), so that the tests exercise the same BLAS code
// paths a run takes, then GoogleTest.
#include <gtest/gtest.h>

#include "src/cpu/blas_kernels.hpp"

int main(int argc, char** argv) {
  saddlescope::choose_blas_kernels(argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
