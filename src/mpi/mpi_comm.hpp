// The MPI Comm (include/saddlescope/comm.hpp; docs/design.md II.6):
// built when CMake finds MPI (SADDLESCOPE_HAVE_MPI), used by the command when
// an MPI launcher (mpirun, srun) started it.
#pragma once

#include <memory>

#include "saddlescope/comm.hpp"

namespace saddlescope {

// True when this process was started by mpirun / srun: the launcher's rank
// variables (Open MPI, PMIx, PMI, MPICH's Hydra) are set.
bool launched_by_mpi_launcher();
// The number of processes the launcher started (1 when none).
int launcher_world_size();

#ifdef SADDLESCOPE_HAVE_MPI
// MPI_Init_thread (funneled: only the main thread calls MPI) and a Comm over
// MPI_COMM_WORLD; its finish() calls MPI_Finalize.
std::unique_ptr<Comm> make_mpi_comm(int* argc, char*** argv);
#endif

}  // namespace saddlescope
