// Host copies of views that may be in GPU memory, for the runtime's host-only paths.
#pragma once

#include <vector>

#include "keops/view.h"
#include "runtime/cuda/launch_args.h"
#include "runtime/cuda/memory.h"

namespace keops::detail {

// A view's values on the host: its own memory, or a copy of its GPU memory in `copy`.
template <class T>
const T* on_host(const View<const T>& v, std::vector<T>& copy) {
  if (v.device < 0) return v.data;
  copy.resize(size_t(v.rows * v.cols));
  if (!copy.empty())
    runtime::cuda::copy_to_host(v.device, copy.data(), runtime::cuda::address_of(v.data),
                                copy.size() * sizeof(T));
  return copy.data();
}

// An output on the host: its own memory, or a host buffer that finish() copies to it.
template <class T>
struct HostOutput {
  View<T> target;
  std::vector<T> copy;
  T* data() {
    if (target.device < 0) return target.data;
    copy.resize(size_t(target.rows * target.cols));
    return copy.data();
  }
  void finish() const {
    if (target.device >= 0 && !copy.empty())
      runtime::cuda::copy_to_device(target.device, runtime::cuda::address_of(target.data),
                                    copy.data(), copy.size() * sizeof(T));
  }
};

}  // namespace keops::detail
