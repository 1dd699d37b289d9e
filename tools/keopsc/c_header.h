// The C header keopsc writes next to an object: the entry's declaration and what it expects.
#pragma once

#include <string>

#include "runtime/api/kernel_request.h"

namespace keopsc {

// OUT.h for the entry `symbol` compiled from request into spec (API.md, keopsc): the
// declaration, SYMBOL_ARGS / _VALUE_COLS / _INDEX_COLS macros (SYMBOL upper-cased) and a
// comment on each argument, the output shapes and the status codes. For a GPU spec it
// also declares keops_aot_last_error and says how to link libkeops, found in library_dir
// ("" when unknown).
std::string c_header(const keops::runtime::KernelRequest& request,
                     const keops::runtime::OwnedKernelSpec& owned, const std::string& symbol,
                     const std::string& library_dir);

}  // namespace keopsc
