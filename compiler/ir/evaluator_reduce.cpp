// reference_reduce: every reduction of FORMULA_LANGUAGE.md on double data, written for
// clarity (all values of an output row are gathered, then reduced) rather than speed.
//
// Conventions, shared by every backend:
// - Indices are the positions along the reduced axis (j for axis 1, i for axis 0).
// - Sum, LogSumExp and the shifted-exponential forms propagate NaN and accumulate in
//   long double.
// - Max, Min, KMin and their Arg forms compare strictly (value < best), as keopscore's
//   reductions do: ties keep the lowest index, and NaN values are never selected (a row of
//   NaN only gives the identity, +inf or -inf with index -1). Any other value, infinite
//   included, is selected over an empty slot.
// - KMin forms lay out a row rank-major: rank 0 of every component, then rank 1, ...
//   (keopscore's KMin_Reduction.FinalizeOutput). Ranks beyond the reduced size are +inf
//   with index -1.
// - Shifted exponentials exp(F_j - m) with m = max_j F_j count a term with F_j == m as
//   exactly 1, so an infinite maximum gives no inf - inf.
// - Empty ranges give identities: Sum 0, Max -inf, Min +inf, indices -1, LogSumExp and
//   LogSumExpWeight -inf, Max_SumShiftExp(Weight) (-inf, 0), SumSoftMaxWeight 0 (an empty sum).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "compiler/ir/evaluator.h"
#include "compiler/ir/evaluator_ops.h"
#include "keops/error.h"

namespace keops::ir {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The values of one formula for every pair of one output row: n rows of dim values.
struct Gathered {
  int64_t n = 0;
  int dim = 0;
  std::vector<double> data;
  double at(int64_t s, int c) const { return data[size_t(s * dim + c)]; }
};

// One output row: values then indices, in the layout of ReferenceOutput.
struct RowOut {
  double* values;
  int64_t* indices;
};

void reduce_sum(const Gathered& f, RowOut out) {
  for (int c = 0; c < f.dim; ++c) {
    long double s = 0;
    for (int64_t j = 0; j < f.n; ++j) s += f.at(j, c);
    out.values[c] = double(s);
  }
}

// Per component, the K best values in order (ascending for Min, descending for Max) and
// their indices: an insertion sort with keopscore's strict comparison, where any value but
// NaN fills a still empty slot (so Min over {+inf} is +inf at index 0, not index -1).
void reduce_k_best(const Gathered& f, int k, bool is_max, double* values, int64_t* indices) {
  struct Slot {
    double value;
    int64_t index;
  };
  auto beats = [&](double x, const Slot& slot) {
    if (slot.index < 0) return !std::isnan(x);
    return is_max ? x > slot.value : x < slot.value;
  };
  for (int c = 0; c < f.dim; ++c) {
    std::vector<Slot> best(size_t(k), Slot{is_max ? -kInf : kInf, -1});
    for (int64_t j = 0; j < f.n; ++j) {
      const double x = f.at(j, c);
      if (!beats(x, best.back())) continue;
      size_t pos = best.size() - 1;
      for (; pos > 0 && beats(x, best[pos - 1]); --pos) best[pos] = best[pos - 1];
      best[pos] = {x, j};
    }
    for (int r = 0; r < k; ++r) {
      if (values) values[r * f.dim + c] = best[size_t(r)].value;
      if (indices) indices[r * f.dim + c] = best[size_t(r)].index;
    }
  }
}

// m = max_j F_j (F scalar; NaN if any F_j is NaN) and s_c = sum_j exp(F_j - m) G_jc,
// G absent meaning 1. out[0] = m, out[1 + c] = s_c.
void shifted_exp_sums(const Gathered& f, const Gathered* g, double* out) {
  double m = -kInf;
  for (int64_t j = 0; j < f.n; ++j) {
    const double x = f.at(j, 0);
    if (std::isnan(x) || std::isnan(m))
      m = std::numeric_limits<double>::quiet_NaN();
    else
      m = std::max(m, x);
  }
  out[0] = m;
  const int g_dim = g ? g->dim : 1;
  for (int c = 0; c < g_dim; ++c) {
    long double s = 0;
    for (int64_t j = 0; j < f.n; ++j) {
      const double x = f.at(j, 0);
      const double weight = x == m ? 1.0 : std::exp(x - m);
      s += weight * (g ? g->at(j, c) : 1.0);
    }
    out[1 + c] = double(s);
  }
}

// The shifted-exponential forms from (m, s_1..s_n) (shifted_exp_sums): m + log(s_c), (m, s),
// or s_c over the unweighted sum.
void reduce_shifted_exp(const ReductionSpec& red, const Gathered& f, const Gathered* g,
                        double* out) {
  std::vector<double> ms(size_t(1 + (g ? g->dim : 1)));
  shifted_exp_sums(f, g, ms.data());
  switch (red.traits().yields) {
    case ReductionYield::MaxAndSum:
      std::copy(ms.begin(), ms.end(), out);
      return;
    case ReductionYield::Normalized: {
      std::vector<double> norm(2);
      shifted_exp_sums(f, nullptr, norm.data());
      for (int c = 0; c < g->dim; ++c) out[c] = f.n == 0 ? 0.0 : ms[1 + c] / norm[1];
      return;
    }
    default:
      // m + log(s), with s = 0 (empty, or all F = -inf) giving -inf whatever m is.
      for (size_t c = 1; c < ms.size(); ++c)
        out[c - 1] = ms[c] == 0 ? -kInf : ms[0] + std::log(ms[c]);
  }
}

void reduce_row(const ReductionSpec& red, const Gathered& f, const Gathered* g, RowOut out) {
  const ReductionTraits& t = red.traits();
  switch (t.family) {
    case ReductionFamily::Sum:
      return reduce_sum(f, out);
    case ReductionFamily::Select:
      return reduce_k_best(
          f, t.slots == ReductionSlots::K ? red.k : 1, t.best == ReductionBest::Highest,
          t.yields_values() ? out.values : nullptr, t.yields_indices() ? out.indices : nullptr);
    case ReductionFamily::ShiftedExp:
      return reduce_shifted_exp(red, f, g, out.values);
  }
}

void check_reduction(Expr f, const ReductionSpec& red, int axis, int64_t nx, int64_t ny) {
  const std::string name(reduction_name(red.kind));
  if (axis != 0 && axis != 1)
    throw Error("reference_reduce: axis must be 0 or 1, not " + std::to_string(axis));
  if (nx < 0 || ny < 0) throw Error("reference_reduce: nx and ny must be >= 0");
  if (red.needs_formula2() && !red.formula2)
    throw Error("reference_reduce: " + name + " needs a second formula (the weight G)");
  if (red.needs_k() && red.k < 1)
    throw Error("reference_reduce: " + name + " needs K >= 1, not " + std::to_string(red.k));
  if (red.needs_scalar_formula() && f->dim != 1)
    throw Error("reference_reduce: " + name + " needs a formula of dim 1, not " +
                std::to_string(f->dim));
}

}  // namespace

ReferenceOutput reference_reduce(Expr f, const ReductionSpec& reduction, int axis,
                                 const std::vector<const double*>& args, int64_t nx, int64_t ny) {
  check_reduction(f, reduction, axis, nx, ny);
  const Expr g = reduction.takes_formula2() ? reduction.formula2 : nullptr;
  std::vector<Expr> roots{f};
  if (g) roots.push_back(g);
  detail::Schedule schedule(roots);
  for (Expr v : schedule.vars()) {
    const size_t k = size_t(v->var_index());
    if (k >= args.size() || !args[k])
      throw Error("reference_reduce: no data for argument " + std::to_string(k) +
                  ", which the formula uses");
  }

  ReferenceOutput out;
  out.rows = axis == 1 ? nx : ny;
  out.cols = reduction.value_cols(f->dim);
  out.index_cols = reduction.index_cols(f->dim);
  out.values.assign(size_t(out.rows * out.cols), 0.0);
  out.indices.assign(size_t(out.rows * out.index_cols), -1);

  const int64_t inner = axis == 1 ? ny : nx;
  Gathered fv{inner, f->dim, std::vector<double>(size_t(inner * f->dim))};
  Gathered gv{inner, g ? g->dim : 0, std::vector<double>(size_t(g ? inner * g->dim : 0))};
  std::vector<const double*> rows(args.size(), nullptr);
  for (int64_t r = 0; r < out.rows; ++r) {
    for (int64_t s = 0; s < inner; ++s) {
      const int64_t i = axis == 1 ? r : s, j = axis == 1 ? s : r;
      for (Expr v : schedule.vars()) {
        const int64_t row = v->var_cat() == CatI ? i : v->var_cat() == CatJ ? j : 0;
        rows[size_t(v->var_index())] = args[size_t(v->var_index())] + row * v->dim;
      }
      schedule.run(rows);
      std::copy_n(schedule.result(0), f->dim, fv.data.begin() + s * f->dim);
      if (g) std::copy_n(schedule.result(1), g->dim, gv.data.begin() + s * g->dim);
    }
    reduce_row(reduction, fv, g ? &gv : nullptr,
               {out.values.data() + r * out.cols, out.indices.data() + r * out.index_cols});
  }
  return out;
}

}  // namespace keops::ir
