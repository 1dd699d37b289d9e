// Reductions by name: the kinds of FORMULA_LANGUAGE.md and the shape of what each yields.
#pragma once

#include <string>
#include <string_view>

#include "compiler/ir/node.h"

namespace keops::ir {

enum class ReductionKind {
  Sum,
  Max,
  Min,
  ArgMax,
  ArgMin,
  Max_ArgMax,
  Min_ArgMin,
  KMin,
  ArgKMin,
  KMin_ArgKMin,
  LogSumExp,
  LogSumExpWeight,
  Max_SumShiftExp,
  Max_SumShiftExpWeight,
  SumSoftMaxWeight,
};

std::string_view reduction_name(ReductionKind kind);
// The kind of a reduction name, or of KeOps's other spelling of it ("SoftMax" is
// SumSoftMaxWeight); keops::Error naming the unknown reduction and listing the known ones.
ReductionKind reduction_by_name(std::string_view name);

// The largest K of the KMin forms (each component's selection is unrolled: K = 1024 takes
// 31 s to compile on a 2-core machine, 256 1.5 s), and the most values they keep per output
// row (K x dim(F)).
inline constexpr int kMaxK = 1024;
inline constexpr int kMaxSelected = 1 << 16;

// What a reduction is applied to: F, and G (formula2) for the weighted forms. LogSumExp
// takes a G too, as KeOps's LogSumExp does: then it is LogSumExpWeight.
struct ReductionSpec {
  ReductionKind kind = ReductionKind::Sum;
  int k = 0;                // K of the KMin forms
  Expr formula2 = nullptr;  // G of the weighted forms

  bool needs_formula2() const;
  bool takes_formula2() const;  // needs one, or may have one (LogSumExp)
  bool needs_k() const;
  // keops::Error for a combination the reduction cannot take: a vector F for the
  // exponential forms, a missing or unused K or formula2, K over kMaxK, K x dim(F) over
  // kMaxSelected.
  void check(int f_dim) const;
  // Values and indices per output row for a formula F of dim f_dim.
  int value_cols(int f_dim) const;
  int index_cols(int f_dim) const;
};

}  // namespace keops::ir
