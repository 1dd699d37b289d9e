// Block-sparse work for the CPU and GPU drivers: one axis of keops::Ranges cut into items.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "keops/options.h"

namespace keops::runtime {

// One axis of a checked keops::Ranges (runtime/api/ranges_run.h checks them): the output
// clusters, per cluster the cumulative end of its list in `reduced`, and those lists.
struct SparseAxis {
  std::span<const RowRange> clusters;
  std::span<const int64_t> slices;
  std::span<const RowRange> reduced;
};

// Output rows [begin, end), all of one cluster (or of a gap between clusters), reducing
// over the ranges [first, last) of SparsePlan::ranges. Four int64 in this order: the GPU
// kernel reads them so (codegen/nvptx_kernel.h).
struct SparseItem {
  int64_t begin, end, first, last;
};

// Every output row in exactly one item. Each cluster's ranges are sorted, empty ones
// dropped and touching ones merged (the kernels need them disjoint and increasing; fewer,
// longer ranges run faster); rows in no cluster get items with no range (the identity).
struct SparsePlan {
  std::vector<SparseItem> items;
  std::vector<int64_t> ranges;  // pairs [start, end) of reduced indices
};

// Items of `align` rows (GPU: one block each) when parts == 0; else about parts items of
// equal work (rows x reduced indices), each a multiple of `align` rows (CPU: register
// tiles) but for a cluster's last one.
SparsePlan plan_sparse(const SparseAxis& axis, int64_t out_rows, int64_t align, int64_t parts);

}  // namespace keops::runtime
