// One reduction on several GPUs: output rows, or reduced rows, split across them by their SMs.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "keops/view.h"
#include "runtime/cuda/gpu_reduce.h"

namespace keops::runtime::cuda {

// The devices a reduction runs on for a non-empty Options::devices (checked: each a usable
// GPU id; an id may repeat, which runs several slices on it). {-1}: every GPU.
std::vector<int> multi_gpu_devices(const std::vector<int>& requested);

// The first output row of each device's slice and, last, out_rows: rows split in proportion
// to the devices' multiprocessor counts (weights), slices multiples of `align` rows but the last.
std::vector<int64_t> split_rows(int64_t out_rows, const std::vector<int>& weights, int64_t align);

// Runs spec (a GPU spec; its sm is set per device) over `arrays` (not block-sparse), rows
// [s_k, s_k+1) on devices[k], each device from its own host thread. Arguments of the output
// category (outer_cat) are sliced by rows; the others are copied whole to every device, each
// device run under `options` (its memory limit applies per device). With fewer than 2048
// output rows per device, the reduced rows are split instead: each device computes the
// partial states of every output row over its share, and the states are merged on the
// outputs' GPU (or devices[0]) with the reduction's merge kernel. Arrays may be in host
// memory or in any GPU's: a device copies the rows it reads from another GPU's memory (peer
// copies), and writes its rows of an output in another GPU's memory to a buffer of its own,
// copied there after. The first error of any device is rethrown once all are done.
template <class T>
void run_multi_gpu_reduction(const codegen::KernelSpec& spec, const std::vector<int>& devices,
                             const ReductionArrays<T>& arrays, const GpuRunOptions& options = {});

}  // namespace keops::runtime::cuda
