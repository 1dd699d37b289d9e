// Tests of the formula parser: each syntax form against IR built directly (interning makes
// equal nodes identical), precedence, and every error with its message and column.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/traverse.h"
#include "compiler/passes/autodiff.h"
#include "keops/error.h"

using keops::frontend::AliasTable;
using keops::frontend::parse_formula;
namespace passes = keops::passes;
namespace ir = keops::ir;
using ir::Op;

namespace {

constexpr ir::DType F32 = ir::DType::F32;

// x, y: 3-vectors over i and j; b: a j scalar; p: a parameter; c: a complex i number.
struct Fixture {
  ir::Context ctx;
  AliasTable aliases =
      AliasTable::parse({"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "p = Pm(1)", "c = Vi(2)"});
  ir::Expr x = ctx.var(0, 3, ir::CatI, F32);
  ir::Expr y = ctx.var(1, 3, ir::CatJ, F32);
  ir::Expr b = ctx.var(2, 1, ir::CatJ, F32);
  ir::Expr p = ctx.var(3, 1, ir::CatP, F32);
  ir::Expr c = ctx.var(4, 2, ir::CatI, F32);

  ir::Expr parse(std::string_view text) { return parse_formula(text, aliases, ctx, F32); }
  ir::Expr make(Op op, std::vector<ir::Expr> args, std::vector<int64_t> ints = {}) {
    return ctx.make(op, std::move(args), std::move(ints));
  }
  ir::Expr num(double v) { return ctx.scalar(v, F32); }

  std::string error(std::string_view text) {
    try {
      parse(text);
    } catch (const keops::Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  // The message quotes the formula, names the problem and the column.
  void check_error(std::string_view text, std::string_view problem, int column) {
    const std::string message = error(text);
    const std::string quoted = "parsing formula \"" + std::string(text) + "\": ";
    const std::string located = " at column " + std::to_string(column) + "\n";
    CHECK_MESSAGE(message.rfind(quoted, 0) == 0, "no quote in: ", message);
    CHECK_MESSAGE(message.find(problem) != std::string::npos, "'", problem, "' not in: ", message);
    CHECK_MESSAGE(message.find(located) != std::string::npos, "'", located, "' not in: ", message);
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "parser: leaves and number literals") {
  CHECK(parse("x") == x);
  CHECK(parse(" ( x ) ") == x);
  CHECK(parse("Var(3,1,1)") == ctx.var(3, 1, ir::CatJ, F32));
  CHECK(parse("Var(0,3,0)") == x);
  CHECK(parse("Vi(0,3)") == x);
  CHECK(parse("Vj(1, 3)") == y);
  CHECK(parse("Pm(3,1)") == p);
  CHECK(parse("2") == num(2));
  CHECK(parse("0.5") == num(0.5));
  CHECK(parse("1e-3") == num(1e-3));
  CHECK(parse("2.5E+2") == num(250));
  CHECK(parse(".5") == num(0.5));
  CHECK(parse("-2") == num(-2));
  CHECK(parse("-0.25") == num(-0.25));
  CHECK(parse("--3") == num(3));
  CHECK(parse("+x") == x);
  CHECK(parse("x")->dtype == F32);
  CHECK(parse_formula("x", aliases, ctx, ir::DType::F64) ==
        ctx.var(0, 3, ir::CatI, ir::DType::F64));
}

TEST_CASE_FIXTURE(Fixture, "parser: operators") {
  CHECK(parse("x+y") == make(Op::Add, {x, y}));
  CHECK(parse("x - y") == make(Op::Subtract, {x, y}));
  CHECK(parse("x*y") == make(Op::Mult, {x, y}));
  CHECK(parse("x/y") == make(Op::Divide, {x, y}));
  CHECK(parse("-x") == make(Op::Minus, {x}));
  CHECK(parse("x<y") == make(Op::LessThan, {x, y}));
  CHECK(parse("x<=y") == make(Op::LessOrEqual, {x, y}));
  CHECK(parse("x>y") == make(Op::LessThan, {y, x}));
  CHECK(parse("x>=y") == make(Op::LessOrEqual, {y, x}));
  CHECK(parse("x==y") == make(Op::Equal, {x, y}));
  CHECK(parse("x!=y") == make(Op::NotEqual, {x, y}));
  CHECK(parse("(x|y)") == make(Op::Scalprod, {x, y}));
  CHECK(parse("x|y") == make(Op::Scalprod, {x, y}));
  CHECK(parse("2*x") == make(Op::Mult, {num(2), x}));
  CHECK(parse("x*0.5") == make(Op::Mult, {x, num(0.5)}));
}

TEST_CASE_FIXTURE(Fixture, "parser: powers") {
  CHECK(parse("x**2") == make(Op::Square, {x}));
  CHECK(parse("x**3") == make(Op::Pow, {x}, {3}));
  CHECK(parse("x**-1") == make(Op::Pow, {x}, {-1}));
  CHECK(parse("x**(-2)") == make(Op::Pow, {x}, {-2}));
  CHECK(parse("x**0") == make(Op::Pow, {x}, {0}));
  CHECK(parse("x**0.5") == make(Op::Powf, {x, num(0.5)}));
  CHECK(parse("x**2.0") == make(Op::Powf, {x, num(2)}));  // a float exponent, as in Python
  CHECK(parse("x**-0.5") == make(Op::Powf, {x, num(-0.5)}));
  CHECK(parse("x**b") == make(Op::Powf, {x, b}));
  CHECK(parse("x**(b+1)") == make(Op::Powf, {x, make(Op::Add, {b, num(1)})}));
}

TEST_CASE_FIXTURE(Fixture, "parser: precedence and associativity") {
  CHECK(parse("x+y*b") == make(Op::Add, {x, make(Op::Mult, {y, b})}));
  CHECK(parse("x*y+b") == make(Op::Add, {make(Op::Mult, {x, y}), b}));
  CHECK(parse("(x+y)*b") == make(Op::Mult, {make(Op::Add, {x, y}), b}));
  CHECK(parse("x-y-b") == make(Op::Subtract, {make(Op::Subtract, {x, y}), b}));
  CHECK(parse("x-(y-b)") == make(Op::Subtract, {x, make(Op::Subtract, {y, b})}));
  CHECK(parse("x/y/b") == make(Op::Divide, {make(Op::Divide, {x, y}), b}));
  CHECK(parse("x/y*b") == make(Op::Mult, {make(Op::Divide, {x, y}), b}));
  CHECK(parse("-x**2") == make(Op::Minus, {make(Op::Square, {x})}));
  CHECK(parse("(-x)**2") == make(Op::Square, {make(Op::Minus, {x})}));
  CHECK(parse("-x*y") == make(Op::Mult, {make(Op::Minus, {x}), y}));
  CHECK(parse("x*-y") == make(Op::Mult, {x, make(Op::Minus, {y})}));
  CHECK(parse("x - -y") == make(Op::Subtract, {x, make(Op::Minus, {y})}));
  CHECK(parse("b**p**b") == make(Op::Powf, {b, make(Op::Powf, {p, b})}));  // right-associative
  CHECK(parse("2*x**3") == make(Op::Mult, {num(2), make(Op::Pow, {x}, {3})}));
  CHECK(parse("x|y+x") == make(Op::Scalprod, {x, make(Op::Add, {y, x})}));
  CHECK(parse("(x-y|x-y)") ==
        make(Op::Scalprod, {make(Op::Subtract, {x, y}), make(Op::Subtract, {x, y})}));
  CHECK(parse("b+p < b*p") == make(Op::LessThan, {make(Op::Add, {b, p}), make(Op::Mult, {b, p})}));
  CHECK(parse("(x|y) >= b") == make(Op::LessOrEqual, {b, make(Op::Scalprod, {x, y})}));
  CHECK(parse("(b<p)*x") == make(Op::Mult, {make(Op::LessThan, {b, p}), x}));
}

TEST_CASE_FIXTURE(Fixture, "parser: calls by op spelling") {
  CHECK(parse("Exp(-SqDist(x,y))*b") ==
        make(Op::Mult, {make(Op::Exp, {make(Op::Minus, {make(Op::SqDist, {x, y})})}), b}));
  CHECK(parse("Sum(x)") == make(Op::Sum, {x}));
  CHECK(parse("IfElse(x, y, b)") == make(Op::IfElse, {x, y, b}));
  CHECK(parse("Clamp(x, 0, 1)") == make(Op::Clamp, {x, num(0), num(1)}));
  CHECK(parse("Mod(x, 2, 0.5)") == make(Op::Mod, {x, num(2), num(0.5)}));
  CHECK(parse("WeightedSqDist(b, x, y)") == make(Op::WeightedSqDist, {b, x, y}));
  CHECK(parse("Concat(x, b)") == make(Op::Concat, {x, b}));
  CHECK(parse("ComplexMult(c, c)") == make(Op::ComplexMult, {c, c}));
  CHECK(parse("Exp(x,)") == make(Op::Exp, {x}));  // a trailing comma, as Python allows
}

TEST_CASE_FIXTURE(Fixture, "parser: integer attributes follow the formula arguments") {
  CHECK(parse("Pow(x, 3)") == make(Op::Pow, {x}, {3}));
  CHECK(parse("Pow(x,-2)") == make(Op::Pow, {x}, {-2}));
  CHECK(parse("Pow(x, (2))") == make(Op::Pow, {x}, {2}));
  CHECK(parse("Round(x, 2)") == make(Op::Round, {x}, {2}));
  CHECK(parse("ClampInt(x, 0, 1)") == make(Op::ClampInt, {x}, {0, 1}));
  CHECK(parse("Elem(x, 1)") == make(Op::Elem, {x}, {1}));
  CHECK(parse("Extract(x, 0, 2)") == make(Op::Extract, {x}, {0, 2}));
  CHECK(parse("ElemT(b, 3, 1)") == make(Op::ElemT, {b}, {3, 1}));
  CHECK(parse("ExtractT(b, 0, 3)") == make(Op::ExtractT, {b}, {0, 3}));
  CHECK(parse("SumT(b, 3)") == make(Op::SumT, {b}, {3}));
  CHECK(parse("OneHot(b, 4)") == make(Op::OneHot, {b}, {4}));
  CHECK(parse("ComplexSumT(c, 4)") == make(Op::ComplexSumT, {c}, {4}));
  const ir::Expr knots = ctx.var(5, 6, ir::CatP, F32);
  CHECK(parse("BSpline(Var(5,6,2), b, 3)") == make(Op::BSpline, {knots, b}, {3}));
}

TEST_CASE_FIXTURE(Fixture, "parser: TensorDot and Kron take tuples, encoded as ops.def says") {
  const ir::Expr A = ctx.var(5, 16, ir::CatP, F32);
  const ir::Expr v = ctx.var(6, 4, ir::CatI, F32);
  const ir::Expr matvec = make(Op::TensorDot, {A, v}, {2, 4, 4, 1, 4, 1, 1, 0, 0});
  CHECK(parse("TensorDot(Var(5,16,2), Var(6,4,0), (4,4), (4,), (1,), (0,))") == matvec);
  CHECK(parse("TensorDot(Var(5,16,2), Var(6,4,0), [4,4], [4], [1], [0])") == matvec);
  CHECK(parse("TensorDot(Var(5,16,2), Var(6,4,0), (4,4,), 4, 1, 0)") == matvec);
  CHECK(parse("TensorDot(Var(5,16,2), Var(5,16,2), (4,4), (4,4), (), (), (1,0,3,2))") ==
        make(Op::TensorDot, {A, A}, {2, 4, 4, 2, 4, 4, 0, 4, 1, 0, 3, 2}));
  CHECK(parse("TensorDot(Var(5,16,2), Var(5,16,2), (4,4), (4,4), [], [])") ==
        make(Op::TensorDot, {A, A}, {2, 4, 4, 2, 4, 4, 0, 0}));
  CHECK(parse("Kron(Var(5,16,2), Var(6,4,0), (4,4), (2,2))") ==
        make(Op::Kron, {A, v}, {2, 4, 4, 2, 2}));
}

TEST_CASE_FIXTURE(Fixture, "parser: constants fold at creation") {
  CHECK(parse("1+2") == num(3));
  CHECK(parse("x*1") == x);
}

TEST_CASE_FIXTURE(Fixture, "parser: unknown names") {
  const std::string message = error("Exp(-SqDist(x,z))");
  CHECK(message ==
        "parsing formula \"Exp(-SqDist(x,z))\": unknown variable 'z' at column 15\n"
        "  Exp(-SqDist(x,z))\n"
        "                ^");
  check_error("Foo(x)", "unknown function 'Foo'", 1);
  check_error("x + exp(y)", "unknown function 'exp'", 5);
  check_error("x(3)", "'x' is a variable, not a function", 1);
  check_error("Exp + x", "'Exp' is a function; call it as Exp(...)", 1);
  check_error("Constant(1)", "'Constant' is not written in formulas; write the number itself", 1);
  CHECK_THROWS_AS(parse("z"), keops::Error);
}

TEST_CASE_FIXTURE(Fixture, "parser: unknown operators") {
  check_error("x % y", "unknown operator '%'", 3);
  check_error("x = y", "expected ';' after the value bound to 'x', got end of input", 6);
  check_error("x // y", "expected an operand, got '/'", 4);
}

TEST_CASE_FIXTURE(Fixture, "parser: wrong argument counts say what was expected") {
  check_error("Exp(x, y)", "wrong number of arguments: Exp expects 1 argument, got 2", 1);
  check_error("x + SqDist(x)", "SqDist expects 2 arguments, got 1", 5);
  check_error("Exp()", "Exp expects 1 argument, got 0", 1);
  check_error("Pow(x)", "Pow expects 2 arguments (1 formula, then 1 integer), got 1", 1);
  check_error("ClampInt(x, 0)", "ClampInt expects 3 arguments (1 formula, then 2 integers), got 2",
              1);
  check_error("Var(0, 3)", "Var expects 3 (position, dim, cat), got 2", 1);
  check_error("Vi(3)", "Vi expects 2 (position, dim), got 1", 1);
  check_error("b + RatCst(1)", "RatCst expects 2 (p, q), got 1", 5);
  check_error("Grad(x, x, x, x)", "Grad expects 2 to 3 (f, v [, e]), got 4", 1);
  check_error("Grad_WithSavedForward(x, x, x)",
              "Grad_WithSavedForward expects 4 (f, v, e, saved), got 3", 1);
  check_error("TensorDot(x, y, (3,), (3,))", "TensorDot expects 6 or 7", 1);
  check_error("Kron(x, y, (3,))", "Kron expects 4 (f, g, dims_f, dims_g), got 3", 1);
}

TEST_CASE_FIXTURE(Fixture, "parser: type errors from the IR point at the operator or call") {
  check_error("x + c", "in Add: dim mismatch: arguments have dims 3, 2 (each must be equal, or 1)",
              3);
  check_error("Exp(x) * Exp(c)", "in Mult: dim mismatch", 8);
  check_error("b + SqDist(x, c)", "in SqDist: dim mismatch", 5);
  check_error("x < c", "in LessThan: dim mismatch", 3);
  check_error("x**c", "in Powf: dim mismatch", 2);
  check_error("Elem(x, 3)", "in Elem: the index = 3 is out of range [0, 2]", 1);
  check_error("Kron(x, y, (3,), (1,3))", "in Kron: dims_f and dims_g have 1 and 2 entries", 18);
  check_error("TensorDot(x, y, (3,), (3,), (0,), ())",
              "in TensorDot: contract_f and contract_g have 1 and 0 entries", 35);
  check_error("TensorDot(x, y, (2,), (3,), (0,), (0,))", "in TensorDot: dims_f multiply to 2", 1);
  check_error("Var(0, 0, 0)", "in Var: the dim must be in [1, 2147483647], not 0", 8);
  check_error("Var(0, 3, 5)", "in Var: the category must be in [0, 2], not 5", 11);
  check_error("Vi(3000000000, 3)",
              "in Vi: the position must be in [-2147483648, 2147483647], not 3000000000", 4);
}

TEST_CASE_FIXTURE(Fixture, "parser: unbalanced parentheses") {
  check_error("Exp(x", "unbalanced parenthesis: this '(' is never closed", 4);
  check_error("(x+y", "unbalanced parenthesis: this '(' is never closed", 1);
  check_error("Exp((x)", "this '(' is never closed", 4);
  check_error("TensorDot(x, y, [3", "unbalanced parenthesis: this '[' is never closed", 17);
  check_error("x)", "unbalanced parenthesis: this ')' has no matching '('", 2);
  check_error("Exp(x))", "this ')' has no matching '('", 7);
}

TEST_CASE_FIXTURE(Fixture, "parser: stray tokens, empty formulas, missing operands") {
  check_error("3 4", "unexpected '4' after a complete formula", 3);
  check_error("x y", "unexpected 'y' after a complete formula", 3);
  check_error("Exp(x y)", "expected ',' or ')', got 'y'", 7);
  check_error("(x y)", "expected ')', got 'y'", 4);
  check_error("", "empty formula", 1);
  check_error("   ", "empty formula", 1);
  check_error("x +", "unexpected end of input, expected an operand", 4);
  check_error("x + * y", "expected an operand, got '*'", 5);
  check_error("Exp(,x)", "expected an operand, got ','", 5);
  check_error("x < y < b", "chained comparisons are not supported; add parentheses", 7);
}

TEST_CASE_FIXTURE(Fixture, "parser: bad integer attributes") {
  check_error("Pow(x, 2.5)",
              "bad integer attribute: argument 2 of Pow must be an integer, got '2.5'", 8);
  check_error("Pow(x, y)", "argument 2 of Pow must be an integer, got 'y'", 8);
  check_error("Extract(x, 0, 1+1)", "argument 3 of Extract must be an integer, got '1+1'", 15);
  check_error("Var(0.5, 3, 0)", "argument 1 of Var must be an integer, got '0.5'", 5);
  check_error("TensorDot(x, y, x, (3,), (0,), (0,))",
              "argument 3 of TensorDot must be a tuple of integers such as (4,4), got 'x'", 17);
  check_error("Kron(x, y, (3, 1.5), (3,))", "a tuple holds integers only", 16);
}

TEST_CASE_FIXTURE(Fixture, "parser: tuples outside TensorDot and Kron") {
  check_error("(1, 2) + x",
              "an operand of '+' is a tuple; tuples are only arguments of TensorDot and Kron", 1);
  check_error("Exp([1])", "argument 1 of Exp is a tuple", 5);
  check_error("()", "the formula is a tuple", 1);
}

TEST_CASE_FIXTURE(Fixture, "parser: kernel shorthands are not available yet") {
  check_error("GaussKernel(p, x, y, b)", "kernel shorthands (GaussKernel) are not available yet",
              1);
}

TEST_CASE_FIXTURE(Fixture, "parser: differentiation forms expand into derivative formulas") {
  const ir::Expr e = ctx.var(5, 1, ir::CatI, F32);
  const ir::Expr gauss = parse("Exp(-SqDist(x,y))");
  CHECK(parse("Grad(Exp(-SqDist(x,y)), x, Var(5,1,0))") == passes::grad(ctx, gauss, x, e));
  CHECK(parse("Grad(Exp(-SqDist(x,y)), Var(0,3,0), Var(5,1,0))") == passes::grad(ctx, gauss, x, e));
  CHECK(parse("Diff(Exp(-SqDist(x,y)), y, x)") == passes::diff(ctx, gauss, y, x));
  CHECK(parse("GradMatrix(x*y, x)") == passes::grad_matrix(ctx, make(Op::Mult, {x, y}), x));
  CHECK(parse("Divergence(x*y, x)") == passes::divergence(ctx, make(Op::Mult, {x, y}), x));
  CHECK(parse("Laplacian(SqNorm2(x), x)") == num(6));
  CHECK(parse("Grad(Grad(x + y, x, Var(6,3,0)), x, Var(7,3,0))") == ctx.zeros(3, F32));
  // A derivative is an ordinary formula: it composes with the rest of the text.
  CHECK(parse("b * Grad(Exp(-SqDist(x,y)), x, Var(5,1,0))") ==
        make(Op::Mult, {b, passes::grad(ctx, gauss, x, e)}));
}

TEST_CASE_FIXTURE(Fixture, "parser: differentiation errors point at the argument") {
  check_error("Grad(Exp(x), x+y, b)",
              "in Grad: differentiation is with respect to a variable (an alias or "
              "Var(index, dim, cat)), not a formula (Add)",
              14);
  check_error("b + Diff(b, 2, b)", "in Diff: differentiation is with respect to a variable", 13);
  check_error("Grad(Exp(x), x, b)",
              "in Grad: the gradient input e has dim 1, but the formula has dim 3 (they must be "
              "equal)",
              17);
  check_error("Diff(Exp(x), x, c)",
              "in Diff: the direction u has dim 2, but the variable has dim 3 (they must be equal)",
              17);
  check_error("Divergence(Sum(x), x)",
              "in Divergence: the formula has dim 1, but the variable has dim 3", 12);
  check_error("Laplacian(x, x)", "in Laplacian: the formula must be scalar (dim 1), not dim 3", 11);
  check_error("b + Grad(x)", "wrong number of arguments: Grad expects 2 to 3 (f, v [, e]), got 1",
              5);
  check_error("Diff(x, x)", "Diff expects 3 (f, v, u), got 2", 1);
  check_error("Grad(x, p)",
              "in Grad: Grad(f, v) makes its e of the other category than v (as KeOps does), "
              "which a parameter v does not have",
              1);
  check_error("Grad_WithSavedForward(Exp(x), x, b, Var(9,1,0))",
              "in Grad: the gradient input e has dim 1, but the formula has dim 3", 34);
  check_error("Diff_WithSavedForward(Exp(x), x + b, x, b)",
              "in Diff: differentiation is with respect to a variable", 31);
  for (const char* form : {"GradMatrix", "Divergence", "Laplacian"}) {
    CAPTURE(form);
    check_error("b + " + std::string(form) + "(x, x, y)",
                std::string(form) + " expects 2 (f, v), got 3", 5);
  }
  check_error("Grad(BSpline(Var(5,6,2), b, 2), Var(5,6,2), Var(6,3,0))",
              "in BSpline: the derivative with respect to the knots is not supported yet", 1);
  check_error("Grad(x, (1,2), x)", "argument 2 of Grad is a tuple", 9);
}

TEST_CASE_FIXTURE(Fixture, "parser: nesting depth is bounded") {
  std::string deep = std::string(450, '(') + "x" + std::string(450, ')');
  CHECK(parse(deep) == x);
  std::string nested_calls;
  for (int k = 0; k < 300; ++k) nested_calls += "Exp(";
  nested_calls += "x" + std::string(300, ')');
  CHECK(parse(nested_calls)->op == Op::Exp);
  check_error(std::string(2000, '-') + "x", "the formula nests deeper than 500 levels", 501);
}

TEST_CASE_FIXTURE(Fixture, "parser: operator chains are bounded in depth, without recursion") {
  auto chain = [](int terms) {
    std::string text = "x";
    for (int k = 1; k < terms; ++k) text += "+x";
    return text;
  };
  CHECK(ir::depth(parse(chain(2000))) == 2000);
  check_error(chain(2001), "the formula is 2001 operations deep; at most 2000 are supported", 1);
  check_error(chain(70000), "the formula is 70000 operations deep", 1);  // crashed when compiled
}

TEST_CASE_FIXTURE(Fixture, "parser: bindings name values for the formula that follows") {
  CHECK(parse("d = x - y; e = Exp(-(d|d)); e * b + e") ==
        parse("Exp(-((x-y)|(x-y)))*b + Exp(-((x-y)|(x-y)))"));
  CHECK(parse("k = 3; x ** k") == parse("x ** 3"));  // numbers stay numbers
  CHECK(parse("x = y * 2; x") == parse("y * 2"));    // a binding hides an alias
  check_error("a = x; a = y; a", "'a' is bound twice", 8);
  check_error("Exp = x; Exp", "'Exp' is a function; it cannot be bound", 1);
  check_error("a = x b", "expected ';' after the value bound to 'a', got 'b'", 7);
  check_error("a = x; a(y)", "'a' is a variable, not a function", 8);
}

TEST_CASE_FIXTURE(Fixture, "printer: shared subexpressions of huge trees are bound once") {
  ir::Expr e = x;
  for (int k = 0; k < 60; ++k)  // a tree of 2^60 leaves: its text would never end
    e = ctx.make(ir::Op::Add, {ctx.make(ir::Op::Mult, {e, e}), b});
  const std::string text = ir::print(e);
  CHECK(text.size() < 5000);
  CHECK(text.rfind("_0=Add(Mult(Var(0,3,0),Var(0,3,0)),Var(2,1,1));_1=Add(Mult(_0,_0),Var(2,1,1));",
                   0) == 0);
  CHECK(parse(text) == e);
  // Small trees keep their canonical form.
  CHECK(ir::print(parse("Exp(x) * Exp(x)")) == "Mult(Exp(Var(0,3,0)),Exp(Var(0,3,0)))");
  ir::Expr chain = x;  // far deeper than a recursive printer could go
  for (int k = 0; k < 200000; ++k) chain = ctx.make(ir::Op::Exp, {chain});
  CHECK(ir::print(chain).size() == 200000 * 5 + 10);
}

TEST_CASE_FIXTURE(Fixture, "parser: reads back what the IR printer writes") {
  for (const char* text :
       {"Exp(-SqDist(x,y))*b", "x**0.5 + Pow(x,-2) - 0.1", "(x|y) >= b", "ClampInt(x,0,1) / 3",
        "IfElse(x, y, b) * Var(7,1,1)", "Sum(Concat(x, 2*b)) + Extract(x, 1, 2)",
        "TensorDot(Var(5,16,2), Var(5,16,2), (4,4), (4,4), (), (), (1,0,3,2))",
        "TensorDot(Var(5,16,2), Var(6,4,0), (4,4), (4,), (1,), (0,))",
        "Kron(Var(5,16,2), Var(6,4,0), (4,4), (2,2))", "ComplexMult(c, ComplexExp1j(p))"}) {
    CAPTURE(text);
    const ir::Expr e = parse(text);
    CHECK(parse(ir::print(e)) == e);
  }
}

TEST_CASE_FIXTURE(Fixture, "printer: long constants nest by halves, and read back") {
  // Found by the formula fuzzer: Var(-48009109,911056,1) * 0 printed 911,056 nested Concat.
  const ir::Expr zeros = parse("Var(3,900000,0) * 0");
  const std::string text = ir::print(zeros);
  CHECK(text.rfind("Concat(Concat(Concat(", 0) == 0);
  CHECK(parse(text) == zeros);
  CHECK(ir::print(parse("Concat(1, Concat(0, 2))")) == "Concat(1,Concat(0,2))");
  CHECK(ir::print(parse("Concat(Concat(1, 0), Concat(2, 3))")) ==
        "Concat(Concat(1,0),Concat(2,3))");
}
