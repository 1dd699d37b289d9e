// Device allocations and copies; every call runs under the owning device's primary context.
#include "runtime/cuda/memory.h"

#include <cstdio>
#include <string>
#include <utility>

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

void copy_to_device_async(int device, CUdeviceptr dst, const void* src, size_t bytes,
                          CUstream stream) {
  if (bytes == 0) return;
  ContextGuard guard(device);
  check(driver().cuMemcpyHtoDAsync(dst, src, bytes, stream), "cuMemcpyHtoDAsync");
}

void copy_to_host_async(int device, void* dst, CUdeviceptr src, size_t bytes, CUstream stream) {
  if (bytes == 0) return;
  ContextGuard guard(device);
  check(driver().cuMemcpyDtoHAsync(dst, src, bytes, stream), "cuMemcpyDtoHAsync");
}

DeviceBuffer::DeviceBuffer(int device, size_t bytes) : device_(device) {
  check_device(device);
  if (bytes == 0) return;  // the driver rejects empty allocations
  ContextGuard guard(device);
  const CUresult result = driver().cuMemAlloc(&address_, bytes);
  if (result == CUDA_SUCCESS) {
    bytes_ = bytes;
    return;
  }
  address_ = 0;
  MemoryInfo memory;
  driver().cuMemGetInfo(&memory.free, &memory.total);  // best effort: only for the message
  throw DriverError("cuMemAlloc: " + describe_result(result) + ": GPU " + std::to_string(device) +
                        " could not allocate " + format_bytes(bytes) + " (" +
                        std::to_string(bytes) + " bytes); " + format_bytes(memory.free) +
                        " free of " + format_bytes(memory.total),
                    result);
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : address_(std::exchange(other.address_, 0)),
      bytes_(std::exchange(other.bytes_, 0)),
      device_(std::exchange(other.device_, -1)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    address_ = std::exchange(other.address_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
    device_ = std::exchange(other.device_, -1);
  }
  return *this;
}

void DeviceBuffer::release() noexcept {
  if (address_ == 0) return;
  // A failure here (a sticky error left by a faulty kernel, a driver shutting down at exit)
  // cannot be reported from a destructor, and the context is unusable by then anyway.
  ContextGuard guard(device_, std::nothrow);
  driver_probe().api.cuMemFree(address_);
  address_ = 0;
  bytes_ = 0;
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
