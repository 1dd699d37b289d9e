// libFuzzer entry point: a tiny run of what a formula builds, its gradient included
// (tests/fuzz/harnesses.h).
#include "tests/fuzz/harnesses.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  keops::fuzz::run_harness(data, size);
  return 0;
}
