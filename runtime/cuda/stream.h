// CUDA streams and timing events of one device, owned (RAII).
#pragma once

#include "runtime/cuda/driver_api.h"

namespace keops::runtime::cuda {

// A non-blocking stream: its work does not wait for the legacy default stream.
class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  CUstream get() const { return stream_; }
  int device() const { return device_; }
  void synchronize() const;

 private:
  CUstream stream_ = nullptr;
  int device_;
};

// A timing event: record() it on a stream, then read the time between two of them.
class Event {
 public:
  explicit Event(int device);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(CUstream stream);
  void synchronize() const;
  // Milliseconds from `start` to this event; both must have been recorded and completed.
  float milliseconds_since(const Event& start) const;

 private:
  CUevent event_ = nullptr;
  int device_;
};

}  // namespace keops::runtime::cuda
