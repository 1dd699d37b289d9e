// The double-precision reference evaluator: the test oracle and a slow debug backend.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/ir/node.h"
#include "compiler/ir/reduction.h"

namespace keops::ir {

// Evaluates the single op of `n` on argument values already computed:
// arg_values[k] holds n.args[k]->dim values; writes n.dim values to out.
// Used by constant folding: it reads the dims of n.args (broadcasting, split points),
// never their values.
void eval_op(const Node& n, const std::vector<const double*>& arg_values, double* out);

// Evaluates f for one (i, j) pair. arg_rows[k] points to the row of argument k that
// the pair uses (its i row for category i, its j row for category j, the parameter's
// only row for category p); entries of arguments f does not use may be null.
std::vector<double> evaluate(Expr f, const std::vector<const double*>& arg_rows);

// A whole reduction on double data, as the reference for every backend.
// args[k] is argument k, row-major, rows[k] rows of its alias dim.
// axis 1 reduces over j (nx output rows), axis 0 over i (ny output rows).
struct ReferenceOutput {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> values;
  int64_t index_cols = 0;
  std::vector<int64_t> indices;
};
ReferenceOutput reference_reduce(Expr f, const ReductionSpec& reduction, int axis,
                                 const std::vector<const double*>& args, int64_t nx, int64_t ny);

}  // namespace keops::ir
