// Output dims of every op (infer_dim): the type rules that make() checks at creation.
#include <algorithm>
#include <string>

#include <cstdint>

#include "compiler/ir/context.h"
#include "keops/error.h"

namespace keops::ir {
namespace {

[[noreturn]] void fail(Op op, const std::string& what) {
  throw Error("in " + std::string(op_info(op).spelling) + ": " + what);
}

std::string dims_text(const std::vector<Expr>& args) {
  std::string s;
  for (size_t k = 0; k < args.size(); ++k) s += (k ? ", " : "") + std::to_string(args[k]->dim);
  return s;
}

int broadcast_dim(Op op, const std::vector<Expr>& args) {
  int dim = 1;
  for (Expr a : args) {
    if (a->dim == 1 || a->dim == dim) continue;
    if (dim != 1)
      fail(op,
           "dim mismatch: arguments have dims " + dims_text(args) + " (each must be equal, or 1)");
    dim = a->dim;
  }
  return dim;
}

void require_equal_dims(Op op, Expr f, Expr g) {
  if (f->dim != g->dim)
    fail(op, "dim mismatch: arguments have dims " + std::to_string(f->dim) + " and " +
                 std::to_string(g->dim) + " (they must be equal)");
}

void require_range(Op op, const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    fail(op, std::string(name) + " = " + std::to_string(v) + " is out of range [" +
                 std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

void require_even(Op op, Expr f) {
  if (f->dim % 2 != 0)
    fail(op, "a complex argument needs an even dim, not " + std::to_string(f->dim));
}

// a * b, saturated at INT64_MAX (non-negative factors): dims whose product overflows are
// refused by the dim limit (Context::make), not wrapped.
int64_t times(int64_t a, int64_t b) {
  int64_t p = 0;
  return __builtin_mul_overflow(a, b, &p) ? INT64_MAX : p;
}

int64_t product(const int64_t* v, int64_t n) {
  int64_t p = 1;
  for (int64_t k = 0; k < n; ++k) p = times(p, v[k]);
  return p;
}

// ints: nf, dims_f[nf], ng, dims_g[ng], nc, contract_f[nc], contract_g[nc], np, perm[np]
int64_t tensordot_dim(Op op, const std::vector<Expr>& a, const std::vector<int64_t>& ints) {
  size_t pos = 0;
  auto take = [&](const char* what) -> int64_t {
    if (pos >= ints.size()) fail(op, std::string("missing ") + what);
    return ints[pos++];
  };
  auto take_list = [&](int64_t n, const char* what) {
    std::vector<int64_t> v;
    for (int64_t k = 0; k < n; ++k) v.push_back(take(what));
    return v;
  };
  const int64_t nf = take("dims_f");
  const auto dims_f = take_list(nf, "dims_f");
  const int64_t ng = take("dims_g");
  const auto dims_g = take_list(ng, "dims_g");
  const int64_t nc = take("contraction axes");
  const auto cf = take_list(nc, "contract_f"), cg = take_list(nc, "contract_g");
  const int64_t np = take("permutation");
  const auto perm = take_list(np, "permutation");
  if (pos != ints.size()) fail(op, "too many integer attributes");
  for (int64_t d : dims_f) require_range(op, "a dim of f", d, 1, 1 << 24);
  for (int64_t d : dims_g) require_range(op, "a dim of g", d, 1, 1 << 24);
  if (product(dims_f.data(), nf) != a[0]->dim)
    fail(op, "dims_f multiply to " + std::to_string(product(dims_f.data(), nf)) +
                 ", but f has dim " + std::to_string(a[0]->dim));
  if (product(dims_g.data(), ng) != a[1]->dim)
    fail(op, "dims_g multiply to " + std::to_string(product(dims_g.data(), ng)) +
                 ", but g has dim " + std::to_string(a[1]->dim));
  std::vector<bool> used_f(size_t(nf), false), used_g(size_t(ng), false);
  for (int64_t k = 0; k < nc; ++k) {
    require_range(op, "a contracted axis of f", cf[k], 0, nf - 1);
    require_range(op, "a contracted axis of g", cg[k], 0, ng - 1);
    if (used_f[cf[k]] || used_g[cg[k]]) fail(op, "an axis is contracted twice");
    used_f[cf[k]] = used_g[cg[k]] = true;
    if (dims_f[cf[k]] != dims_g[cg[k]])
      fail(op, "contracted axes have sizes " + std::to_string(dims_f[cf[k]]) + " and " +
                   std::to_string(dims_g[cg[k]]));
  }
  const int64_t kept = nf + ng - 2 * nc;
  if (np != 0) {
    if (np != kept)
      fail(op, "the permutation has " + std::to_string(np) + " entries for " +
                   std::to_string(kept) + " remaining axes");
    std::vector<bool> seen(size_t(np), false);
    for (int64_t p : perm) {
      require_range(op, "a permutation entry", p, 0, np - 1);
      if (seen[p]) fail(op, "the permutation repeats " + std::to_string(p));
      seen[p] = true;
    }
  }
  int64_t out = 1;
  for (int64_t k = 0; k < nf; ++k)
    if (!used_f[k]) out = times(out, dims_f[k]);
  for (int64_t k = 0; k < ng; ++k)
    if (!used_g[k]) out = times(out, dims_g[k]);
  return out;
}

// ints: nf, dims_f[nf], dims_g[nf]
int64_t kron_dim(Op op, const std::vector<Expr>& a, const std::vector<int64_t>& ints) {
  if (ints.empty() || ints[0] < 1 || int64_t(ints.size()) != 1 + 2 * ints[0])
    fail(op, "expects as many dims for g as for f");
  const int64_t n = ints[0];
  for (size_t k = 1; k < ints.size(); ++k) require_range(op, "a dim", ints[k], 1, 1 << 24);
  if (product(&ints[1], n) != a[0]->dim)
    fail(op, "dims_f multiply to " + std::to_string(product(&ints[1], n)) + ", but f has dim " +
                 std::to_string(a[0]->dim));
  if (product(&ints[1 + n], n) != a[1]->dim)
    fail(op, "dims_g multiply to " + std::to_string(product(&ints[1 + n], n)) + ", but g has dim " +
                 std::to_string(a[1]->dim));
  return times(a[0]->dim, a[1]->dim);
}

int64_t custom_dim(Op op, const std::vector<Expr>& a, const std::vector<int64_t>& ints) {
  switch (op) {
    case Op::SqDist:
    case Op::Scalprod:
      require_equal_dims(op, a[0], a[1]);
      return 1;
    case Op::WeightedSqNorm: {
      const int64_t d = a[1]->dim, s = a[0]->dim;
      if (s != 1 && s != d && s != d * d)
        fail(op, "the weight has dim " + std::to_string(s) + "; for a vector of dim " +
                     std::to_string(d) + " it must be 1, " + std::to_string(d) + " or " +
                     std::to_string(d * d));
      return 1;
    }
    case Op::WeightedSqDist: {
      require_equal_dims(op, a[1], a[2]);
      const int64_t d = a[1]->dim, s = a[0]->dim;
      if (s != 1 && s != d && s != d * d)
        fail(op, "the weight has dim " + std::to_string(s) + "; for vectors of dim " +
                     std::to_string(d) + " it must be 1, " + std::to_string(d) + " or " +
                     std::to_string(d * d));
      return 1;
    }
    case Op::Concat:
      return a[0]->dim + a[1]->dim;
    case Op::Elem:
      require_range(op, "the index", ints[0], 0, a[0]->dim - 1);
      return 1;
    case Op::Extract:
      require_range(op, "the start", ints[0], 0, a[0]->dim - 1);
      require_range(op, "the length", ints[1], 1, a[0]->dim - ints[0]);
      return int(ints[1]);
    case Op::ElemT:
      if (a[0]->dim != 1)
        fail(op, "the argument must have dim 1, not " + std::to_string(a[0]->dim));
      require_range(op, "the dim", ints[0], 1, 1 << 24);
      require_range(op, "the index", ints[1], 0, ints[0] - 1);
      return int(ints[0]);
    case Op::ExtractT:
      require_range(op, "the dim", ints[1], a[0]->dim, 1 << 24);
      require_range(op, "the start", ints[0], 0, ints[1] - a[0]->dim);
      return int(ints[1]);
    case Op::SumT:
    case Op::OneHot:
      if (a[0]->dim != 1)
        fail(op, "the argument must have dim 1, not " + std::to_string(a[0]->dim));
      require_range(op, "the dim", ints[0], 1, 1 << 24);
      return int(ints[0]);
    case Op::MatVecMult:
      if (a[0]->dim % a[1]->dim != 0)
        fail(op, "the matrix has dim " + std::to_string(a[0]->dim) +
                     ", not a multiple of the vector's dim " + std::to_string(a[1]->dim));
      return a[0]->dim / a[1]->dim;
    case Op::VecMatMult:
      if (a[1]->dim % a[0]->dim != 0)
        fail(op, "the matrix has dim " + std::to_string(a[1]->dim) +
                     ", not a multiple of the vector's dim " + std::to_string(a[0]->dim));
      return a[1]->dim / a[0]->dim;
    case Op::TensorProd:
      return times(a[0]->dim, a[1]->dim);
    case Op::TensorDot:
      return tensordot_dim(op, a, ints);
    case Op::Kron:
      return kron_dim(op, a, ints);
    case Op::ComplexAdd:
    case Op::ComplexSubtract:
    case Op::ComplexMult:
    case Op::ComplexDivide: {
      require_even(op, a[0]);
      require_even(op, a[1]);
      if (a[0]->dim != a[1]->dim && a[0]->dim != 2 && a[1]->dim != 2)
        fail(op, "dim mismatch: arguments have dims " + dims_text(a) +
                     " (each must be equal, or 2 for one complex number)");
      return std::max(a[0]->dim, a[1]->dim);
    }
    case Op::ComplexExp:
    case Op::Conj:
      require_even(op, a[0]);
      return a[0]->dim;
    case Op::ComplexReal:
    case Op::ComplexImag:
    case Op::ComplexAbs:
    case Op::ComplexSquareAbs:
    case Op::ComplexAngle:
      require_even(op, a[0]);
      return a[0]->dim / 2;
    case Op::Real2Complex:
    case Op::Imag2Complex:
    case Op::ComplexExp1j:
      return 2 * int64_t(a[0]->dim);
    case Op::ComplexSum:
      require_even(op, a[0]);
      return 2;
    case Op::ComplexSumT:
      if (a[0]->dim != 2)
        fail(op, "the argument must have dim 2, not " + std::to_string(a[0]->dim));
      // As in keopscore, the attribute is the output dim (two reals per complex number).
      require_range(op, "the dim", ints[0], 2, 1 << 24);
      if (ints[0] % 2 != 0) fail(op, "the dim must be even, not " + std::to_string(ints[0]));
      return int(ints[0]);
    case Op::ComplexRealScal:
      if (a[0]->dim != 1)
        fail(op, "the real factor must have dim 1, not " + std::to_string(a[0]->dim));
      require_even(op, a[1]);
      return a[1]->dim;
    case Op::BSpline:
      if (a[1]->dim != 1) fail(op, "the point must have dim 1, not " + std::to_string(a[1]->dim));
      require_range(op, "the order", ints[0], 0, a[0]->dim - 2);
      return int(a[0]->dim - ints[0] - 1);
    case Op::SoftDTW_SqDist:
    case Op::SoftDTW_SqDist_Grad:
      if (a[2]->dim != 1) fail(op, "gamma must have dim 1, not " + std::to_string(a[2]->dim));
      if (op == Op::SoftDTW_SqDist) return 1;
      if (int64_t(a[0]->dim) * a[1]->dim > kMaxSoftDtwGradCells)
        fail(op, "series of " + std::to_string(a[0]->dim) + " x " + std::to_string(a[1]->dim) +
                     " cells: at most " + std::to_string(kMaxSoftDtwGradCells));
      return int(a[0]->dim + a[1]->dim + 1);
    default:
      fail(op, "no custom shape rule");
  }
}

}  // namespace

int64_t infer_dim(Op op, const std::vector<Expr>& args, const std::vector<int64_t>& ints) {
  switch (op_info(op).shape) {
    case Shape::Leaf:
      fail(op, "a leaf has no arguments to infer a dim from");
    case Shape::Same:
      return args[0]->dim;
    case Shape::Broadcast:
      return broadcast_dim(op, args);
    case Shape::Scalar:
      return 1;
    case Shape::Custom:
      return custom_dim(op, args, ints);
  }
  fail(op, "unknown shape rule");
}

}  // namespace keops::ir
