// The gradient of a reduction program: reverse mode over its steps (gradient.cpp says how).
#pragma once

#include <memory>
#include <string>

#include "compiler/program/reduction_program.h"

namespace keops::program {

// The gradient of <forward(args), e> with respect to the argument named `var` (an alias, or
// its Var(position,dim,cat) text): a program whose arguments are forward's followed by e
// (rows of forward's output) and whose output has var's shape. It differentiates every
// step, so it applies to gradients again, to any order. keops::Error for an unknown name or
// a dim-0 argument.
std::shared_ptr<ReductionProgram> gradient(const ReductionProgram& forward, const std::string& var);

}  // namespace keops::program
