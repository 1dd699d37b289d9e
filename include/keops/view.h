// keops::View: a non-owning row-major view of rows x cols values, on the host or a GPU.
#pragma once

#include <cstdint>

namespace keops {

template <class T>
struct View {
  T* data;
  int64_t rows;
  int64_t cols;
  int device = -1;  // -1: host memory; k >= 0: memory of GPU number k
};

}  // namespace keops
