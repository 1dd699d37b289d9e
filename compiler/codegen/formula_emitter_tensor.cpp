// Emission of the row-major tensor algebra ops: every index is resolved at compile time, so
// each output component is one sum of products of argument components (reference:
// evaluator_tensor.cpp).
#include <algorithm>
#include <utility>
#include <vector>

#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/ir/tensor_index.h"
#include "compiler/support/check.h"

namespace keops::codegen::detail {

using ir::Op;

namespace {

using ir::Dims;
using ir::for_each_index;
using ir::strides_of;

// TensorDot(f, g, dims_f, dims_g, contract_f, contract_g, perm) as numpy.tensordot: the kept
// axes of f then of g, in order, kept axis q sent to output axis perm[q] (keopscore's
// permute, the inverse of numpy.transpose's axes). Each output component sums over the
// contracted indices in row-major order, as the reference does.
// ints: nf, dims_f[nf], ng, dims_g[ng], nc, contract_f[nc], contract_g[nc], np, perm[np]
Vals tensordot(Arith& a, const std::vector<int64_t>& ints, const Vals& f, const Vals& g) {
  const ir::TensorDotAttrs attrs(ints);
  const Dims &dims_f = attrs.dims_f, &dims_g = attrs.dims_g, &perm = attrs.perm;
  const Dims &contract_f = attrs.contract_f, &contract_g = attrs.contract_g;
  const int64_t nc = int64_t(contract_f.size());

  // The kept axes, each as (argument 0 or 1, axis), and the output shape.
  std::vector<std::pair<int, int64_t>> kept;
  auto keep_uncontracted = [&](int arg, const Dims& dims, const Dims& contracted) {
    for (int64_t axis = 0; axis < int64_t(dims.size()); ++axis)
      if (std::find(contracted.begin(), contracted.end(), axis) == contracted.end())
        kept.push_back({arg, axis});
  };
  keep_uncontracted(0, dims_f, contract_f);
  keep_uncontracted(1, dims_g, contract_g);
  Dims out_axis(kept.size()), out_dims(kept.size());
  for (size_t q = 0; q < kept.size(); ++q) {
    out_axis[q] = perm.empty() ? int64_t(q) : perm[q];
    out_dims[size_t(out_axis[q])] = (kept[q].first == 0 ? dims_f : dims_g)[size_t(kept[q].second)];
  }
  Dims contracted_dims(static_cast<size_t>(nc));
  for (size_t k = 0; k < size_t(nc); ++k) contracted_dims[k] = dims_f[size_t(contract_f[k])];

  const Dims sf = strides_of(dims_f), sg = strides_of(dims_g);
  Vals out;
  for_each_index(out_dims, [&](const Dims& o) {
    int64_t kept_f = 0, kept_g = 0;  // offsets of the kept indices in f and g
    for (size_t q = 0; q < kept.size(); ++q) {
      const auto [arg, axis] = kept[q];
      (arg == 0 ? kept_f : kept_g) += o[size_t(out_axis[q])] * (arg == 0 ? sf : sg)[size_t(axis)];
    }
    Vals fs, gs;
    for_each_index(contracted_dims, [&](const Dims& c) {
      int64_t pf = kept_f, pg = kept_g;
      for (size_t k = 0; k < size_t(nc); ++k) {
        pf += c[k] * sf[size_t(contract_f[k])];
        pg += c[k] * sg[size_t(contract_g[k])];
      }
      fs.push_back(f[size_t(pf)]);
      gs.push_back(g[size_t(pg)]);
    });
    out.push_back(a.sum_of_products(fs, gs));
  });
  return out;
}

// numpy.kron for tensors of equal rank: out[i * dims_g + j] = f[i] g[j] on every axis.
// ints: n, dims_f[n], dims_g[n]
Vals kron(Arith& a, const std::vector<int64_t>& ints, const Vals& f, const Vals& g) {
  const size_t n = size_t(ints[0]);
  const Dims dims_f(ints.begin() + 1, ints.begin() + 1 + long(n));
  const Dims dims_g(ints.begin() + 1 + long(n), ints.end());
  Dims dims_out(n);
  for (size_t k = 0; k < n; ++k) dims_out[k] = dims_f[k] * dims_g[k];
  const Dims sf = strides_of(dims_f), sg = strides_of(dims_g), so = strides_of(dims_out);
  Vals out(f.size() * g.size());
  for_each_index(dims_f, [&](const Dims& i) {
    for_each_index(dims_g, [&](const Dims& j) {
      int64_t pf = 0, pg = 0, po = 0;
      for (size_t k = 0; k < n; ++k) {
        pf += i[k] * sf[k];
        pg += j[k] * sg[k];
        po += (i[k] * dims_g[k] + j[k]) * so[k];
      }
      out[size_t(po)] = a.mul(f[size_t(pf)], g[size_t(pg)]);
    });
  });
  return out;
}

}  // namespace

Vals emit_tensor(Arith& a, ir::Expr e, const ArgVals& args) {
  const Vals& f = *args[0];
  const Vals& g = *args[1];
  Vals out(size_t(e->dim));
  switch (e->op) {
    case Op::MatVecMult:  // A (dim x m, row-major) times b (m)
      for (size_t r = 0; r < out.size(); ++r)
        out[r] = a.sum_of_products(
            Vals(f.begin() + long(r * g.size()), f.begin() + long((r + 1) * g.size())), g);
      return out;
    case Op::VecMatMult:  // b (n) times A (n x dim, row-major)
      for (size_t c = 0; c < out.size(); ++c) {
        Vals column(f.size());
        for (size_t r = 0; r < f.size(); ++r) column[r] = g[r * out.size() + c];
        out[c] = a.sum_of_products(f, column);
      }
      return out;
    case Op::TensorProd:  // f g^T, row-major
      for (size_t c = 0; c < out.size(); ++c) out[c] = a.mul(f[c / g.size()], g[c % g.size()]);
      return out;
    case Op::TensorDot:
      return tensordot(a, e->ints, f, g);
    case Op::Kron:
      return kron(a, e->ints, f, g);
    default:
      KEOPS_CHECK(false, "not a tensor op");
      return {};
  }
}

}  // namespace keops::codegen::detail
