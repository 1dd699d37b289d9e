// The suite never touches the user's kernel cache: KEOPS_CACHE_DIR points at a temporary
// directory for this process and the programs it starts, removed at exit.
#include <cstdlib>

#include "tests/support/scratch.h"

namespace {

struct TemporaryCacheDir {
  keops::test::TempDir dir;
  TemporaryCacheDir() {
    setenv("KEOPS_CACHE_DIR", (dir / "cache").c_str(), 1);
    unsetenv("KEOPS_CACHE");  // on, whatever the caller's setting: the tests count on it
    unsetenv("KEOPS_CACHE_MAX_BYTES");
  }
};

// Set before main, so before the first kernel reads the environment.
const TemporaryCacheDir temporary_cache_dir;

}  // namespace
