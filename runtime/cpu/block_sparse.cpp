// Block-sparse work for the CPU and GPU drivers (see block_sparse.h).
#include "runtime/cpu/block_sparse.h"

#include <algorithm>

namespace keops::runtime {

SparsePlan plan_sparse(const SparseAxis& axis, int64_t out_rows, int64_t align, int64_t parts) {
  // Rows [begin, end) reducing over ranges [first, last), `length` indices in all.
  struct Span {
    int64_t begin, end, first, last, length;
  };
  SparsePlan plan;
  std::vector<Span> clusters;
  std::vector<RowRange> list;
  for (size_t c = 0; c < axis.clusters.size(); ++c) {
    const auto [begin, end] = axis.clusters[c];
    if (begin == end) continue;
    const int64_t from = c == 0 ? 0 : axis.slices[c - 1], to = axis.slices[c];
    list.assign(axis.reduced.begin() + from, axis.reduced.begin() + to);
    std::sort(list.begin(), list.end());
    const int64_t first = int64_t(plan.ranges.size() / 2);
    int64_t length = 0;
    for (const auto& [start, stop] : list) {
      if (start == stop) continue;
      length += stop - start;
      if (int64_t(plan.ranges.size() / 2) > first && plan.ranges.back() == start)
        plan.ranges.back() = stop;
      else
        plan.ranges.insert(plan.ranges.end(), {start, stop});
    }
    clusters.push_back({begin, end, first, int64_t(plan.ranges.size() / 2), length});
  }
  std::sort(clusters.begin(), clusters.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });

  std::vector<Span> spans;  // the clusters and the gaps between them, in row order
  int64_t row = 0;
  for (const Span& s : clusters) {
    if (s.begin > row) spans.push_back({row, s.begin, 0, 0, 0});
    spans.push_back(s);
    row = s.end;
  }
  if (row < out_rows) spans.push_back({row, out_rows, 0, 0, 0});

  double total = 0;  // rows x reduced indices: the work, which may pass 2^63 in theory
  for (const Span& s : spans) total += double(s.end - s.begin) * double(s.length);
  const double target = parts > 0 ? std::max(1.0, total / double(parts)) : 0;
  std::vector<double> cost;
  for (const Span& s : spans) {
    int64_t rows = align;
    if (parts > 0) {
      const double fit = s.length > 0 ? target / double(s.length) : double(s.end - s.begin);
      rows = std::max(align, int64_t(std::min(fit, double(out_rows))) / align * align);
    }
    for (int64_t b = s.begin; b < s.end; b += rows) {
      plan.items.push_back({b, std::min(s.end, b + rows), s.first, s.last});
      cost.push_back(double(plan.items.back().end - b) * double(s.length));
    }
  }
  if (parts > 0) {  // heaviest first: threads that take items in turn then finish together
    std::vector<size_t> order(plan.items.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return cost[a] > cost[b]; });
    std::vector<SparseItem> sorted;
    sorted.reserve(order.size());
    for (size_t k : order) sorted.push_back(plan.items[k]);
    plan.items = std::move(sorted);
  }
  return plan;
}

}  // namespace keops::runtime
