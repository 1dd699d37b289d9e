// Several GPUs for one reduction (see multi_gpu.h).
#include "runtime/cuda/multi_gpu.h"

#include <exception>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>

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

// Where `device` writes an output slice: in place on the host or on that GPU; else in
// `here`, a buffer of its own that is copied to the slice's GPU after the run.
template <class T>
View<T> written_on(const View<T>& out, int device, DeviceBuffer& here) {
  if (out.device < 0 || out.device == device || !out.data) return out;
  here = DeviceBuffer(device, size_t(out.rows * out.cols) * sizeof(T));
  return {here.as<T>(), out.rows, out.cols, here.bytes() ? device : -1};
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
  const std::vector<int64_t> starts = split_rows(out_rows, weights, 256);
  const ir::Cat outer = spec.outer_cat();

  std::mutex failure_lock;
  std::exception_ptr failure;
  std::vector<std::thread> threads;
  for (size_t k = 0; k < devices.size(); ++k) {
    const int64_t begin = starts[k], rows = starts[k + 1] - starts[k];
    if (rows == 0) continue;
    threads.emplace_back([&, k, begin, rows] {
      try {
        const int device = devices[k];
        codegen::KernelSpec device_spec = spec;
        device_spec.gpu_sm = device_sm(device);
        // The rows this GPU reads; those in another GPU's memory are copied here first.
        std::vector<DeviceBuffer> copies;
        std::vector<View<const T>> slice = args;
        for (size_t a = 0; a < slice.size(); ++a) {
          View<const T>& v = slice[a];
          if (layouts[a].cat == outer) {
            v.data += begin * layouts[a].dim;
            v.rows = rows;
          }
          if (v.device < 0 || v.device == device) continue;
          const size_t bytes = size_t(v.rows * v.cols) * sizeof(T);
          copies.emplace_back(device, bytes);
          copy_between_devices(device, copies.back().address(), v.device, address_of(v.data),
                               bytes);
          v = {copies.back().template as<const T>(), v.rows, v.cols, device};
        }
        View<T> slice_values{values.data ? values.data + begin * values.cols : nullptr, rows,
                             values.cols, values.device};
        View<int64_t> slice_indices{indices.data ? indices.data + begin * indices.cols : nullptr,
                                    rows, indices.cols, indices.device};
        DeviceBuffer values_here, indices_here;
        run_gpu_reduction<T>(device_spec, device, rows, n_reduced, slice,
                             written_on(slice_values, device, values_here),
                             written_on(slice_indices, device, indices_here), nullptr, options);
        copy_between_devices(values.device, address_of(slice_values.data), device,
                             values_here.address(), values_here.bytes());
        copy_between_devices(indices.device, address_of(slice_indices.data), device,
                             indices_here.address(), indices_here.bytes());
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_lock);
        if (!failure) failure = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
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
