// Device allocations and copies; every call runs under the owning device's primary context.
#include "runtime/cuda/memory.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cuda/device.h"
#include "runtime/cuda/errors.h"

namespace keops::runtime::cuda {

std::string format_bytes(size_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
  return text;
}

void copy_to_device(int device, CUdeviceptr dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(device);
  check(driver().cuMemcpyHtoD(dst, src, bytes), "cuMemcpyHtoD");
}

void copy_to_host(int device, void* dst, CUdeviceptr src, size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(device);
  check(driver().cuMemcpyDtoH(dst, src, bytes), "cuMemcpyDtoH");
}

void copy_on_device(int device, CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(device);
  check(driver().cuMemcpyDtoD(dst, src, bytes), "cuMemcpyDtoD");
}

void copy_between_devices(int dst_device, CUdeviceptr dst, int src_device, CUdeviceptr src,
                          size_t bytes) {
  if (bytes == 0) return;
  ContextGuard guard(dst_device);
  check(driver().cuMemcpyPeer(dst, primary_context(dst_device), src, primary_context(src_device),
                              bytes),
        "cuMemcpyPeer(GPU " + std::to_string(src_device) + " -> GPU " + std::to_string(dst_device) +
            ")");
}

namespace {

// Page-locked slots for small host-to-device copies. A copy from pageable memory waits for
// the work queued on its stream before it starts, which would make a run queued on a stream
// wait for the stream's earlier work; from page-locked memory it does not. A slot is reused
// once the copy that read it has completed (its event).
class StagingRing {
 public:
  static constexpr size_t kSlotBytes = 4096;

  explicit StagingRing(int device) : device_(device) {
    ContextGuard guard(device);
    void* base = nullptr;
    check(driver().cuMemHostAlloc(&base, kSlots * kSlotBytes, CU_MEMHOSTALLOC_PORTABLE),
          "cuMemHostAlloc");
    base_ = static_cast<char*>(base);
    for (CUevent& event : events_)
      check(driver().cuEventCreate(&event, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  }

  void copy(CUdeviceptr dst, const void* src, size_t bytes, CUstream stream) {
    std::lock_guard lock(mutex_);
    const size_t slot = next_++ % kSlots;
    ContextGuard guard(device_);
    check(driver().cuEventSynchronize(events_[slot]), "cuEventSynchronize");
    char* staged = base_ + slot * kSlotBytes;
    std::memcpy(staged, src, bytes);
    check(driver().cuMemcpyHtoDAsync(dst, staged, bytes, stream), "cuMemcpyHtoDAsync");
    check(driver().cuEventRecord(events_[slot], stream), "cuEventRecord");
  }

 private:
  static constexpr size_t kSlots = 64;
  int device_;
  std::mutex mutex_;
  char* base_ = nullptr;
  CUevent events_[kSlots] = {};
  size_t next_ = 0;
};

// Never destroyed: copies may still be reading the slots at exit.
StagingRing& staging_ring(int device) {
  static std::mutex mutex;
  static auto* rings = new std::map<int, std::unique_ptr<StagingRing>>();
  std::lock_guard lock(mutex);
  std::unique_ptr<StagingRing>& ring = (*rings)[device];
  if (!ring) ring = std::make_unique<StagingRing>(device);
  return *ring;
}

}  // namespace

void copy_to_device_async(int device, CUdeviceptr dst, const void* src, size_t bytes,
                          CUstream stream) {
  if (bytes == 0) return;
  if (bytes <= StagingRing::kSlotBytes) return staging_ring(device).copy(dst, src, bytes, stream);
  ContextGuard guard(device);
  check(driver().cuMemcpyHtoDAsync(dst, src, bytes, stream), "cuMemcpyHtoDAsync");
}

void copy_to_host_async(int device, void* dst, CUdeviceptr src, size_t bytes, CUstream stream) {
  if (bytes == 0) return;
  ContextGuard guard(device);
  check(driver().cuMemcpyDtoHAsync(dst, src, bytes, stream), "cuMemcpyDtoHAsync");
}

namespace {

// Small allocations are recycled rather than freed: where another library manages device
// memory in the process (PyTorch's caching allocator), a cuMemAlloc/cuMemFree pair takes tens
// of microseconds, more than the launch of a small reduction. A recycled buffer may still be
// read by a kernel of the call that released it (one that threw before synchronizing), but
// every use of it is ordered on the legacy default stream, or on streams that wait for it.
constexpr size_t kPooledMaxBytes = size_t(4) << 20;
constexpr size_t kPoolCapacityBytes = size_t(64) << 20;

class SmallBufferPool {
 public:
  // The size a pooled allocation takes: a power of two, at least 256 bytes.
  static size_t size_class(size_t bytes) { return std::bit_ceil(std::max(bytes, size_t(256))); }

  // A pooled buffer of `bytes` (a size class) on `device`, or 0.
  CUdeviceptr take(int device, size_t bytes) {
    std::lock_guard lock(mutex_);
    std::vector<CUdeviceptr>& kept = free_[{device, bytes}];
    if (kept.empty()) return 0;
    const CUdeviceptr address = kept.back();
    kept.pop_back();
    pooled_bytes_[device] -= bytes;
    return address;
  }

  // Keeps the buffer for a later take, unless the device's pool is full (then false).
  bool give(int device, CUdeviceptr address, size_t bytes) {
    std::lock_guard lock(mutex_);
    if (pooled_bytes_[device] + bytes > kPoolCapacityBytes) return false;
    free_[{device, bytes}].push_back(address);
    pooled_bytes_[device] += bytes;
    return true;
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<int, size_t>, std::vector<CUdeviceptr>> free_;
  std::map<int, size_t> pooled_bytes_;
};

// The pool of a device's stream-ordered buffers, created on the first request and kept for
// the process. Up to 64 MiB of freed memory stays in it across synchronizations (the
// driver's default pool gives all of it back at each one, and maps it again for the next
// allocation: 0.1 ms a call).
CUmemoryPool stream_ordered_pool(int device) {
  static std::mutex mutex;
  static auto* pools = new std::map<int, CUmemoryPool>();
  std::lock_guard lock(mutex);
  CUmemoryPool& pool = (*pools)[device];
  if (pool != nullptr) return pool;
  ContextGuard guard(device);
  CUmemPoolProps properties;
  properties.location_id = device;
  CUmemoryPool created = nullptr;
  check(driver().cuMemPoolCreate(&created, &properties), "cuMemPoolCreate");
  uint64_t kept_bytes = kPoolCapacityBytes;
  check(driver().cuMemPoolSetAttribute(created, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &kept_bytes),
        "cuMemPoolSetAttribute(RELEASE_THRESHOLD)");
  return pool = created;
}

// Never destroyed: buffers may be released by other static objects' destructors at exit.
SmallBufferPool& small_buffers() {
  static auto* pool = new SmallBufferPool();
  return *pool;
}

// A failed allocation's error: how much was asked, and how much the device has free.
[[noreturn]] void throw_out_of_memory(const char* call, CUresult result, int device, size_t bytes) {
  MemoryInfo memory;
  driver().cuMemGetInfo(&memory.free, &memory.total);  // best effort: only for the message
  throw DriverError(std::string(call) + ": " + describe_result(result) + ": GPU " +
                        std::to_string(device) + " could not allocate " + format_bytes(bytes) +
                        " (" + std::to_string(bytes) + " bytes); " + format_bytes(memory.free) +
                        " free of " + format_bytes(memory.total),
                    result);
}

}  // namespace

DeviceBuffer::DeviceBuffer(int device, size_t bytes) : device_(device) {
  check_device(device);
  if (bytes == 0) return;  // the driver rejects empty allocations
  const size_t size = bytes <= kPooledMaxBytes ? SmallBufferPool::size_class(bytes) : bytes;
  if (bytes <= kPooledMaxBytes) address_ = small_buffers().take(device, size);
  if (address_ != 0) {
    bytes_ = bytes;
    pooled_bytes_ = size;
    return;
  }
  ContextGuard guard(device);
  const CUresult result = driver().cuMemAlloc(&address_, size);
  if (result == CUDA_SUCCESS) {
    bytes_ = bytes;
    pooled_bytes_ = bytes <= kPooledMaxBytes ? size : 0;
    return;
  }
  address_ = 0;
  throw_out_of_memory("cuMemAlloc", result, device, bytes);
}

DeviceBuffer::DeviceBuffer(int device, size_t bytes, CUstream stream)
    : device_(device), stream_ordered_(true), stream_(stream) {
  check_device(device);
  if (bytes == 0) return;
  ContextGuard guard(device);
  const CUresult result =
      driver().cuMemAllocFromPoolAsync(&address_, bytes, stream_ordered_pool(device), stream);
  if (result == CUDA_SUCCESS) {
    bytes_ = bytes;
    return;
  }
  address_ = 0;
  throw_out_of_memory("cuMemAllocFromPoolAsync", result, device, bytes);
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : address_(std::exchange(other.address_, 0)),
      bytes_(std::exchange(other.bytes_, 0)),
      pooled_bytes_(std::exchange(other.pooled_bytes_, 0)),
      device_(std::exchange(other.device_, -1)),
      stream_ordered_(std::exchange(other.stream_ordered_, false)),
      stream_(std::exchange(other.stream_, nullptr)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    address_ = std::exchange(other.address_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
    pooled_bytes_ = std::exchange(other.pooled_bytes_, 0);
    device_ = std::exchange(other.device_, -1);
    stream_ordered_ = std::exchange(other.stream_ordered_, false);
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

void DeviceBuffer::release() noexcept {
  if (address_ == 0) return;
  if (stream_ordered_) {
    ContextGuard guard(device_, std::nothrow);
    driver_probe().api.cuMemFreeAsync(address_, stream_);
  } else if (pooled_bytes_ == 0 || !small_buffers().give(device_, address_, pooled_bytes_)) {
    // A failure here (a sticky error left by a faulty kernel, a driver shutting down at
    // exit) cannot be reported from a destructor, and the context is unusable by then anyway.
    ContextGuard guard(device_, std::nothrow);
    driver_probe().api.cuMemFree(address_);
  }
  address_ = 0;
  bytes_ = 0;
  pooled_bytes_ = 0;
}

void DeviceBuffer::check_range(const char* what, size_t bytes, size_t offset) const {
  if (offset > bytes_ || bytes > bytes_ - offset)
    throw Error(std::string("DeviceBuffer::") + what + ": bytes [" + std::to_string(offset) + ", " +
                std::to_string(offset + bytes) + ") are outside the buffer of " +
                std::to_string(bytes_) + " bytes");
}

void DeviceBuffer::upload(const void* src, size_t bytes, size_t offset) {
  check_range("upload", bytes, offset);
  copy_to_device(device_, address_ + offset, src, bytes);
}

void DeviceBuffer::download(void* dst, size_t bytes, size_t offset) const {
  check_range("download", bytes, offset);
  copy_to_host(device_, dst, address_ + offset, bytes);
}

void DeviceBuffer::upload_async(const void* src, size_t bytes, CUstream stream, size_t offset) {
  check_range("upload_async", bytes, offset);
  copy_to_device_async(device_, address_ + offset, src, bytes, stream);
}

void DeviceBuffer::download_async(void* dst, size_t bytes, CUstream stream, size_t offset) const {
  check_range("download_async", bytes, offset);
  copy_to_host_async(device_, dst, address_ + offset, bytes, stream);
}

void DeviceBuffer::fill_zero() {
  if (bytes_ == 0) return;
  ContextGuard guard(device_);
  check(driver().cuMemsetD8(address_, 0, bytes_), "cuMemsetD8");
}

void DeviceBuffer::fill_zero_async(CUstream stream) {
  if (bytes_ == 0) return;
  ContextGuard guard(device_);
  check(driver().cuMemsetD8Async(address_, 0, bytes_, stream), "cuMemsetD8Async");
}

}  // namespace keops::runtime::cuda
