// Genred::grad: the gradient of <out, e> as a GenredImpl, for every reduction kind.
//
// With out_o = Red_in F(o, in) (o the outer row, in the inner one), v's gradient is a Sum
// over the pairs of Grad(F, v, dF) + Grad(G, v, dG), where dF, dG are the partial
// derivatives of <out_o, e_o> with respect to F(o, in) and G(o, in). That Sum reduces into
// v's rows: over the inner axis for an outer v, over the outer axis for an inner v, over
// both for a parameter. Where dF needs the forward result (LogSumExp, ...), hidden stages
// compute it first and the Sum reads it as an extra outer argument.
#include <functional>
#include <string>
#include <unordered_map>

#include "compiler/passes/autodiff.h"
#include "compiler/passes/simplify.h"
#include "keops/error.h"
#include "runtime/api/genred_impl.h"

namespace keops::detail {
namespace {

using ir::DType;
using ir::Expr;
using ir::Op;
using Kind = ir::ReductionKind;

std::string var_text(size_t position, int dim, ir::Cat cat) {
  return "Var(" + std::to_string(position) + "," + std::to_string(dim) + "," +
         std::to_string(int(cat)) + ")";
}

std::string category_name(ir::Cat cat) {
  return cat == ir::CatI ? "Vi" : cat == ir::CatJ ? "Vj" : "Pm";
}

// The position of the argument named `name`, or of the one its Var(position,dim,cat) text
// (spaces allowed) describes.
size_t find_argument(const std::vector<frontend::ArgInfo>& args, const std::string& name) {
  std::string spaceless = name;
  std::erase_if(spaceless, [](char c) { return c == ' ' || c == '\t'; });
  for (size_t k = 0; k < args.size(); ++k)
    if (args[k].name == name || var_text(k, args[k].dim, args[k].cat) == spaceless) return k;
  std::string list;
  for (size_t k = 0; k < args.size(); ++k)
    list += (k ? ", " : "") + args[k].name + " = " + category_name(args[k].cat) + "(" +
            std::to_string(k) + "," + std::to_string(args[k].dim) + ")";
  throw Error("Genred::grad: no argument is named '" + name + "'; the arguments are " + list);
}

// f with every Var of category `from` read as category `to` at the same position.
Expr recategorize(ir::Context& ctx, Expr f, ir::Cat from, ir::Cat to,
                  std::unordered_map<Expr, Expr>& done) {
  if (!(f->deps & ir::dep_of(from))) return f;
  if (auto it = done.find(f); it != done.end()) return it->second;
  Expr result;
  if (f->is(Op::Var)) {
    result = ctx.var(f->var_index(), f->dim, to, f->dtype);
  } else {
    std::vector<Expr> args;
    for (Expr a : f->args) args.push_back(recategorize(ctx, a, from, to, done));
    result = ctx.make(f->op, std::move(args), f->ints);
  }
  return done[f] = result;
}

// Builds the gradient of forward's reduction with respect to one argument v. Formulas
// are built once per dtype by functions of the dtype.
class GradientBuilder {
 public:
  using Build = std::function<Expr(DType)>;

  GradientBuilder(const GenredImpl& forward, size_t var_position)
      : stage_(forward.main),
        ctx_(*forward.context),
        n_(forward.args.size()),
        var_position_(var_position),
        var_(forward.args[var_position]),
        grad_(std::make_shared<GenredImpl>()) {
    grad_->options = forward.options;
    grad_->context = forward.context;
    grad_->args = forward.args;
    // e: the cotangent, one row per output row (a single row for a sum over both axes).
    const int e_dim = stage_.value_cols();
    grad_->args.push_back({var_text(n_, e_dim, stage_.output_cat()), e_dim, stage_.output_cat()});
    for (const frontend::ArgInfo& a : grad_->args) arg_layouts_.push_back({a.dim, a.cat});
  }

  std::shared_ptr<const GenredImpl> build() {
    switch (stage_.reduction.kind) {
      case Kind::Sum:
        build_sum();
        break;
      case Kind::ArgMin:
      case Kind::ArgMax:
      case Kind::ArgKMin:
        build_zero();
        break;
      case Kind::Min:
      case Kind::Min_ArgMin:
        build_selection(Kind::ArgMin);
        break;
      case Kind::Max:
      case Kind::Max_ArgMax:
        build_selection(Kind::ArgMax);
        break;
      case Kind::KMin:
      case Kind::KMin_ArgKMin:
        build_selection(Kind::ArgKMin);
        break;
      case Kind::LogSumExp:
        build_log_sum_exp();
        break;
      case Kind::LogSumExpWeight:
        build_log_sum_exp_weight();
        break;
      case Kind::SumSoftMaxWeight:
        build_soft_max_weight();
        break;
      case Kind::Max_SumShiftExp:
      case Kind::Max_SumShiftExpWeight:
        build_max_sum_shift_exp();
        break;
    }
    if (!grad_->hidden.empty() || grad_->selection)
      grad_->staged_from = reduction_name(stage_.reduction.kind);
    return grad_;
  }

 private:
  // Sum: out_o = sum_in F, so dF = e_o.
  void build_sum() {
    grad_->main = sum_into_var({[&](DType t) { return grad(F(t), e(t)); }});
  }

  // ArgMin, ArgMax, ArgKMin: indices are piecewise constant, so the gradient is zero.
  void build_zero() {
    grad_->main = sum_into_var({[&](DType t) { return ctx_.zeros(var_.dim, t); }});
  }

  // LogSumExp, F scalar: out_o = log sum_in exp(F), so dF = e_o exp(F - out_o), a softmax.
  // For an outer v or a parameter, one SumSoftMaxWeight pass with weights Grad(F, v, e)
  // (summed over the rows for a parameter); an inner v needs out_o from a hidden forward.
  void build_log_sum_exp() {
    if (var_.cat != stage_.inner_cat()) {
      ReductionStage& s = grad_->main = stage(stage_.f, stage_.axis);
      s.reduction.kind = Kind::SumSoftMaxWeight;
      s.g = typed([&](DType t) { return grad(F(t), e(t)); });
      s.reduction.formula2 = s.g.f64;
      s.sum_rows = var_.cat == ir::CatP;
      return;
    }
    const size_t out = add_hidden(forward_as(Kind::LogSumExp));
    grad_->main = sum_into_var(
        {[&](DType t) { return grad(F(t), mul(e(t), exp(sub(F(t), hidden(out, t))))); }});
  }

  // LogSumExpWeight: out_ok = log sum_in exp(F) G_k, so with u_k = e_ok exp(F - out_ok),
  // dF = (u|G) and dG = u.
  void build_log_sum_exp_weight() {
    const size_t out = add_hidden(forward_as(Kind::LogSumExpWeight));
    grad_->main = sum_into_var({[&](DType t) {
      const Expr u = mul(e(t), exp(sub(F(t), hidden(out, t))));
      return add(grad(F(t), scalprod(u, G(t))), grad(G(t), u));
    }});
  }

  // SumSoftMaxWeight: out_o = sum_in p G with p = exp(F - lse_o), lse_o = log sum_in exp(F).
  // dp_in = p_in (dF_in - sum_k p_k dF_k), so dF = p (e_o|G - out_o) and dG = p e_o.
  void build_soft_max_weight() {
    const size_t lse = add_hidden(forward_as(Kind::LogSumExp));
    const size_t out = add_hidden(forward_as(Kind::SumSoftMaxWeight));
    grad_->main = sum_into_var({[&](DType t) {
      const Expr p = exp(sub(F(t), hidden(lse, t)));
      return add(grad(F(t), mul(p, scalprod(e(t), sub(G(t), hidden(out, t))))),
                 grad(G(t), mul(p, e(t))));
    }});
  }

  // Max_SumShiftExp(Weight): out_o = (m, s_k) with m = max_in F = F(in*) and
  // s_k = sum_in exp(F - m) G_k (G = 1 unweighted). ds_k = sum_in exp(F - m)(G_k (dF - dm)
  // + dG_k) with dm = dF(in*), so, e = (e_m, e_s):
  //   <d out, e> = sum_in exp(F - m) ((e_s|G) dF + (e_s|dG)) + (e_m - (e_s|s)) dF(in*).
  // The sum is a Sum reduction given the hidden forward (m, s); the last term is the
  // subgradient of Max with cotangent e_m - (e_s|s), from a hidden map of the rows. Exact
  // but at ties of the max (the lowest index takes it, as in the forward).
  void build_max_sum_shift_exp() {
    const bool weighted = stage_.reduction.kind == Kind::Max_SumShiftExpWeight;
    const int sums = stage_.value_cols() - 1;
    const size_t forward = add_hidden(forward_as(stage_.reduction.kind));
    auto m = [&](DType t) { return elem(hidden(forward, t), 0); };
    auto s = [&](DType t) { return extract(hidden(forward, t), 1, sums); };
    auto e_m = [&](DType t) { return elem(e(t), 0); };
    auto e_s = [&](DType t) { return extract(e(t), 1, sums); };
    grad_->main = sum_into_var({[&](DType t) {
      const Expr w = exp(sub(F(t), m(t)));
      if (!weighted) return grad(F(t), mul(w, e_s(t)));
      return add(grad(F(t), mul(w, scalprod(e_s(t), G(t)))), grad(G(t), mul(w, e_s(t))));
    }});
    ReductionStage shift =
        stage({[&](DType t) { return sub(e_m(t), scalprod(e_s(t), s(t))); }}, stage_.axis);
    shift.single_pair = true;
    select(Kind::ArgMax, add_hidden(std::move(shift)));
  }

  // Min, Max, KMin and their Arg forms: out_os = F_c(o, idx_os) at the selected indices,
  // so d<out, e> = sum_os e_os dF_c(o, idx_os): the subgradient through the selection.
  void build_selection(Kind arg_kind) {
    build_zero();
    select(arg_kind, n_);
  }

  // The selection term of the gradient, with cotangent C at argument `cotangent`.
  void select(Kind arg_kind, size_t cotangent) {
    SelectionTerm s;
    s.arg_reduction = forward_as(arg_kind);
    s.cotangent_arg = int(cotangent);
    s.cotangent_cat = arg_layouts_[cotangent].cat;
    s.var_cat = var_.cat;
    // Every pair becomes an outer row: inner arguments are read as outer ones.
    const ir::Cat outer = stage_.outer_cat(), inner = stage_.inner_cat();
    const ir::Cat pair_var_cat = var_.cat == inner ? outer : var_.cat;
    const int f_dim = stage_.f.f64->dim;
    s.pair_gradient = stage(typed([&](DType t) {
                              std::unordered_map<Expr, Expr> done;
                              const Expr f = recategorize(ctx_, F(t), inner, outer, done);
                              const Expr v =
                                  ctx_.var(int(var_position_), var_.dim, pair_var_cat, t);
                              return passes::grad(ctx_, f, v, ctx_.var(int(n_), f_dim, outer, t));
                            }),
                            stage_.axis);
    s.pair_gradient.single_pair = true;
    s.pair_gradient.args = stage_.args;
    for (codegen::ArgLayout& a : s.pair_gradient.args)
      if (a.cat == inner) a.cat = outer;
    s.pair_gradient.args.push_back({f_dim, outer});
    grad_->selection = std::move(s);
  }

  // A Sum of h over the axis, reading every argument so far (the caller's and hidden ones).
  ReductionStage stage(const TypedFormula& h, int axis) const {
    ReductionStage s;
    s.f = h;
    s.axis = axis;
    s.args = arg_layouts_;
    return s;
  }
  ReductionStage stage(const Build& h, int axis) const { return stage(typed(h), axis); }

  // A Sum of h into v's rows: v's category is the output's, or the sum is over both axes.
  ReductionStage sum_into_var(const Build& h) const {
    const bool inner = var_.cat == stage_.inner_cat();
    ReductionStage s = stage(h, inner ? 1 - stage_.axis : stage_.axis);
    s.sum_rows = var_.cat == ir::CatP;
    return s;
  }

  // The forward reduction F (and G) as another kind, per outer row, on the forward's
  // arguments alone (so a same-kind hidden forward shares the forward's kernel).
  ReductionStage forward_as(Kind kind) const {
    ReductionStage s;
    s.f = stage_.f;
    s.reduction.kind = kind;
    if (s.reduction.needs_formula2()) {
      s.g = stage_.g;
      s.reduction.formula2 = stage_.g.f64;
    }
    if (s.reduction.needs_k()) s.reduction.k = stage_.reduction.k;
    s.axis = stage_.axis;
    s.args = stage_.args;
    return s;
  }

  // Appends a hidden stage; its output becomes the next argument, returned.
  size_t add_hidden(ReductionStage s) {
    arg_layouts_.push_back({s.value_cols(), s.outer_cat()});
    grad_->hidden.push_back(std::move(s));
    return arg_layouts_.size() - 1;
  }

  TypedFormula typed(const Build& build) const {
    auto simplified = [&](DType t) {
      Expr f = build(t);
      passes::simplify(ctx_, f);
      return f;
    };
    return {simplified(DType::F32), simplified(DType::F64)};
  }

  // Formula pieces in dtype t.
  Expr F(DType t) const { return stage_.f.of(t); }
  Expr G(DType t) const { return stage_.g.of(t); }
  Expr e(DType t) const {
    const frontend::ArgInfo& a = grad_->args[n_];
    return ctx_.var(int(n_), a.dim, a.cat, t);
  }
  Expr hidden(size_t position, DType t) const {
    const codegen::ArgLayout& a = arg_layouts_[position];
    return ctx_.var(int(position), a.dim, a.cat, t);
  }
  Expr grad(Expr f, Expr cotangent) const {
    return passes::grad(ctx_, f, ctx_.var(int(var_position_), var_.dim, var_.cat, f->dtype),
                        cotangent);
  }
  Expr add(Expr a, Expr b) const { return ctx_.make(Op::Add, {a, b}); }
  Expr sub(Expr a, Expr b) const { return ctx_.make(Op::Subtract, {a, b}); }
  Expr mul(Expr a, Expr b) const { return ctx_.make(Op::Mult, {a, b}); }
  Expr exp(Expr a) const { return ctx_.make(Op::Exp, {a}); }
  Expr scalprod(Expr a, Expr b) const { return ctx_.make(Op::Scalprod, {a, b}); }
  Expr elem(Expr a, int m) const { return ctx_.make(Op::Elem, {a}, {m}); }
  Expr extract(Expr a, int start, int len) const {
    return ctx_.make(Op::Extract, {a}, {start, len});
  }

  const ReductionStage& stage_;
  ir::Context& ctx_;
  const size_t n_;  // the forward's argument count: e's position
  const size_t var_position_;
  const frontend::ArgInfo var_;
  std::shared_ptr<GenredImpl> grad_;
  std::vector<codegen::ArgLayout> arg_layouts_;  // the caller's arguments, then hidden ones
};

}  // namespace

std::shared_ptr<const GenredImpl> gradient(const GenredImpl& forward, const std::string& var) {
  const size_t position = find_argument(forward.args, var);
  if (!forward.staged_from.empty())
    throw Error("Genred::grad: second-order gradients of " + forward.staged_from +
                " are not supported yet (its gradient runs hidden steps)");
  if (forward.args[position].dim == 0)
    throw Error("Genred::grad: argument '" + var + "' holds no values (dim 0)");
  return GradientBuilder(forward, position).build();
}

}  // namespace keops::detail
