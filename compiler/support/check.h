// KEOPS_CHECK: internal invariants, reported with file and line (never for user errors).
#pragma once

#include <stdexcept>
#include <string>

namespace keops::detail {

[[noreturn]] inline void internal_error(const char* file, int line, const std::string& what) {
  throw std::logic_error(std::string("keops internal error at ") + file + ":" +
                         std::to_string(line) + ": " + what);
}

}  // namespace keops::detail

#define KEOPS_CHECK(cond, what) \
  ((cond) ? void(0) : ::keops::detail::internal_error(__FILE__, __LINE__, (what)))
