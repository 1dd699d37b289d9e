// .npy files (NumPy format 1.0 to 3.0): little-endian, C-order float16, float32, float64 and
// int64 arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace keopsc {

enum class NpyType { F16, F32, F64, I64 };

struct NpyArray {
  NpyType type = NpyType::F64;
  int rank = 2;  // 1 or 2
  int64_t rows = 0;
  int64_t cols = 0;              // 1-D arrays read as rows x 1
  std::vector<std::byte> bytes;  // rows x cols values, row-major

  template <class T>
  const T* data() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
};

// Reads a float16, float32 or float64 array, 1-D or 2-D. keops::Error naming the file when it is
// missing, not a .npy file, truncated, Fortran-ordered, big-endian, of another dtype or rank.
NpyArray read_npy(const std::string& path);

// Writes rows x cols values of `type` as a 2-D array; keops::Error naming the file on failure.
void write_npy(const std::string& path, NpyType type, int64_t rows, int64_t cols, const void* data);

const char* npy_type_name(NpyType type);

}  // namespace keopsc
