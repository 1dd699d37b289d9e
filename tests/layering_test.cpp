// The layering of ARCHITECTURE.md, checked on the sources' includes: compiler/ never reaches
// into runtime/, and the runtime's lower layers never into the API layer above them.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// The quoted includes of the C++ files under `dir` (relative to the source tree), as
// "file: header".
std::vector<std::string> quoted_includes(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(KEOPS_SOURCE_DIR) / dir)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".cpp" && ext != ".h" && ext != ".def") continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);)
      if (line.rfind("#include \"", 0) == 0)
        out.push_back(fs::relative(entry.path(), KEOPS_SOURCE_DIR).string() + ": " +
                      line.substr(10, line.find('"', 10) - 10));
  }
  return out;
}

bool header_is(const std::string& include, const std::string& prefix) {
  return include.find(": " + prefix) != std::string::npos;
}

}  // namespace

TEST_CASE("compiler/ includes no runtime/ header and only the public headers it implements") {
  const std::vector<std::string> includes = quoted_includes("compiler");
  CHECK(includes.size() > 100);
  for (const std::string& include : includes) {
    CAPTURE(include);
    CHECK_FALSE(header_is(include, "runtime/"));
    if (header_is(include, "keops/"))
      CHECK((header_is(include, "keops/error.h") || header_is(include, "keops/aot_gpu.h")));
  }
}

TEST_CASE("runtime/'s drivers and caches include nothing of the API layer above them") {
  for (const char* dir : {"runtime/cuda", "runtime/cpu", "runtime/cache"})
    for (const std::string& include : quoted_includes(dir)) {
      CAPTURE(include);
      CHECK_FALSE(header_is(include, "runtime/api/"));
      for (const char* api : {"keops/genred.h", "keops/gpu.h", "keops/kernel_solve.h",
                              "keops/keops.h", "keops/cache.h"})
        CHECK_FALSE(header_is(include, api));
    }
}
