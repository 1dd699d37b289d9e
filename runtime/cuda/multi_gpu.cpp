// Several GPUs for one reduction (see multi_gpu.h).
#include "runtime/cuda/multi_gpu.h"

#include <exception>
#include <functional>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>

#include "keops/error.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/launch_args.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/plan_cache.h"

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

// The arguments as `device` reads them: rows [begin, begin + rows) of those of category
// `sliced`; those in another GPU's memory copied to `device` (into `copies`).
template <class T>
std::vector<View<const T>> device_slice(const std::vector<View<const T>>& args,
                                        const std::vector<codegen::ArgLayout>& layouts,
                                        ir::Cat sliced, int64_t begin, int64_t rows, int device,
                                        std::vector<DeviceBuffer>& copies) {
  std::vector<View<const T>> slice = args;
  for (size_t a = 0; a < slice.size(); ++a) {
    View<const T>& v = slice[a];
    if (layouts[a].cat == sliced) {
      v.data += begin * layouts[a].dim;
      v.rows = rows;
    }
    if (v.device < 0 || v.device == device) continue;
    const size_t bytes = size_t(v.rows * v.cols) * sizeof(T);
    copies.emplace_back(device, bytes);
    copy_between_devices(device, copies.back().address(), v.device, address_of(v.data), bytes);
    v = {copies.back().template as<const T>(), v.rows, v.cols, device};
  }
  return slice;
}

}  // namespace

template <class T>
void run_multi_gpu_reduction(const codegen::KernelSpec& spec, const std::vector<int>& devices,
                             int64_t out_rows, int64_t n_reduced,
                             const std::vector<View<const T>>& args,
                             const std::vector<codegen::ArgLayout>& layouts, View<T> values,
                             View<int64_t> indices, const GpuRunOptions& options) {
  std::vector<int> weights;
  for (int d : devices) weights.push_back(device_info(d).multiprocessors);
  auto device_spec = [&](int device) {
    codegen::KernelSpec s = spec;
    s.gpu().sm = device_sm(device);
    return s;
  };
  const int64_t n = int64_t(devices.size());

  if (n > 1 && out_rows < kRowsPerDevice * n && n_reduced >= kAlignRows * n) {
    // Too few output rows to share: the GPUs split the reduced axis, and their partial
    // states are merged on the GPU of the outputs (or the first).
    const std::vector<int64_t> starts = split_rows(n_reduced, weights, kAlignRows);
    const size_t state_bytes = size_t(out_rows * cached_plan(spec)->gpu.state_bytes());
    std::vector<std::vector<char>> slots(devices.size());
    const std::vector<size_t> busy = with_work(starts);
    on_threads(busy, [&](size_t k) {
      const int device = devices[k];
      const int64_t begin = starts[k], reduced = starts[k + 1] - starts[k];
      std::vector<DeviceBuffer> copies;
      const auto slice =
          device_slice(args, layouts, spec.inner_cat(), begin, reduced, device, copies);
      slots[k].resize(state_bytes);
      GpuRunOptions partial = options;
      partial.states_out = slots[k].data();
      partial.index_offset = begin;
      run_gpu_reduction<T>(device_spec(device), device, out_rows, reduced, slice,
                           View<T>{nullptr, out_rows, 0}, View<int64_t>{nullptr, out_rows, 0},
                           nullptr, partial);
    });
    std::vector<std::vector<char>> filled;
    for (size_t k : busy) filled.push_back(std::move(slots[k]));
    const int home = values.device >= 0    ? values.device
                     : indices.device >= 0 ? indices.device
                                           : devices[0];
    merge_gpu_states<T>(device_spec(home), home, out_rows, filled, values, indices);
    return;
  }

  const std::vector<int64_t> starts = split_rows(out_rows, weights, kAlignRows);
  const std::vector<size_t> busy = with_work(starts);
  on_threads(busy, [&](size_t k) {
    const int device = devices[k];
    const int64_t begin = starts[k], rows = starts[k + 1] - starts[k];
    std::vector<DeviceBuffer> copies;
    const auto slice = device_slice(args, layouts, spec.outer_cat(), begin, rows, device, copies);
    View<T> slice_values{values.data ? values.data + begin * values.cols : nullptr, rows,
                         values.cols, values.device};
    View<int64_t> slice_indices{indices.data ? indices.data + begin * indices.cols : nullptr, rows,
                                indices.cols, indices.device};
    DeviceBuffer values_here, indices_here;
    run_gpu_reduction<T>(device_spec(device), device, rows, n_reduced, slice,
                         written_on(slice_values, device, values_here),
                         written_on(slice_indices, device, indices_here), nullptr, options);
    copy_between_devices(values.device, address_of(slice_values.data), device,
                         values_here.address(), values_here.bytes());
    copy_between_devices(indices.device, address_of(slice_indices.data), device,
                         indices_here.address(), indices_here.bytes());
  });
}

template void run_multi_gpu_reduction<float>(const codegen::KernelSpec&, const std::vector<int>&,
                                             int64_t, int64_t,
                                             const std::vector<View<const float>>&,
                                             const std::vector<codegen::ArgLayout>&, View<float>,
                                             View<int64_t>, const GpuRunOptions&);
template void run_multi_gpu_reduction<double>(const codegen::KernelSpec&, const std::vector<int>&,
                                              int64_t, int64_t,
                                              const std::vector<View<const double>>&,
                                              const std::vector<codegen::ArgLayout>&, View<double>,
                                              View<int64_t>, const GpuRunOptions&);

}  // namespace keops::runtime::cuda
