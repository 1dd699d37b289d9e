// Device memory: RAII buffers and host/device copies, with errors that say how much and where.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/cuda/driver_api.h"

namespace keops::runtime::cuda {

// "1.50 GiB": byte counts in messages.
std::string format_bytes(size_t bytes);

// Copies between raw addresses on `device` (a user's device array or a DeviceBuffer), with
// the device's primary context made current. The async forms are ordered on `stream`; their
// host memory must stay alive (and, for true overlap, be page-locked) until it completes,
// except for copies to the device of up to 4 KiB, which are staged: their source may be
// reused at once, and they do not wait for the stream's earlier work.
void copy_to_device(int device, CUdeviceptr dst, const void* src, size_t bytes);
void copy_to_host(int device, void* dst, CUdeviceptr src, size_t bytes);
void copy_on_device(int device, CUdeviceptr dst, CUdeviceptr src, size_t bytes);
// From src_device's memory to dst_device's (through the host where the GPUs have no
// peer access).
void copy_between_devices(int dst_device, CUdeviceptr dst, int src_device, CUdeviceptr src,
                          size_t bytes);
void copy_to_device_async(int device, CUdeviceptr dst, const void* src, size_t bytes,
                          CUstream stream);
void copy_to_host_async(int device, void* dst, CUdeviceptr src, size_t bytes, CUstream stream);

// Device memory owned by one object; released by the destructor (small buffers, up to 4 MiB,
// are kept for reuse by later buffers of the device, 64 MiB of them at most). A failed
// allocation throws (out of memory: how much was asked and how much is free) and leaves
// nothing allocated.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(int device, size_t bytes);  // zero bytes: no allocation, a null address
  // Stream-ordered memory (cuMemAllocFromPoolAsync): usable by the work queued on `stream` after
  // this, and freed in the stream's order, so that a run may return before its work has
  // read it. Never pooled.
  DeviceBuffer(int device, size_t bytes, CUstream stream);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  CUdeviceptr address() const { return address_; }
  template <class T>
  T* as() const {
    return reinterpret_cast<T*>(static_cast<uintptr_t>(address_));
  }
  size_t bytes() const { return bytes_; }
  int device() const { return device_; }

  // Copies `bytes` at byte `offset` of this buffer; a range outside the buffer throws.
  void upload(const void* src, size_t bytes, size_t offset = 0);
  void download(void* dst, size_t bytes, size_t offset = 0) const;
  void upload_async(const void* src, size_t bytes, CUstream stream, size_t offset = 0);
  void download_async(void* dst, size_t bytes, CUstream stream, size_t offset = 0) const;
  void fill_zero();
  void fill_zero_async(CUstream stream);

 private:
  void check_range(const char* what, size_t bytes, size_t offset) const;
  void release() noexcept;

  CUdeviceptr address_ = 0;
  size_t bytes_ = 0;
  size_t pooled_bytes_ = 0;  // the size class of a recycled small buffer; 0: freed when released
  int device_ = -1;
  bool stream_ordered_ = false;
  CUstream stream_ = nullptr;  // the stream that frees a stream-ordered buffer
};

}  // namespace keops::runtime::cuda
