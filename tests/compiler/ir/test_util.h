// Helpers shared by the IR tests: float64 constants, folding an op, comparing values.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "compiler/ir/context.h"

namespace keops::ir::testing {

// Checks got == want component-wise: equal infinities, NaN against NaN, else within a
// relative 1e-12.
inline void check_values(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    CAPTURE(k);
    if (std::isnan(want[k]))
      CHECK(std::isnan(got[k]));
    else if (std::isinf(want[k]))
      CHECK(got[k] == want[k]);
    else
      CHECK(got[k] == doctest::Approx(want[k]).epsilon(1e-12));
  }
}

// A float64 Context with shorthands for constants and folded ops.
struct Ir {
  Context ctx;

  Expr k(std::vector<double> values) { return ctx.constant(std::move(values), DType::F64); }
  Expr vi(int index, int dim) { return ctx.var(index, dim, CatI, DType::F64); }
  Expr vj(int index, int dim) { return ctx.var(index, dim, CatJ, DType::F64); }
  Expr pm(int index, int dim) { return ctx.var(index, dim, CatP, DType::F64); }
  Expr op(Op o, std::vector<Expr> args, std::vector<int64_t> ints = {}) {
    return ctx.make(o, std::move(args), std::move(ints));
  }
  // The values op gives on constant arguments (computed by eval_op through folding).
  std::vector<double> fold(Op o, std::vector<std::vector<double>> args,
                           std::vector<int64_t> ints = {}) {
    std::vector<Expr> leaves;
    for (auto& a : args) leaves.push_back(k(std::move(a)));
    const Expr e = ctx.make(o, std::move(leaves), std::move(ints));
    REQUIRE(e->is_constant());
    return e->values;
  }
};

}  // namespace keops::ir::testing
