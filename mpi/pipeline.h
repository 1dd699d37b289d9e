// Scheme::Pipeline: the reduced axis one rank's rows at a time, the next rank's arriving meanwhile.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "keops/genred.h"
#include "keops/mpi.h"

namespace keops::mpi::detail {

// What the pipeline needs of the call: the communicator, every rank's rows of the reduced
// axis (category `reduced`: 0 for i, 1 for j), and where its time goes.
struct Pipe {
  MPI_Comm comm;
  std::vector<int64_t> rows_of;
  int reduced = 1;
  Stats& stats;
};

// Reduces this rank's output rows over every rank's rows of the reduced axis, in rank
// order: rank s's arrays of that axis are broadcast by rank s while rank s - 1's are folded
// (Genred::accumulate, in slices between which the broadcast progresses), and the last
// part finishes into values and indices. `reduction` must accumulate (on every rank); args
// are this rank's arrays. Collective; a failure on a rank is agreed on after the last part,
// so every rank throws it.
template <class T>
void run_pipeline(const Pipe& pipe, const Genred& reduction, const std::vector<View<const T>>& args,
                  View<T> values, View<int64_t> indices);

}  // namespace keops::mpi::detail
