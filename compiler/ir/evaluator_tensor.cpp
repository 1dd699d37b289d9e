// Reference semantics of the row-major tensor algebra ops (keopscore's MatVecMult,
// VecMatMult, TensorProd, TensorDot and Kron, C-contiguous branch).
#include <algorithm>

#include "compiler/ir/evaluator_ops.h"
#include "compiler/ir/tensor_index.h"
#include "compiler/support/check.h"

namespace keops::ir::detail {
namespace {

// numpy.tensordot(f, g, (contract_f, contract_g)): the kept axes of f then of g, in order,
// then keopscore's permute, which sends kept axis q to output axis perm[q] (the inverse of
// numpy.transpose's axes; Kron's interleaving [0, 2, 4, ..., 1, 3, 5, ...] reads that way).
void tensordot(const TensorDotAttrs& t, const double* f, const double* g, double* out, int dim) {
  const size_t nf = t.dims_f.size(), ng = t.dims_g.size(), nc = t.contract_f.size();
  std::vector<bool> contracted_f(nf, false), contracted_g(ng, false);
  for (size_t c = 0; c < nc; ++c) {
    contracted_f[size_t(t.contract_f[c])] = true;
    contracted_g[size_t(t.contract_g[c])] = true;
  }
  // The loop axes: kept axes of f, kept axes of g, then the contracted ones. For each axis
  // of f and g, the loop axis that drives it.
  Dims loop_dims, f_axis_loop(nf), g_axis_loop(ng);
  auto add_loop = [&](int64_t size) {
    loop_dims.push_back(size);
    return int64_t(loop_dims.size() - 1);
  };
  for (size_t k = 0; k < nf; ++k)
    if (!contracted_f[k]) f_axis_loop[k] = add_loop(t.dims_f[k]);
  for (size_t k = 0; k < ng; ++k)
    if (!contracted_g[k]) g_axis_loop[k] = add_loop(t.dims_g[k]);
  const size_t kept = loop_dims.size();
  for (size_t c = 0; c < nc; ++c) {
    const int64_t axis = add_loop(t.dims_f[size_t(t.contract_f[c])]);
    f_axis_loop[size_t(t.contract_f[c])] = g_axis_loop[size_t(t.contract_g[c])] = axis;
  }
  Dims out_dims(kept), out_axis(kept);
  for (size_t q = 0; q < kept; ++q) {
    out_axis[q] = t.perm.empty() ? int64_t(q) : t.perm[q];
    out_dims[size_t(out_axis[q])] = loop_dims[q];
  }
  const Dims sf = strides_of(t.dims_f), sg = strides_of(t.dims_g), so = strides_of(out_dims);
  std::fill(out, out + dim, 0.0);
  for_each_index(loop_dims, [&](const Dims& idx) {
    int64_t pf = 0, pg = 0, po = 0;
    for (size_t k = 0; k < nf; ++k) pf += idx[size_t(f_axis_loop[k])] * sf[k];
    for (size_t k = 0; k < ng; ++k) pg += idx[size_t(g_axis_loop[k])] * sg[k];
    for (size_t q = 0; q < kept; ++q) po += idx[q] * so[size_t(out_axis[q])];
    out[po] += f[pf] * g[pg];
  });
}

// numpy.kron for tensors of equal rank: out[i * dims_g + j] = f[i] g[j] per axis.
void kron(const std::vector<int64_t>& ints, const double* f, const double* g, double* out) {
  const size_t n = size_t(ints[0]);
  const Dims dims_f(ints.begin() + 1, ints.begin() + 1 + long(n));
  const Dims dims_g(ints.begin() + 1 + long(n), ints.end());
  Dims dims_out(n);
  for (size_t k = 0; k < n; ++k) dims_out[k] = dims_f[k] * dims_g[k];
  const Dims sf = strides_of(dims_f), sg = strides_of(dims_g), so = strides_of(dims_out);
  for_each_index(dims_f, [&](const Dims& i) {
    for_each_index(dims_g, [&](const Dims& j) {
      int64_t pf = 0, pg = 0, po = 0;
      for (size_t k = 0; k < n; ++k) {
        pf += i[k] * sf[k];
        pg += j[k] * sg[k];
        po += (i[k] * dims_g[k] + j[k]) * so[k];
      }
      out[po] = f[pf] * g[pg];
    });
  });
}

}  // namespace

void eval_tensor(const Node& n, const ArgValues& a, double* out) {
  const int fd = n.args[0]->dim, gd = n.args[1]->dim;
  switch (n.op) {
    case Op::MatVecMult:  // A (n.dim x gd, row-major) times b
      for (int r = 0; r < n.dim; ++r) {
        double s = 0;
        for (int c = 0; c < gd; ++c) s += a[0][r * gd + c] * a[1][c];
        out[r] = s;
      }
      return;
    case Op::VecMatMult:  // b^T times A (fd x n.dim, row-major)
      for (int c = 0; c < n.dim; ++c) {
        double s = 0;
        for (int r = 0; r < fd; ++r) s += a[0][r] * a[1][r * n.dim + c];
        out[c] = s;
      }
      return;
    case Op::TensorProd:
      for (int k = 0; k < fd; ++k)
        for (int l = 0; l < gd; ++l) out[k * gd + l] = a[0][k] * a[1][l];
      return;
    case Op::TensorDot:
      return tensordot(TensorDotAttrs(n.ints), a[0], a[1], out, n.dim);
    case Op::Kron:
      return kron(n.ints, a[0], a[1], out);
    default:
      KEOPS_CHECK(false, "not a tensor op");
  }
}

}  // namespace keops::ir::detail
