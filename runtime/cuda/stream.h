// CUDA streams and timing events of one device, owned (RAII).
#pragma once

#include <vector>

#include "runtime/cuda/driver_api.h"

namespace keops::runtime::cuda {

// A stream. A non-blocking one's work does not wait for the legacy default stream; a
// blocking one's waits for the legacy stream's earlier work, and the legacy stream's later
// work waits for it.
class Stream {
 public:
  explicit Stream(int device, bool blocking = false);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  CUstream get() const { return stream_; }
  int device() const { return device_; }
  void synchronize() const;
  // True once all the work queued on the stream so far has completed.
  bool idle() const;

 private:
  CUstream stream_ = nullptr;
  int device_;
};

// `count` blocking streams of `device`, created on the first request for as many and kept
// for the process: launches on them may run at the same time, after the legacy default
// stream's earlier work and before its later work.
std::vector<CUstream> concurrent_streams(int device, int count);

// Makes `waiting` (null: the legacy default stream) of `device` wait for the work queued so
// far on `awaited` (a stream of another library, such as PyTorch's current one, which may be
// non-blocking): the launches and copies that follow on `waiting` (and, for the legacy
// stream, on the blocking streams of concurrent_streams) then see what that work wrote.
// Nothing when both are the same stream (or both the legacy one).
void stream_wait(int device, CUstream waiting, CUstream awaited);

// stream_wait for the legacy default stream; nothing for a null stream.
void wait_for_stream(int device, CUstream stream);

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
