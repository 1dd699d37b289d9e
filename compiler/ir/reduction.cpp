// Reductions by name, and how many values and indices each yields per output row.
#include "compiler/ir/reduction.h"

#include <array>
#include <string>
#include <utility>

#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::ir {
namespace {

// A kind's first name is its own; later ones are other spellings of it (KeOps's old ones).
constexpr std::array<std::pair<ReductionKind, std::string_view>, 16> kNames = {{
    {ReductionKind::Sum, "Sum"},
    {ReductionKind::Max, "Max"},
    {ReductionKind::Min, "Min"},
    {ReductionKind::ArgMax, "ArgMax"},
    {ReductionKind::ArgMin, "ArgMin"},
    {ReductionKind::Max_ArgMax, "Max_ArgMax"},
    {ReductionKind::Min_ArgMin, "Min_ArgMin"},
    {ReductionKind::KMin, "KMin"},
    {ReductionKind::ArgKMin, "ArgKMin"},
    {ReductionKind::KMin_ArgKMin, "KMin_ArgKMin"},
    {ReductionKind::LogSumExp, "LogSumExp"},
    {ReductionKind::LogSumExpWeight, "LogSumExpWeight"},
    {ReductionKind::Max_SumShiftExp, "Max_SumShiftExp"},
    {ReductionKind::Max_SumShiftExpWeight, "Max_SumShiftExpWeight"},
    {ReductionKind::SumSoftMaxWeight, "SumSoftMaxWeight"},
    {ReductionKind::SumSoftMaxWeight, "SoftMax"},
}};

}  // namespace

std::string_view reduction_name(ReductionKind kind) {
  for (const auto& [k, name] : kNames)
    if (k == kind) return name;
  KEOPS_CHECK(false, "a reduction kind without a name");
  return {};
}

ReductionKind reduction_by_name(std::string_view name) {
  for (const auto& [k, known] : kNames)
    if (known == name) return k;
  std::string list;
  for (const auto& [k, known] : kNames) list += (list.empty() ? "" : ", ") + std::string(known);
  throw Error("unknown reduction '" + std::string(name) + "' (known reductions: " + list + ")");
}

bool ReductionSpec::needs_formula2() const {
  return kind == ReductionKind::LogSumExpWeight || kind == ReductionKind::Max_SumShiftExpWeight ||
         kind == ReductionKind::SumSoftMaxWeight;
}

bool ReductionSpec::takes_formula2() const {
  return needs_formula2() || kind == ReductionKind::LogSumExp;
}

bool ReductionSpec::needs_k() const {
  return kind == ReductionKind::KMin || kind == ReductionKind::ArgKMin ||
         kind == ReductionKind::KMin_ArgKMin;
}

void ReductionSpec::check(int f_dim) const {
  const std::string name(reduction_name(kind));
  if (needs_k() && k < 1)
    throw Error("the reduction " + name + " needs K >= 1 (Options::k), got " + std::to_string(k));
  if (needs_k() && k > kMaxK)
    throw Error("the reduction " + name + " takes K <= " + std::to_string(kMaxK) + ", not " +
                std::to_string(k) +
                " (its selection is unrolled: the compile time grows as K squared)");
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
  const bool exponential =
      kind == ReductionKind::LogSumExp || kind == ReductionKind::LogSumExpWeight ||
      kind == ReductionKind::Max_SumShiftExp || kind == ReductionKind::Max_SumShiftExpWeight ||
      kind == ReductionKind::SumSoftMaxWeight;
  if (exponential && f_dim != 1)
    throw Error("the reduction " + name + " needs a scalar formula, but it has dim " +
                std::to_string(f_dim));
}

int ReductionSpec::value_cols(int f_dim) const {
  const int g_dim = formula2 ? formula2->dim : 0;
  switch (kind) {
    case ReductionKind::Sum:
    case ReductionKind::Max:
    case ReductionKind::Min:
    case ReductionKind::Max_ArgMax:
    case ReductionKind::Min_ArgMin:
      return f_dim;
    case ReductionKind::ArgMax:
    case ReductionKind::ArgMin:
    case ReductionKind::ArgKMin:
      return 0;
    case ReductionKind::KMin:
    case ReductionKind::KMin_ArgKMin:
      return k * f_dim;
    case ReductionKind::LogSumExp:
      return formula2 ? g_dim : 1;
    case ReductionKind::Max_SumShiftExp:
      return 2;
    case ReductionKind::LogSumExpWeight:
    case ReductionKind::SumSoftMaxWeight:
      return g_dim;
    case ReductionKind::Max_SumShiftExpWeight:
      return 1 + g_dim;
  }
  return 0;
}

int ReductionSpec::index_cols(int f_dim) const {
  switch (kind) {
    case ReductionKind::ArgMax:
    case ReductionKind::ArgMin:
    case ReductionKind::Max_ArgMax:
    case ReductionKind::Min_ArgMin:
      return f_dim;
    case ReductionKind::ArgKMin:
    case ReductionKind::KMin_ArgKMin:
      return k * f_dim;
    default:
      return 0;
  }
}

}  // namespace keops::ir
