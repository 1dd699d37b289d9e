// Derivative rules of the row-major tensor algebra ops: each product is bilinear, and its
// adjoint in one factor is a product of the adjoint with the other factor.
#include "compiler/passes/autodiff_rules.h"
#include "compiler/support/check.h"

namespace keops::passes::detail {
namespace {

using Dims = std::vector<int64_t>;

// TensorDot's integer attributes (layout in ops.def).
struct TensorDotAttrs {
  Dims dims_f, dims_g, contract_f, contract_g, perm;

  explicit TensorDotAttrs(const std::vector<int64_t>& ints) {
    auto it = ints.begin();
    auto take = [&](Dims& v, int64_t count) {
      v.assign(it, it + count);
      it += count;
    };
    take(dims_f, *it++);
    take(dims_g, *it++);
    const int64_t nc = *it++;
    take(contract_f, nc);
    take(contract_g, nc);
    take(perm, *it++);
  }
};

// The adjoint's side of a transposed product: the tensor e of shape `dims`, and per axis
// the other side's axis it contracts with (-1: none) and the result axis it lands on.
struct AdjointSide {
  Expr e;
  const Dims& dims;
  const Dims& contract_with;
  const Dims& target;
};

// The other side: the tensor of shape `dims`, and per axis the result axis it lands on
// (-1: contracted).
struct OtherSide {
  Expr value;
  const Dims& dims;
  const Dims& target;
};

// TensorDot(e, other), contracting axis p of e with axis contract_with[p] of other where
// that is >= 0. The remaining axes (e's, then other's, in order) are sent to their target
// result axes: the permutation that puts them in the order of the argument whose adjoint
// this is.
Expr transposed_product(const Step& s, const AdjointSide& adjoint, const OtherSide& other) {
  const Dims& dims_e = adjoint.dims;
  const Dims& contract_with = adjoint.contract_with;
  Dims contract_e, contract_other, perm;
  for (size_t p = 0; p < dims_e.size(); ++p)
    if (contract_with[p] >= 0) {
      contract_e.push_back(int64_t(p));
      contract_other.push_back(contract_with[p]);
    } else {
      perm.push_back(adjoint.target[p]);
    }
  for (int64_t t : other.target)
    if (t >= 0) perm.push_back(t);
  bool identity = true;
  for (size_t q = 0; q < perm.size(); ++q) identity = identity && perm[q] == int64_t(q);
  if (identity) perm.clear();

  std::vector<int64_t> ints;
  const auto append = [&](const Dims& list, bool with_length) {
    if (with_length) ints.push_back(int64_t(list.size()));
    ints.insert(ints.end(), list.begin(), list.end());
  };
  append(dims_e, true);
  append(other.dims, true);
  append(contract_e, true);
  append(contract_other, false);
  append(perm, true);
  return s.make(Op::TensorDot, {adjoint.e, other.value}, ints);
}

// F = TensorDot(f, g): the output axes are f's kept axes then g's kept axes, kept axis q
// landing on output axis perm[q]. The adjoint of f contracts e with g over g's kept axes;
// what remains of e (f's kept axes) and of g (its contracted axes) is f, reordered.
void rule_tensordot(Step& s) {
  const TensorDotAttrs t(s.node()->ints);
  const Expr e = s.adjoint();
  Dims kept_f, kept_g;  // axis numbers
  Dims partner_f(t.dims_f.size(), -1), partner_g(t.dims_g.size(), -1);
  for (size_t c = 0; c < t.contract_f.size(); ++c) {
    partner_f[size_t(t.contract_f[c])] = t.contract_g[c];
    partner_g[size_t(t.contract_g[c])] = t.contract_f[c];
  }
  for (size_t k = 0; k < t.dims_f.size(); ++k)
    if (partner_f[k] < 0) kept_f.push_back(int64_t(k));
  for (size_t k = 0; k < t.dims_g.size(); ++k)
    if (partner_g[k] < 0) kept_g.push_back(int64_t(k));
  // e's axes: output axis of kept axis q, and which argument axis that was.
  const size_t kept = kept_f.size() + kept_g.size();
  Dims dims_e(kept), f_axis_of_e(kept, -1), g_axis_of_e(kept, -1);
  for (size_t q = 0; q < kept; ++q) {
    const size_t p = t.perm.empty() ? q : size_t(t.perm[q]);
    const bool from_f = q < kept_f.size();
    const int64_t axis = from_f ? kept_f[q] : kept_g[q - kept_f.size()];
    dims_e[p] = from_f ? t.dims_f[size_t(axis)] : t.dims_g[size_t(axis)];
    (from_f ? f_axis_of_e : g_axis_of_e)[p] = axis;
  }
  // The adjoint of f: e's g-axes contract with g; e's f-axes and g's contracted axes remain.
  s.send(0, [&] {
    return transposed_product(s, {e, dims_e, g_axis_of_e, f_axis_of_e},
                              {s.arg(1), t.dims_g, partner_g});
  });
  s.send(1, [&] {
    return transposed_product(s, {e, dims_e, f_axis_of_e, g_axis_of_e},
                              {s.arg(0), t.dims_f, partner_f});
  });
}

// Kron(f, g): out[(i_k * dg_k + j_k)_k] = f[i] g[j]. Row-major, e is also a tensor of shape
// (df_1, dg_1, df_2, dg_2, ...), so each adjoint is a TensorDot of e with the other factor.
void rule_kron(Step& s) {
  const std::vector<int64_t>& ints = s.node()->ints;
  const size_t rank = size_t(ints[0]);
  const Dims dims_f(ints.begin() + 1, ints.begin() + 1 + long(rank));
  const Dims dims_g(ints.begin() + 1 + long(rank), ints.end());
  Dims dims_e, f_axes(2 * rank, -1), g_axes(2 * rank, -1);
  for (size_t k = 0; k < rank; ++k) {
    dims_e.push_back(dims_f[k]);
    dims_e.push_back(dims_g[k]);
    f_axes[2 * k] = g_axes[2 * k + 1] = int64_t(k);
  }
  const Dims none(rank, -1);
  s.send(0, [&] {
    return transposed_product(s, {s.adjoint(), dims_e, g_axes, f_axes}, {s.arg(1), dims_g, none});
  });
  s.send(1, [&] {
    return transposed_product(s, {s.adjoint(), dims_e, f_axes, g_axes}, {s.arg(0), dims_f, none});
  });
}

}  // namespace

void rule_tensor(Step& s) {
  const Expr e = s.adjoint();
  const Expr first = s.arg(0), second = s.arg(1);
  switch (s.node()->op) {
    case Op::MatVecMult:  // F = A b: dA = e b^T, db = A^T e
      s.send(0, [&] { return s.make(Op::TensorProd, {e, second}); });
      s.send(1, [&] { return s.make(Op::VecMatMult, {e, first}); });
      return;
    case Op::VecMatMult:  // F = b^T A: db = A e, dA = b e^T
      s.send(0, [&] { return s.make(Op::MatVecMult, {second, e}); });
      s.send(1, [&] { return s.make(Op::TensorProd, {first, e}); });
      return;
    case Op::TensorProd:  // F = a b^T: da = E b, db = E^T a (E: e as a matrix)
      s.send(0, [&] { return s.make(Op::MatVecMult, {e, second}); });
      s.send(1, [&] { return s.make(Op::VecMatMult, {first, e}); });
      return;
    case Op::TensorDot:
      return rule_tensordot(s);
    case Op::Kron:
      return rule_kron(s);
    default:
      KEOPS_CHECK(false, "not a tensor op");
  }
}

}  // namespace keops::passes::detail
