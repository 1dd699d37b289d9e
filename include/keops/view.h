// keops::View: a non-owning row-major view of rows x cols values, on the host or a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace keops {

// Batch shapes once held at most this many dims; any number is supported now. Kept for the
// code that names it.
inline constexpr int kMaxBatchDims = 4;

// The dims of a batch shape, any number of them, read and written like the fixed array
// they once were: dims[d] reads 0 past the dims given, and writing dims[d] adds the dims
// up to d (as 0s).
class BatchDims {
 public:
  BatchDims() = default;
  BatchDims(std::initializer_list<int64_t> dims) : dims_(dims) {}
  int64_t operator[](size_t d) const { return d < dims_.size() ? dims_[d] : 0; }
  int64_t& operator[](size_t d) {
    if (d >= dims_.size()) dims_.resize(d + 1, 0);
    return dims_[d];
  }

 private:
  std::vector<int64_t> dims_;
};

// Leading batch dims B1, ..., Bcount of an array (KeOps's (B..., rows, cols) shapes).
struct BatchShape {
  int count = 0;          // 0: no batch dims
  BatchDims dims = {};    // dims[0 .. count-1]
  int64_t size() const {  // B1 * ... * Bcount (1 without batch dims)
    int64_t n = 1;
    for (int d = 0; d < count; ++d) n *= dims[size_t(d)];
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
