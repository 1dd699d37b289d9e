// How a reduction's arrays are sharded across ranks: whose rows each rank owns, and what it
// gathers.
#pragma once

#include <cstdint>
#include <vector>

#include "keops/genred.h"
#include "keops/options.h"

namespace keops::mpi::detail {

// The categories (0: i, 1: j) of a reduction's rows: each rank keeps its own rows of the
// output axis (of i for a reduction over both axes) and gathers every rank's rows of the other.
struct Axes {
  int own = 0, gathered = 1;
};
Axes axes_of(const Genred& reduction);

// Rows of the own and the gathered category on each rank, in rank order.
struct Shards {
  std::vector<int64_t> own, gathered;
  int rank = 0;
  int64_t own_offset() const;  // this rank's first own row, as a global row number
  int64_t own_total() const;
  int64_t gathered_total() const;
};

// FNV-1a of bytes, as hex text: parameters and ranges compared across ranks.
std::string digest(const void* data, size_t bytes, uint64_t seed = 0xcbf29ce484222325ull);
std::string digest(const Ranges& ranges);

// Options::ranges in global row numbers as this rank's run takes them: the own category's
// clusters and reduced ranges shifted to this rank's rows and clipped to them (a cluster
// wholly elsewhere becomes empty); the gathered category's, whole on every rank, unchanged.
// keops::Error for an own-category range out of the global bounds.
Ranges local_ranges(const Ranges& global, const Axes& axes, const Shards& shards);

}  // namespace keops::mpi::detail
