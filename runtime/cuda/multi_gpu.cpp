// Several GPUs for one reduction (see multi_gpu.h).
#include "runtime/cuda/multi_gpu.h"

#include <exception>
#include <functional>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>

#include "compiler/support/check.h"
#include "keops/error.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/launch_args.h"
#include "runtime/cuda/memory.h"

namespace keops::runtime::cuda {

std::vector<int> multi_gpu_devices(const std::vector<int>& requested) {
  const int count = device_count();
  if (count == 0) throw Error("several GPUs requested (Options::devices), but no GPU is usable");
  std::vector<int> devices = requested;
  if (devices == std::vector<int>{-1}) {
    devices.resize(size_t(count));
    std::iota(devices.begin(), devices.end(), 0);
  }
  for (int d : devices)
    if (d < 0 || d >= count)
      throw Error("Options::devices: GPU " + std::to_string(d) + " does not exist (" +
                  std::to_string(count) + " usable)");
  return devices;
}

std::vector<int64_t> split_rows(int64_t out_rows, const std::vector<int>& weights, int64_t align) {
  const int64_t total = std::accumulate(weights.begin(), weights.end(), int64_t{0});
  std::vector<int64_t> starts{0};
  int64_t acc = 0;
  for (size_t k = 0; k + 1 < weights.size(); ++k) {
    acc += weights[k];
    // The ideal boundary, rounded to a whole number of blocks, never before the previous one.
    const int64_t ideal = total > 0 ? out_rows * acc / total : 0;
    const int64_t aligned = std::min(out_rows, (ideal + align / 2) / align * align);
    starts.push_back(std::max(starts.back(), aligned));
  }
  starts.push_back(out_rows);
  return starts;
}

namespace {

// Output rows per GPU below which the GPUs split the reduced axis instead of the rows, and
// the rows the splits are multiples of (a block).
constexpr int64_t kRowsPerDevice = 2048;
constexpr int64_t kAlignRows = 256;

// Where `device` writes an output slice: in place on the host or on that GPU; else in
// `here`, a buffer of its own that is copied to the slice's GPU after the run.
template <class T>
View<T> written_on(const View<T>& out, int device, DeviceBuffer& here) {
  if (out.device < 0 || out.device == device || !out.data) return out;
  here = DeviceBuffer(device, size_t(out.rows * out.cols) * sizeof(T));
  return {here.as<T>(), out.rows, out.cols, here.bytes() ? device : -1};
}

// The k whose share [starts[k], starts[k + 1]) is not empty.
std::vector<size_t> with_work(const std::vector<int64_t>& starts) {
  std::vector<size_t> ks;
  for (size_t k = 0; k + 1 < starts.size(); ++k)
    if (starts[k + 1] > starts[k]) ks.push_back(k);
  return ks;
}

// Runs body(k) for each k in `ks` on a thread of its own; the first error is rethrown once
// all are done.
void on_threads(const std::vector<size_t>& ks, const std::function<void(size_t)>& body) {
  std::mutex failure_lock;
  std::exception_ptr failure;
  std::vector<std::thread> threads;
  for (size_t k : ks)
    threads.emplace_back([&, k] {
      try {
        body(k);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_lock);
        if (!failure) failure = std::current_exception();
      }
    });
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

// Rows [begin, begin + rows) of the arguments of category `cat`.
struct RowSlice {
  ir::Cat cat;
  int64_t begin, rows;
};

// The arguments as `device` reads them: those of the slice's category cut to its rows; those
// in another GPU's memory copied to `device` (into `copies`).
template <class T>
std::vector<View<const T>> device_slice(const codegen::KernelSpec& spec,
                                        const std::vector<View<const T>>& args,
                                        const RowSlice& slice, int device,
                                        std::vector<DeviceBuffer>& copies) {
  std::vector<View<const T>> sliced = args;
  for (size_t a = 0; a < sliced.size(); ++a) {
    View<const T>& v = sliced[a];
    if (spec.args[a].cat == slice.cat) {
      v.data += slice.begin * spec.args[a].dim;
      v.rows = slice.rows;
    }
    if (v.device < 0 || v.device == device) continue;
    const size_t bytes = size_t(v.rows * v.cols) * sizeof(T);
    copies.emplace_back(device, bytes);
    copy_between_devices(device, copies.back().address(), v.device, address_of(v.data), bytes);
    v = {copies.back().template as<const T>(), v.rows, v.cols, device};
  }
  return sliced;
}

// spec for each device's sm, and the devices' weights (their multiprocessors).
struct DeviceSet {
  const codegen::KernelSpec& spec;
  const std::vector<int>& devices;
  std::vector<int> weights;

  DeviceSet(const codegen::KernelSpec& s, const std::vector<int>& d) : spec(s), devices(d) {
    for (int device : devices) weights.push_back(device_info(device).multiprocessors);
  }
  codegen::KernelSpec spec_for(int device) const {
    codegen::KernelSpec s = spec;
    s.gpu().sm = device_sm(device);
    return s;
  }
};

// The GPUs split the reduced axis, and their partial states are merged on the GPU of the
// outputs (or the first).
template <class T>
void split_reduced_axis(const DeviceSet& set, const ReductionArrays<T>& arrays,
                        const GpuRunOptions& options) {
  const codegen::KernelSpec& spec = set.spec;
  const std::vector<int64_t> starts = split_rows(arrays.n_reduced, set.weights, kAlignRows);
  const size_t state_bytes = size_t(arrays.out_rows) * partial_state_bytes(spec);
  std::vector<std::vector<char>> slots(set.devices.size());
  const std::vector<size_t> busy = with_work(starts);
  on_threads(busy, [&](size_t k) {
    const int device = set.devices[k];
    std::vector<DeviceBuffer> copies;
    ReductionArrays<T> share;
    share.out_rows = arrays.out_rows;
    share.n_reduced = starts[k + 1] - starts[k];
    share.args = device_slice(spec, arrays.args, {spec.inner_cat(), starts[k], share.n_reduced},
                              device, copies);
    share.values = {nullptr, arrays.out_rows, 0};  // the states are the results
    share.indices = {nullptr, arrays.out_rows, 0};
    slots[k].resize(state_bytes);
    GpuRunOptions partial = options;
    partial.states_out = slots[k].data();
    partial.index_offset = starts[k];
    run_gpu_reduction<T>(set.spec_for(device), device, share, partial);
  });
  std::vector<std::vector<char>> filled;
  for (size_t k : busy) filled.push_back(std::move(slots[k]));
  const int home = arrays.values.device >= 0    ? arrays.values.device
                   : arrays.indices.device >= 0 ? arrays.indices.device
                                                : set.devices[0];
  merge_gpu_states<T>(set.spec_for(home), home, arrays.out_rows, filled, arrays.values,
                      arrays.indices);
}

// Output rows [begin, begin + rows) of `out`.
template <class T>
View<T> output_rows(const View<T>& out, int64_t begin, int64_t rows) {
  return {out.data ? out.data + begin * out.cols : nullptr, rows, out.cols, out.device};
}

// The GPUs split the output rows, each reducing over the whole reduced axis.
template <class T>
void split_output_rows(const DeviceSet& set, const ReductionArrays<T>& arrays,
                       const GpuRunOptions& options) {
  const codegen::KernelSpec& spec = set.spec;
  const std::vector<int64_t> starts = split_rows(arrays.out_rows, set.weights, kAlignRows);
  on_threads(with_work(starts), [&](size_t k) {
    const int device = set.devices[k];
    const int64_t begin = starts[k], rows = starts[k + 1] - starts[k];
    std::vector<DeviceBuffer> copies;
    const View<T> values = output_rows(arrays.values, begin, rows);
    const View<int64_t> indices = output_rows(arrays.indices, begin, rows);
    DeviceBuffer values_here, indices_here;
    ReductionArrays<T> share;
    share.out_rows = rows;
    share.n_reduced = arrays.n_reduced;
    share.args = device_slice(spec, arrays.args, {spec.outer_cat(), begin, rows}, device, copies);
    share.values = written_on(values, device, values_here);
    share.indices = written_on(indices, device, indices_here);
    run_gpu_reduction<T>(set.spec_for(device), device, share, options);
    copy_between_devices(values.device, address_of(values.data), device, values_here.address(),
                         values_here.bytes());
    copy_between_devices(indices.device, address_of(indices.data), device, indices_here.address(),
                         indices_here.bytes());
  });
}

}  // namespace

template <class T>
void run_multi_gpu_reduction(const codegen::KernelSpec& spec, const std::vector<int>& devices,
                             const ReductionArrays<T>& arrays, const GpuRunOptions& options) {
  KEOPS_CHECK(!arrays.sparse, "block-sparse reductions run on one GPU");
  const DeviceSet set(spec, devices);
  const int64_t n = int64_t(devices.size());
  if (n > 1 && arrays.out_rows < kRowsPerDevice * n && arrays.n_reduced >= kAlignRows * n)
    split_reduced_axis(set, arrays, options);  // too few output rows to share
  else
    split_output_rows(set, arrays, options);
}

template void run_multi_gpu_reduction<float>(const codegen::KernelSpec&, const std::vector<int>&,
                                             const ReductionArrays<float>&, const GpuRunOptions&);
template void run_multi_gpu_reduction<double>(const codegen::KernelSpec&, const std::vector<int>&,
                                              const ReductionArrays<double>&, const GpuRunOptions&);
template void run_multi_gpu_reduction<keops::half>(const codegen::KernelSpec&,
                                                   const std::vector<int>&,
                                                   const ReductionArrays<keops::half>&,
                                                   const GpuRunOptions&);
template void run_multi_gpu_reduction<keops::bfloat16>(const codegen::KernelSpec&,
                                                       const std::vector<int>&,
                                                       const ReductionArrays<keops::bfloat16>&,
                                                       const GpuRunOptions&);

}  // namespace keops::runtime::cuda
