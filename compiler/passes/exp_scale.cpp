// Gaussian exponents for base-2 hardware exponentials (see exp_scale.h).
#include "compiler/passes/exp_scale.h"

#include <cmath>
#include <optional>
#include <unordered_map>

#include "compiler/ir/traverse.h"

namespace keops::passes {
namespace {

// How many times each node reachable from the roots is an argument of another, or a root.
std::unordered_map<ir::Expr, int> count_uses(const std::vector<ir::Expr>& roots) {
  std::unordered_map<ir::Expr, int> uses;
  for (ir::Expr r : roots) ++uses[r];
  for (ir::Expr e : ir::reachable_nodes(roots))
    for (ir::Expr a : e->args) ++uses[a];
  return uses;
}

struct ScaledSqDist {
  ir::Expr sqdist;
  double scale;
};

class ExpScaleFolder {
 public:
  ExpScaleFolder(ir::Context& ctx, const std::vector<ir::Expr>& roots)
      : ctx_(ctx), uses_(count_uses(roots)) {}

  ir::Expr rebuild(ir::Expr e) {
    if (auto it = done_.find(e); it != done_.end()) return it->second;
    ir::Expr out;
    if (e->op == ir::Op::Var) {
      out = ctx_.var(e->var_index(), e->dim, e->var_cat(), e->dtype);
    } else if (e->op == ir::Op::Constant) {
      out = ctx_.constant(e->values, e->dtype);
    } else if (auto found = e->is(ir::Op::Exp) ? match(e->args[0]) : std::nullopt) {
      out = fold(*found);
    } else {
      std::vector<ir::Expr> args;
      for (ir::Expr a : e->args) args.push_back(rebuild(a));
      out = ctx_.make(e->op, std::move(args), e->ints);
    }
    return done_.emplace(e, out).first->second;
  }

 private:
  // e = c * SqDist(a, b) through Minus, and products and quotients by scalar constants, with
  // every node on the way and a and b used only there: anything else that reads them (x - y
  // in a gradient) would be computed apart from the scaled points instead of shared.
  std::optional<ScaledSqDist> match(ir::Expr e) const {
    auto scalar_constant = [](ir::Expr c) { return c->is_constant() && c->dim == 1; };
    double scale = 1.0;
    for (;;) {
      if (uses_.at(e) != 1) return std::nullopt;
      if (e->is(ir::Op::SqDist)) break;
      if (e->is(ir::Op::Minus)) {
        scale = -scale;
        e = e->args[0];
      } else if (e->is(ir::Op::Mult) && scalar_constant(e->args[0])) {
        scale *= e->args[0]->values[0];
        e = e->args[1];
      } else if (e->is(ir::Op::Mult) && scalar_constant(e->args[1])) {
        scale *= e->args[1]->values[0];
        e = e->args[0];
      } else if (e->is(ir::Op::Divide) && scalar_constant(e->args[1])) {
        scale /= e->args[1]->values[0];
        e = e->args[0];
      } else {
        return std::nullopt;
      }
    }
    // A side that depends on both indices would be scaled for every pair.
    auto one_index = [&](ir::Expr side) {
      return uses_.at(side) == 1 && !((side->deps & ir::kDepI) && (side->deps & ir::kDepJ));
    };
    if (!one_index(e->args[0]) || !one_index(e->args[1])) return std::nullopt;
    if (!std::isfinite(scale)) return std::nullopt;
    return ScaledSqDist{e, scale};
  }

  ir::Expr fold(const ScaledSqDist& found) {
    const ir::DType dtype = found.sqdist->dtype;
    const ir::Expr k = ctx_.scalar(std::sqrt(std::fabs(found.scale) * M_LOG2E), dtype);
    const ir::Expr a = ctx_.make(ir::Op::Mult, {rebuild(found.sqdist->args[0]), k});
    const ir::Expr b = ctx_.make(ir::Op::Mult, {rebuild(found.sqdist->args[1]), k});
    const ir::Expr ln2 = ctx_.scalar(found.scale < 0 ? -M_LN2 : M_LN2, dtype);
    return ctx_.make(ir::Op::Exp,
                     {ctx_.make(ir::Op::Mult, {ln2, ctx_.make(ir::Op::SqDist, {a, b})})});
  }

  ir::Context& ctx_;
  const std::unordered_map<ir::Expr, int> uses_;
  std::unordered_map<ir::Expr, ir::Expr> done_;
};

}  // namespace

std::vector<ir::Expr> fold_exp_scale(ir::Context& ctx, const std::vector<ir::Expr>& roots) {
  ExpScaleFolder folder(ctx, roots);
  std::vector<ir::Expr> out;
  for (ir::Expr r : roots) out.push_back(folder.rebuild(r));
  return out;
}

}  // namespace keops::passes
