// keops::View: a non-owning row-major view of rows x cols values, on the host or a GPU.
#pragma once

#include <cstdint>

namespace keops {

inline constexpr int kMaxBatchDims = 4;

// Leading batch dims B1, ..., Bcount of an array (KeOps's (B..., rows, cols) shapes).
struct BatchShape {
  int count = 0;                     // 0: no batch dims
  int64_t dims[kMaxBatchDims] = {};  // dims[0 .. count-1]; the rest unused
  int64_t size() const {             // B1 * ... * Bcount (1 without batch dims)
    int64_t n = 1;
    for (int d = 0; d < count && d < kMaxBatchDims; ++d) n *= dims[d];
    return n;
  }
};

template <class T>
struct View {
  T* data;
  int64_t rows;
  int64_t cols;
  int device = -1;  // -1: host memory; k >= 0: memory of GPU number k
  // With batch dims the array is B1 x ... x Bk x rows x cols, contiguous row-major:
  // keops::View<const float>{ptr, n, 3, -1, {2, {4, 5}}} is a (4, 5, n, 3) array.
  BatchShape batch = {};
};

}  // namespace keops
