// Canonical text of IR: what Genred::formula() returns, and what the parser reads back.
#pragma once

#include <string>

#include "compiler/ir/node.h"

namespace keops::ir {

// Var leaves print as Var(index,dim,cat), constants as literals (vectors as nested Concat),
// every other node as Spelling(args..., ints...). Shared subtrees are printed in full.
std::string print(Expr e);

}  // namespace keops::ir
