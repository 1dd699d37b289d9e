// keops::Error: the one exception type for anything a user can cause.
#pragma once

#include <stdexcept>

namespace keops {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace keops
