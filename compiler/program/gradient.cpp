// The gradient of a reduction program's <out, e>, by reverse mode over its steps (gradient.h).
//
// A program has hidden steps, each a sum of terms reading the caller's
// arguments and the steps before it, then the output step. The gradient of <out, e> with
// respect to an argument v is the sum, over the terms reading v, of each term's own
// gradient (every other array held fixed), plus the chain rule through every hidden step h
// that depends on v: the terms reading h give h a cotangent c_h (a new hidden step, the
// sum of their gradients with respect to h), and h's own terms are then differentiated
// with cotangent c_h. The hidden steps are visited last to first, so every c_h is complete
// before it is used. The result is a program of the same form, differentiable again.
//
// A reduction term out_o = Red_in F(o, in) (o the outer row, in the inner one) has the
// gradient Sum over the pairs of Grad(F, v, dF) + Grad(G, v, dG), where dF, dG are the
// partial derivatives of <out_o, e_o> with respect to F(o, in) and G(o, in). That Sum
// reduces into v's rows: over the inner axis for an outer v, over the outer axis for an
// inner v, over both for a parameter. Where dF needs the forward result (LogSumExp, ...),
// hidden steps compute it first and the Sum reads it as an extra outer argument.
//
// A selection term (Min, Max, KMin: the value at the selected index) is differentiated at
// the same picks: the indices are piecewise constant, so only the gathered values vary.
#include "compiler/program/gradient.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "compiler/passes/autodiff.h"
#include "compiler/passes/simplify.h"
#include "keops/error.h"

namespace keops::program {
namespace {

using codegen::ArgLayout;
using ir::DType;
using ir::Expr;
using ir::Op;
using Kind = ir::ReductionKind;
using Build = std::function<Expr(DType)>;
using Leaf = std::function<Expr(Expr)>;

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

// f with every Var leaf x replaced by leaf(x).
Expr substitute(ir::Context& ctx, Expr f, const Leaf& leaf, std::unordered_map<Expr, Expr>& done) {
  if (f->deps == ir::kDepNone) return f;  // no Var below
  if (auto it = done.find(f); it != done.end()) return it->second;
  Expr result;
  if (f->is(Op::Var)) {
    result = leaf(f);
  } else {
    std::vector<Expr> args;
    for (Expr a : f->args) args.push_back(substitute(ctx, a, leaf, done));
    result = ctx.make(f->op, std::move(args), f->ints);
  }
  return done[f] = result;
}

TypedFormula substitute(ir::Context& ctx, const TypedFormula& f, const Leaf& leaf) {
  TypedFormula result;
  for (Expr TypedFormula::*member : {&TypedFormula::f32, &TypedFormula::f64}) {
    if (!(f.*member)) continue;
    std::unordered_map<Expr, Expr> done;
    result.*member = substitute(ctx, f.*member, leaf, done);
  }
  return result;
}

// True when f reads the argument at `position`.
bool reads(Expr f, size_t position) {
  std::vector<Expr> stack = {f};
  std::unordered_set<Expr> seen;
  while (!stack.empty()) {
    const Expr x = stack.back();
    stack.pop_back();
    if (x->deps == ir::kDepNone || !seen.insert(x).second) continue;
    if (x->is(Op::Var) && size_t(x->var_index()) == position) return true;
    stack.insert(stack.end(), x->args.begin(), x->args.end());
  }
  return false;
}

bool reads(const ReductionStage& s, size_t position) {
  return reads(s.f.f64, position) || (s.g.f64 && reads(s.g.f64, position));
}

bool reads(const SelectionTerm& s, size_t position) {
  return (position < s.gathered() && reads(s.pair.f.f64, position)) ||
         std::find(s.slot_args.begin(), s.slot_args.end(), int(position)) != s.slot_args.end();
}

bool same_stage(const ReductionStage& a, const ReductionStage& b) {
  auto same_layouts = [](const std::vector<ArgLayout>& x, const std::vector<ArgLayout>& y) {
    return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                      [](ArgLayout p, ArgLayout q) { return p.dim == q.dim && p.cat == q.cat; });
  };
  return a.f.f32 == b.f.f32 && a.f.f64 == b.f.f64 && a.g.f32 == b.g.f32 && a.g.f64 == b.g.f64 &&
         a.reduction.kind == b.reduction.kind && a.reduction.k == b.reduction.k &&
         a.axis == b.axis && a.sum_rows == b.sum_rows && a.single_pair == b.single_pair &&
         same_layouts(a.args, b.args);
}

// The gradient program under construction: its arguments, hidden steps and their shapes.
class Program {
 public:
  explicit Program(const ReductionProgram& forward)
      : ctx(*forward.context), impl(std::make_shared<ReductionProgram>()) {
    impl->context = forward.context;
  }

  // A formula built once per dtype, simplified.
  TypedFormula typed(const Build& build) const {
    auto simplified = [&](DType t) {
      Expr f = build(t);
      passes::simplify(ctx, f);
      return f;
    };
    return {simplified(DType::F32), simplified(DType::F64)};
  }

  // The array at `position` read as a Var, in its category or as `cat`.
  Expr var(size_t position, DType t) const { return var(position, t, layouts[position].cat); }
  Expr var(size_t position, DType t, ir::Cat cat) const {
    return ctx.var(int(position), layouts[position].dim, cat, t);
  }

  // A Sum of zeros shaped like rows of `cat`, `dim` wide: no kernel runs for it.
  ReductionStage zero_stage(ir::Cat cat, int dim) const {
    ReductionStage s;
    s.f = typed([&](DType t) { return ctx.zeros(dim, t); });
    s.axis = cat == ir::CatJ ? 0 : 1;
    s.sum_rows = cat == ir::CatP;
    return s;
  }
  Step zero_step(const ArgLayout& shape) const {
    return Step{zero_stage(shape.cat, shape.dim), {}, {}};
  }

  // Adds term s into step: Sums of one shape and kind of loop are fused into one kernel.
  void add_term(Step& step, ReductionStage s) const {
    if (s.is_zero()) return;
    if (step.main.is_zero()) {
      step.main = std::move(s);
      return;
    }
    auto fusable = [&](const ReductionStage& t) {
      return t.reduction.kind == Kind::Sum && s.reduction.kind == Kind::Sum && t.axis == s.axis &&
             t.sum_rows == s.sum_rows && t.single_pair == s.single_pair;
    };
    std::vector<ReductionStage*> terms = {&step.main};
    for (ReductionStage& t : step.more) terms.push_back(&t);
    for (ReductionStage* t : terms)
      if (fusable(*t)) {
        t->f = typed([&](DType d) { return ctx.make(Op::Add, {t->f.of(d), s.f.of(d)}); });
        if (s.args.size() > t->args.size()) t->args = std::move(s.args);  // one prefix
        return;
      }
    step.more.push_back(std::move(s));
  }

  // Appends a hidden step (or finds an equal one already computed); returns its position.
  size_t add_hidden(Step s) {
    if (s.more.empty() && s.selections.empty())
      for (size_t k = 0; k < impl->hidden.size(); ++k) {
        const Step& h = impl->hidden[k];
        if (h.more.empty() && h.selections.empty() && same_stage(h.main, s.main))
          return impl->args.size() + k;
      }
    layouts.push_back({s.value_cols(), s.output_cat()});
    impl->hidden.push_back(std::move(s));
    return layouts.size() - 1;
  }

  ir::Context& ctx;
  std::shared_ptr<ReductionProgram> impl;
  std::vector<ArgLayout> layouts;  // of every array: the caller's, then the hidden steps'
};

// Appends to `into` the terms of d<s, e>/dv for one reduction term s, with v and e arrays
// of the program by position (e has s's output shape).
class StageGradient {
 public:
  StageGradient(Program& program, const ReductionStage& s, size_t v, size_t e, Step& into)
      : p_(program),
        ctx_(program.ctx),
        stage_(s),
        var_position_(v),
        var_(program.layouts[v]),
        e_position_(e),
        into_(into) {}

  void build() {
    using Rule = ir::ReductionDerivative;
    switch (stage_.reduction.traits().derivative) {
      case Rule::Linear:
        build_sum();
        break;
      case Rule::None:
        break;  // indices are piecewise constant: a zero gradient
      case Rule::AtSelected:
        select(ir::indices_reduction(stage_.reduction.kind), e_position_);
        break;
      case Rule::LogSumExp:  // with a G, LogSumExpWeight
        stage_.reduction.formula2 ? build_log_sum_exp_weight() : build_log_sum_exp();
        break;
      case Rule::LogSumExpWeight:
        build_log_sum_exp_weight();
        break;
      case Rule::SoftMax:
        build_soft_max_weight();
        break;
      case Rule::MaxSumShiftExp:
        build_max_sum_shift_exp();
        break;
    }
  }

 private:
  // Sum: out_o = sum_in F, so dF = e_o.
  void build_sum() {
    add(sum_into_var([&](DType t) { return grad(F(t), e(t)); }));
  }

  // LogSumExp, F scalar: out_o = log sum_in exp(F), so dF = e_o exp(F - out_o), a softmax.
  // For an outer v or a parameter, one SumSoftMaxWeight pass with weights Grad(F, v, e)
  // (summed over the rows for a parameter); an inner v needs out_o from a hidden forward.
  void build_log_sum_exp() {
    if (var_.cat != stage_.inner_cat()) {
      ReductionStage s = stage(stage_.f, stage_.axis);
      s.reduction.kind = Kind::SumSoftMaxWeight;
      s.g = p_.typed([&](DType t) { return grad(F(t), e(t)); });
      s.reduction.formula2 = s.g.f64;
      s.sum_rows = var_.cat == ir::CatP;
      add(std::move(s));
      return;
    }
    const size_t out = add_hidden(forward_as(Kind::LogSumExp));
    add(sum_into_var(
        [&](DType t) { return grad(F(t), mul(e(t), exp(sub(F(t), hidden(out, t))))); }));
  }

  // LogSumExpWeight: out_ok = log sum_in exp(F) G_k, so with u_k = e_ok exp(F - out_ok),
  // dF = (u|G) and dG = u.
  void build_log_sum_exp_weight() {
    const size_t out = add_hidden(forward_as(Kind::LogSumExpWeight));
    add(sum_into_var([&](DType t) {
      const Expr u = mul(e(t), exp(sub(F(t), hidden(out, t))));
      return plus(grad(F(t), scalprod(u, G(t))), grad(G(t), u));
    }));
  }

  // SumSoftMaxWeight: out_o = sum_in p G with p = exp(F - lse_o), lse_o = log sum_in exp(F).
  // dp_in = p_in (dF_in - sum_k p_k dF_k), so dF = p (e_o|G - out_o) and dG = p e_o.
  void build_soft_max_weight() {
    const size_t lse = add_hidden(forward_as(Kind::LogSumExp));
    const size_t out = add_hidden(forward_as(Kind::SumSoftMaxWeight));
    add(sum_into_var([&](DType t) {
      const Expr p = exp(sub(F(t), hidden(lse, t)));
      return plus(grad(F(t), mul(p, scalprod(e(t), sub(G(t), hidden(out, t))))),
                  grad(G(t), mul(p, e(t))));
    }));
  }

  // Max_SumShiftExp(Weight): out_o = (m, s_k) with m = max_in F = F(in*) and
  // s_k = sum_in exp(F - m) G_k (G = 1 unweighted). ds_k = sum_in exp(F - m)(G_k (dF - dm)
  // + dG_k) with dm = dF(in*), so, e = (e_m, e_s):
  //   <d out, e> = sum_in exp(F - m) ((e_s|G) dF + (e_s|dG)) + (e_m - (e_s|s)) dF(in*).
  // The sum is a Sum reduction given the hidden forward (m, s); the last term is the
  // subgradient of Max with cotangent e_m - (e_s|s), from a hidden map of the rows. Exact
  // but at ties of the max (the lowest index takes it, as in the forward).
  void build_max_sum_shift_exp() {
    const bool weighted = stage_.reduction.needs_formula2();
    const int sums = stage_.value_cols() - 1;
    const size_t forward = add_hidden(forward_as(stage_.reduction.kind));
    auto m = [&](DType t) { return elem(hidden(forward, t), 0); };
    auto s = [&](DType t) { return extract(hidden(forward, t), 1, sums); };
    auto e_m = [&](DType t) { return elem(e(t), 0); };
    auto e_s = [&](DType t) { return extract(e(t), 1, sums); };
    add(sum_into_var([&](DType t) {
      const Expr w = exp(sub(F(t), m(t)));
      if (!weighted) return grad(F(t), mul(w, e_s(t)));
      return plus(grad(F(t), mul(w, scalprod(e_s(t), G(t)))), grad(G(t), mul(w, e_s(t))));
    }));
    ReductionStage shift =
        stage(p_.typed([&](DType t) { return sub(e_m(t), scalprod(e_s(t), s(t))); }), stage_.axis);
    shift.single_pair = true;
    select(Kind::ArgMax, add_hidden(std::move(shift)));
  }

  // Min, Max, KMin and their Arg forms: out_os = F_c(o, idx_os) at the selected indices,
  // so d<out, e> = sum_os C_os dF_c(o, idx_os), C at `cotangent`: a selection term.
  void select(Kind arg_kind, size_t cotangent) {
    SelectionTerm s;
    s.arg_reduction = forward_as(arg_kind);
    s.slot_args = {int(cotangent)};
    s.target_cat = var_.cat;
    // Every pair becomes an outer row: inner arrays are read as outer ones.
    const ir::Cat outer = stage_.outer_cat(), inner = stage_.inner_cat();
    auto as_pair = [&](ir::Cat c) { return c == inner ? outer : c; };
    const size_t gathered = p_.layouts.size();
    const int f_dim = stage_.f.f64->dim;
    s.pair.f = p_.typed([&](DType t) {
      std::unordered_map<Expr, Expr> done;
      const Expr f = substitute(
          ctx_, F(t),
          [&](Expr x) { return ctx_.var(x->var_index(), x->dim, as_pair(x->var_cat()), t); }, done);
      const Expr v = p_.var(var_position_, t, as_pair(var_.cat));
      return passes::grad(ctx_, f, v, ctx_.var(int(gathered), f_dim, outer, t));
    });
    s.pair.axis = stage_.axis;
    s.pair.single_pair = true;
    for (const ArgLayout& a : p_.layouts) s.pair.args.push_back({a.dim, as_pair(a.cat)});
    s.pair.args.push_back({f_dim, outer});
    into_.selections.push_back(std::move(s));
  }

  // A Sum of h over the axis, reading every array so far.
  ReductionStage stage(const TypedFormula& h, int axis) const {
    ReductionStage s;
    s.f = h;
    s.axis = axis;
    s.args = p_.layouts;
    return s;
  }

  // A Sum of h into v's rows: v's category is the output's, or the sum is over both axes.
  ReductionStage sum_into_var(const Build& h) const {
    const bool inner = var_.cat == stage_.inner_cat();
    ReductionStage s = stage(p_.typed(h), inner ? 1 - stage_.axis : stage_.axis);
    s.sum_rows = var_.cat == ir::CatP;
    s.single_pair = stage_.single_pair;  // a map of the rows stays one (it reads no inner v)
    return s;
  }

  // The reduction F (and G) as another kind, per outer row, on the arrays it reads (so a
  // same-kind hidden forward shares the forward's kernel).
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

  void add(ReductionStage s) { p_.add_term(into_, std::move(s)); }
  size_t add_hidden(ReductionStage s) { return p_.add_hidden(Step{std::move(s), {}, {}}); }

  // Formula pieces in dtype t.
  Expr F(DType t) const { return stage_.f.of(t); }
  Expr G(DType t) const { return stage_.g.of(t); }
  Expr e(DType t) const { return p_.var(e_position_, t); }
  Expr hidden(size_t position, DType t) const { return p_.var(position, t); }
  Expr grad(Expr f, Expr cotangent) const {
    return passes::grad(ctx_, f, p_.var(var_position_, f->dtype), cotangent);
  }
  Expr plus(Expr a, Expr b) const { return ctx_.make(Op::Add, {a, b}); }
  Expr sub(Expr a, Expr b) const { return ctx_.make(Op::Subtract, {a, b}); }
  Expr mul(Expr a, Expr b) const { return ctx_.make(Op::Mult, {a, b}); }
  Expr exp(Expr a) const { return ctx_.make(Op::Exp, {a}); }
  Expr scalprod(Expr a, Expr b) const { return ctx_.make(Op::Scalprod, {a, b}); }
  Expr elem(Expr a, int m) const { return ctx_.make(Op::Elem, {a}, {m}); }
  Expr extract(Expr a, int start, int len) const {
    return ctx_.make(Op::Extract, {a}, {start, len});
  }

  Program& p_;
  ir::Context& ctx_;
  const ReductionStage& stage_;
  const size_t var_position_;
  const ArgLayout var_;
  const size_t e_position_;
  Step& into_;
};

// Appends to `into` the terms of d<t, e>/dv for one selection term t: selection terms at
// the same picks. e enters the pair as a gathered array, or, when t writes slots, as one
// more E. v is gathered (the result goes to v's rows) or is one of the C_k (the result,
// Grad with respect to E_k, goes to C_k's slots).
void selection_gradient(Program& p, const SelectionTerm& t, size_t v, size_t e, Step& into) {
  ir::Context& ctx = p.ctx;
  const ir::Cat outer = t.arg_reduction.outer_cat(), inner = t.arg_reduction.inner_cat();
  auto as_pair = [&](ir::Cat c) { return c == inner ? outer : c; };
  const int f_dim = t.arg_reduction.f.f64->dim;
  const size_t gathered = t.gathered(), now = p.layouts.size();
  std::vector<int> slot_args = t.slot_args;
  if (t.to_slots) slot_args.push_back(int(e));
  // t's pair with its E_k moved past the arrays gathered now.
  const TypedFormula h = substitute(ctx, t.pair.f, [&](Expr x) {
    const size_t q = size_t(x->var_index());
    return q < gathered ? x : ctx.var(int(now + q - gathered), x->dim, x->var_cat(), x->dtype);
  });
  auto cotangent = [&](DType d) {
    return t.to_slots ? ctx.var(int(now + t.slot_args.size()), f_dim, outer, d)
                      : p.var(e, d, as_pair(p.layouts[e].cat));
  };
  auto emit = [&](const std::function<Expr(DType)>& wrt, bool to_slots) {
    SelectionTerm s;
    s.arg_reduction = t.arg_reduction;
    s.pair.f = p.typed([&](DType d) { return passes::grad(ctx, h.of(d), wrt(d), cotangent(d)); });
    if (s.pair.f.f64->is_constant_value(0.0)) return;
    s.pair.axis = t.pair.axis;
    s.pair.single_pair = true;
    for (size_t q = 0; q < now; ++q)
      s.pair.args.push_back({p.layouts[q].dim, as_pair(p.layouts[q].cat)});
    // Only the E_k the result reads stay: the others are dropped, the rest renumbered.
    std::unordered_map<size_t, size_t> kept;
    for (size_t k = 0; k < slot_args.size(); ++k)
      if (reads(s.pair.f.f64, now + k)) {
        kept[now + k] = now + s.slot_args.size();
        s.slot_args.push_back(slot_args[k]);
        s.pair.args.push_back({f_dim, outer});
      }
    s.pair.f = substitute(ctx, s.pair.f, [&](Expr x) {
      const size_t q = size_t(x->var_index());
      return q < now ? x : ctx.var(int(kept.at(q)), x->dim, x->var_cat(), x->dtype);
    });
    s.target_cat = p.layouts[v].cat;
    s.to_slots = to_slots;
    into.selections.push_back(std::move(s));
  };
  if (v < gathered && reads(t.pair.f.f64, v))
    emit([&](DType d) { return p.var(v, d, as_pair(p.layouts[v].cat)); }, false);
  for (size_t k = 0; k < t.slot_args.size(); ++k)
    if (size_t(t.slot_args[k]) == v)
      emit([&](DType d) { return ctx.var(int(now + k), f_dim, outer, d); }, true);
}

// The arrays of `forward` renumbered for its gradient, where e takes position n and the
// hidden steps move up by one: every position >= n moves up by one.
class Renumber {
 public:
  Renumber(ir::Context& ctx, size_t n, ArgLayout e) : ctx_(ctx), n_(n), e_(e) {}

  Step step(Step s) const {
    stage(s.main);
    for (ReductionStage& t : s.more) stage(t);
    for (SelectionTerm& t : s.selections) {
      stage(t.arg_reduction);
      for (int& c : t.slot_args) c += c >= int(n_);
      if (t.gathered() <= n_) continue;  // then it reads no position >= n
      t.pair.f = substitute(ctx_, t.pair.f, shift());
      const ir::Cat outer = t.arg_reduction.outer_cat();
      t.pair.args.insert(t.pair.args.begin() + ptrdiff_t(n_),
                         {e_.dim, e_.cat == t.arg_reduction.inner_cat() ? outer : e_.cat});
    }
    return s;
  }

 private:
  void stage(ReductionStage& s) const {
    if (s.args.size() <= n_) return;  // it reads no position >= n
    s.f = substitute(ctx_, s.f, shift());
    s.g = substitute(ctx_, s.g, shift());
    s.reduction.formula2 = s.g.f64;
    s.args.insert(s.args.begin() + ptrdiff_t(n_), e_);
  }
  Leaf shift() const {
    return [this](Expr x) {
      const int q = x->var_index();
      return q < int(n_) ? x : ctx_.var(q + 1, x->dim, x->var_cat(), x->dtype);
    };
  }

  ir::Context& ctx_;
  const size_t n_;
  const ArgLayout e_;
};

std::shared_ptr<ReductionProgram> build_gradient(const ReductionProgram& forward, size_t v) {
  Program p(forward);
  ReductionProgram& g = *p.impl;
  const size_t n = forward.args.size();
  // e: the cotangent, one row per output row (a single row for a sum over both axes).
  const ArgLayout e = {forward.value_cols(), forward.output_cat()};
  g.args = forward.args;
  g.args.push_back({var_text(n, e.dim, e.cat), e.dim, e.cat});
  for (const frontend::ArgInfo& a : g.args) p.layouts.push_back({a.dim, a.cat});
  const Renumber renumber(p.ctx, n, e);
  for (const Step& h : forward.hidden) {
    g.hidden.push_back(renumber.step(h));
    p.layouts.push_back({h.value_cols(), h.output_cat()});
  }
  const Step output = renumber.step(forward);
  const size_t arrays = p.layouts.size();

  // Which arrays depend on v: v, and the hidden steps with a term reading one that does.
  std::vector<bool> depends(arrays, false);
  depends[v] = true;
  auto reads_dependent = [&](const auto& term) {
    for (size_t q = 0; q < arrays; ++q)
      if (depends[q] && reads(term, q)) return true;
    return false;
  };
  auto step_depends = [&](const Step& s) {
    bool any = reads_dependent(s.main);
    for (const ReductionStage& t : s.more) any = any || reads_dependent(t);
    for (const SelectionTerm& t : s.selections) any = any || reads_dependent(t);
    return any;
  };
  for (size_t k = 0; k < forward.hidden.size(); ++k) depends[n + 1 + k] = step_depends(g.hidden[k]);

  // The cotangents of the hidden steps, gathered from the terms that read them, and v's.
  Step result = p.zero_step(p.layouts[v]);
  std::vector<std::optional<Step>> cotangents(arrays);
  auto differentiate = [&](const Step& s, size_t cotangent) {
    auto target = [&](size_t q) -> Step& {
      if (q == v) return result;
      if (!cotangents[q]) cotangents[q] = p.zero_step(p.layouts[q]);
      return *cotangents[q];
    };
    for (size_t q = 0; q < arrays; ++q) {
      if (!depends[q]) continue;
      if (reads(s.main, q)) StageGradient(p, s.main, q, cotangent, target(q)).build();
      for (const ReductionStage& t : s.more)
        if (reads(t, q)) StageGradient(p, t, q, cotangent, target(q)).build();
      for (const SelectionTerm& t : s.selections)
        if (reads(t, q)) selection_gradient(p, t, q, cotangent, target(q));
    }
  };
  if (e.dim > 0) differentiate(output, n);  // an index-only output has a zero gradient
  for (size_t k = forward.hidden.size(); k-- > 0;) {
    std::optional<Step>& c = cotangents[n + 1 + k];
    if (!c) continue;
    const size_t position = p.add_hidden(std::move(*c));
    differentiate(Step(g.hidden[k]), position);  // a copy: hidden grows meanwhile
  }
  static_cast<Step&>(g) = std::move(result);
  if (!g.single_kernel())
    g.staged_from = !forward.staged_from.empty()
                        ? forward.staged_from
                        : std::string(ir::reduction_name(forward.main.reduction.kind));
  return p.impl;
}

}  // namespace

std::shared_ptr<ReductionProgram> gradient(const ReductionProgram& forward,
                                           const std::string& var) {
  const size_t position = find_argument(forward.args, var);
  if (forward.args[position].dim == 0)
    throw Error("Genred::grad: argument '" + var + "' holds no values (dim 0)");
  return build_gradient(forward, position);
}

}  // namespace keops::program
