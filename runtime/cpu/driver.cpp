// The CPU driver (see driver.h).
#include "runtime/cpu/driver.h"

#include <omp.h>

#include <algorithm>

namespace keops::runtime {

template <class T>
void run_cpu_kernel(const jit::CpuKernel& kernel, int64_t out_rows, int64_t n_reduced,
                    const T* const* args, T* values, int64_t* indices, int threads) {
  if (out_rows <= 0) return;
  auto fn = reinterpret_cast<codegen::CpuKernelFn<T>>(kernel.entry);
  const int64_t tile = kernel.tiling.rows_per_tile();
  const int team = threads > 0 ? threads : omp_get_max_threads();
  // A few chunks per thread balance the load; chunks of whole tiles keep lanes full.
  const int64_t tiles = (out_rows + tile - 1) / tile;
  const int64_t chunk_tiles = std::max<int64_t>(1, tiles / (int64_t(team) * 4));
  const int64_t chunk = chunk_tiles * tile;
  const int64_t chunks = (out_rows + chunk - 1) / chunk;
  if (team == 1 || chunks == 1) {
    fn(0, out_rows, n_reduced, args, values, indices);
    return;
  }
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c)
    fn(c * chunk, std::min(out_rows, (c + 1) * chunk), n_reduced, args, values, indices);
}

template void run_cpu_kernel<float>(const jit::CpuKernel&, int64_t, int64_t, const float* const*,
                                    float*, int64_t*, int);
template void run_cpu_kernel<double>(const jit::CpuKernel&, int64_t, int64_t, const double* const*,
                                     double*, int64_t*, int);

}  // namespace keops::runtime
