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

}  // namespace

// The table column by column, i within j, as the unrolled form: `column` holds r(., j - 1)
// until row i of column j replaces it; the cell above, r(i - 1, j), is carried. The series
// are read through x_at and y_at, so that neither is unrolled.
Value* soft_dtw_series(Arith& a, const Series& x, const Series& y, Value* gamma, Value* like) {
  llvm::IRBuilderBase& b = a.b;
  Value* inv_gamma = a.div(a.cst(gamma, 1.0), gamma);
  llvm::Type* lanes = like->getType();
  const int64_t n = x.size, m = y.size;
  llvm::Instruction* resume = split_block_at(b, "dtw.after");
  // (On the heap past kMaxStackBufferBytes: a series may have 2^20 values.)
  auto* row_type = llvm::ArrayType::get(lanes, uint64_t(n));
  Value* column = entry_buffer(b, row_type);
  auto slot = [&](Value* i) { return b.CreateGEP(row_type, column, {b.getInt64(0), i}); };
  auto square = [&](Value* u, Value* v) {
    Value* diff = a.sub(match_width(b, u, like), match_width(b, v, like));
    return a.mul(diff, diff);
  };
  // Column 0: cumulative sums, the one above carried.
  Value* y0 = y.at(b.getInt64(0));
  llvm::BasicBlock* before_first = b.GetInsertBlock();
  const CountedLoop first_column = open_loop(b, 0, n, "dtw.i0");
  auto* sum = llvm::PHINode::Create(lanes, 2, "sum", first_column.header->getFirstNonPHI());
  sum->addIncoming(a.cst(like, 0.0), before_first);
  Value* up = a.add(square(x.at(first_column.k), y0), sum);
  b.CreateStore(up, slot(first_column.k));
  sum->addIncoming(up, b.GetInsertBlock());
  close_loop(b, first_column);
  const CountedLoop columns = open_loop(b, 1, m, "dtw.j");
  Value* yj = y.at(columns.k);
  // Row 0 of column j: r(0, j - 1) + d.
  Value* corner = b.CreateLoad(lanes, slot(b.getInt64(0)));
  Value* first = a.add(square(x.at(b.getInt64(0)), yj), corner);
  b.CreateStore(first, slot(b.getInt64(0)));
  llvm::BasicBlock* before_rows = b.GetInsertBlock();
  const CountedLoop rows = open_loop(b, 1, n, "dtw.i");
  auto* above = llvm::PHINode::Create(lanes, 2, "above", rows.header->getFirstNonPHI());
  auto* diagonal = llvm::PHINode::Create(lanes, 2, "diagonal", rows.header->getFirstNonPHI());
  above->addIncoming(first, before_rows);
  diagonal->addIncoming(corner, before_rows);
  Value* left = b.CreateLoad(lanes, slot(rows.k));
  Value* d = square(x.at(rows.k), yj);
  Value* const neighbours[3] = {diagonal, above, left};
  Value* cell = soft_dtw_cell(a, d, neighbours, gamma, inv_gamma);
  b.CreateStore(cell, slot(rows.k));
  above->addIncoming(cell, b.GetInsertBlock());
  diagonal->addIncoming(left, b.GetInsertBlock());
  close_loop(b, rows);
  close_loop(b, columns);
  Value* value = b.CreateLoad(lanes, slot(b.getInt64(n - 1)));
  if (resume) {
    b.CreateBr(resume->getParent());
    b.SetInsertPoint(resume);
  }
  return value;
}

namespace {

// The widest of the operands' types, which every cell of a DTW table takes.
Value* widest(const Vals& x, const Vals& y, Value* gamma) {
  Value* like = gamma;
  for (Value* v : {x[0], y[0]})
    if (v->getType()->isVectorTy()) like = v;
  return like;
}

// A series given as values, stored once into a buffer of like's type and read by index.
Series stored_series(llvm::IRBuilderBase& b, const Vals& v, Value* like) {
  llvm::Type* lanes = like->getType();
  auto* type = llvm::ArrayType::get(lanes, uint64_t(v.size()));
  Value* buffer = entry_buffer(b, type);
  for (size_t k = 0; k < v.size(); ++k)
    b.CreateStore(match_width(b, v[k], like),
                  b.CreateGEP(type, buffer, {b.getInt64(0), b.getInt64(int64_t(k))}));
  return Series{int64_t(v.size()), [&b, type, buffer, lanes](Value* i) {
                  return b.CreateLoad(lanes, b.CreateGEP(type, buffer, {b.getInt64(0), i}));
                }};
}

// SoftDTW_SqDist_Grad(x, y, gamma) (evaluator_special.cpp's recursion): the table r by loops
// into a buffer, then backwards the adjoints e(i, j), one column of them kept, each cell
// adding its share to the derivatives of x_i, y_j and gamma. Cells outside the table (the
// successors of the last row and column, the neighbours of the first) are read clamped and
// masked, so that one loop body serves every cell.
class SoftDtwGradient {
 public:
  SoftDtwGradient(Arith& a, const Vals& x, const Vals& y, Value* gamma)
      : a_(a),
        b_(a.b),
        n_(int64_t(x.size())),
        m_(int64_t(y.size())),
        gamma_(gamma),
        inv_gamma_(a.div(a.cst(gamma, 1.0), gamma)),
        like_(widest(x, y, gamma)),
        lanes_(like_->getType()),
        x_(stored_series(b_, x, like_)),
        y_(stored_series(b_, y, like_)) {}

  Vals emit() {
    llvm::Instruction* resume = split_block_at(b_, "dtw.grad.after");
    table_ = buffer(n_ * m_);
    fill_table();
    adjoints_ = buffer(n_);
    gradient_ = buffer(n_ + m_ + 1);
    for (int64_t k = 0; k < n_ + m_ + 1; ++k) b_.CreateStore(a_.cst(like_, 0.0), at(gradient_, k));
    backward();
    Vals out;
    for (int64_t k = 0; k < n_ + m_ + 1; ++k)
      out.push_back(b_.CreateLoad(lanes_, at(gradient_, k)));
    if (resume) {
      b_.CreateBr(resume->getParent());
      b_.SetInsertPoint(resume);
    }
    return out;
  }

 private:
  Value* buffer(int64_t size) {
    return entry_buffer(b_, llvm::ArrayType::get(lanes_, uint64_t(size)));
  }
  Value* at(Value* base, Value* k) { return b_.CreateGEP(lanes_, base, k); }
  Value* at(Value* base, int64_t k) { return at(base, b_.getInt64(k)); }
  Value* load(Value* base, Value* k) { return b_.CreateLoad(lanes_, at(base, k)); }
  Value* cell(Value* i, Value* j) { return b_.CreateAdd(b_.CreateMul(j, b_.getInt64(n_)), i); }
  Value* d(Value* i, Value* j) {
    Value* diff = a_.sub(x_.at(i), y_.at(j));
    return a_.mul(diff, diff);
  }
  Value* r(Value* i, Value* j) { return load(table_, cell(i, j)); }
  Value* clamp(Value* k, int64_t size) {
    Value* low = b_.CreateSelect(b_.CreateICmpSLT(k, b_.getInt64(0)), b_.getInt64(0), k);
    return b_.CreateSelect(b_.CreateICmpSGE(low, b_.getInt64(size)), b_.getInt64(size - 1), low);
  }

  // r(i, j) for every cell, column by column (as soft_dtw_series, the whole table kept).
  void fill_table() {
    const CountedLoop columns = open_loop(b_, 0, m_, "dtw.grad.j");
    const CountedLoop rows = open_loop(b_, 0, n_, "dtw.grad.i");
    Value *i = rows.k, *j = columns.k;
    Value* im = clamp(b_.CreateSub(i, b_.getInt64(1)), n_);
    Value* jm = clamp(b_.CreateSub(j, b_.getInt64(1)), m_);
    Value* first_row = b_.CreateICmpEQ(i, b_.getInt64(0));
    Value* first_column = b_.CreateICmpEQ(j, b_.getInt64(0));
    Value* const neighbours[3] = {r(im, jm), r(im, j), r(i, jm)};
    Value* dij = d(i, j);
    Value* inner = soft_dtw_cell(a_, dij, neighbours, gamma_, inv_gamma_);
    // The first row sums along j, the first column along i, and r(0, 0) = d.
    Value* edge = a_.add(dij, b_.CreateSelect(first_row, neighbours[2], neighbours[1]));
    Value* value = b_.CreateSelect(b_.CreateOr(first_row, first_column), edge, inner);
    value = b_.CreateSelect(b_.CreateAnd(first_row, first_column), dij, value);
    b_.CreateStore(value, at(table_, cell(i, j)));
    close_loop(b_, rows);
    close_loop(b_, columns);
  }

  // e(i, j) from the last cell back: adjoints_ holds column j + 1's until row i of column j
  // replaces it; e(i + 1, j) and e(i + 1, j + 1) (read before it was replaced) are carried.
  // Each cell then adds its shares to gradient_.
  void backward() {
    for (int64_t k = 0; k < n_; ++k) b_.CreateStore(a_.cst(like_, 0.0), at(adjoints_, k));
    const CountedLoop columns = open_loop(b_, 0, m_, "dtw.adj.j");
    Value* j = b_.CreateSub(b_.getInt64(m_ - 1), columns.k);
    llvm::BasicBlock* before_rows = b_.GetInsertBlock();
    const CountedLoop rows = open_loop(b_, 0, n_, "dtw.adj.i");
    Value* zero = a_.cst(like_, 0.0);
    auto* below = llvm::PHINode::Create(lanes_, 2, "below", rows.header->getFirstNonPHI());
    auto* diagonal = llvm::PHINode::Create(lanes_, 2, "diagonal", rows.header->getFirstNonPHI());
    below->addIncoming(zero, before_rows);
    diagonal->addIncoming(zero, before_rows);
    Value* i = b_.CreateSub(b_.getInt64(n_ - 1), rows.k);
    Value* here = r(i, j);
    // A successor's share: e(s) exp((r(s) - d(s) - r(i, j)) / gamma), 0 outside the table.
    auto share = [&](Value* inside, Value* si, Value* sj, Value* e) {
      Value *ci = clamp(si, n_), *cj = clamp(sj, m_);
      Value* w = emit_exp(b_, a_.mul(a_.sub(a_.sub(r(ci, cj), d(ci, cj)), here), inv_gamma_));
      return b_.CreateSelect(inside, a_.mul(e, w), zero);
    };
    Value *i1 = b_.CreateAdd(i, b_.getInt64(1)), *j1 = b_.CreateAdd(j, b_.getInt64(1));
    Value* has_i1 = b_.CreateICmpSLT(i1, b_.getInt64(n_));
    Value* has_j1 = b_.CreateICmpSLT(j1, b_.getInt64(m_));
    Value* right = load(adjoints_, i);  // e(i, j + 1)
    Value* e = b_.CreateSelect(b_.CreateOr(has_i1, has_j1), zero, a_.cst(like_, 1.0));
    e = a_.add(e, share(has_i1, i1, j, below));
    e = a_.add(e, share(has_j1, i, j1, right));
    e = a_.add(e, share(b_.CreateAnd(has_i1, has_j1), i1, j1, diagonal));
    b_.CreateStore(e, at(adjoints_, i));
    add_shares(i, j, e, here);
    below->addIncoming(e, b_.GetInsertBlock());
    diagonal->addIncoming(right, b_.GetInsertBlock());
    close_loop(b_, rows);
    close_loop(b_, columns);
  }

  void add_shares(Value* i, Value* j, Value* e, Value* here) {
    Value* g = a_.mul(e, a_.mul(a_.cst(like_, 2.0), a_.sub(x_.at(i), y_.at(j))));
    Value* dx = at(gradient_, i);
    b_.CreateStore(a_.add(b_.CreateLoad(lanes_, dx), g), dx);
    Value* dy = at(gradient_, b_.CreateAdd(j, b_.getInt64(n_)));
    b_.CreateStore(a_.sub(b_.CreateLoad(lanes_, dy), g), dy);
    // gamma: e (s - sum_k p_k u_k) / gamma at cells with three neighbours.
    Value* im = clamp(b_.CreateSub(i, b_.getInt64(1)), n_);
    Value* jm = clamp(b_.CreateSub(j, b_.getInt64(1)), m_);
    Value* soft = a_.sub(here, d(i, j));
    Value* weighted = nullptr;
    for (Value* u : {r(im, jm), r(im, j), r(i, jm)}) {
      Value* term = a_.mul(emit_exp(b_, a_.mul(a_.sub(soft, u), inv_gamma_)), u);
      weighted = weighted ? a_.add(weighted, term) : term;
    }
    Value* inner =
        b_.CreateAnd(b_.CreateICmpSGT(i, b_.getInt64(0)), b_.CreateICmpSGT(j, b_.getInt64(0)));
    Value* dgamma = at(gradient_, n_ + m_);
    Value* share = a_.mul(e, a_.mul(a_.sub(soft, weighted), inv_gamma_));
    b_.CreateStore(
        a_.add(b_.CreateLoad(lanes_, dgamma), b_.CreateSelect(inner, share, a_.cst(like_, 0.0))),
        dgamma);
  }

  Arith& a_;
  llvm::IRBuilderBase& b_;
  const int64_t n_, m_;
  Value *gamma_, *inv_gamma_, *like_;
  llvm::Type* lanes_;
  Series x_, y_;
  Value *table_ = nullptr, *adjoints_ = nullptr, *gradient_ = nullptr;
};

Value* soft_dtw(Arith& a, const Vals& x, const Vals& y, Value* gamma) {
  const size_t n = x.size(), m = y.size();
  if (n * m > kUnrolledSoftDtwCells) {
    Value* like = widest(x, y, gamma);
    return soft_dtw_series(a, stored_series(a.b, x, like), stored_series(a.b, y, like), gamma,
                           like);
  }
  Value* inv_gamma = a.div(a.cst(gamma, 1.0), gamma);
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
    case Op::SoftDTW_SqDist_Grad:
      return SoftDtwGradient(a, *args[0], *args[1], (*args[2])[0]).emit();
    default:
      KEOPS_CHECK(false, "not a special function");
      return {};
  }
}

}  // namespace keops::codegen::detail
