// main() of a GoogleTest program that runs under mpirun -np 2: MPI's world as `world`, one
// report (rank 0's), and a failed expectation on either rank stops both at once, so that no rank
// is left waiting in a collective for one that has moved on.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "cnnzoo/distributed.hpp"

namespace cnnzoo::two_ranks {

inline std::shared_ptr<dist::Communicator> world;

class AbortOnFailure : public ::testing::EmptyTestEventListener {
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "rank %d: %s:%d: %s\n", world->rank(), r.file_name(), r.line_number(),
                 r.summary());
    world->abort(1);
  }
};

inline int run_all_tests(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  world = dist::mpi_world();
  if (world->size() != 2) {
    std::fprintf(stderr, "run under mpirun -np 2 (got %d processes)\n", world->size());
    return 1;
  }
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  listeners.Append(new AbortOnFailure);
  if (!world->is_root()) delete listeners.Release(listeners.default_result_printer());
  const int status = RUN_ALL_TESTS();
  world.reset();
  return status;
}

}  // namespace cnnzoo::two_ranks
