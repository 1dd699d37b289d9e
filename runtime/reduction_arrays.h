// A reduction's arrays and the pairs it reduces, as the CPU and GPU drivers take them.
#pragma once

#include <cstdint>
#include <vector>

#include "keops/half.h"
#include "keops/view.h"
#include "runtime/cpu/block_sparse.h"

namespace keops::runtime {

// The arguments by position, the outputs (out_rows rows each; an output the reduction does
// not yield has data nullptr and cols 0), and the pairs: every output row with each of the
// n_reduced reduced rows, or with `sparse` only its cluster's ranges (rows in no cluster get
// the identity, and n_reduced bounds the ranges).
template <class T>
struct ReductionArrays {
  int64_t out_rows = 0;
  int64_t n_reduced = 0;
  std::vector<View<const T>> args;
  View<T> values{nullptr, 0, 0};
  View<int64_t> indices{nullptr, 0, 0};
  const SparseAxis* sparse = nullptr;
};

}  // namespace keops::runtime
