// keops_aot_gpu_launch: runs the kernel a keopsc GPU object embeds (include/keops/aot_gpu.h).
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "compiler/lower/kernel_plan.h"
#include "keops/aot_gpu.h"
#include "keops/error.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/driver_api.h"
#include "runtime/cuda/errors.h"
#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/launch.h"
#include "runtime/cuda/launch_args.h"
#include "runtime/cuda/module_cache.h"

namespace keops::runtime::cuda {
namespace {

thread_local std::string last_error;

// What cuPointerGetAttribute answers for memory the driver does not know (plain host memory).
constexpr CUresult kInvalidValue = CUresult(1);

// A failure with its status; the message goes to keops_aot_last_error().
struct Failure {
  int status;
  std::string message;
};

// The arguments of one keops_aot_gpu_launch call.
struct AotCall {
  int64_t nx, ny;
  const void* const* args;
  void* values;
  int64_t* indices;
};

std::string hex(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int k = 15; k >= 0; --k, v >>= 4) s[size_t(k)] = digits[v & 15];
  return s;
}

// The GPU whose memory p is, or -1 for host memory (pageable or page-locked).
int memory_device(const void* p) {
  if (p == nullptr) return -1;
  const DriverApi& api = driver();
  const auto address = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
  unsigned type = 0;
  const CUresult result =
      api.cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, address);
  if (result == kInvalidValue) return -1;
  check(result, "cuPointerGetAttribute(MEMORY_TYPE)");
  if (type != CU_MEMORYTYPE_DEVICE && type != CU_MEMORYTYPE_UNIFIED) return -1;
  int ordinal = -1;
  check(api.cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, address),
        "cuPointerGetAttribute(DEVICE_ORDINAL)");
  return ordinal;
}

// The call's arrays (arg_rows[a] rows of args[a]): each on the host (-1) or on the one GPU
// that holds device arrays, which is returned (0 when there are none).
template <class T>
int place_arrays(const keops_aot_gpu_kernel& k, const AotCall& call,
                 const std::vector<int64_t>& arg_rows, ReductionArrays<T>& arrays) {
  // Pointer queries need a current context; any device's will do (unified addressing).
  ContextGuard guard(0);
  int device = -1;
  std::string holder;
  auto claim = [&](const void* p, const std::string& what) {
    const int d = memory_device(p);
    if (d >= 0 && device >= 0 && d != device)
      throw Error(what + " is in the memory of GPU " + std::to_string(d) + ", but " + holder +
                  " is in that of GPU " + std::to_string(device));
    if (d >= 0 && device < 0) {
      device = d;
      holder = what;
    }
    return d;
  };
  const int64_t out_rows = k.axis == 1 ? call.nx : call.ny;
  arrays.out_rows = out_rows;
  arrays.n_reduced = k.axis == 1 ? call.ny : call.nx;
  for (int64_t a = 0; a < k.arg_count; ++a) {
    const void* p = call.args == nullptr ? nullptr : call.args[a];
    arrays.args.push_back({static_cast<const T*>(p), arg_rows[size_t(a)], k.arg_dims[a],
                           claim(p, "args[" + std::to_string(a) + "]")});
  }
  arrays.values = {static_cast<T*>(call.values), out_rows, k.value_cols,
                   claim(call.values, "values")};
  arrays.indices = {call.indices, out_rows, k.index_cols, claim(call.indices, "indices")};
  return std::max(device, 0);
}

template <class T>
void run(const keops_aot_gpu_kernel& k, const std::string& name, const AotCall& call,
         const std::vector<int64_t>& arg_rows) {
  ReductionArrays<T> arrays;
  const int device = place_arrays<T>(k, call, arg_rows, arrays);
  check_device(device);
  if (const int sm = device_sm(device); sm < k.sm)
    throw Failure{KEOPS_AOT_GPU_FAILURE,
                  "running " + name + ": its kernel was compiled for sm_" + std::to_string(k.sm) +
                      ", but GPU " + std::to_string(device) + " (" + device_info(device).name +
                      ") is sm_" + std::to_string(sm) + ": compile it with --target sm_" +
                      std::to_string(sm)};
  const auto module =
      cached_module("aot-ptx:" + hex(k.ptx_hash), device, [&] { return std::string(k.ptx); });
  // Blocks sized as Genred sizes them for this kernel (one row per thread): the same tiles,
  // so the same sums.
  const KernelFunction kernel = module->function(k.kernel_name);
  const int64_t shared_per_thread = k.shared_bytes / k.block_threads;
  const int block_threads =
      dense_block_threads(kernel,
                          {.rows = arrays.out_rows,
                           .column_groups = int(k.column_groups),
                           .max_block_threads = lower::max_block_threads(
                               shared_per_thread, int(k.sm), int(k.block_threads)),
                           .wide_tiles_pay = k.wide_tiles_pay != 0,
                           .rows_per_thread = 1},
                          shared_per_thread);
  LaunchConfig config;
  config.block.x = unsigned(block_threads);
  config.grid.z = unsigned(std::min(k.column_groups, int64_t(kMaxGridZ)));
  config.dynamic_shared_bytes = unsigned(shared_per_thread * block_threads);
  launch_reduction<T>(kernel, config, arrays);
}

// rows * cols * bytes, or -1 when it does not fit in an int64_t.
int64_t array_bytes(int64_t rows, int64_t cols, int64_t bytes) {
  int64_t n = 0;
  return __builtin_mul_overflow(rows, cols, &n) || __builtin_mul_overflow(n, bytes, &n) ? -1 : n;
}

void launch_checked(const keops_aot_gpu_kernel* k, int64_t nx, int64_t ny, const void* const* args,
                    void* values, int64_t* indices) {
  if (k == nullptr)
    throw Failure{KEOPS_AOT_BAD_KERNEL, "keops_aot_gpu_launch: the kernel description is NULL"};
  const std::string name = k->symbol != nullptr ? k->symbol : "a keopsc GPU entry";
  if (k->abi_version != KEOPS_AOT_GPU_ABI_VERSION)
    throw Failure{KEOPS_AOT_BAD_KERNEL,
                  "running " + name + ": its object was compiled for the keops GPU ABI " +
                      std::to_string(k->abi_version) + ", this libkeops runs ABI " +
                      std::to_string(KEOPS_AOT_GPU_ABI_VERSION) +
                      ": recompile it with the keopsc of this libkeops"};
  const std::string sizes = "nx = " + std::to_string(nx) + ", ny = " + std::to_string(ny);
  if (nx < 0 || ny < 0)
    throw Failure{KEOPS_AOT_BAD_SIZE, "running " + name + ": " + sizes + ": sizes must be >= 0"};
  const int64_t out_rows = k->axis == 1 ? nx : ny;
  std::vector<int64_t> arg_rows;
  bool any_rows = false;
  for (int64_t a = 0; a < k->arg_count; ++a) {
    const int64_t cat = k->arg_cats[a];
    arg_rows.push_back(cat == KEOPS_AOT_CAT_I ? nx : cat == KEOPS_AOT_CAT_J ? ny : 1);
    any_rows = any_rows || arg_rows.back() > 0;
    if (array_bytes(arg_rows.back(), k->arg_dims[a], k->dtype_bytes) < 0)
      throw Failure{KEOPS_AOT_BAD_SIZE, "running " + name + ": " + sizes + ": args[" +
                                            std::to_string(a) +
                                            "] would hold more than 2^63 bytes"};
  }
  for (const int64_t cols : {k->value_cols, k->index_cols})
    if (array_bytes(out_rows, cols, 8) < 0)
      throw Failure{KEOPS_AOT_BAD_SIZE, "running " + name + ": " + sizes +
                                            ": the output would hold more than 2^63 bytes"};
  if (args == nullptr && any_rows)
    throw Failure{KEOPS_AOT_NULL_ARGUMENT, "running " + name + ": args is NULL"};
  for (int64_t a = 0; args != nullptr && a < k->arg_count; ++a)
    if (args[a] == nullptr && arg_rows[size_t(a)] > 0)
      throw Failure{KEOPS_AOT_NULL_ARGUMENT, "running " + name + ": args[" + std::to_string(a) +
                                                 "] is NULL and has " +
                                                 std::to_string(arg_rows[size_t(a)]) + " rows"};
  if (k->value_cols > 0 && out_rows > 0 && values == nullptr)
    throw Failure{KEOPS_AOT_NULL_VALUES, "running " + name + ": values is NULL and has " +
                                             std::to_string(out_rows) + " rows"};
  if (k->index_cols > 0 && out_rows > 0 && indices == nullptr)
    throw Failure{KEOPS_AOT_NULL_INDICES, "running " + name + ": indices is NULL and has " +
                                              std::to_string(out_rows) + " rows"};
  if (out_rows == 0) return;  // nothing to do, GPU or not, as in CPU objects
  if (const DriverProbe& probe = driver_probe(); !probe.available)
    throw Failure{KEOPS_AOT_NO_GPU, "running " + name + ": no usable GPU: " + probe.reason};
  try {
    const AotCall call{nx, ny, args, values, indices};
    // (16-bit arrays: the PTX converts them; here only their size matters.)
    if (k->dtype_bytes == 2)
      run<half>(*k, name, call, arg_rows);
    else if (k->dtype_bytes == 4)
      run<float>(*k, name, call, arg_rows);
    else
      run<double>(*k, name, call, arg_rows);
  } catch (const std::exception& e) {
    throw Failure{KEOPS_AOT_GPU_FAILURE, "running " + name + " on the GPU: " + e.what()};
  }
}

}  // namespace
}  // namespace keops::runtime::cuda

extern "C" int keops_aot_gpu_launch(const keops_aot_gpu_kernel* k, int64_t nx, int64_t ny,
                                    const void* const* args, void* values, int64_t* indices) {
  using keops::runtime::cuda::last_error;
  last_error.clear();
  try {
    keops::runtime::cuda::launch_checked(k, nx, ny, args, values, indices);
    return KEOPS_AOT_OK;
  } catch (const keops::runtime::cuda::Failure& f) {
    last_error = f.message;
    return f.status;
  } catch (const std::exception& e) {  // out of host memory while checking
    last_error = std::string("keops_aot_gpu_launch: ") + e.what();
    return KEOPS_AOT_GPU_FAILURE;
  }
}

extern "C" const char* keops_aot_last_error(void) {
  return keops::runtime::cuda::last_error.c_str();
}
