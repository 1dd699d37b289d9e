// keops/cache.h: the disk cache's directory, moved and emptied through the public API.
#include <doctest/doctest.h>

#include <filesystem>
#include <vector>

#include <keops/keops.h>

#include "tests/support/scratch.h"

TEST_CASE("set_cache_directory moves the disk cache, clear_cache empties it") {
  keops::test::TempDir dir;
  const std::string before = keops::cache_directory();
  CHECK(!before.empty());  // the suite's temporary cache (KEOPS_CACHE_DIR)
  keops::set_cache_directory(dir / "moved");
  CHECK(keops::cache_directory() == dir / "moved");

  // A formula no other test compiles, so that its kernel is compiled and stored here.
  keops::Options cpu;
  cpu.backend = keops::Backend::CPU;
  keops::Genred op("Exp(-SqDist(x, y)) * (b + 0.125)", {"x = Vi(2)", "y = Vj(2)", "b = Vj(1)"},
                   "Sum", 1, cpu);
  std::vector<float> x(4, 0.5f), y(6, 0.25f), b(3, 1.0f);
  op({{x.data(), 2, 2}, {y.data(), 3, 2}, {b.data(), 3, 1}});
  CHECK(!std::filesystem::is_empty(dir.path() / "moved"));
  CHECK(keops::clear_cache() >= 1);
  CHECK(std::filesystem::is_empty(dir.path() / "moved"));
  CHECK(keops::clear_cache() == 0);

  keops::set_cache_directory("");
  CHECK(keops::cache_directory() == before);
}
