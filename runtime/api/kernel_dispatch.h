// One kernel of a Genred on its backend: the CPU, one GPU or several; the one place that chooses.
#pragma once

#include "compiler/codegen/kernel_spec.h"
#include "keops/options.h"
#include "runtime/api/genred_impl.h"
#include "runtime/cuda/driver_api.h"
#include "runtime/reduction_arrays.h"

namespace keops::detail {

// The kernel of one stage for dtype, on the CPU (gpu_device < 0) or on that GPU.
codegen::KernelSpec kernel_spec(const ReductionStage& s, ir::DType dtype, const Options& o,
                                int gpu_device);

// Runs stage s's kernel over `arrays` (its block-sparse axis, from o's ranges, is set here):
// on the CPU when gpu_device < 0 (host arrays only), else on the GPUs of Options::devices,
// or on gpu_device. Host arrays are copied to the GPU and back; arrays in its memory are used
// in place. A one-GPU run is ordered after the work on `stream` (nullptr: none), and queued
// there when every array is in that GPU's memory (gpu_reduce.h); several GPUs wait for it.
template <class T>
void run_kernel(const ReductionStage& s, const Options& o, int gpu_device,
                runtime::ReductionArrays<T> arrays, runtime::cuda::CUstream stream);

}  // namespace keops::detail
