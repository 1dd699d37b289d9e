// Debug logging: KEOPS_LOG=debug prints to stderr; otherwise nothing is printed.
#pragma once

#include <string>

namespace keops::detail {

// True when KEOPS_LOG=debug (read once per process).
bool debug_logging();

// One line "keops: message" on stderr when debug logging is on.
void log_debug(const std::string& message);

}  // namespace keops::detail
