// Canonical text of IR: what Genred::formula() returns, and what the parser reads back.
#pragma once

#include <cstdint>
#include <string>

#include "compiler/ir/node.h"

namespace keops::ir {

// Var leaves print as Var(index,dim,cat), constants as literals (vectors as Concat of halves),
// every other node as Spelling(args..., ints...). Shared subtrees are printed in full while
// the whole tree holds at most kMaxTreeNodes nodes; past that (derivative graphs can grow
// exponentially as trees), each shared one is bound once first: "_0=...;_1=...;formula".
inline constexpr int64_t kMaxTreeNodes = 100000;
std::string print(Expr e);

// The DAG under e, each node once, in topological order: "%0=Var(0,3,0);%1=Exp(%0);...".
// Linear in the node count (print() can be exponential on derivative graphs): cache keys.
std::string print_dag(Expr e);

}  // namespace keops::ir
