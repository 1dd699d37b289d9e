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
void run_cpu_widened(const codegen::KernelSpec& spec, const ReductionArrays<T>& arrays,
                     int threads) {
  codegen::KernelSpec native = spec;
  native.storage = codegen::Storage::Native;
  ReductionArrays<float> wide;
  wide.out_rows = arrays.out_rows;
  wide.n_reduced = arrays.n_reduced;
  wide.indices = arrays.indices;
  wide.sparse = arrays.sparse;
  std::vector<std::vector<float>> args(arrays.args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    const View<const T>& a = arrays.args[k];
    args[k].resize(size_t(a.rows * a.cols));
    convert(a.data, args[k].data(), a.rows * a.cols, threads);
    wide.args.push_back({args[k].data(), a.rows, a.cols});
  }
  std::vector<float> values(size_t(arrays.values.rows * arrays.values.cols));
  wide.values = {values.data(), arrays.values.rows, arrays.values.cols};
  run_cpu_kernel<float>(cpu_kernel_for(native), wide, threads);
  convert(values.data(), arrays.values.data, int64_t(values.size()), threads);
}

template void run_cpu_widened<half>(const codegen::KernelSpec&, const ReductionArrays<half>&, int);
template void run_cpu_widened<bfloat16>(const codegen::KernelSpec&,
                                        const ReductionArrays<bfloat16>&, int);

}  // namespace keops::runtime
