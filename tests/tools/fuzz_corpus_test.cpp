// The fuzz harnesses' corpora (tests/fuzz/corpus: seeds, and every crash's reproducer)
// replayed through the harnesses: each input must end without a crash or a stray exception.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/fuzz/harnesses.h"

namespace {

void replay(const char* corpus, void (*harness)(const uint8_t*, size_t)) {
  const std::filesystem::path dir =
      std::filesystem::path(KEOPS_SOURCE_DIR) / "tests/fuzz/corpus" / corpus;
  int inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CAPTURE(entry.path().string());
    harness(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++inputs;
  }
  CHECK(inputs > 0);
}

}  // namespace

TEST_CASE("fuzz corpora: formulas, tiny runs and .npy files end cleanly") {
  replay("formula", keops::fuzz::formula_harness);
  replay("run", keops::fuzz::run_harness);
  replay("npy", keops::fuzz::npy_harness);
}
