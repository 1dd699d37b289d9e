// Batch dims of Genred's arguments: their broadcast shape and the views of one batch element.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/frontend/aliases.h"
#include "keops/half.h"
#include "keops/view.h"

namespace keops::detail {

// "(2, 1, 3)"; "()" without batch dims.
std::string batch_text(const BatchShape& shape);

// True when an argument or an output has batch dims.
template <class T>
bool has_batch(const std::vector<View<const T>>& args, const View<T>& values,
               const View<int64_t>& indices);

// The batch shape of args broadcast together, numpy's way: aligned on the right, a missing
// or size-1 dim takes the others' size; any number of dims. keops::Error ("<who>:
// argument k (name) ...") for a negative count or dim, or dims that do not broadcast.
template <class T>
BatchShape broadcast_batch(const std::vector<View<const T>>& args,
                           const std::vector<frontend::ArgInfo>& infos, const std::string& who);

// The views of batch element `element` (a row-major index into `shape`, which args
// broadcast to), without batch dims: each argument's own element, its size-1 and missing
// dims repeated.
template <class T>
std::vector<View<const T>> batch_element(const std::vector<View<const T>>& args,
                                         const BatchShape& shape, int64_t element);

// Element `element` of an output of batch shape `shape`, after checking that it has that
// shape (keops::Error "<who>: <what> has batch shape ..., expected ..."). An output with
// no values (cols 0) is left as it is.
template <class T>
View<T> output_element(const std::string& who, const char* what, const View<T>& view,
                       const BatchShape& shape, int64_t element);

}  // namespace keops::detail
