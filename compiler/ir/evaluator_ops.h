// The evaluator's op families: eval_op dispatches each op of ops.def to one of these.
#pragma once

#include <vector>

#include "compiler/ir/node.h"

namespace keops::ir::detail {

using ArgValues = std::vector<const double*>;

// Arithmetic and element-wise math (Broadcast and Same shapes).
void eval_elementwise(const Node& n, const ArgValues& a, double* out);
// Reductions over the components, norms, distances, slicing and one-hot.
void eval_vector(const Node& n, const ArgValues& a, double* out);
// Row-major matrix and tensor products.
void eval_tensor(const Node& n, const ArgValues& a, double* out);
// Complex numbers stored as interleaved (re, im) pairs.
void eval_complex(const Node& n, const ArgValues& a, double* out);
// BSpline and SoftDTW_SqDist.
void eval_special(const Node& n, const ArgValues& a, double* out);

// A DAG flattened once into evaluation order, then run for many (i, j) pairs without
// re-walking the graph: each node gets a slot, shared subexpressions are computed once.
class Schedule {
 public:
  explicit Schedule(const std::vector<Expr>& roots);

  // Evaluates every node; arg_rows[k] is the row of argument k (see evaluate()).
  void run(const std::vector<const double*>& arg_rows);
  // Values of roots[r] after run().
  const double* result(size_t r) const { return values_[root_slots_[r]]; }
  // The Var leaves under the roots, each once.
  const std::vector<Expr>& vars() const { return vars_; }

 private:
  std::vector<Expr> order_;                 // children before parents
  std::vector<std::vector<size_t>> args_;   // slots of each node's arguments
  std::vector<const double*> values_;       // per slot: where its values are
  std::vector<std::vector<double>> owned_;  // per slot: storage of computed nodes
  std::vector<size_t> root_slots_;
  std::vector<Expr> vars_;
  ArgValues scratch_;
};

}  // namespace keops::ir::detail
