// The formula parser: formula text to IR.
#pragma once

#include <string_view>

#include "compiler/frontend/aliases.h"
#include "compiler/ir/context.h"

namespace keops::frontend {

// Parses formula text (FORMULA_LANGUAGE.md, Syntax) into IR built in ctx with the
// given dtype. Names are looked up in `aliases`; calls name an op (ops.def) or a form
// (forms.def: Var, IntCst, Grad, ...), which expands into ops. The Vars the text writes
// are recorded in `aliases` (AliasTable::record_formula_var).
// Precedence, lowest first, as in Python: comparisons (not chained), |, + -, * /,
// unary -, ** (right-associative; its right operand may carry a unary minus).
// keops::Error, quoting the formula and pointing at the column, on any bad input.
ir::Expr parse_formula(std::string_view text, const AliasTable& aliases, ir::Context& ctx,
                       ir::DType dtype);

}  // namespace keops::frontend
