// keops::Result: the owned output of a reduction (values and, for Arg reductions, indices).
#pragma once

#include <cstdint>
#include <vector>

#include "keops/view.h"

namespace keops {

template <class T>
struct Result {
  int64_t rows = 0;
  int64_t cols = 0;              // values per row; 0 when the reduction yields only indices
  std::vector<T> values;         // rows x cols, row-major
  int64_t index_cols = 0;        // indices per row; 0 when the reduction yields none
  std::vector<int64_t> indices;  // rows x index_cols, row-major
  // The arguments' batch dims broadcast together (none without batch dims): values is then
  // batch x rows x cols and indices batch x rows x index_cols, row-major.
  BatchShape batch = {};
};

}  // namespace keops
