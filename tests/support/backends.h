// ARCHITECTURE.md rule 10: a test written once runs on each backend it applies to, and a
// backend that is not usable is reported as skipped, with the reason.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <initializer_list>

#include "keops/gpu.h"
#include "keops/options.h"

namespace keops::test {

// Whether a GPU is usable; where none is, the test says it skips its GPU part, and why.
inline bool gpu_usable() {
  if (keops::gpu_available()) return true;
  MESSAGE("GPU part skipped (no usable GPU): " << keops::gpu_unavailable_reason());
  return false;
}

inline const char* backend_name(keops::Backend backend) {
  return backend == keops::Backend::GPU ? "GPU" : "CPU";
}

// Runs body once per backend of `backends` that is usable, each a doctest subcase named by
// the backend (failures say which); the others are reported as skipped.
inline void for_each_backend(const std::function<void(keops::Backend)>& body,
                             std::initializer_list<keops::Backend> backends = {
                                 keops::Backend::CPU, keops::Backend::GPU}) {
  for (const keops::Backend backend : backends) {
    if (backend == keops::Backend::GPU && !gpu_usable()) continue;
    SUBCASE(backend_name(backend)) { body(backend); }
  }
}

}  // namespace keops::test
