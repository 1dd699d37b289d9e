// 16-bit arrays on the CPU (see widened.h).
#include "runtime/cpu/widened.h"

#include <omp.h>

#include <vector>

#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"

namespace keops::runtime {
namespace {

// to[q] = From-to-To conversion of from[q], q < n, on `threads` threads (0: OpenMP's default).
template <class To, class From>
void convert(const From* from, To* to, int64_t n, int threads) {
  const int team = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1 && n > (1 << 16))
  for (int64_t q = 0; q < n; ++q) to[q] = To(float(from[q]));
}

}  // namespace

template <class T>
std::vector<View<const float>> widened_views(const std::vector<View<const T>>& args,
                                             std::vector<std::vector<float>>& copies, int threads) {
  copies.assign(args.size(), {});
  std::vector<View<const float>> views;
  for (size_t k = 0; k < args.size(); ++k) {
    const View<const T>& a = args[k];
    copies[k].resize(size_t(a.rows * a.cols));
    convert(a.data, copies[k].data(), a.rows * a.cols, threads);
    views.push_back({copies[k].data(), a.rows, a.cols});
  }
  return views;
}

template <class T>
void round_values(const float* from, T* to, int64_t n, int threads) {
  convert(from, to, n, threads);
}

template <class T>
void run_cpu_widened(const codegen::KernelSpec& spec, const ReductionArrays<T>& arrays,
                     int threads) {
  codegen::KernelSpec native = spec;
  native.storage = codegen::Storage::Native;
  ReductionArrays<float> wide;
  wide.out_rows = arrays.out_rows;
  wide.n_reduced = arrays.n_reduced;
  wide.indices = arrays.indices;
  wide.sparse = arrays.sparse;
  std::vector<std::vector<float>> args;
  wide.args = widened_views(arrays.args, args, threads);
  std::vector<float> values(size_t(arrays.values.rows * arrays.values.cols));
  wide.values = {values.data(), arrays.values.rows, arrays.values.cols};
  run_cpu_kernel<float>(cpu_kernel_for(native), wide, threads);
  round_values(values.data(), arrays.values.data, int64_t(values.size()), threads);
}

template void run_cpu_widened<half>(const codegen::KernelSpec&, const ReductionArrays<half>&, int);
template void run_cpu_widened<bfloat16>(const codegen::KernelSpec&,
                                        const ReductionArrays<bfloat16>&, int);

template std::vector<View<const float>> widened_views<half>(const std::vector<View<const half>>&,
                                                            std::vector<std::vector<float>>&, int);
template std::vector<View<const float>> widened_views<bfloat16>(
    const std::vector<View<const bfloat16>>&, std::vector<std::vector<float>>&, int);
template void round_values<half>(const float*, half*, int64_t, int);
template void round_values<bfloat16>(const float*, bfloat16*, int64_t, int);

}  // namespace keops::runtime
