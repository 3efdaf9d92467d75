// Data-parallel training across processes: the communicator a Trainer (and a synchronised
// BatchNorm) reduces and broadcasts through. cnnzoo ships an MPI one (built when CMake finds
// OpenMPI, CNNZOO_MPI) and a one-process one; an application may hand the Trainer its own.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace cnnzoo::dist {

// Collective operations over a fixed group of processes ("ranks"). Every rank must make the
// same calls in the same order with the same sizes; results are identical on every rank and,
// for a given number of ranks, the same from run to run.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: data[i] = the sum over ranks of data[i].
  virtual void allreduce_sum(float* data, int64_t n) = 0;
  virtual void allreduce_sum(double* data, int64_t n) = 0;
  // root's bytes to every rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Stops every rank of the group now with a non-zero exit status; used after this rank has
  // printed why. Never returns.
  [[noreturn]] virtual void abort(int status) = 0;
  // "MPI (4 processes)", "one process": for logs.
  virtual std::string describe() const = 0;

  bool is_root() const { return rank() == 0; }
};

// The group of one process: sums and broadcasts change nothing, abort exits.
std::shared_ptr<Communicator> single_process();

// Whether this build has MPI (CMake option CNNZOO_MPI).
bool mpi_built();

// Whether this process was started by mpirun/mpiexec as one of several (it looks at the
// launcher's environment, without initialising MPI).
bool launched_by_mpirun();

// MPI's world group: initialises MPI on first call (finalised at exit). Error when the build
// has no MPI.
std::shared_ptr<Communicator> mpi_world();

// rank 0's string on every rank.
std::string broadcast_string(Communicator& c, const std::string& s);

}  // namespace cnnzoo::dist
