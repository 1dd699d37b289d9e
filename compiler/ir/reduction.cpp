// Reductions by name, and how many values and indices each yields per output row.
#include "compiler/ir/reduction.h"

#include <string>
#include <vector>

#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::ir {
namespace {

// A name and the kind it spells: each reduction's own, then the other spellings.
struct Spelling {
  std::string_view name;
  ReductionKind kind;
};

const std::vector<Spelling>& spellings() {
  static const std::vector<Spelling> all = {
#define KEOPS_REDUCTION(name, spelling, family, best, slots, yields, weights, derivative) \
  {spelling, ReductionKind::name},
#define KEOPS_REDUCTION_ALIAS(spelling, name) {spelling, ReductionKind::name},
#include "compiler/ir/reductions.def"
  };
  return all;
}

}  // namespace

const std::vector<ReductionTraits>& all_reductions() {
  static const std::vector<ReductionTraits> table = {
#define KEOPS_REDUCTION(name, spelling, family, best, slots, yields, weights, derivative) \
  {ReductionKind::name,       spelling,                                                   \
   ReductionFamily::family,   ReductionBest::best,                                        \
   ReductionSlots::slots,     ReductionYield::yields,                                     \
   ReductionWeights::weights, ReductionDerivative::derivative},
#include "compiler/ir/reductions.def"
  };
  return table;
}

const ReductionTraits& reduction_traits(ReductionKind kind) {
  const std::vector<ReductionTraits>& table = all_reductions();
  const size_t at = size_t(kind);
  KEOPS_CHECK(at < table.size() && table[at].kind == kind, "a reduction kind outside the table");
  return table[at];
}

ReductionKind indices_reduction(ReductionKind selection) {
  const ReductionTraits& s = reduction_traits(selection);
  KEOPS_CHECK(s.family == ReductionFamily::Select, "indices of a reduction that selects none");
  for (const ReductionTraits& t : all_reductions())
    if (t.family == ReductionFamily::Select && t.best == s.best && t.slots == s.slots &&
        t.yields == ReductionYield::Indices)
      return t.kind;
  KEOPS_CHECK(false, "a selection without its indices-only form");
  return selection;
}

std::string_view reduction_name(ReductionKind kind) { return reduction_traits(kind).name; }

ReductionKind reduction_by_name(std::string_view name) {
  for (const Spelling& s : spellings())
    if (s.name == name) return s.kind;
  std::string list;
  for (const Spelling& s : spellings()) list += (list.empty() ? "" : ", ") + std::string(s.name);
  throw Error("unknown reduction '" + std::string(name) + "' (known reductions: " + list + ")");
}

void ReductionSpec::check(int f_dim) const {
  const std::string name(reduction_name(kind));
  if (needs_k() && k < 1)
    throw Error("the reduction " + name + " needs K >= 1 (Options::k), got " + std::to_string(k));
  if (needs_k() && k > kMaxK)
    throw Error("the reduction " + name + " takes K <= " + std::to_string(kMaxK) + ", not " +
                std::to_string(k) +
                " (each accepted term is inserted among the K best by a loop over them)");
  if (needs_k() && int64_t(k) * f_dim > kMaxSelected)
    throw Error("the reduction " + name + " keeps K x dim(F) = " + std::to_string(k) + " x " +
                std::to_string(f_dim) + " values per row; at most " + std::to_string(kMaxSelected) +
                " are supported");
  if (!needs_k() && k != 0)
    throw Error("K (Options::k) is only used by KMin, ArgKMin and KMin_ArgKMin, not by " + name);
  if (needs_formula2() && !formula2)
    throw Error("the reduction " + name + " needs the weights G (Options::formula2)");
  if (!takes_formula2() && formula2)
    throw Error(
        "formula2 (Options::formula2) is only used by the weighted reductions and "
        "LogSumExp, not by " +
        name);
  if (needs_scalar_formula() && f_dim != 1)
    throw Error("the reduction " + name + " needs a scalar formula, but it has dim " +
                std::to_string(f_dim));
}

int ReductionSpec::value_cols(int f_dim) const {
  const ReductionTraits& t = traits();
  // G counts only where the reduction takes one (the checks refuse it elsewhere).
  const int g_dim = takes_formula2() && formula2 ? formula2->dim : 0;
  const int selected = t.slots == ReductionSlots::K ? k * f_dim : f_dim;
  switch (t.yields) {
    case ReductionYield::Values:
    case ReductionYield::Both:
      return selected;
    case ReductionYield::Indices:
      return 0;
    case ReductionYield::LogOfSum:
      return g_dim > 0 ? g_dim : 1;
    case ReductionYield::MaxAndSum:
      return 1 + (g_dim > 0 ? g_dim : 1);
    case ReductionYield::Normalized:
      return g_dim;
  }
  return 0;
}

int ReductionSpec::index_cols(int f_dim) const {
  const ReductionTraits& t = traits();
  return t.yields_indices() ? (t.slots == ReductionSlots::K ? k * f_dim : f_dim) : 0;
}

}  // namespace keops::ir
