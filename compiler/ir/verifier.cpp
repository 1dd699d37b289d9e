// The IR verifier (see verifier.h).
#include "compiler/ir/verifier.h"

#include <map>
#include <string>
#include <unordered_set>

#include "compiler/ir/context.h"
#include "compiler/ir/printer.h"
#include "compiler/support/check.h"

namespace keops::ir {
namespace {

void verify_node(Expr n, std::map<int, Expr>& vars) {
  const OpInfo& info = op_info(n->op);
  // Printed only on failure: print() writes shared subtrees in full, exponential on deep DAGs.
  auto where = [n] { return " in node " + print(n); };
  KEOPS_CHECK(int(n->args.size()) == info.arity, "arity" + where());
  KEOPS_CHECK(info.int_attrs < 0 || int(n->ints.size()) == info.int_attrs, "attributes" + where());
  KEOPS_CHECK(n->dim >= 1, "dim" + where());
  if (n->op == Op::Var) {
    KEOPS_CHECK(n->deps == dep_of(n->var_cat()) && n->dim == n->ints[1], "Var" + where());
    auto [it, fresh] = vars.emplace(n->var_index(), n);
    KEOPS_CHECK(fresh || (it->second->dim == n->dim && it->second->var_cat() == n->var_cat()),
                "two Var leaves at one position with different shapes" + where());
    return;
  }
  if (n->op == Op::Constant) {
    KEOPS_CHECK(n->deps == kDepNone && int(n->values.size()) == n->dim, "Constant" + where());
    return;
  }
  DepSet deps = kDepNone;
  for (Expr a : n->args) {
    KEOPS_CHECK(a->id < n->id, "argument made after its user" + where());
    KEOPS_CHECK(a->dtype == n->dtype, "dtype" + where());
    deps |= a->deps;
  }
  KEOPS_CHECK(deps == n->deps, "dependency set" + where());
  KEOPS_CHECK(infer_dim(n->op, n->args, n->ints) == n->dim, "dim" + where());
}

}  // namespace

void verify(Expr root) {
  std::unordered_set<Expr> seen;
  std::map<int, Expr> vars;
  std::vector<Expr> stack{root};
  while (!stack.empty()) {
    Expr n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    verify_node(n, vars);
    for (Expr a : n->args) stack.push_back(a);
  }
}

}  // namespace keops::ir
