// ir::Context: owns and interns nodes; make() checks types, folds constants, simplifies.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "compiler/ir/node.h"

namespace keops::ir {

class Context {
 public:
  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The node op(args; ints, values), checked (keops::Error on a dim or attribute
  // mismatch, naming the op), constant-folded when every argument is a constant,
  // simplified by local identities (x+0, x*1, x*0, --x), and interned: an equal
  // node already made is returned instead of a new one.
  Expr make(Op op, std::vector<Expr> args, std::vector<int64_t> ints = {});

  // A negative index is a symbolic variable: formulas may differentiate with respect to it
  // or apply a linear operator in it, which removes it, but no argument backs it, so a
  // formula handed to a kernel must not read one (frontend::collect_arguments refuses).
  Expr var(int index, int dim, Cat cat, DType dtype);
  Expr constant(std::vector<double> values, DType dtype);
  Expr scalar(double value, DType dtype) { return constant({value}, dtype); }
  // The constant 0 of dim values (made once per dim and dtype: folding x * 0 and its users
  // then costs the same for every dim).
  Expr zeros(int dim, DType dtype);

  // The roots' DAGs (all made by one other context) copied into this one as they are (no
  // simplification), in their creation order: formulas that outlive the context that made
  // them. Null roots stay null.
  std::vector<Expr> adopt(const std::vector<Expr>& roots);

  size_t size() const;

 private:
  // Interns a fully built node, without simplification.
  Expr intern(Node node);

  mutable std::recursive_mutex mutex_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_multimap<uint64_t, const Node*> table_;
  std::map<std::pair<int, DType>, Expr> zeros_;
};

// The output dim of op applied to args with these attributes (possibly past kMaxDim, which
// make() refuses; saturated at INT64_MAX); keops::Error when the combination is invalid (the
// message names the op and the offending dims).
int64_t infer_dim(Op op, const std::vector<Expr>& args, const std::vector<int64_t>& ints);

// The most components a formula's value may have: node dims, Var dims and constants.
inline constexpr int64_t kMaxDim = int64_t(1) << 20;
// The most cells of SoftDTW_SqDist_Grad's table (n x m), which a kernel keeps whole (a GPU
// thread in its local memory), and so of a SoftDTW_SqDist that is differentiated.
inline constexpr int64_t kMaxSoftDtwGradCells = 1024;

}  // namespace keops::ir
