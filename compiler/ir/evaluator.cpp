// The reference evaluator's entry points: eval_op dispatches each op to its family,
// evaluate() runs a formula for one (i, j) pair.
#include "compiler/ir/evaluator.h"

#include <string>
#include <unordered_map>

#include "compiler/ir/evaluator_ops.h"
#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::ir {

// Each op goes to its family (ops.def); no default case, so -Wswitch flags a new family.
void eval_op(const Node& n, const std::vector<const double*>& arg_values, double* out) {
  using namespace detail;
  switch (op_info(n.op).family) {
    case Family::Leaf:
      KEOPS_CHECK(false, "eval_op called on a leaf");
      return;
    case Family::Elementwise:
      return eval_elementwise(n, arg_values, out);
    case Family::Vector:
      return eval_vector(n, arg_values, out);
    case Family::Tensor:
      return eval_tensor(n, arg_values, out);
    case Family::Complex:
      return eval_complex(n, arg_values, out);
    case Family::Special:
      return eval_special(n, arg_values, out);
  }
  KEOPS_CHECK(false, "unknown op");
}

namespace detail {

Schedule::Schedule(const std::vector<Expr>& roots) {
  std::unordered_map<Expr, size_t> slot_of;
  // Iterative post-order walk: derivative graphs can be deeper than the call stack.
  std::vector<std::pair<Expr, size_t>> stack;  // a node and its next argument to visit
  for (Expr root : roots) {
    stack.push_back({root, 0});
    while (!stack.empty()) {
      const Expr node = stack.back().first;
      const size_t next = stack.back().second;
      if (slot_of.count(node)) {
        stack.pop_back();
      } else if (next < node->args.size()) {
        stack.back().second = next + 1;
        stack.push_back({node->args[next], 0});
      } else {
        stack.pop_back();
        slot_of.emplace(node, order_.size());
        order_.push_back(node);
        if (node->is(Op::Var)) vars_.push_back(node);
      }
    }
    root_slots_.push_back(slot_of.at(root));
  }
  const size_t count = order_.size();
  args_.resize(count);
  values_.assign(count, nullptr);
  owned_.resize(count);
  for (size_t s = 0; s < count; ++s) {
    const Expr node = order_[s];
    for (Expr a : node->args) args_[s].push_back(slot_of.at(a));
    if (node->is_constant())
      values_[s] = node->values.data();
    else if (!node->is(Op::Var)) {
      owned_[s].resize(size_t(node->dim));
      values_[s] = owned_[s].data();
    }
  }
}

void Schedule::run(const std::vector<const double*>& arg_rows) {
  for (size_t s = 0; s < order_.size(); ++s) {
    const Node& node = *order_[s];
    if (node.is(Op::Var)) {
      const size_t index = size_t(node.var_index());
      if (index >= arg_rows.size() || !arg_rows[index])
        throw Error("evaluate: no data for argument " + std::to_string(index) +
                    ", which the formula uses");
      values_[s] = arg_rows[index];
      continue;
    }
    if (node.is_constant()) continue;
    scratch_.clear();
    for (size_t a : args_[s]) scratch_.push_back(values_[a]);
    eval_op(node, scratch_, owned_[s].data());
  }
}

}  // namespace detail

std::vector<double> evaluate(Expr f, const std::vector<const double*>& arg_rows) {
  detail::Schedule schedule({f});
  schedule.run(arg_rows);
  return std::vector<double>(schedule.result(0), schedule.result(0) + f->dim);
}

}  // namespace keops::ir
