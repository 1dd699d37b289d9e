// Emission of the special functions: BSpline (Cox-de Boor) and SoftDTW_SqDist, unrolled at
// compile time over the knots and the cells of small DTW tables, loops over larger ones
// (reference: evaluator_special.cpp).
#include <string>
#include <vector>

#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/codegen/math.h"
#include "compiler/support/check.h"

namespace keops::codegen::detail {

using ir::Op;
using P = llvm::CmpInst::Predicate;

namespace {

// BSpline(knots, x, order): the first knots - order - 1 B-splines of this order at x. The
// order-0 splines are the indicators of t_j <= x < t_j+1; each order mixes neighbours with the
// ratios omega(i, k) = (x - t_i) / (t_i+k - t_i), taken as 0 on an empty span (not 0/0).
Vals bspline(Arith& a, const Vals& t, Value* x, int64_t order, size_t out_dim) {
  Value* zero = a.cst(x, 0.0);
  Value* one = a.cst(x, 1.0);
  Vals basis(t.size() - 1);
  for (size_t j = 0; j < basis.size(); ++j)
    basis[j] = a.select(a.cmp(P::FCMP_OLE, t[j], x),
                        a.select(a.cmp(P::FCMP_OLT, x, t[j + 1]), one, zero), zero);
  for (size_t k = 1; k <= size_t(order); ++k) {
    Vals omega(basis.size() - k + 1);  // omega(i, k) for i <= the last basis[i + 1] read
    for (size_t i = 0; i < omega.size(); ++i)
      omega[i] = a.select(a.cmp(P::FCMP_OLT, t[i], t[i + k]),
                          a.div(a.sub(x, t[i]), a.sub(t[i + k], t[i])), zero);
    for (size_t i = 0; i + k < basis.size(); ++i)
      basis[i] = a.add(a.mul(omega[i], basis[i]), a.mul(a.sub(one, omega[i + 1]), basis[i + 1]));
  }
  basis.resize(out_dim);
  return basis;
}

// SoftDTW_SqDist(x, y, gamma): r(i, j) = (x_i - y_j)^2 + softmin of the existing neighbours
// r(i-1, j-1), r(i-1, j), r(i, j-1) (the first row and column are cumulative sums), and the
// value is r(n-1, m-1). softmin_gamma(u) = lo - gamma log sum_k exp((lo - u_k) / gamma) with
// lo = min u_k, so every exponent is <= 0 and the one at the minimum is exactly 1.
// softmin_gamma of the three neighbours, plus d.
Value* soft_dtw_cell(Arith& a, Value* d, Value* const (&neighbours)[3], Value* gamma,
                     Value* inv_gamma) {
  llvm::IRBuilderBase& b = a.b;
  auto min = [&](Value* u, Value* v) {  // minnum: a NaN loses, as std::fmin
    auto [p, q] = a.same(u, v);
    return b.CreateMinNum(p, q);
  };
  Value* lo = min(min(neighbours[0], neighbours[1]), neighbours[2]);
  Value* sum = nullptr;
  for (Value* u : neighbours) {
    Value* term = emit_exp(b, a.mul(a.sub(lo, u), inv_gamma));
    sum = sum ? a.add(sum, term) : term;
  }
  return a.sub(a.add(d, lo), a.mul(gamma, emit_log(b, sum)));
}

// Tables of more cells than this are computed by loops over a column buffer: unrolled, a
// table of 32 x 32 cells took 18 s to compile for the CPU.
constexpr size_t kUnrolledSoftDtwCells = 64;

// A header block of a counted loop from `from` to `to` (i64), its counter phi, and the body
// (b is left in the body; close_loop ends it).
struct CountedLoop {
  llvm::BasicBlock *header, *body, *exit;
  llvm::PHINode* k;
};
CountedLoop open_loop(llvm::IRBuilderBase& b, int64_t from, int64_t to, const char* name) {
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  CountedLoop loop{llvm::BasicBlock::Create(b.getContext(), name, fn),
                   llvm::BasicBlock::Create(b.getContext(), std::string(name) + ".body", fn),
                   llvm::BasicBlock::Create(b.getContext(), std::string(name) + ".done", fn),
                   nullptr};
  llvm::BasicBlock* before = b.GetInsertBlock();
  b.CreateBr(loop.header);
  b.SetInsertPoint(loop.header);
  loop.k = b.CreatePHI(b.getInt64Ty(), 2, name);
  loop.k->addIncoming(b.getInt64(from), before);
  b.CreateCondBr(b.CreateICmpSLT(loop.k, b.getInt64(to)), loop.body, loop.exit);
  b.SetInsertPoint(loop.body);
  return loop;
}
void close_loop(llvm::IRBuilderBase& b, const CountedLoop& loop) {
  loop.k->addIncoming(b.CreateAdd(loop.k, b.getInt64(1)), b.GetInsertBlock());
  b.CreateBr(loop.header);
  b.SetInsertPoint(loop.exit);
}

// The table column by column, i within j, as the unrolled form: `column` holds r(., j - 1)
// until row i of column j replaces it; the cell above, r(i - 1, j), is carried.
Value* soft_dtw_looped(Arith& a, const Vals& x, const Vals& y, Value* gamma, Value* inv_gamma) {
  llvm::IRBuilderBase& b = a.b;
  Value* like = gamma;  // the widest of the operands' types: every cell has it
  for (Value* v : {x[0], y[0]})
    if (v->getType()->isVectorTy()) like = v;
  llvm::Type* lanes = like->getType();
  const int64_t n = int64_t(x.size()), m = int64_t(y.size());
  llvm::Instruction* resume = split_block_at(b, "dtw.after");
  auto* row_type = llvm::ArrayType::get(lanes, uint64_t(n));
  auto* xs = entry_alloca(b, row_type);
  auto* column = entry_alloca(b, row_type);
  auto slot = [&](llvm::AllocaInst* row, Value* i) {
    return b.CreateGEP(row_type, row, {b.getInt64(0), i});
  };
  auto square = [&](Value* u, Value* v) {
    Value* diff = a.sub(u, v);
    return match_width(b, a.mul(diff, diff), like);
  };
  // The series, and column 0: cumulative sums.
  Value* up = nullptr;
  for (int64_t i = 0; i < n; ++i) {
    b.CreateStore(match_width(b, x[size_t(i)], like), slot(xs, b.getInt64(i)));
    Value* d = square(x[size_t(i)], y[0]);
    up = up ? a.add(d, up) : d;
    b.CreateStore(up, slot(column, b.getInt64(i)));
  }
  auto* y_type = llvm::ArrayType::get(lanes, uint64_t(m));
  auto* ys = entry_alloca(b, y_type);
  for (int64_t j = 0; j < m; ++j)
    b.CreateStore(match_width(b, y[size_t(j)], like),
                  b.CreateGEP(y_type, ys, {b.getInt64(0), b.getInt64(j)}));
  const CountedLoop columns = open_loop(b, 1, m, "dtw.j");
  Value* yj = b.CreateLoad(lanes, b.CreateGEP(y_type, ys, {b.getInt64(0), columns.k}));
  // Row 0 of column j: r(0, j - 1) + d.
  Value* corner = b.CreateLoad(lanes, slot(column, b.getInt64(0)));
  Value* first = a.add(square(b.CreateLoad(lanes, slot(xs, b.getInt64(0))), yj), corner);
  b.CreateStore(first, slot(column, b.getInt64(0)));
  llvm::BasicBlock* before_rows = b.GetInsertBlock();
  const CountedLoop rows = open_loop(b, 1, n, "dtw.i");
  auto* above = llvm::PHINode::Create(lanes, 2, "above", rows.header->getFirstNonPHI());
  auto* diagonal = llvm::PHINode::Create(lanes, 2, "diagonal", rows.header->getFirstNonPHI());
  above->addIncoming(first, before_rows);
  diagonal->addIncoming(corner, before_rows);
  Value* left = b.CreateLoad(lanes, slot(column, rows.k));
  Value* d = square(b.CreateLoad(lanes, slot(xs, rows.k)), yj);
  Value* const neighbours[3] = {diagonal, above, left};
  Value* cell = soft_dtw_cell(a, d, neighbours, gamma, inv_gamma);
  b.CreateStore(cell, slot(column, rows.k));
  above->addIncoming(cell, b.GetInsertBlock());
  diagonal->addIncoming(left, b.GetInsertBlock());
  close_loop(b, rows);
  close_loop(b, columns);
  Value* value = b.CreateLoad(lanes, slot(column, b.getInt64(n - 1)));
  if (resume) {
    b.CreateBr(resume->getParent());
    b.SetInsertPoint(resume);
  }
  return value;
}

Value* soft_dtw(Arith& a, const Vals& x, const Vals& y, Value* gamma) {
  Value* inv_gamma = a.div(a.cst(gamma, 1.0), gamma);
  const size_t n = x.size(), m = y.size();
  if (n * m > kUnrolledSoftDtwCells) return soft_dtw_looped(a, x, y, gamma, inv_gamma);
  std::vector<Vals> r(n, Vals(m));
  for (size_t j = 0; j < m; ++j)
    for (size_t i = 0; i < n; ++i) {
      Value* diff = a.sub(x[i], y[j]);
      Value* d = a.mul(diff, diff);
      if (i == 0 && j == 0) {
        r[i][j] = d;
      } else if (i == 0 || j == 0) {
        r[i][j] = a.add(d, i == 0 ? r[0][j - 1] : r[i - 1][0]);
      } else {
        Value* const neighbours[3] = {r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]};
        r[i][j] = soft_dtw_cell(a, d, neighbours, gamma, inv_gamma);
      }
    }
  return r[n - 1][m - 1];
}

}  // namespace

Vals emit_special(Arith& a, ir::Expr e, const ArgVals& args) {
  switch (e->op) {
    case Op::BSpline:
      return bspline(a, *args[0], (*args[1])[0], e->ints[0], size_t(e->dim));
    case Op::SoftDTW_SqDist:
      return {soft_dtw(a, *args[0], *args[1], (*args[2])[0])};
    default:
      KEOPS_CHECK(false, "not a special function");
      return {};
  }
}

}  // namespace keops::codegen::detail
