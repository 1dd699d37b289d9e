// Debug logging (see log.h).
#include "compiler/support/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace keops::detail {

bool debug_logging() {
  static const bool enabled = [] {
    const char* level = std::getenv("KEOPS_LOG");
    return level && std::strcmp(level, "debug") == 0;
  }();
  return enabled;
}

void log_debug(const std::string& message) {
  // One fprintf per line, so lines of concurrent threads do not interleave.
  if (debug_logging()) std::fprintf(stderr, "keops: %s\n", message.c_str());
}

}  // namespace keops::detail
