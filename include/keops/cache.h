// The disk cache of compiled kernels: where it is, moving it, emptying it.
#pragma once

#include <cstddef>
#include <string>

namespace keops {

// Compiled kernels are kept in memory for the process and on disk for the next ones, keyed
// by content (formula, reduction, dtype, target, options that change code, keops build).
// The directory is $KEOPS_CACHE_DIR, else $XDG_CACHE_HOME/keops, else ~/.cache/keops;
// KEOPS_CACHE=0 turns the disk cache off.

// The disk cache's directory; "" when the disk cache is off.
std::string cache_directory();

// Uses `directory` (created when first written) for this process's disk cache from now on;
// "" goes back to the environment's choice. Kernels already in memory are kept.
void set_cache_directory(const std::string& directory);

// Removes every entry of the disk cache (and leftover temporary files); returns how many
// files it removed. Kernels already in memory are kept.
size_t clear_cache();

}  // namespace keops
