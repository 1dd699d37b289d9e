// libFuzzer entry point: keopsc's .npy reader (tests/fuzz/harnesses.h).
#include "tests/fuzz/harnesses.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  keops::fuzz::npy_harness(data, size);
  return 0;
}
