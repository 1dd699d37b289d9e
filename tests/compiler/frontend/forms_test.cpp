// Tests of the forms table and of what each form expands into, with its errors and columns.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "compiler/frontend/forms.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/passes/autodiff.h"
#include "compiler/passes/linear_operators.h"
#include "keops/error.h"

using keops::frontend::AliasTable;
using keops::frontend::Form;
using keops::frontend::form_by_spelling;
using keops::frontend::form_info;
using keops::frontend::parse_formula;
namespace passes = keops::passes;
namespace ir = keops::ir;
using ir::Op;

namespace {

constexpr ir::DType F64 = ir::DType::F64;

// x, y: 3-vectors over i and j; b: a j scalar; p: a parameter.
struct Fixture {
  ir::Context ctx;
  AliasTable aliases = AliasTable::parse({"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "p = Pm(1)"});
  ir::Expr x = ctx.var(0, 3, ir::CatI, F64);
  ir::Expr y = ctx.var(1, 3, ir::CatJ, F64);
  ir::Expr b = ctx.var(2, 1, ir::CatJ, F64);

  ir::Expr parse(std::string_view text) { return parse_formula(text, aliases, ctx, F64); }
  ir::Expr num(double v) { return ctx.scalar(v, F64); }

  // The message quotes the formula, names the problem and the column.
  void check_error(std::string_view text, std::string_view problem, int column) {
    std::string message = "(no error)";
    try {
      parse(text);
    } catch (const keops::Error& e) {
      message = e.what();
    }
    const std::string quoted = "parsing formula \"" + std::string(text) + "\": ";
    const std::string located = " at column " + std::to_string(column) + "\n";
    CHECK_MESSAGE(message.rfind(quoted, 0) == 0, "no quote in: ", message);
    CHECK_MESSAGE(message.find(problem) != std::string::npos, "'", problem, "' not in: ", message);
    CHECK_MESSAGE(message.find(located) != std::string::npos, "'", located, "' not in: ", message);
  }
  // The names of the Vars the parsed formulas wrote, in the order first written.
  std::vector<std::string> written() const {
    std::vector<std::string> names;
    for (const auto& v : aliases.formula_vars()) names.push_back(v.name);
    return names;
  }
};

}  // namespace

TEST_CASE("forms: the table round-trips its spellings; only Var is an op too") {
  for (Form f : {Form::Var, Form::Vx, Form::IntCst, Form::Zero, Form::Grad,
                 Form::Diff_WithSavedForward, Form::GaussKernel}) {
    const std::string_view spelling = form_info(f).spelling;
    CAPTURE(spelling);
    REQUIRE(form_by_spelling(spelling) != nullptr);
    CHECK(*form_by_spelling(spelling) == f);
    // The Var op prints as Var(...), which reads back through the Var form.
    CHECK((ir::op_by_spelling(spelling) == nullptr) == (f != Form::Var));
  }
  CHECK(form_by_spelling("grad") == nullptr);
  CHECK(form_info(Form::Grad).min_args == 2);
  CHECK(form_info(Form::Grad).max_args == 3);
  CHECK(form_info(Form::GaussKernel).max_args == -1);
}

TEST_CASE_FIXTURE(Fixture, "forms: Vx and Vy are Vi and Vj") {
  CHECK(parse("Vx(0,3)") == x);
  CHECK(parse("Vy(1, 3) - Vj(1, 3)") == parse("y - y"));
  CHECK(written() == std::vector<std::string>{"Var(0,3,0)", "Var(1,3,1)"});
}

TEST_CASE_FIXTURE(Fixture, "forms: IntCst, RatCst, IntInv and Zero are constants") {
  CHECK(parse("IntCst(3)") == num(3));
  CHECK(parse("IntCst(-2)") == num(-2));
  CHECK(parse("RatCst(1, 3)") == num(1.0 / 3));
  CHECK(parse("RatCst(-4, 2)") == num(-2));
  CHECK(parse("RatCst(0, 7)") == num(0));
  CHECK(parse("IntInv(4)") == num(0.25));
  CHECK(parse("IntInv(-3)") == num(-1.0 / 3));
  CHECK(parse("Zero(1)") == num(0));
  CHECK(parse("Zero(3)") == ctx.zeros(3, F64));
  // As LazyTensor writes them: in the middle of a formula, where they fold like numbers.
  CHECK(parse("x * IntCst(2) + Zero(3)") == parse("x * 2"));
  CHECK(parse("Exp(-SqDist(x, y) * RatCst(1, 2)) * IntInv(5)") ==
        parse("Exp(-SqDist(x, y) * 0.5) * 0.2"));
  // A float32 formula rounds the exact value once.
  CHECK(parse_formula("RatCst(1, 3)", aliases, ctx, ir::DType::F32) ==
        ctx.scalar(double(float(1.0 / 3)), ir::DType::F32));
  CHECK(written().empty());
}

TEST_CASE_FIXTURE(Fixture, "forms: constant errors point at the argument") {
  check_error("x + RatCst(1, 0)", "in RatCst: the denominator is 0", 15);
  check_error("IntInv(0)", "in IntInv: the denominator is 0", 8);
  check_error("Zero(0)", "in Zero: the dim must be in [1, 2147483647], not 0", 6);
  check_error("IntCst(x)",
              "bad integer attribute: argument 1 of IntCst must be an integer, got 'x'", 8);
  check_error("IntCst(1.5)", "argument 1 of IntCst must be an integer, got '1.5'", 8);
  check_error("RatCst(1, (2,3))", "argument 2 of RatCst must be an integer, got '(2,3)'", 11);
  check_error("IntCst()", "wrong number of arguments: IntCst expects 1 (n), got 0", 1);
  check_error("b * Zero(2, 3)", "Zero expects 1 (dim), got 2", 5);
}

TEST_CASE_FIXTURE(Fixture, "forms: Grad(f, v) makes e as keopscore does") {
  // e = Var(1 + the largest position in f, dim(f), 1 - cat(v)): here Var(2,1,1), which is b.
  const ir::Expr gauss = parse("Exp(-SqDist(x, y))");
  CHECK(parse("Grad(Exp(-SqDist(x, y)), x)") == passes::grad(ctx, gauss, x, b));
  CHECK(parse("Grad(Exp(-SqDist(x, y)), x)") == parse("Grad(Exp(-SqDist(x, y)), x, b)"));
  // From a j variable, e is an i variable; with no Var in f but v, it follows v.
  const ir::Expr e_i = ctx.var(2, 3, ir::CatI, F64);
  CHECK(parse("Grad(y * y, y)") == passes::grad(ctx, parse("y * y"), y, e_i));
  CHECK(written() == std::vector<std::string>{"Var(2,1,1)", "Var(2,3,0)"});
  check_error("b + Grad(p * x, p)",
              "in Grad: Grad(f, v) makes its e of the other category than v (as KeOps does), "
              "which a parameter v does not have; write Grad(f, v, e)",
              5);
}

TEST_CASE_FIXTURE(Fixture, "forms: the WithSavedForward forms are Grad and Diff on a formula") {
  const ir::Expr gauss = parse("Exp(-SqDist(x, y))");
  const ir::Expr e = ctx.var(5, 1, ir::CatI, F64);
  CHECK(parse("Grad_WithSavedForward(Exp(-SqDist(x, y)), x, Var(5,1,0), Var(6,1,0))") ==
        passes::grad(ctx, gauss, x, e));
  CHECK(parse("Diff_WithSavedForward(Exp(-SqDist(x, y)), y, x, Var(6,1,0))") ==
        passes::diff(ctx, gauss, y, x));
  // The saved output is unused, but written: an argument of the call.
  CHECK(written() == std::vector<std::string>{"Var(5,1,0)", "Var(6,1,0)"});
  check_error("Grad_WithSavedForward(x, x, x, (1,2))",
              "argument 4 of Grad_WithSavedForward is a tuple", 32);
}

TEST_CASE_FIXTURE(Fixture, "forms: kernel shorthands are reserved, not available") {
  check_error("x * LaplaceKernel()", "kernel shorthands (LaplaceKernel) are not available yet", 5);
}

TEST_CASE_FIXTURE(Fixture, "forms: SqNormIso, SqNormDiag, SymSqNorm expand as keopscore does") {
  CHECK(parse("SqNormIso(b, x - y)") == parse("b * SqNorm2(x - y)"));
  CHECK(parse("SqNormIso(y, x)") == parse("y * SqNorm2(x)"));  // any s, as keopscore
  CHECK(parse("SqNormDiag(y, x)") == parse("Sum(y * Square(x))"));
  CHECK(parse("SqNormDiag(b, x)") == parse("Sum(b * Square(x))"));
  CHECK(parse("SymSqNorm(Var(5,9,2), x)") == parse("Sum(Var(5,9,2) * TensorProd(x, x))"));
  check_error("x + SqNormDiag(Var(5,2,2), x)",
              "in SqNormDiag: Var(5,2,2) has dim 2; it must be 1 or f's dim 3", 16);
  check_error("SymSqNorm(y, x)", "in SymSqNorm: y has dim 3; it must be 1 or f's dim squared, 9",
              11);
}

TEST_CASE_FIXTURE(Fixture, "forms: DiffClampInt is 1 on [a, b] and 0 outside") {
  CHECK(parse("DiffClampInt(x, -1, 2)") == parse("(1 - (x < -1)) * (1 - (2 < x))"));
  check_error("DiffClampInt(x, y, 2)", "argument 2 of DiffClampInt must be an integer, got 'y'",
              17);
}

TEST_CASE_FIXTURE(Fixture, "forms: Factorize and AutoFactorize keep the formula") {
  const ir::Expr f = parse("Exp(-SqDist(x, y)) * SqDist(x, y)");
  CHECK(parse("Factorize(Exp(-SqDist(x, y)) * SqDist(x, y), SqDist(x, y))") == f);
  CHECK(parse("AutoFactorize(Exp(-SqDist(x, y)) * SqDist(x, y))") == f);
  // g is read as written: its Vars are arguments.
  CHECK(parse("Factorize(x, Var(7,1,2))") == x);
  CHECK(written() == std::vector<std::string>{"Var(7,1,2)"});
  check_error("Factorize(x, (1,2))", "argument 2 of Factorize is a tuple", 14);
}

TEST_CASE_FIXTURE(Fixture, "forms: the linear operators, and pykeops's symbolic variables") {
  const ir::Expr u = ctx.var(6, 3, ir::CatI, F64);
  const ir::Expr f = parse("Exp(-SqDist(x, y)) * Var(6,3,0)");
  CHECK(parse("TraceOperator(Exp(-SqDist(x, y)) * Var(6,3,0), Var(6,3,0))") ==
        passes::trace_operator(ctx, f, u, nullptr));
  CHECK(parse("TraceOperator(Exp(-SqDist(x, y)) * Var(6,3,0), Var(6,3,0), b)") ==
        passes::trace_operator(ctx, f, u, b));
  CHECK(parse("AdjointOperator(Exp(-SqDist(x, y)) * Var(6,3,0), Var(6,3,0), y)") ==
        passes::adjoint_operator(ctx, f, u, y));
  CHECK(parse("SumLinOperator(Exp(-SqDist(x, y)) * Var(6,3,0), Var(6,3,0), b, y)") ==
        passes::sum_lin_operator(ctx, f, u, b, y));
  // A negative position is symbolic: not an argument, and gone once traced.
  const ir::Expr s = ctx.var(-1, 3, ir::CatI, F64);
  CHECK(parse("Var(-1,3,0)") == s);
  CHECK(parse("TraceOperator(Exp(-SqDist(x, y)) * Var(-1,3,0), Var(-1,3,0))") ==
        passes::trace_operator(ctx, parse("Exp(-SqDist(x, y)) * Var(-1,3,0)"), s, nullptr));
  CHECK(written() == std::vector<std::string>{"Var(6,3,0)"});
  check_error("b + TraceOperator(x * x, x)",
              "in TraceOperator: the formula is not linear in the variable", 5);
  check_error("TraceOperator(x, x + b)",
              "in TraceOperator: differentiation is with respect to a variable", 18);
  check_error("SumLinOperator(x, x, b, y, b)",
              "SumLinOperator expects 2 to 4 (f, v [, wl [, wr]]), got 5", 1);
}

TEST_CASE("forms: every formula name of keopscore 2.3 is an op or a form") {
  // keopscore/formulas: maths, complex, variables, autodiff, LinearOperators, factorization.
  const char* keopscore[] = {"Abs",
                             "Acos",
                             "Add",
                             "ArgMax",
                             "ArgMin",
                             "Asin",
                             "Atan",
                             "Atan2",
                             "BSpline",
                             "Clamp",
                             "ClampInt",
                             "Concat",
                             "Cos",
                             "DiffClampInt",
                             "Divide",
                             "Elem",
                             "ElemT",
                             "Equal",
                             "Exp",
                             "Extract",
                             "ExtractT",
                             "GradMatrix",
                             "Floor",
                             "IfElse",
                             "IntInv",
                             "Inv",
                             "Kron",
                             "LessOrEqual",
                             "LessThan",
                             "Log",
                             "MatVecMult",
                             "Max",
                             "Min",
                             "Minus",
                             "Mod",
                             "Mult",
                             "Norm2",
                             "Normalize",
                             "NotEqual",
                             "OneHot",
                             "Pow",
                             "Powf",
                             "ReLU",
                             "Round",
                             "Rsqrt",
                             "Scalprod",
                             "Sign",
                             "Sin",
                             "SinXDivX",
                             "SoftDTW_SqDist",
                             "SqDist",
                             "SqNorm2",
                             "SqNormDiag",
                             "SqNormIso",
                             "Sqrt",
                             "Square",
                             "Step",
                             "Subtract",
                             "Sum",
                             "SumT",
                             "SymSqNorm",
                             "TensorDot",
                             "TensorProd",
                             "VecMatMult",
                             "WeightedSqDist",
                             "WeightedSqNorm",
                             "XLogX",
                             "ComplexAbs",
                             "ComplexAdd",
                             "ComplexAngle",
                             "ComplexDivide",
                             "ComplexExp",
                             "ComplexExp1j",
                             "ComplexImag",
                             "ComplexMult",
                             "ComplexReal",
                             "ComplexRealScal",
                             "ComplexSquareAbs",
                             "ComplexSubtract",
                             "ComplexSum",
                             "ComplexSumT",
                             "Conj",
                             "Imag2Complex",
                             "Real2Complex",
                             "IntCst",
                             "RatCst",
                             "Var",
                             "Zero",
                             "Grad",
                             "Grad_WithSavedForward",
                             "Diff",
                             "Diff_WithSavedForward",
                             "Laplacian",
                             "Divergence",
                             "TraceOperator",
                             "AdjointOperator",
                             "SumLinOperator",
                             "Factorize",
                             "AutoFactorize"};
  for (const char* name : keopscore) {
    CAPTURE(name);
    CHECK((ir::op_by_spelling(name) != nullptr || form_by_spelling(name) != nullptr));
  }
}
