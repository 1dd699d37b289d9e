// The CPU driver (see driver.h).
#include "runtime/cpu/driver.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "compiler/codegen/cpu_kernel.h"

namespace keops::runtime {

namespace {

// run(begin, end) over [0, out_rows) in tile-aligned chunks, a few per thread (which
// balances the load), by `team` threads.
template <class Run>
void run_chunks(int64_t out_rows, int64_t tile, int team, const Run& run) {
  const int64_t tiles = (out_rows + tile - 1) / tile;
  const int64_t chunk_tiles = std::max<int64_t>(1, tiles / (int64_t(team) * 4));
  const int64_t chunk = chunk_tiles * tile;
  const int64_t chunks = (out_rows + chunk - 1) / chunk;
  if (team == 1 || chunks == 1) {
    run(int64_t(0), out_rows);
    return;
  }
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) run(c * chunk, std::min(out_rows, (c + 1) * chunk));
}

}  // namespace

template <class T>
void run_cpu_kernel(const jit::CpuKernel& kernel, const ReductionArrays<T>& arrays, int threads) {
  const int64_t out_rows = arrays.out_rows;
  if (out_rows <= 0) return;
  std::vector<const T*> arg_rows;
  for (const View<const T>& a : arrays.args) arg_rows.push_back(a.data);
  const T* const* args = arg_rows.data();
  T* values = arrays.values.data;
  int64_t* indices = arrays.indices.data;
  const SparseAxis* sparse = arrays.sparse;
  auto fn = reinterpret_cast<codegen::CpuKernelFn<T>>(kernel.entry);
  const int64_t tile = kernel.tiling.rows_per_tile();
  const int team = threads > 0 ? threads : omp_get_max_threads();
  if (sparse) {
    // Items never span two clusters: each has one list of ranges.
    const SparsePlan plan = plan_sparse(*sparse, out_rows, tile, int64_t(team) * 4);
    const int64_t items = int64_t(plan.items.size());
#pragma omp parallel for num_threads(team) schedule(dynamic, 1) if (team > 1 && items > 1)
    for (int64_t k = 0; k < items; ++k) {
      const SparseItem& item = plan.items[size_t(k)];
      fn(item.begin, item.end, plan.ranges.data() + 2 * item.first, item.last - item.first, args,
         values, indices);
    }
    return;
  }
  const int64_t all[2] = {0, arrays.n_reduced};
  run_chunks(out_rows, tile, team,
             [&](int64_t begin, int64_t end) { fn(begin, end, all, 1, args, values, indices); });
}

template <class T>
void run_cpu_resumable(const jit::CpuKernel& kernel, const ReductionArrays<T>& arrays,
                       const ResumeStep& step, int threads) {
  if (arrays.out_rows <= 0) return;
  std::vector<const T*> arg_rows;
  for (const View<const T>& a : arrays.args) arg_rows.push_back(a.data);
  auto fn = reinterpret_cast<codegen::CpuResumableFn<T>>(kernel.entry);
  const int64_t part[2] = {step.first_reduced, step.first_reduced + arrays.n_reduced};
  run_chunks(arrays.out_rows, kernel.tiling.rows_per_tile(),
             threads > 0 ? threads : omp_get_max_threads(), [&](int64_t begin, int64_t end) {
               fn(begin, end, part, 1, arg_rows.data(), arrays.values.data, arrays.indices.data,
                  step.states, step.load, step.finalize);
             });
}

template void run_cpu_resumable<float>(const jit::CpuKernel&, const ReductionArrays<float>&,
                                       const ResumeStep&, int);
template void run_cpu_resumable<double>(const jit::CpuKernel&, const ReductionArrays<double>&,
                                        const ResumeStep&, int);

template void run_cpu_kernel<float>(const jit::CpuKernel&, const ReductionArrays<float>&, int);
template void run_cpu_kernel<double>(const jit::CpuKernel&, const ReductionArrays<double>&, int);
template void run_cpu_kernel<keops::half>(const jit::CpuKernel&,
                                          const ReductionArrays<keops::half>&, int);
template void run_cpu_kernel<keops::bfloat16>(const jit::CpuKernel&,
                                              const ReductionArrays<keops::bfloat16>&, int);

}  // namespace keops::runtime
