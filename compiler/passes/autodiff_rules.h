// Internal to autodiff: one reverse-mode step at a node, and the rule families that take it.
#pragma once

#include <functional>
#include <unordered_map>
#include <vector>

#include "compiler/ir/context.h"

namespace keops::passes::detail {

using ir::Expr;
using ir::Op;

// Sends a share of the adjoint to an argument node (already fitted to its dim).
using Accumulate = std::function<void(Expr arg, Expr share)>;

// Reverse mode at one node: the node, its adjoint (the cotangent of its output, never
// zero), and where each argument's share goes. Shares are built only for the arguments
// that depend on the variable, so no derivative of a constant branch is ever made.
class Step {
 public:
  Step(ir::Context& ctx, Expr node, Expr adjoint, std::vector<bool> needs, Accumulate accumulate)
      : ctx_(ctx),
        node_(node),
        adjoint_(adjoint),
        needs_(std::move(needs)),
        accumulate_(std::move(accumulate)) {}

  Expr node() const { return node_; }
  Expr arg(size_t k) const { return node_->args[k]; }
  Expr adjoint() const { return adjoint_; }
  bool needs(size_t k) const { return needs_[k]; }

  // Adds share() to argument k's adjoint when k needs one; a share of dim(node) sent to a
  // broadcast dim-1 argument is summed. A zero share is dropped.
  void send(size_t k, const std::function<Expr()>& share);

  // IR shorthands in the node's dtype.
  Expr make(Op op, std::vector<Expr> args, std::vector<int64_t> ints = {}) const {
    return ctx_.make(op, std::move(args), std::move(ints));
  }
  Expr num(double v) const { return ctx_.scalar(v, node_->dtype); }
  Expr add(Expr a, Expr b) const { return make(Op::Add, {a, b}); }
  Expr sub(Expr a, Expr b) const { return make(Op::Subtract, {a, b}); }
  Expr mul(Expr a, Expr b) const { return make(Op::Mult, {a, b}); }
  Expr div(Expr a, Expr b) const { return make(Op::Divide, {a, b}); }
  Expr neg(Expr a) const { return make(Op::Minus, {a}); }
  ir::Context& ctx() const { return ctx_; }

 private:
  ir::Context& ctx_;
  Expr node_;
  Expr adjoint_;
  std::vector<bool> needs_;
  Accumulate accumulate_;
};

// Reverse-mode accumulation from root (seeded with adjoint `seed`) down to the target
// nodes, which are treated as leaves; `constants` are leaves with no derivative. Returns
// the adjoint of each target reached; targets that root does not depend on are absent.
std::unordered_map<Expr, Expr> backprop(ir::Context& ctx, Expr root, Expr seed,
                                        const std::vector<Expr>& targets,
                                        const std::vector<Expr>& constants = {});

// The rules, by op family (the families of the reference evaluator).
void rule_elementwise(Step& s);
void rule_vector(Step& s);
void rule_tensor(Step& s);
void rule_complex(Step& s);
void rule_special(Step& s);

}  // namespace keops::passes::detail
