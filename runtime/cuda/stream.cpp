// Streams and events, created and destroyed under their device's primary context.
#include "runtime/cuda/stream.h"

#include <map>
#include <memory>
#include <mutex>

#include "runtime/cuda/device.h"
#include "runtime/cuda/errors.h"

namespace keops::runtime::cuda {

Stream::Stream(int device, bool blocking) : device_(device) {
  ContextGuard guard(device);
  check(driver().cuStreamCreate(&stream_, blocking ? CU_STREAM_DEFAULT : CU_STREAM_NON_BLOCKING),
        "cuStreamCreate");
}

std::vector<CUstream> concurrent_streams(int device, int count) {
  // Never destroyed: the process's last launches may still be using them at exit.
  static std::mutex mutex;
  static auto* pools = new std::map<int, std::vector<std::unique_ptr<Stream>>>();
  const std::lock_guard<std::mutex> lock(mutex);
  std::vector<std::unique_ptr<Stream>>& pool = (*pools)[device];
  while (int(pool.size()) < count) pool.push_back(std::make_unique<Stream>(device, true));
  std::vector<CUstream> streams;
  for (int k = 0; k < count; ++k) streams.push_back(pool[size_t(k)]->get());
  return streams;
}

void stream_wait(int device, CUstream waiting, CUstream awaited) {
  if (waiting == awaited || (is_legacy_stream(waiting) && is_legacy_stream(awaited))) return;
  ContextGuard guard(device);
  CUevent event = nullptr;
  check(driver().cuEventCreate(&event, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  CUresult recorded = driver().cuEventRecord(event, awaited);
  CUresult waited =
      recorded == CUDA_SUCCESS ? driver().cuStreamWaitEvent(waiting, event, 0) : recorded;
  driver().cuEventDestroy(event);  // released once the wait has passed it
  check(recorded, "cuEventRecord");
  check(waited, "cuStreamWaitEvent");
}

void wait_for_stream(int device, CUstream stream) {
  if (stream != nullptr) stream_wait(device, nullptr, stream);
}

Stream::~Stream() {
  // Pending work still completes: the driver destroys the stream once it is idle.
  ContextGuard guard(device_, std::nothrow);
  driver_probe().api.cuStreamDestroy(stream_);
}

void Stream::synchronize() const {
  ContextGuard guard(device_);
  check(driver().cuStreamSynchronize(stream_), "cuStreamSynchronize");
}

bool Stream::idle() const {
  ContextGuard guard(device_);
  const CUresult result = driver().cuStreamQuery(stream_);
  if (result == CUDA_ERROR_NOT_READY) return false;
  check(result, "cuStreamQuery");
  return true;
}

Event::Event(int device) : device_(device) {
  ContextGuard guard(device);
  check(driver().cuEventCreate(&event_, CU_EVENT_DEFAULT), "cuEventCreate");
}

Event::~Event() {
  ContextGuard guard(device_, std::nothrow);
  driver_probe().api.cuEventDestroy(event_);
}

void Event::record(CUstream stream) {
  ContextGuard guard(device_);
  check(driver().cuEventRecord(event_, stream), "cuEventRecord");
}

void Event::synchronize() const {
  ContextGuard guard(device_);
  check(driver().cuEventSynchronize(event_), "cuEventSynchronize");
}

float Event::milliseconds_since(const Event& start) const {
  float milliseconds = 0;
  ContextGuard guard(device_);
  check(driver().cuEventElapsedTime(&milliseconds, start.event_, event_), "cuEventElapsedTime");
  return milliseconds;
}

}  // namespace keops::runtime::cuda
