// Aliases ("x = Vi(3)") and the argument positions a formula call reads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/node.h"

namespace keops::frontend {

// Names with a meaning of their own in the formula language, besides the ops of ops.def.
inline constexpr std::string_view kLeafForms[] = {"Var", "Vi", "Vj", "Pm"};
inline constexpr std::string_view kDifferentiationForms[] = {"Grad", "Diff", "GradMatrix",
                                                             "Divergence", "Laplacian"};
inline constexpr std::string_view kKernelShorthands[] = {
    "GaussKernel", "LaplaceKernel", "CauchyKernel", "InverseMultiquadricKernel"};

// True for an op spelling and for the names above: no alias may take them.
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
  // "p = Pm(2,1)", "x = Var(0, 3, 0)". Aliases without an explicit position take
  // positions 0, 1, 2, ... in their order in the list (the count skips the aliases that
  // give one). keops::Error on a malformed alias, a duplicate name, a dim < 1, a reserved
  // name or a bad category.
  static AliasTable parse(const std::vector<std::string>& aliases);

  // The alias called `name`, or nullptr.
  const Alias* find(std::string_view name) const;
  const std::vector<Alias>& aliases() const { return aliases_; }

 private:
  std::vector<Alias> aliases_;
};

// One argument position of a formula: what Genred checks the user's arrays against.
struct ArgInfo {
  std::string name;  // the first alias at this position, or "Var(index,dim,cat)"
  int dim;
  ir::Cat cat;
};

// Every argument position used by the aliases and by the Var leaves of the formulas
// (a Var written in a formula and not in the aliases is an argument too), indexed by
// position. Null formulas are skipped. keops::Error when two uses of one position
// differ in dim or category, or when a position below the largest one is unused.
std::vector<ArgInfo> collect_arguments(const AliasTable& aliases,
                                       const std::vector<ir::Expr>& formulas);

}  // namespace keops::frontend
