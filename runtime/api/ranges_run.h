// What Genred does with Options::ranges: the checks of each call, the triple each stage runs.
#pragma once

#include <cstdint>
#include <optional>

#include "keops/options.h"
#include "runtime/api/genred_impl.h"
#include "runtime/cpu/block_sparse.h"

namespace keops::detail {

// Throws keops::Error, naming the array and the entry, unless every triple that `ranges`
// gives (one whose three vectors are not all empty) is well formed for nx i rows and ny j
// rows (keops/options.h says what that means).
void check_ranges(const Ranges& ranges, int64_t nx, int64_t ny);

// The block-sparse work of stage s under options o (checked by check_ranges): the triple
// of its axis; none for dense options and for maps over single pairs. Throws keops::Error
// when o has ranges but not the triple of s's axis.
std::optional<runtime::SparseAxis> sparse_axis(const Options& o, const ReductionStage& s);

// &*axis, or null: what the drivers take.
inline const runtime::SparseAxis* sparse_ptr(const std::optional<runtime::SparseAxis>& axis) {
  return axis ? &*axis : nullptr;
}

}  // namespace keops::detail
