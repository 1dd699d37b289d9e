// The reference evaluator's entry points: eval_op dispatches each op to its family,
// evaluate() runs a formula for one (i, j) pair.
#include "compiler/ir/evaluator.h"

#include <string>
#include <unordered_map>

#include "compiler/ir/evaluator_ops.h"
#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::ir {

// No default case: -Wswitch flags an op added to ops.def and not dispatched here.
void eval_op(const Node& n, const std::vector<const double*>& arg_values, double* out) {
  using namespace detail;
  switch (n.op) {
    case Op::Var:
    case Op::Constant:
      KEOPS_CHECK(false, "eval_op called on a leaf");
      return;
    case Op::Add:
    case Op::Subtract:
    case Op::Mult:
    case Op::Divide:
    case Op::Minus:
    case Op::Exp:
    case Op::Log:
    case Op::Inv:
    case Op::Sqrt:
    case Op::Rsqrt:
    case Op::Square:
    case Op::Pow:
    case Op::Powf:
    case Op::Abs:
    case Op::Sign:
    case Op::Step:
    case Op::ReLU:
    case Op::Sin:
    case Op::Cos:
    case Op::Asin:
    case Op::Acos:
    case Op::Atan:
    case Op::Atan2:
    case Op::XLogX:
    case Op::SinXDivX:
    case Op::Floor:
    case Op::Round:
    case Op::Mod:
    case Op::Clamp:
    case Op::ClampInt:
    case Op::IfElse:
    case Op::Equal:
    case Op::NotEqual:
    case Op::LessThan:
    case Op::LessOrEqual:
      return eval_elementwise(n, arg_values, out);
    case Op::Sum:
    case Op::Max:
    case Op::Min:
    case Op::ArgMax:
    case Op::ArgMin:
    case Op::SqNorm2:
    case Op::Norm2:
    case Op::Normalize:
    case Op::SqDist:
    case Op::Scalprod:
    case Op::WeightedSqNorm:
    case Op::WeightedSqDist:
    case Op::Concat:
    case Op::Elem:
    case Op::Extract:
    case Op::ElemT:
    case Op::ExtractT:
    case Op::SumT:
    case Op::OneHot:
      return eval_vector(n, arg_values, out);
    case Op::MatVecMult:
    case Op::VecMatMult:
    case Op::TensorProd:
    case Op::TensorDot:
    case Op::Kron:
      return eval_tensor(n, arg_values, out);
    case Op::ComplexAdd:
    case Op::ComplexSubtract:
    case Op::ComplexMult:
    case Op::ComplexDivide:
    case Op::ComplexExp:
    case Op::Conj:
    case Op::ComplexReal:
    case Op::ComplexImag:
    case Op::ComplexAbs:
    case Op::ComplexSquareAbs:
    case Op::ComplexAngle:
    case Op::Real2Complex:
    case Op::Imag2Complex:
    case Op::ComplexExp1j:
    case Op::ComplexSum:
    case Op::ComplexSumT:
    case Op::ComplexRealScal:
      return eval_complex(n, arg_values, out);
    case Op::BSpline:
    case Op::SoftDTW_SqDist:
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
