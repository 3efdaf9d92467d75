// The one-process communicator and, in builds with CNNZOO_HAVE_MPI, MPI's world communicator.
#include "cnnzoo/distributed.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "cnnzoo/error.hpp"

#ifdef CNNZOO_HAVE_MPI
#include <mpi.h>
#endif

namespace cnnzoo::dist {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(float*, int64_t) override {}
  void allreduce_sum(double*, int64_t) override {}
  void broadcast(void*, int64_t, int) override {}
  [[noreturn]] void abort(int status) override { std::_Exit(status); }
  std::string describe() const override { return "one process"; }
};

}  // namespace

std::shared_ptr<Communicator> single_process() {
  return std::make_shared<SingleProcess>();
}

bool launched_by_mpirun() {
  // OpenMPI's launcher sets OMPI_COMM_WORLD_SIZE; MPICH's and Slurm's PMI set PMI_SIZE.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* v = std::getenv(name);
    if (v && std::atoi(v) > 1) return true;
  }
  return false;
}

std::string broadcast_string(Communicator& c, const std::string& s) {
  uint64_t n = s.size();
  c.broadcast(&n, sizeof n, 0);
  std::string out = c.is_root() ? s : std::string(n, '\0');
  if (n > 0) c.broadcast(out.data(), static_cast<int64_t>(n), 0);
  return out;
}

#ifdef CNNZOO_HAVE_MPI

namespace {

// MPI counts are int: larger buffers go in pieces.
constexpr int64_t kMaxPiece = INT_MAX / 8;

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string("MPI ") + what + " failed: " + std::string(text, len));
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      // Only the thread that made the communicator calls MPI (the trainer's); OpenMP threads
      // and the data loader's thread never do.
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
      std::atexit(finalize_at_exit);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(float* data, int64_t n) override { reduce(data, n, MPI_FLOAT); }
  void allreduce_sum(double* data, int64_t n) override { reduce(data, n, MPI_DOUBLE); }
  void broadcast(void* data, int64_t bytes, int root) override {
    char* p = static_cast<char*>(data);
    for (int64_t at = 0; at < bytes; at += kMaxPiece) {
      const int len = static_cast<int>(std::min(kMaxPiece, bytes - at));
      check_mpi(MPI_Bcast(p + at, len, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
    }
  }
  [[noreturn]] void abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
  }
  std::string describe() const override {
    return "MPI, " + std::to_string(size_) + " process" + (size_ == 1 ? "" : "es");
  }

 private:
  template <class T>
  void reduce(T* data, int64_t n, MPI_Datatype type) {
    for (int64_t at = 0; at < n; at += kMaxPiece) {
      const int len = static_cast<int>(std::min(kMaxPiece, n - at));
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + at, len, type, MPI_SUM, MPI_COMM_WORLD),
                "allreduce");
    }
  }
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool mpi_built() {
  return true;
}

std::shared_ptr<Communicator> mpi_world() {
  static std::shared_ptr<Communicator> world = std::make_shared<MpiWorld>();
  return world;
}

#else

bool mpi_built() {
  return false;
}

std::shared_ptr<Communicator> mpi_world() {
  throw Error(
      "this cnnzoo was built without MPI: install libopenmpi-dev and configure with "
      "-DCNNZOO_MPI=ON to train on several processes");
}

#endif

}  // namespace cnnzoo::dist
