// The forms of the formula language: their table, and the IR each call expands into.
#include "compiler/frontend/forms.h"

#include <algorithm>
#include <climits>
#include <unordered_set>

#include "compiler/frontend/lexer.h"
#include "compiler/passes/autodiff.h"
#include "compiler/passes/linear_operators.h"
#include "keops/error.h"

namespace keops::frontend {
namespace {

constexpr FormInfo kForms[] = {
#define KEOPS_FORM(name, spelling, min_args, max_args, signature) \
  {spelling, min_args, max_args, signature},
#include "compiler/frontend/forms.def"
#undef KEOPS_FORM
};

constexpr std::string_view kParsingFormula = "parsing formula";

std::string spelled(const FormCall& c) { return std::string(form_info(c.form).spelling); }

std::string argument_name(const FormCall& c, size_t k) {
  return "argument " + std::to_string(k + 1) + " of " + spelled(c);
}

// Argument k as an integer in [lo, hi].
int64_t bounded(const FormCall& c, size_t k, const char* what, int64_t lo, int64_t hi) {
  const int64_t v = c.integer(k);
  if (v < lo || v > hi)
    throw c.fail(c.args[k].column, "in " + spelled(c) + ": " + what + " must be in [" +
                                       std::to_string(lo) + ", " + std::to_string(hi) + "], not " +
                                       std::to_string(v));
  return v;
}

// ---- leaves

// Var(position, dim, cat), Vi/Vj/Pm/Vx/Vy(position, dim). A position >= 0 is an argument
// of the call, recorded in the alias table; a negative one is a symbolic variable (as
// pykeops writes the variable of a trace), which the formula must lose.
ir::Expr leaf(const FormCall& c) {
  const int index = int(bounded(c, 0, "the position", INT_MIN, INT_MAX));
  const int dim = int(bounded(c, 1, "the dim", 1, INT_MAX));
  const ir::Cat cat = c.form == Form::Var ? ir::Cat(bounded(c, 2, "the category", 0, 2))
                                          : *leaf_category(spelled(c));
  if (index >= 0) c.aliases.record_formula_var(index, dim, cat);
  return c.ctx.var(index, dim, cat, c.dtype);
}

// ---- constants (keopscore's IntCst, RatCst and IntInv compute in float precision, then
// convert; ours are the double nearest to the value, rounded once to the formula's dtype)

ir::Expr rational(const FormCall& c, int64_t p, int64_t q, size_t q_argument) {
  if (q == 0)
    throw c.fail(q_argument < c.args.size() ? c.args[q_argument].column : c.column,
                 "in " + spelled(c) + ": the denominator is 0");
  return c.ctx.scalar(double(p) / double(q), c.dtype);
}

ir::Expr constant(const FormCall& c) {
  switch (c.form) {
    case Form::IntCst:
      return c.ctx.scalar(double(c.integer(0)), c.dtype);
    case Form::RatCst:
      return rational(c, c.integer(0), c.integer(1), 1);
    case Form::IntInv:
      return rational(c, 1, c.integer(0), 0);
    default:  // Zero
      return c.ctx.zeros(int(bounded(c, 0, "the dim", 1, INT_MAX)), c.dtype);
  }
}

// ---- differentiation

// 1 + the largest position of a Var under f, or 0 without one: where keopscore puts the e
// that Grad(f, v) makes.
int free_position(ir::Expr f) {
  int next = 0;
  std::unordered_set<ir::Expr> seen;
  std::vector<ir::Expr> stack{f};
  while (!stack.empty()) {
    const ir::Expr n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    if (n->is(ir::Op::Var)) next = std::max(next, n->var_index() + 1);
    for (ir::Expr a : n->args) stack.push_back(a);
  }
  return next;
}

// The e of Grad(f, v), as keopscore makes it: Var(free position, dim(f), 1 - cat(v)), an
// argument of the call like a written Var.
ir::Expr implicit_cotangent(const FormCall& c, ir::Expr f, ir::Expr v) {
  if (v->var_cat() == ir::CatP)
    throw c.fail(c.column,
                 "in Grad: Grad(f, v) makes its e of the other category than v (as KeOps does), "
                 "which a parameter v does not have; write Grad(f, v, e)");
  const int index = free_position(f);
  const ir::Cat cat = v->var_cat() == ir::CatI ? ir::CatJ : ir::CatI;
  c.aliases.record_formula_var(index, f->dim, cat);
  return c.ctx.var(index, f->dim, cat, c.dtype);
}

// Grad(f, v [, e]), Diff(f, v, u), GradMatrix, Divergence, Laplacian(f, v), and the
// WithSavedForward forms, whose saved forward output (keopscore's f0) only matters for a
// reduction: on a formula they are Grad and Diff, the saved argument checked and unused.
ir::Expr differentiation(const FormCall& c) {
  const bool saved = c.form == Form::Grad_WithSavedForward || c.form == Form::Diff_WithSavedForward;
  const bool is_grad = c.form == Form::Grad || c.form == Form::Grad_WithSavedForward;
  const bool is_diff = c.form == Form::Diff || c.form == Form::Diff_WithSavedForward;
  const std::string name = is_grad ? "Grad" : is_diff ? "Diff" : spelled(c);
  const ir::Expr f = c.formula(0), v = c.formula(1);
  if (saved) c.formula(3);
  c.at(c.args[1].column, [&] { passes::check_variable(name, v); });
  ir::Expr e = nullptr;
  if (is_grad) {
    e = c.args.size() > 2 ? c.formula(2) : implicit_cotangent(c, f, v);
    if (c.args.size() > 2) c.at(c.args[2].column, [&] { passes::check_cotangent(f, e); });
  }
  if (is_diff) {
    e = c.formula(2);
    c.at(c.args[2].column, [&] { passes::check_tangent(v, e); });
  }
  if (c.form == Form::Divergence) c.at(c.args[0].column, [&] { passes::check_divergence(f, v); });
  if (c.form == Form::Laplacian) c.at(c.args[0].column, [&] { passes::check_laplacian(f); });
  ir::Expr result = nullptr;
  c.at(c.column, [&] {
    if (is_grad)
      result = passes::grad(c.ctx, f, v, e);
    else if (is_diff)
      result = passes::diff(c.ctx, f, v, e);
    else if (c.form == Form::GradMatrix)
      result = passes::grad_matrix(c.ctx, f, v);
    else if (c.form == Form::Divergence)
      result = passes::divergence(c.ctx, f, v);
    else
      result = passes::laplacian(c.ctx, f, v);
  });
  return result;
}

// ---- linear operators, norms, DiffClampInt, factorization

ir::Expr optional_formula(const FormCall& c, size_t k) {
  return k < c.args.size() ? c.formula(k) : nullptr;
}

// TraceOperator(f, v [, w]), AdjointOperator(f, v, u), SumLinOperator(f, v [, wl [, wr]]).
ir::Expr linear_operator(const FormCall& c) {
  const ir::Expr f = c.formula(0), v = c.formula(1);
  const ir::Expr a = optional_formula(c, 2), b = optional_formula(c, 3);
  c.at(c.args[1].column, [&] { passes::check_variable(spelled(c), v); });
  ir::Expr result = nullptr;
  c.at(c.column, [&] {
    if (c.form == Form::TraceOperator)
      result = passes::trace_operator(c.ctx, f, v, a);
    else if (c.form == Form::AdjointOperator)
      result = passes::adjoint_operator(c.ctx, f, v, a);
    else
      result = passes::sum_lin_operator(c.ctx, f, v, a, b);
  });
  return result;
}

// A weight of dim 1 or `dim`, else an error at the weight.
void check_weight(const FormCall& c, ir::Expr w, int64_t dim, const std::string& dims) {
  if (w->dim != 1 && w->dim != dim)
    throw c.fail(c.args[0].column, "in " + spelled(c) + ": " + std::string(c.args[0].text) +
                                       " has dim " + std::to_string(w->dim) + "; it must be 1 or " +
                                       dims);
}

// SqNormIso(s, f) = s SqNorm2(f), SqNormDiag(s, f) = Sum(s f^2), SymSqNorm(a, f) =
// Sum(a TensorProd(f, f)).
ir::Expr norm(const FormCall& c) {
  const ir::Expr s = c.formula(0), f = c.formula(1);
  const int64_t d = f->dim;
  if (c.form == Form::SqNormDiag) check_weight(c, s, d, "f's dim " + std::to_string(d));
  if (c.form == Form::SymSqNorm)
    check_weight(c, s, d * d, "f's dim squared, " + std::to_string(d * d));
  ir::Context& ctx = c.ctx;
  ir::Expr result = nullptr;
  c.at(c.column, [&] {
    if (c.form == Form::SqNormIso)
      result = ctx.make(ir::Op::Mult, {s, ctx.make(ir::Op::SqNorm2, {f})});
    else if (c.form == Form::SqNormDiag)
      result = ctx.make(ir::Op::Sum, {ctx.make(ir::Op::Mult, {s, ctx.make(ir::Op::Square, {f})})});
    else
      result = ctx.make(ir::Op::Sum,
                        {ctx.make(ir::Op::Mult, {s, ctx.make(ir::Op::TensorProd, {f, f})})});
  });
  return result;
}

// DiffClampInt(f, a, b), keopscore's derivative of ClampInt: 1 where ClampInt(f, a, b) is f
// (a <= f <= b, and at NaN, where no comparison holds), else 0: (1 - [f < a]) (1 - [b < f]).
ir::Expr diff_clamp_int(const FormCall& c) {
  const ir::Expr f = c.formula(0);
  const ir::Expr a = c.ctx.scalar(double(c.integer(1)), c.dtype);
  const ir::Expr b = c.ctx.scalar(double(c.integer(2)), c.dtype);
  const auto not_less = [&](ir::Expr lo, ir::Expr hi) {
    return c.ctx.make(ir::Op::Subtract,
                      {c.ctx.scalar(1, c.dtype), c.ctx.make(ir::Op::LessThan, {lo, hi})});
  };
  return c.ctx.make(ir::Op::Mult, {not_less(f, a), not_less(b, f)});
}

// Factorize(f, g), AutoFactorize(f): keopscore computes a repeated subformula g once;
// interned IR shares every repeated subformula already, so the formula is f (g is read,
// its Vars recorded, as written).
ir::Expr factorization(const FormCall& c) {
  if (c.form == Form::Factorize) c.formula(1);
  return c.formula(0);
}

}  // namespace

const FormInfo& form_info(Form form) { return kForms[size_t(form)]; }

const Form* form_by_spelling(std::string_view name) {
  static const auto forms = [] {
    std::vector<Form> all;
    for (size_t k = 0; k < std::size(kForms); ++k) all.push_back(Form(k));
    return all;
  }();
  for (const Form& f : forms)
    if (form_info(f).spelling == name) return &f;
  return nullptr;
}

std::optional<ir::Cat> leaf_category(std::string_view spelling) {
  if (spelling == "Vi" || spelling == "Vx") return ir::CatI;
  if (spelling == "Vj" || spelling == "Vy") return ir::CatJ;
  if (spelling == "Pm") return ir::CatP;
  return std::nullopt;
}

ir::Expr FormCall::formula(size_t k) const {
  const FormArgument& a = args[k];
  switch (a.kind) {
    case FormArgument::Kind::Formula:
      return a.formula;
    case FormArgument::Kind::Number:
      return ctx.scalar(a.number, dtype);
    case FormArgument::Kind::Tuple:
      break;
  }
  throw fail(a.column, argument_name(*this, k) +
                           " is a tuple; tuples are only arguments of TensorDot and Kron");
}

int64_t FormCall::integer(size_t k) const {
  const FormArgument& a = args[k];
  if (!a.integer)
    throw fail(a.column, "bad integer attribute: " + argument_name(*this, k) +
                             " must be an integer, got '" + std::string(a.text) + "'");
  return *a.integer;
}

Error FormCall::fail(int at_column, const std::string& problem) const {
  return error_at(kParsingFormula, formula_text, at_column, problem);
}

void FormCall::at(int at_column, const std::function<void()>& check) const {
  try {
    check();
  } catch (const Error& e) {
    throw fail(at_column, e.what());
  }
}

ir::Expr expand_form(const FormCall& c) {
  switch (c.form) {
    case Form::Var:
    case Form::Vi:
    case Form::Vj:
    case Form::Pm:
    case Form::Vx:
    case Form::Vy:
      return leaf(c);
    case Form::IntCst:
    case Form::RatCst:
    case Form::IntInv:
    case Form::Zero:
      return constant(c);
    case Form::Grad:
    case Form::Diff:
    case Form::GradMatrix:
    case Form::Divergence:
    case Form::Laplacian:
    case Form::Grad_WithSavedForward:
    case Form::Diff_WithSavedForward:
      return differentiation(c);
    case Form::TraceOperator:
    case Form::AdjointOperator:
    case Form::SumLinOperator:
      return linear_operator(c);
    case Form::SqNormIso:
    case Form::SqNormDiag:
    case Form::SymSqNorm:
      return norm(c);
    case Form::DiffClampInt:
      return diff_clamp_int(c);
    case Form::Factorize:
    case Form::AutoFactorize:
      return factorization(c);
    case Form::GaussKernel:
    case Form::LaplaceKernel:
    case Form::CauchyKernel:
    case Form::InverseMultiquadricKernel:
      break;
  }
  throw c.fail(c.column, "kernel shorthands (" + spelled(c) + ") are not available yet");
}

}  // namespace keops::frontend
