// Reference semantics of arithmetic and element-wise math, following keopscore's
// utils/math_functions.py scalar definitions (including their behaviour at 0 and NaN).
#include <cmath>

#include "compiler/ir/evaluator_ops.h"
#include "compiler/support/check.h"

namespace keops::ir::detail {
namespace {

// Component k of argument `arg`, broadcasting a dim-1 argument against any dim.
double at(const Node& n, const ArgValues& a, size_t arg, int k) {
  return n.args[arg]->dim == 1 ? a[arg][0] : a[arg][k];
}

double keops_sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }
// Written as keopscore writes them, so that NaN takes the same branch.
double keops_step(double x) { return x < 0 ? 0.0 : 1.0; }
double keops_relu(double x) { return x < 0 ? 0.0 : x; }
double keops_clamp(double x, double a, double b) { return x < a ? a : (x > b ? b : x); }
double keops_rsqrt(double x) { return x == 0 ? 0.0 : 1.0 / std::sqrt(x); }
double keops_xlogx(double x) { return x != 0 ? x * std::log(x) : 0.0; }
double keops_sinxdivx(double x) { return x != 0 ? std::sin(x) / x : 1.0; }

double keops_round(double x, int64_t digits) {
  if (digits == 0) return std::round(x);
  const double scale = std::pow(10.0, double(digits));
  return std::round(x * scale) / scale;
}

double unary(const Node& n, double x) {
  switch (n.op) {
    case Op::Minus:
      return -x;
    case Op::Exp:
      return std::exp(x);
    case Op::Log:
      return std::log(x);
    case Op::Inv:
      return 1.0 / x;
    case Op::Sqrt:
      return std::sqrt(x);
    case Op::Rsqrt:
      return keops_rsqrt(x);
    case Op::Square:
      return x * x;
    case Op::Pow:
      return std::pow(x, double(n.ints[0]));
    case Op::Abs:
      return std::fabs(x);
    case Op::Sign:
      return keops_sign(x);
    case Op::Step:
      return keops_step(x);
    case Op::ReLU:
      return keops_relu(x);
    case Op::Sin:
      return std::sin(x);
    case Op::Cos:
      return std::cos(x);
    case Op::Asin:
      return std::asin(x);
    case Op::Acos:
      return std::acos(x);
    case Op::Atan:
      return std::atan(x);
    case Op::XLogX:
      return keops_xlogx(x);
    case Op::SinXDivX:
      return keops_sinxdivx(x);
    case Op::Floor:
      return std::floor(x);
    case Op::Round:
      return keops_round(x, n.ints[0]);
    case Op::ClampInt:
      return keops_clamp(x, double(n.ints[0]), double(n.ints[1]));
    default:
      KEOPS_CHECK(false, "not a unary element-wise op");
  }
  return 0;
}

double binary(Op op, double x, double y) {
  switch (op) {
    case Op::Add:
      return x + y;
    case Op::Subtract:
      return x - y;
    case Op::Mult:
      return x * y;
    case Op::Divide:
      return x / y;
    case Op::Powf:
      return std::pow(x, y);
    case Op::Atan2:
      return std::atan2(x, y);
    case Op::Equal:
      return x == y ? 1.0 : 0.0;
    case Op::NotEqual:
      return x != y ? 1.0 : 0.0;
    case Op::LessThan:
      return x < y ? 1.0 : 0.0;
    case Op::LessOrEqual:
      return x <= y ? 1.0 : 0.0;
    default:
      KEOPS_CHECK(false, "not a binary element-wise op");
  }
  return 0;
}

double ternary(Op op, double x, double y, double z) {
  switch (op) {
    // Mod(x, n, offset): the representative of x modulo n in [offset, offset + n).
    case Op::Mod:
      return x - y * std::floor((x - z) / y);
    case Op::Clamp:
      return keops_clamp(x, y, z);
    case Op::IfElse:
      return x >= 0 ? y : z;
    default:
      KEOPS_CHECK(false, "not a ternary element-wise op");
  }
  return 0;
}

}  // namespace

void eval_elementwise(const Node& n, const ArgValues& a, double* out) {
  switch (n.args.size()) {
    case 1:
      for (int k = 0; k < n.dim; ++k) out[k] = unary(n, a[0][k]);
      return;
    case 2:
      for (int k = 0; k < n.dim; ++k) out[k] = binary(n.op, at(n, a, 0, k), at(n, a, 1, k));
      return;
    case 3:
      for (int k = 0; k < n.dim; ++k)
        out[k] = ternary(n.op, at(n, a, 0, k), at(n, a, 1, k), at(n, a, 2, k));
      return;
    default:
      KEOPS_CHECK(false, "element-wise ops take 1 to 3 arguments");
  }
}

}  // namespace keops::ir::detail
