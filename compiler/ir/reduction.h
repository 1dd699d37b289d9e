// Reductions by name: the kinds of FORMULA_LANGUAGE.md and the shape of what each yields.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/node.h"

namespace keops::ir {

enum class ReductionKind {
#define KEOPS_REDUCTION(name, spelling, family, best, slots, yields, weights, derivative) name,
#include "compiler/ir/reductions.def"
};

// The columns of reductions.def (which says what each means).
enum class ReductionFamily { Sum, Select, ShiftedExp };
enum class ReductionBest { None, Lowest, Highest };
enum class ReductionSlots { One, K };
enum class ReductionYield { Values, Indices, Both, LogOfSum, MaxAndSum, Normalized };
enum class ReductionWeights { None, Optional, Required };
enum class ReductionDerivative {
  Linear,
  None,
  AtSelected,
  LogSumExp,
  LogSumExpWeight,
  MaxSumShiftExp,
  SoftMax
};

// Whose columns an output row's columns follow one for one, each computed apart from the
// others (long outputs are computed a group of columns at a time, codegen/kernel_spec.h):
// F's (sums, single selections), G's (Normalized), or none (a state that couples them).
enum class ReductionColumns { None, OfF, OfG };

// A row of reductions.def.
struct ReductionTraits {
  ReductionKind kind;
  std::string_view name;
  ReductionFamily family;
  ReductionBest best;
  ReductionSlots slots;
  ReductionYield yields;
  ReductionWeights weights;
  ReductionDerivative derivative;

  bool yields_values() const { return yields != ReductionYield::Indices; }
  bool yields_indices() const {
    return yields == ReductionYield::Indices || yields == ReductionYield::Both;
  }
  ReductionColumns independent_columns() const {
    if (family == ReductionFamily::Sum ||
        (family == ReductionFamily::Select && slots == ReductionSlots::One))
      return ReductionColumns::OfF;
    return yields == ReductionYield::Normalized ? ReductionColumns::OfG : ReductionColumns::None;
  }
};

const ReductionTraits& reduction_traits(ReductionKind kind);
// Every reduction, in the table's order.
const std::vector<ReductionTraits>& all_reductions();
// The selection that yields only the indices a selection picks (ArgMin for Min_ArgMin).
ReductionKind indices_reduction(ReductionKind selection);

std::string_view reduction_name(ReductionKind kind);
// The kind of a reduction name, or of KeOps's other spelling of it ("SoftMax" is
// SumSoftMaxWeight); keops::Error naming the unknown reduction and listing the known ones.
ReductionKind reduction_by_name(std::string_view name);

// The largest K of the KMin forms (a GPU kernel unrolls each component's selection: K = 1024
// takes 31 s to compile on a 2-core machine, 256 1.5 s; a CPU kernel loops over its slots),
// and the most values they keep per output row (K x dim(F)).
inline constexpr int kMaxK = 1024;
inline constexpr int kMaxSelected = 1 << 16;

// What a reduction is applied to: F, and G (formula2) for the weighted forms. LogSumExp
// takes a G too, as KeOps's LogSumExp does: then it is LogSumExpWeight.
struct ReductionSpec {
  ReductionKind kind = ReductionKind::Sum;
  int k = 0;                // K of the KMin forms
  Expr formula2 = nullptr;  // G of the weighted forms

  const ReductionTraits& traits() const { return reduction_traits(kind); }
  bool needs_formula2() const { return traits().weights == ReductionWeights::Required; }
  // Needs one, or may have one (LogSumExp).
  bool takes_formula2() const { return traits().weights != ReductionWeights::None; }
  bool needs_k() const { return traits().slots == ReductionSlots::K; }
  // The exponential forms take a scalar F.
  bool needs_scalar_formula() const { return traits().family == ReductionFamily::ShiftedExp; }
  // keops::Error for a combination the reduction cannot take: a vector F for the
  // exponential forms, a missing or unused K or formula2, K over kMaxK, K x dim(F) over
  // kMaxSelected.
  void check(int f_dim) const;
  // Values and indices per output row for a formula F of dim f_dim.
  int value_cols(int f_dim) const;
  int index_cols(int f_dim) const;
};

}  // namespace keops::ir
