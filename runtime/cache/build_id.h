// The build id of the binary holding the compiler: part of every disk cache key.
#pragma once

#include <string>

namespace keops::runtime {

// The GNU build id (hex) of the ELF object this code was linked into: libkeops.so, or a
// program linking the objects directly. Any change of the compiler's code changes it, so
// a disk cache never serves a kernel that another build generated. "" when the linker
// wrote none.
const std::string& code_build_id();

}  // namespace keops::runtime
