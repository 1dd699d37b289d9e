// Test support: the CUDA toolkit's ptxas, to check that generated PTX assembles (no GPU needed).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "tests/support/scratch.h"

namespace keops::test {

// The toolkit's ptxas, or "" when none is found (the tests then check PTX by content only).
inline std::string find_ptxas() {
  for (const char* candidate : {"/usr/local/cuda/bin/ptxas", "/usr/bin/ptxas"})
    if (std::filesystem::exists(candidate)) return candidate;
  return "";
}

// Assembles ptx for sm_<sm>: "" when ptxas succeeds (and, with no_spills, reports no spill
// stores), else what went wrong, with ptxas's output.
inline std::string assemble_ptx(const std::string& ptxas, const std::string& ptx, int sm,
                                bool no_spills = false) {
  TempDir dir;
  std::ofstream(dir / "kernel.ptx") << ptx;
  const std::string command = ptxas + " -arch=sm_" + std::to_string(sm) + " -v -o " +
                              (dir / "kernel.cubin") + " " + (dir / "kernel.ptx") + " > " +
                              (dir / "log") + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(dir / "log");
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (status != 0) return "ptxas failed: " + output;
  if (no_spills && std::regex_search(output, std::regex("[1-9][0-9]* bytes spill stores")))
    return "spills: " + output;
  return "";
}

// How many times `what` occurs in generated code (overlapping occurrences counted).
inline size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace keops::test
