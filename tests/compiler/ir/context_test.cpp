// ir::Context: interning, constant folding, local identities, type checks, dependency
// sets, and every shape rule of dims.cpp with its errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "compiler/ir/context.h"
#include "keops/error.h"
#include "tests/compiler/ir/test_util.h"

namespace keops::ir {
namespace {

using testing::check_values;
using testing::Ir;

#define CHECK_ERROR(expr, text) CHECK_THROWS_WITH_AS(expr, doctest::Contains(text), keops::Error)

TEST_CASE("the op table: spellings resolve to their op") {
  CHECK(op_count() > 0);
  for (int k = 0; k < op_count(); ++k) {
    const Op op = Op(k);
    const Op* found = op_by_spelling(op_info(op).spelling);
    REQUIRE(found != nullptr);
    CHECK(*found == op);
  }
  CHECK(op_by_spelling("exp") == nullptr);
  CHECK(op_by_spelling("NoSuchOp") == nullptr);
  CHECK(op_info(Op::TensorDot).int_attrs == -1);
  CHECK(op_info(Op::IfElse).arity == 3);
}

TEST_CASE("interning: an equal node is the same pointer") {
  Context c;
  const Expr x = c.var(0, 3, CatI, DType::F64);
  CHECK(c.var(0, 3, CatI, DType::F64) == x);
  CHECK(c.var(0, 3, CatI, DType::F32) != x);
  CHECK(c.var(0, 3, CatJ, DType::F64) != x);
  CHECK(c.var(1, 3, CatI, DType::F64) != x);
  const Expr y = c.var(1, 3, CatJ, DType::F64);
  const Expr d = c.make(Op::SqDist, {x, y});
  CHECK(c.make(Op::SqDist, {x, y}) == d);
  CHECK(c.make(Op::SqDist, {y, x}) != d);
  CHECK(c.make(Op::Exp, {d}) == c.make(Op::Exp, {d}));
  CHECK(c.make(Op::Pow, {x}, {2}) != c.make(Op::Pow, {x}, {3}));
  CHECK(c.constant({1, 2}, DType::F64) == c.constant({1, 2}, DType::F64));
  CHECK(c.constant({1, 2}, DType::F64) != c.constant({1, 2}, DType::F32));
  CHECK(c.constant({0.0}, DType::F64) != c.constant({-0.0}, DType::F64));
  const size_t before = c.size();
  c.make(Op::SqDist, {x, y});
  CHECK(c.size() == before);
  CHECK(d->hash == c.make(Op::SqDist, {x, y})->hash);
}

TEST_CASE("a float32 constant holds float32 values") {
  Context c;
  CHECK(c.scalar(0.1, DType::F32)->values[0] == double(0.1f));
  CHECK(c.scalar(0.1, DType::F64)->values[0] == 0.1);
}

TEST_CASE("constant folding") {
  Ir ir;
  const Expr five = ir.op(Op::Add, {ir.k({2}), ir.k({3})});
  REQUIRE(five->is_constant());
  CHECK(five == ir.k({5}));
  const Expr e = ir.op(Op::Exp, {ir.k({0, 1})});
  REQUIRE(e->is_constant());
  check_values(e->values, {1, std::exp(1.0)});
  // Nested: every level folds as it is made.
  const Expr n = ir.op(Op::Sum, {ir.op(Op::Mult, {ir.k({2}), ir.k({1, 2, 3})})});
  REQUIRE(n->is_constant());
  check_values(n->values, {12});
  // A float32 fold rounds its result to float32.
  Context c;
  const Expr third = c.make(Op::Divide, {c.scalar(1, DType::F32), c.scalar(3, DType::F32)});
  CHECK(third->values[0] == double(1.0f / 3.0f));
  CHECK(third->dtype == DType::F32);
  // Folding through a Var does not happen.
  CHECK_FALSE(ir.op(Op::Add, {ir.vi(0, 1), ir.k({1})})->is_constant());
}

TEST_CASE("local identities") {
  Ir ir;
  const Expr x = ir.vi(0, 3), s = ir.vi(1, 1);
  const Expr zero = ir.k({0}), one = ir.k({1});
  CHECK(ir.op(Op::Add, {x, zero}) == x);
  CHECK(ir.op(Op::Add, {zero, x}) == x);
  CHECK(ir.op(Op::Add, {x, ir.k({0, 0, 0})}) == x);
  CHECK(ir.op(Op::Subtract, {x, zero}) == x);
  CHECK(ir.op(Op::Subtract, {zero, x}) == ir.op(Op::Minus, {x}));
  CHECK(ir.op(Op::Mult, {x, one}) == x);
  CHECK(ir.op(Op::Mult, {one, x}) == x);
  CHECK(ir.op(Op::Divide, {x, one}) == x);
  CHECK(ir.op(Op::Minus, {ir.op(Op::Minus, {x})}) == x);
  SUBCASE("x * 0 is the zero vector of the result's dim") {
    const Expr z = ir.op(Op::Mult, {x, zero});
    REQUIRE(z->is_constant());
    check_values(z->values, {0, 0, 0});
    CHECK(ir.op(Op::Mult, {zero, s})->dim == 1);
    CHECK(ir.op(Op::Mult, {s, ir.k({0, 0})})->dim == 2);
  }
  SUBCASE("constants times 0 are zeros too, made once per dim, whatever the dim") {
    CHECK(ir.op(Op::Mult, {ir.k({-3, 4}), zero}) == ir.ctx.zeros(2, DType::F64));
    CHECK(ir.op(Op::Mult, {ir.k({std::numeric_limits<double>::infinity()}), zero})
              ->is_constant_value(0));
    CHECK(ir.ctx.zeros(7, DType::F64) == ir.ctx.zeros(7, DType::F64));
    CHECK(ir.ctx.zeros(7, DType::F32) != ir.ctx.zeros(7, DType::F64));
    CHECK_FALSE(ir.k({0, 1})->is_constant_value(0));
    CHECK_FALSE(ir.k({std::nan("")})->is_constant_value(0));
    // A fuzzed formula: hundreds of factors times a Var of 910,596 values times 0. Each
    // factor folded a new 910,596-value constant (1.1 s in release for 150; 29 s under
    // ASan for the fuzzer's); each now finds the zeros made once.
    Expr e = ir.op(Op::Mult, {ir.vi(0, 910596), zero});
    for (int k = 0; k < 2000; ++k) e = ir.op(Op::Mult, {e, ir.k({double(2 + k % 5)})});
    CHECK(e == ir.ctx.zeros(910596, DType::F64));
  }
  SUBCASE("a rewrite that would change the dim is skipped") {
    const Expr sum = ir.op(Op::Add, {s, ir.k({0, 0, 0})});
    CHECK(sum->is(Op::Add));
    CHECK(sum->dim == 3);
    const Expr prod = ir.op(Op::Mult, {s, ir.k({1, 1})});
    CHECK(prod->is(Op::Mult));
    CHECK(prod->dim == 2);
  }
  SUBCASE("non-identities stay") {
    CHECK(ir.op(Op::Add, {x, ir.k({1})})->is(Op::Add));
    CHECK(ir.op(Op::Divide, {one, x})->is(Op::Divide));
    CHECK(ir.op(Op::Add, {x, ir.k({0, 1, 0})})->is(Op::Add));
  }
}

TEST_CASE("dependency sets") {
  Ir ir;
  const Expr x = ir.vi(0, 2), y = ir.vj(1, 2), p = ir.pm(2, 1);
  CHECK(x->deps == kDepI);
  CHECK(y->deps == kDepJ);
  CHECK(p->deps == kDepP);
  CHECK(ir.k({1})->deps == kDepNone);
  CHECK(ir.op(Op::Exp, {x})->deps == kDepI);
  CHECK(ir.op(Op::SqDist, {x, y})->deps == (kDepI | kDepJ));
  CHECK(ir.op(Op::Mult, {p, ir.op(Op::SqDist, {x, y})})->deps == (kDepI | kDepJ | kDepP));
  CHECK(ir.op(Op::Add, {p, ir.k({2})})->deps == kDepP);
}

TEST_CASE("creation errors") {
  Ir ir;
  const Expr x = ir.vi(0, 3);
  // A negative position is a symbolic variable, made like any other.
  CHECK(ir.ctx.var(-1, 3, CatI, DType::F64)->var_index() == -1);
  CHECK_ERROR(ir.ctx.var(0, 0, CatI, DType::F64), "the dim must be >= 1");
  CHECK_ERROR(ir.ctx.var(0, 1, Cat(3), DType::F64), "the category must be");
  CHECK_ERROR(ir.ctx.constant({}, DType::F64), "at least one value");
  CHECK_ERROR(ir.op(Op::Add, {x}), "in Add: expects 2 argument(s), got 1");
  CHECK_ERROR(ir.op(Op::Pow, {x}), "in Pow: expects 1 integer parameter(s), got 0");
  CHECK_ERROR(ir.op(Op::Var, {}), "leaves are made with var() and constant()");
  CHECK_ERROR(ir.op(Op::Add, {x, ir.ctx.var(1, 3, CatJ, DType::F32)}), "different dtypes");
}

TEST_CASE("broadcast shape rule") {
  Ir ir;
  const Expr a3 = ir.vi(0, 3), b3 = ir.vj(1, 3), c2 = ir.vj(2, 2), s = ir.pm(3, 1);
  CHECK(ir.op(Op::Add, {a3, b3})->dim == 3);
  CHECK(ir.op(Op::Add, {s, a3})->dim == 3);
  CHECK(ir.op(Op::IfElse, {s, a3, s})->dim == 3);
  CHECK(ir.op(Op::Clamp, {s, s, s})->dim == 1);
  CHECK_ERROR(ir.op(Op::Add, {a3, c2}), "in Add: dim mismatch: arguments have dims 3, 2");
  CHECK_ERROR(ir.op(Op::Mod, {a3, s, c2}), "dim mismatch");
  CHECK(ir.op(Op::Sum, {a3})->dim == 1);
  CHECK(ir.op(Op::Exp, {a3})->dim == 3);
  CHECK(infer_dim(Op::Add, {a3, s}, {}) == 3);
  CHECK_ERROR(infer_dim(Op::Var, {}, {}), "a leaf has no arguments");
}

TEST_CASE("every Same, Scalar and Broadcast op follows its shape rule") {
  Ir ir;
  const Expr v3 = ir.vi(0, 3), w3 = ir.vj(1, 3), s = ir.pm(2, 1), v2 = ir.vj(3, 2);
  for (int k = 0; k < op_count(); ++k) {
    const Op op = Op(k);
    const OpInfo& info = op_info(op);
    CAPTURE(info.spelling);
    const std::vector<int64_t> ints = info.int_attrs == 2   ? std::vector<int64_t>{0, 1}
                                      : info.int_attrs == 1 ? std::vector<int64_t>{2}
                                                            : std::vector<int64_t>{};
    switch (info.shape) {
      case Shape::Same:
        CHECK(ir.op(op, {v3}, ints)->dim == 3);
        break;
      case Shape::Scalar:
        CHECK(ir.op(op, {v3}, ints)->dim == 1);
        break;
      case Shape::Broadcast: {
        std::vector<Expr> args(size_t(info.arity), w3);
        CHECK(ir.op(op, args)->dim == 3);
        args[0] = s;
        CHECK(ir.op(op, args)->dim == 3);
        args.assign(args.size(), w3);
        args.back() = v2;
        CHECK_ERROR(ir.op(op, args), "dim mismatch");
        break;
      }
      case Shape::Leaf:
      case Shape::Custom:
        break;
    }
  }
}

TEST_CASE("shape rules: distances, norms, slicing") {
  Ir ir;
  const Expr a3 = ir.vi(0, 3), b3 = ir.vj(1, 3), c2 = ir.vj(2, 2), s = ir.pm(3, 1);
  const Expr w9 = ir.pm(4, 9), w4 = ir.pm(5, 4);
  CHECK(ir.op(Op::SqDist, {a3, b3})->dim == 1);
  CHECK_ERROR(ir.op(Op::SqDist, {a3, c2}), "in SqDist: dim mismatch: arguments have dims 3 and 2");
  CHECK_ERROR(ir.op(Op::Scalprod, {a3, c2}), "dim mismatch");
  CHECK(ir.op(Op::WeightedSqNorm, {s, a3})->dim == 1);
  CHECK(ir.op(Op::WeightedSqNorm, {b3, a3})->dim == 1);
  CHECK(ir.op(Op::WeightedSqNorm, {w9, a3})->dim == 1);
  CHECK_ERROR(ir.op(Op::WeightedSqNorm, {w4, a3}), "the weight has dim 4");
  CHECK(ir.op(Op::WeightedSqDist, {w9, a3, b3})->dim == 1);
  CHECK_ERROR(ir.op(Op::WeightedSqDist, {s, a3, c2}), "dim mismatch");
  CHECK_ERROR(ir.op(Op::WeightedSqDist, {c2, a3, b3}), "the weight has dim 2");
  CHECK(ir.op(Op::Concat, {a3, c2})->dim == 5);
  CHECK(ir.op(Op::Elem, {a3}, {2})->dim == 1);
  CHECK_ERROR(ir.op(Op::Elem, {a3}, {3}), "in Elem: the index = 3 is out of range [0, 2]");
  CHECK_ERROR(ir.op(Op::Elem, {a3}, {-1}), "out of range");
  CHECK(ir.op(Op::Extract, {a3}, {1, 2})->dim == 2);
  CHECK_ERROR(ir.op(Op::Extract, {a3}, {1, 3}), "the length = 3 is out of range [1, 2]");
  CHECK_ERROR(ir.op(Op::Extract, {a3}, {3, 1}), "the start = 3");
  CHECK(ir.op(Op::ElemT, {s}, {4, 3})->dim == 4);
  CHECK_ERROR(ir.op(Op::ElemT, {a3}, {4, 0}), "the argument must have dim 1, not 3");
  CHECK_ERROR(ir.op(Op::ElemT, {s}, {4, 4}), "the index = 4");
  CHECK(ir.op(Op::ExtractT, {c2}, {1, 3})->dim == 3);
  CHECK_ERROR(ir.op(Op::ExtractT, {c2}, {2, 3}), "the start = 2");
  CHECK_ERROR(ir.op(Op::ExtractT, {a3}, {0, 2}), "the dim = 2");
  CHECK(ir.op(Op::SumT, {s}, {5})->dim == 5);
  CHECK_ERROR(ir.op(Op::SumT, {c2}, {5}), "the argument must have dim 1");
  CHECK_ERROR(ir.op(Op::SumT, {s}, {0}), "the dim = 0");
  CHECK(ir.op(Op::OneHot, {s}, {7})->dim == 7);
  CHECK_ERROR(ir.op(Op::OneHot, {a3}, {7}), "in OneHot: the argument must have dim 1");
}

TEST_CASE("shape rules: tensor algebra") {
  Ir ir;
  const Expr m6 = ir.vi(0, 6), v3 = ir.vj(1, 3), v2 = ir.vj(2, 2), v4 = ir.vj(3, 4);
  CHECK(ir.op(Op::MatVecMult, {m6, v3})->dim == 2);
  CHECK_ERROR(ir.op(Op::MatVecMult, {m6, v4}), "not a multiple of the vector's dim 4");
  CHECK(ir.op(Op::VecMatMult, {v2, m6})->dim == 3);
  CHECK_ERROR(ir.op(Op::VecMatMult, {v4, m6}), "in VecMatMult");
  CHECK(ir.op(Op::TensorProd, {v2, v3})->dim == 6);
  // TensorDot ints: nf, dims_f, ng, dims_g, nc, contract_f, contract_g, np, perm.
  CHECK(ir.op(Op::TensorDot, {m6, v3}, {2, 2, 3, 1, 3, 1, 1, 0, 0})->dim == 2);
  CHECK(ir.op(Op::TensorDot, {m6, v2}, {2, 2, 3, 1, 2, 0, 0})->dim == 12);
  CHECK(ir.op(Op::TensorDot, {m6, v2}, {2, 2, 3, 1, 2, 0, 3, 2, 0, 1})->dim == 12);
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v3}, {2, 2, 2, 1, 3, 0, 0}), "dims_f multiply to 4");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v3}, {2, 2, 3, 1, 4, 0, 0}), "dims_g multiply to 4");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v3}, {2, 2, 3, 1, 3, 1, 0, 0, 0}),
              "contracted axes have sizes 2 and 3");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v3}, {2, 2, 3, 1, 3, 1, 2, 0, 0}),
              "a contracted axis of f = 2 is out of range");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v2}, {2, 2, 3, 1, 2, 0, 1, 0}),
              "the permutation has 1 entries for 3 remaining axes");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v2}, {2, 2, 3, 1, 2, 0, 3, 0, 0, 1}),
              "the permutation repeats 0");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v2}, {2, 2, 3, 1, 2, 0}), "missing permutation");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v2}, {2, 2, 3, 1, 2, 0, 0, 7}),
              "too many integer attributes");
  CHECK_ERROR(ir.op(Op::TensorDot, {m6, v2}, {2, 2, 3, 1, 0, 0, 0}), "a dim of g = 0");
  const Expr m4 = ir.vi(4, 4);
  CHECK_ERROR(ir.op(Op::TensorDot, {m4, m4}, {2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0}),
              "an axis is contracted twice");
  // Kron ints: n, dims_f[n], dims_g[n].
  CHECK(ir.op(Op::Kron, {m6, v2}, {2, 2, 3, 2, 1})->dim == 12);
  CHECK_ERROR(ir.op(Op::Kron, {m6, v2}, {2, 2, 3, 2}), "as many dims for g as for f");
  CHECK_ERROR(ir.op(Op::Kron, {m6, v2}, {}), "as many dims for g as for f");
  CHECK_ERROR(ir.op(Op::Kron, {m6, v2}, {1, 5, 2}), "dims_f multiply to 5");
  CHECK_ERROR(ir.op(Op::Kron, {m6, v2}, {1, 6, 3}), "dims_g multiply to 3");
  CHECK_ERROR(ir.op(Op::Kron, {m6, v2}, {1, 6, 0}), "a dim = 0");
}

TEST_CASE("shape rules: complex numbers") {
  Ir ir;
  const Expr z2 = ir.vi(0, 2), z4 = ir.vj(1, 4), z6 = ir.vj(2, 6), r3 = ir.vi(3, 3);
  const Expr s = ir.pm(4, 1);
  for (Op op : {Op::ComplexAdd, Op::ComplexSubtract, Op::ComplexMult, Op::ComplexDivide}) {
    CAPTURE(op_info(op).spelling);
    CHECK(ir.op(op, {z4, z4})->dim == 4);
    CHECK(ir.op(op, {z2, z4})->dim == 4);
    CHECK(ir.op(op, {z4, z2})->dim == 4);
    CHECK_ERROR(ir.op(op, {z4, z6}), "dim mismatch: arguments have dims 4, 6");
    CHECK_ERROR(ir.op(op, {r3, z4}), "a complex argument needs an even dim, not 3");
  }
  CHECK(ir.op(Op::ComplexExp, {z4})->dim == 4);
  CHECK(ir.op(Op::Conj, {z6})->dim == 6);
  CHECK_ERROR(ir.op(Op::Conj, {r3}), "in Conj: a complex argument needs an even dim");
  for (Op op :
       {Op::ComplexReal, Op::ComplexImag, Op::ComplexAbs, Op::ComplexSquareAbs, Op::ComplexAngle}) {
    CAPTURE(op_info(op).spelling);
    CHECK(ir.op(op, {z6})->dim == 3);
    CHECK_ERROR(ir.op(op, {r3}), "even dim");
  }
  for (Op op : {Op::Real2Complex, Op::Imag2Complex, Op::ComplexExp1j})
    CHECK(ir.op(op, {r3})->dim == 6);
  CHECK(ir.op(Op::ComplexSum, {z6})->dim == 2);
  CHECK_ERROR(ir.op(Op::ComplexSum, {r3}), "even dim");
  CHECK(ir.op(Op::ComplexSumT, {z2}, {8})->dim == 8);
  CHECK_ERROR(ir.op(Op::ComplexSumT, {z4}, {8}), "the argument must have dim 2, not 4");
  CHECK_ERROR(ir.op(Op::ComplexSumT, {z2}, {7}), "the dim must be even, not 7");
  CHECK_ERROR(ir.op(Op::ComplexSumT, {z2}, {0}), "the dim = 0");
  CHECK(ir.op(Op::ComplexRealScal, {s, z4})->dim == 4);
  CHECK_ERROR(ir.op(Op::ComplexRealScal, {z2, z4}), "the real factor must have dim 1, not 2");
  CHECK_ERROR(ir.op(Op::ComplexRealScal, {s, r3}), "even dim");
}

TEST_CASE("shape rules: special functions") {
  Ir ir;
  const Expr knots = ir.pm(0, 6), x = ir.vi(1, 1), v2 = ir.vi(2, 2);
  CHECK(ir.op(Op::BSpline, {knots, x}, {0})->dim == 5);
  CHECK(ir.op(Op::BSpline, {knots, x}, {3})->dim == 2);
  CHECK(ir.op(Op::BSpline, {knots, x}, {4})->dim == 1);
  CHECK_ERROR(ir.op(Op::BSpline, {knots, x}, {5}), "the order = 5 is out of range [0, 4]");
  CHECK_ERROR(ir.op(Op::BSpline, {knots, x}, {-1}), "the order = -1");
  CHECK_ERROR(ir.op(Op::BSpline, {knots, v2}, {1}), "the point must have dim 1, not 2");
  CHECK(ir.op(Op::SoftDTW_SqDist, {knots, v2, x})->dim == 1);
  CHECK_ERROR(ir.op(Op::SoftDTW_SqDist, {knots, x, v2}), "gamma must have dim 1, not 2");
}

TEST_CASE("element-wise ops are ops.def's Elementwise family: equal dims or a broadcast") {
  for (int k = 0; k < keops::ir::op_count(); ++k) {
    const auto op = keops::ir::Op(k);
    const keops::ir::OpInfo& info = keops::ir::op_info(op);
    CAPTURE(info.spelling);
    if (keops::ir::is_elementwise(op))
      CHECK((info.shape == keops::ir::Shape::Same || info.shape == keops::ir::Shape::Broadcast));
  }
  CHECK(keops::ir::is_elementwise(keops::ir::Op::IfElse));
  CHECK_FALSE(keops::ir::is_elementwise(keops::ir::Op::Normalize));
  CHECK_FALSE(keops::ir::is_elementwise(keops::ir::Op::Var));
}

}  // namespace
}  // namespace keops::ir
