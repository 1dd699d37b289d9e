// Aliases ("x = Vi(3)") and the argument positions a formula call reads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/node.h"

namespace keops::frontend {

// True for the spelling of an op (ops.def) or of a form (forms.def): no alias may take it.
bool is_reserved_name(std::string_view name);

struct Alias {
  std::string name;
  int index;  // argument position
  int dim;
  ir::Cat cat;
};

class AliasTable {
 public:
  // Parses "x = Vi(3)", "y = Vj(3)", "p = Pm(1)", "x = Vi(0, 3)", "x = Vj(1,3)",
  // "p = Pm(2,1)", "x = Var(0, 3, 0)"; Vx and Vy are KeOps's old names of Vi and Vj. Aliases
  // without an explicit position take positions 0, 1, 2, ... in their order in the list (the count
  // skips the aliases that give one). keops::Error on a malformed alias, a duplicate name, a dim <
  // 1, a reserved name or a bad category.
  static AliasTable parse(const std::vector<std::string>& aliases);

  // The alias called `name`, or nullptr.
  const Alias* find(std::string_view name) const;
  const std::vector<Alias>& aliases() const { return aliases_; }

  // Records a Var that a formula parsed with this table writes (or that a form makes for
  // it, as Grad(f, v) makes its e): an argument of the call even where the formula no
  // longer reads it, once simplified. The parser records into the table it reads from,
  // hence const; a table is not shared between threads while formulas are parsed.
  void record_formula_var(int index, int dim, ir::Cat cat) const;
  // The recorded Vars, each once, named "Var(index,dim,cat)".
  const std::vector<Alias>& formula_vars() const { return formula_vars_; }

 private:
  std::vector<Alias> aliases_;
  mutable std::vector<Alias> formula_vars_;
};

// One argument position of a formula: what Genred checks the user's arrays against.
struct ArgInfo {
  std::string name;  // the first alias at this position, or "Var(index,dim,cat)"
  int dim;
  ir::Cat cat;
};

// Every argument position used by the aliases, by the Vars the formulas wrote (recorded
// in the table) and by the Var leaves of the formulas, indexed by position: a Var written
// in a formula and not in the aliases is an argument too, whatever simplification made of
// the formula. Null formulas are skipped. keops::Error when two uses of one position
// differ in dim or category, when a position below the largest one is unused, or when a
// formula still reads a symbolic variable (a Var of negative position).
std::vector<ArgInfo> collect_arguments(const AliasTable& aliases,
                                       const std::vector<ir::Expr>& formulas);

}  // namespace keops::frontend
