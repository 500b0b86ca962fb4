// Was this process started by an MPI launcher? (mpi_comm.hpp)
#include <cstdlib>
#include <string>

#include "src/mpi/mpi_comm.hpp"

namespace saddlescope {
namespace {
const char* const kSizeVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                      "MPI_LOCALNRANKS"};
const char* const kRankVariables[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
}  // namespace

bool launched_by_mpi_launcher() {
  for (const char* v : kRankVariables)
    if (std::getenv(v)) return true;
  return false;
}

int launcher_world_size() {
  for (const char* v : kSizeVariables)
    if (const char* s = std::getenv(v)) {
      const int n = std::atoi(s);
      if (n > 0) return n;
    }
  return 1;
}

}  // namespace saddlescope
