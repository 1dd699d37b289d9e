// What the MPI suite's cases share: this process's rank, and its share of an array's rows.
#pragma once

#include <doctest/doctest.h>
#include <mpi.h>

#include <array>
#include <cstdint>
#include <string>

namespace keops::test {

inline int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

inline int ranks() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// This rank's rows [begin, end) of n: ragged shares, none for rank 1 of 3 or more ranks, or,
// with `last_only`, all on the last rank.
inline std::array<int64_t, 2> shard(int64_t n, bool last_only = false) {
  auto weight = [&](int r) -> int64_t {
    if (last_only) return r == ranks() - 1 ? 1 : 0;
    return (r == 1 && ranks() > 2) ? 0 : r + 1;
  };
  int64_t total = 0, before = 0;
  for (int r = 0; r < ranks(); ++r) total += weight(r);
  for (int r = 0; r < rank(); ++r) before += weight(r);
  return {n * before / total, n * (before + weight(rank())) / total};
}

inline doctest::Contains contains(const std::string& text) {
  return doctest::Contains(text.c_str());
}

}  // namespace keops::test
