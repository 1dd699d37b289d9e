// The CUDA driver API as keops uses it: our own declarations, filled at run time by dlopen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

// Written from the CUDA Driver API reference (no NVIDIA header is included or needed):
// the handle types, the enum values we pass or test, and the functions we call.
namespace keops::runtime::cuda {

// Results are plain ints on the ABI; the named values are those keops reacts to.
enum CUresult : int {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_STUB_LIBRARY = 34,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_PTX = 218,
  CUDA_ERROR_NOT_READY = 600,
};

using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;
using CUevent = struct CUevent_st*;
using CUmemoryPool = struct CUmemPoolHandle_st*;

// cuMemPoolCreate's properties (CUmemPoolProps): device memory of one device, no export.
struct CUmemPoolProps {
  int alloc_type = 1;     // CU_MEM_ALLOCATION_TYPE_PINNED
  int handle_types = 0;   // CU_MEM_HANDLE_TYPE_NONE
  int location_type = 1;  // CU_MEM_LOCATION_TYPE_DEVICE
  int location_id = 0;    // the device ordinal
  void* win32_security_attributes = nullptr;
  unsigned char reserved[64] = {};  // maxSize, usage and padding: 0 for the defaults
};
static_assert(sizeof(CUmemPoolProps) == 88);
inline constexpr int CU_MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;

// CUDA's CU_STREAM_LEGACY handle, the legacy default stream, as is nullptr.
inline bool is_legacy_stream(CUstream stream) {
  return stream == nullptr || reinterpret_cast<uintptr_t>(stream) == 1;
}

enum CUdevice_attribute : int {
  CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
  CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
};

enum CUfunction_attribute : int {
  CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
  CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
  CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
};

// Attributes of a pointer (cuPointerGetAttribute) and the memory types it reports.
enum CUpointer_attribute : int {
  CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2,
  CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9,
};
enum CUmemorytype : unsigned {
  CU_MEMORYTYPE_HOST = 1,
  CU_MEMORYTYPE_DEVICE = 2,
  CU_MEMORYTYPE_UNIFIED = 4,
};

enum CUjit_option : int {
  CU_JIT_ERROR_LOG_BUFFER = 5,
  CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  CU_JIT_OPTIMIZATION_LEVEL = 7,
};

// Flags of cuStreamCreate and cuEventCreate.
inline constexpr unsigned CU_STREAM_DEFAULT = 0x0;
inline constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;
inline constexpr unsigned CU_EVENT_DEFAULT = 0x0;
inline constexpr unsigned CU_EVENT_DISABLE_TIMING = 0x2;
// Flags of cuMemHostAlloc.
inline constexpr unsigned CU_MEMHOSTALLOC_PORTABLE = 0x1;

// Every driver function keops calls: X(member, exported symbol, parameter list).
// The symbols are the versioned ones the current cuda.h maps each name to, so the
// semantics (64-bit sizes, ...) are those of the documented API; cuEventElapsedTime_v2
// falls back to its first name on drivers older than CUDA 12.8.
#define KEOPS_CUDA_DRIVER_FUNCTIONS(X)                                                            \
  X(cuInit, "cuInit", (unsigned flags))                                                           \
  X(cuDriverGetVersion, "cuDriverGetVersion", (int* version))                                     \
  X(cuGetErrorName, "cuGetErrorName", (CUresult error, const char** name))                        \
  X(cuGetErrorString, "cuGetErrorString", (CUresult error, const char** text))                    \
  X(cuDeviceGetCount, "cuDeviceGetCount", (int* count))                                           \
  X(cuDeviceGet, "cuDeviceGet", (CUdevice * device, int ordinal))                                 \
  X(cuDeviceGetName, "cuDeviceGetName", (char* name, int length, CUdevice device))                \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute",                                                 \
    (int* value, CUdevice_attribute attribute, CUdevice device))                                  \
  X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", (size_t * bytes, CUdevice device))                   \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", (CUcontext * context, CUdevice device)) \
  X(cuCtxPushCurrent, "cuCtxPushCurrent_v2", (CUcontext context))                                 \
  X(cuCtxPopCurrent, "cuCtxPopCurrent_v2", (CUcontext * context))                                 \
  X(cuCtxSynchronize, "cuCtxSynchronize", ())                                                     \
  X(cuMemGetInfo, "cuMemGetInfo_v2", (size_t * free_bytes, size_t * total_bytes))                 \
  X(cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr * pointer, size_t bytes))                           \
  X(cuMemFree, "cuMemFree_v2", (CUdeviceptr pointer))                                             \
  X(cuMemPoolCreate, "cuMemPoolCreate", (CUmemoryPool * pool, const CUmemPoolProps* properties))  \
  X(cuMemPoolSetAttribute, "cuMemPoolSetAttribute",                                               \
    (CUmemoryPool pool, int attribute, void* value))                                              \
  X(cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync",                                           \
    (CUdeviceptr * pointer, size_t bytes, CUmemoryPool pool, CUstream stream))                    \
  X(cuMemFreeAsync, "cuMemFreeAsync", (CUdeviceptr pointer, CUstream stream))                     \
  X(cuMemHostAlloc, "cuMemHostAlloc", (void** pointer, size_t bytes, unsigned flags))             \
  X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", (CUdeviceptr dst, const void* src, size_t bytes))            \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", (void* dst, CUdeviceptr src, size_t bytes))                  \
  X(cuMemcpyDtoD, "cuMemcpyDtoD_v2", (CUdeviceptr dst, CUdeviceptr src, size_t bytes))            \
  X(cuMemcpyPeer, "cuMemcpyPeer",                                                                 \
    (CUdeviceptr dst, CUcontext dst_context, CUdeviceptr src, CUcontext src_context,              \
     size_t bytes))                                                                               \
  X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2",                                                    \
    (CUdeviceptr dst, const void* src, size_t bytes, CUstream stream))                            \
  X(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2",                                                    \
    (void* dst, CUdeviceptr src, size_t bytes, CUstream stream))                                  \
  X(cuMemsetD8, "cuMemsetD8_v2", (CUdeviceptr dst, unsigned char value, size_t count))            \
  X(cuMemsetD8Async, "cuMemsetD8Async",                                                           \
    (CUdeviceptr dst, unsigned char value, size_t count, CUstream stream))                        \
  X(cuStreamCreate, "cuStreamCreate", (CUstream * stream, unsigned flags))                        \
  X(cuStreamDestroy, "cuStreamDestroy_v2", (CUstream stream))                                     \
  X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream stream))                                \
  X(cuStreamQuery, "cuStreamQuery", (CUstream stream))                                            \
  X(cuEventCreate, "cuEventCreate", (CUevent * event, unsigned flags))                            \
  X(cuEventDestroy, "cuEventDestroy_v2", (CUevent event))                                         \
  X(cuEventRecord, "cuEventRecord", (CUevent event, CUstream stream))                             \
  X(cuEventSynchronize, "cuEventSynchronize", (CUevent event))                                    \
  X(cuStreamWaitEvent, "cuStreamWaitEvent", (CUstream stream, CUevent event, unsigned flags))     \
  X(cuEventElapsedTime, "cuEventElapsedTime_v2",                                                  \
    (float* milliseconds, CUevent start, CUevent end))                                            \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx",                                                     \
    (CUmodule * module, const void* image, unsigned num_options, CUjit_option* options,           \
     void** option_values))                                                                       \
  X(cuModuleUnload, "cuModuleUnload", (CUmodule module))                                          \
  X(cuModuleGetFunction, "cuModuleGetFunction",                                                   \
    (CUfunction * function, CUmodule module, const char* name))                                   \
  X(cuFuncGetAttribute, "cuFuncGetAttribute",                                                     \
    (int* value, CUfunction_attribute attribute, CUfunction function))                            \
  X(cuFuncSetAttribute, "cuFuncSetAttribute",                                                     \
    (CUfunction function, CUfunction_attribute attribute, int value))                             \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor, "cuOccupancyMaxActiveBlocksPerMultiprocessor",   \
    (int* blocks, CUfunction function, int block_threads, size_t dynamic_shared_bytes))           \
  X(cuPointerGetAttribute, "cuPointerGetAttribute",                                               \
    (void* data, CUpointer_attribute attribute, CUdeviceptr pointer))                             \
  X(cuLaunchKernel, "cuLaunchKernel",                                                             \
    (CUfunction function, unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,    \
     unsigned block_y, unsigned block_z, unsigned shared_bytes, CUstream stream,                  \
     void** kernel_params, void** extra))

// The table of driver entry points; every member is non-null once a probe succeeded.
struct DriverApi {
#define KEOPS_CUDA_DECLARE_MEMBER(member, symbol, params) CUresult(*member) params = nullptr;
  KEOPS_CUDA_DRIVER_FUNCTIONS(KEOPS_CUDA_DECLARE_MEMBER)
#undef KEOPS_CUDA_DECLARE_MEMBER
};

// How to look for the driver; the process-wide probe takes these from the environment.
struct DriverProbeOptions {
  bool disabled = false;  // KEOPS_DISABLE_GPU set (and not "0"): load nothing
  std::string library;    // KEOPS_LIBCUDA; empty: "libcuda.so.1" through the loader's path
};

// What one attempt to load the driver found.
struct DriverProbe {
  bool available = false;    // driver loaded, cuInit succeeded, at least one device
  std::string reason;        // why not, in words; "" when available
  std::string library_path;  // the file that was loaded, when one was
  int driver_version = 0;    // e.g. 13000 for CUDA 13.0; 0 when unknown
  int device_count = 0;
  DriverApi api;  // filled while the library stays loaded (a driver does)
};

// "13.0" for the driver version 13000; "unknown" for 0.
std::string cuda_version_text(int version);

DriverProbeOptions probe_options_from_environment();

// Loads the driver with explicit options (reusing a copy already in the process when
// there is one), resolves every symbol and calls cuInit(0). Never throws, never aborts.
// A library that is not a driver (missing symbols, the toolkit stub) is closed again; a
// driver stays loaded for good once cuInit ran, even when it found no device.
DriverProbe probe_driver(const DriverProbeOptions& options);

// The process-wide probe, run once (thread-safe) with the environment's options.
const DriverProbe& driver_probe();

// The driver's entry points; throws keops::Error with the probe's reason when the GPU
// backend is unavailable.
const DriverApi& driver();

}  // namespace keops::runtime::cuda
