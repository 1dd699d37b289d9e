// Dependency splitting for staged kernels (see split.h).
#include "compiler/passes/split.h"

#include <unordered_map>

namespace keops::passes {
namespace {

class Stager {
 public:
  Stager(ir::Context& ctx, ir::Cat reduced, int first_position)
      : ctx_(ctx), reduced_(ir::dep_of(reduced)), cat_(reduced), next_position_(first_position) {}

  // e rebuilt in ctx_; with stage, its reduced-only parts become staged Var leaves (the
  // staged subexpressions themselves are rebuilt with their own leaves).
  ir::Expr rebuild(ir::Expr e, bool stage = true) {
    auto& done = stage ? staged_done_ : copied_;
    if (auto it = done.find(e); it != done.end()) return it->second;
    ir::Expr out;
    if (stage && is_reduced_only(e)) {
      out = ctx_.var(next_position_++, e->dim, cat_, e->dtype);
      staged_.push_back(rebuild(e, false));
    } else if (e->op == ir::Op::Var) {
      out = ctx_.var(e->var_index(), e->dim, e->var_cat(), e->dtype);
    } else if (e->op == ir::Op::Constant) {
      out = ctx_.constant(e->values, e->dtype);
    } else {
      std::vector<ir::Expr> args;
      for (ir::Expr a : e->args) args.push_back(rebuild(a, stage));
      out = ctx_.make(e->op, std::move(args), e->ints);
    }
    return done.emplace(e, out).first->second;
  }

  std::vector<ir::Expr> staged() const { return staged_; }

 private:
  bool is_reduced_only(ir::Expr e) const {
    return (e->deps & reduced_) && (e->deps & ~(reduced_ | ir::kDepP)) == 0;
  }

  ir::Context& ctx_;
  ir::DepSet reduced_;
  ir::Cat cat_;
  int next_position_;
  std::unordered_map<ir::Expr, ir::Expr> staged_done_, copied_;
  std::vector<ir::Expr> staged_;
};

}  // namespace

StagedFormulas stage_reduced_only(ir::Context& ctx, const std::vector<ir::Expr>& roots,
                                  ir::Cat reduced, int first_position) {
  Stager stager(ctx, reduced, first_position);
  StagedFormulas out;
  for (ir::Expr r : roots) out.roots.push_back(stager.rebuild(r));
  out.staged = stager.staged();
  return out;
}

}  // namespace keops::passes
