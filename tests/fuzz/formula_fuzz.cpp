// libFuzzer entry point: the parser and Genred's construction (tests/fuzz/harnesses.h).
#include "tests/fuzz/harnesses.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  keops::fuzz::formula_harness(data, size);
  return 0;
}
