// Row-major multi-indices and TensorDot's attributes, shared by the evaluator and the emitter.
#pragma once

#include <cstdint>
#include <vector>

namespace keops::ir {

using Dims = std::vector<int64_t>;

// Row-major strides of a tensor of shape dims.
inline Dims strides_of(const Dims& dims) {
  Dims s(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * dims[k];
  return s;
}

// Calls visit(index) for every multi-index of shape dims, in row-major order (once, with
// an empty index, for a rank-0 shape; never for a shape with a zero extent).
template <class Visit>
void for_each_index(const Dims& dims, Visit visit) {
  for (int64_t d : dims)
    if (d == 0) return;
  Dims index(dims.size(), 0);
  while (true) {
    visit(index);
    size_t k = dims.size();
    while (k > 0 && ++index[k - 1] == dims[k - 1]) index[--k] = 0;
    if (k == 0) return;
  }
}

// TensorDot's integer attributes (ops.def), already checked by the shape rule:
// nf, dims_f[nf], ng, dims_g[ng], nc, contract_f[nc], contract_g[nc], np, perm[np].
struct TensorDotAttrs {
  Dims dims_f, dims_g, contract_f, contract_g, perm;

  explicit TensorDotAttrs(const std::vector<int64_t>& ints) {
    auto it = ints.begin();
    auto take = [&](int64_t n) {
      Dims v(it, it + n);
      it += n;
      return v;
    };
    dims_f = take(*it++);
    dims_g = take(*it++);
    const int64_t nc = *it++;
    contract_f = take(nc);
    contract_g = take(nc);
    perm = take(*it++);
  }
};

}  // namespace keops::ir
