// The symbolic checks KernelSolve makes on its formula: K must be linear in the solved argument.
#pragma once

#include <string>
#include <vector>

#include "compiler/frontend/aliases.h"
#include "compiler/ir/context.h"

namespace keops::program {

// Throws keops::Error ("KernelSolve: ...") unless f (reduced over `axis`) defines a linear
// map of the argument at `position` onto arrays of its own shape: that argument must be a
// variable of the reduced axis with f's dim, f must depend on it, its derivative in it must
// not depend on it, f must simplify to 0 where it is 0, and no op it passes through may be
// piecewise constant in it (Sign, Step, Round, a comparison: a zero derivative that would
// hide the non-linearity).
void check_linear(ir::Context& ctx, ir::Expr f, const std::vector<frontend::ArgInfo>& args,
                  size_t position, int axis);

}  // namespace keops::program
