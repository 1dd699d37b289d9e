// Test support: Genred against the float64 reference evaluator (see reference_check.h).
#include "tests/support/reference_check.h"

#include <algorithm>
#include <cmath>

#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"

namespace keops::test {
namespace {

struct ParsedCase {
  ir::Context ctx;
  ir::Expr f = nullptr;
  ir::Expr g = nullptr;
  std::vector<frontend::ArgInfo> args;
};

void parse_case(ParsedCase& p, const std::string& formula, const std::string& formula2,
                const std::vector<std::string>& aliases) {
  const auto table = frontend::AliasTable::parse(aliases);
  p.f = frontend::parse_formula(formula, table, p.ctx, ir::DType::F64);
  std::vector<ir::Expr> roots{p.f};
  if (!formula2.empty()) {
    p.g = frontend::parse_formula(formula2, table, p.ctx, ir::DType::F64);
    roots.push_back(p.g);
  }
  p.args = frontend::collect_arguments(table, roots);
}

int64_t rows_for(ir::Cat cat, int64_t nx, int64_t ny) {
  return cat == ir::CatI ? nx : cat == ir::CatJ ? ny : 1;
}

}  // namespace

template <class T>
RandomArgs<T> random_args(const std::string& formula, const std::vector<std::string>& aliases,
                          int64_t nx, int64_t ny, uint64_t seed, double lo, double hi) {
  ParsedCase p;
  parse_case(p, formula, "", aliases);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  RandomArgs<T> out;
  for (const auto& a : p.args) {
    const int64_t rows = rows_for(a.cat, nx, ny);
    std::vector<T> v(size_t(rows * a.dim));
    for (T& x : v) x = T(dist(rng));
    out.data.push_back(std::move(v));
  }
  for (size_t k = 0; k < p.args.size(); ++k)
    out.views.push_back({out.data[k].data(), rows_for(p.args[k].cat, nx, ny), p.args[k].dim});
  return out;
}

template <class T>
ComparisonReport compare_with_reference(const std::string& formula,
                                        const std::vector<std::string>& aliases,
                                        const std::string& reduction, int axis,
                                        const Options& options, const RandomArgs<T>& args,
                                        int64_t nx, int64_t ny, int64_t edge_rows) {
  // The tolerances here are those of accurate math; GPU fast math is measured by bench/.
  Options accurate = options;
  accurate.gpu_fast_math = false;
  Genred op(formula, aliases, reduction, axis, accurate);
  Result<T> got = op(args.views);

  ParsedCase p;
  parse_case(p, formula, options.formula2, aliases);
  // The output rows the reference computes.
  const int64_t out_rows = axis == 1 ? nx : ny;
  std::vector<int64_t> rows;
  for (int64_t k = 0; k < out_rows; ++k)
    if (edge_rows <= 0 || k < edge_rows || k >= out_rows - edge_rows) rows.push_back(k);
  const ir::Cat out_cat = axis == 1 ? ir::CatI : ir::CatJ;
  std::vector<std::vector<double>> as_double;
  std::vector<const double*> pointers;
  for (size_t a = 0; a < args.data.size(); ++a) {
    const auto& v = args.data[a];
    std::vector<double> d;
    if (p.args[a].cat == out_cat) {
      const size_t dim = size_t(p.args[a].dim);
      for (int64_t row : rows)
        d.insert(d.end(), v.begin() + long(size_t(row) * dim), v.begin() + long(size_t(row + 1) * dim));
    } else {
      d.assign(v.begin(), v.end());
    }
    as_double.push_back(std::move(d));
  }
  static const double no_rows = 0;  // the reference wants a pointer even for 0 rows
  for (const auto& v : as_double) pointers.push_back(v.empty() ? &no_rows : v.data());
  const int64_t ref_rows = int64_t(rows.size());
  if (axis == 1) nx = ref_rows;
  else ny = ref_rows;
  ir::ReductionSpec spec;
  spec.kind = ir::reduction_by_name(reduction);
  spec.k = options.k;
  spec.formula2 = p.g;
  ir::ReferenceOutput ref = ir::reference_reduce(p.f, spec, axis, pointers, nx, ny);

  ComparisonReport r;
  const size_t cols = size_t(got.cols), index_cols = size_t(got.index_cols);
  if (got.rows != out_rows || ref.values.size() != rows.size() * cols ||
      ref.indices.size() != rows.size() * index_cols) {
    r.max_abs_error = INFINITY;
    return r;
  }
  for (size_t k = 0; k < ref.values.size(); ++k) {
    const double want = ref.values[k];
    const double have = double(got.values[size_t(rows[k / cols]) * cols + k % cols]);
    if (std::isnan(want) != std::isnan(have) ||
        (std::isinf(want) && want != have))
      r.max_abs_error = INFINITY;
    else if (std::isfinite(want))
      r.max_abs_error = std::max(r.max_abs_error, std::fabs(have - want));
    if (std::isfinite(want)) r.max_ref = std::max(r.max_ref, std::fabs(want));
  }
  for (size_t k = 0; k < ref.indices.size(); ++k)
    r.indices_equal = r.indices_equal &&
                      ref.indices[k] == got.indices[size_t(rows[k / index_cols]) * index_cols + k % index_cols];
  return r;
}

template RandomArgs<float> random_args<float>(const std::string&, const std::vector<std::string>&,
                                               int64_t, int64_t, uint64_t, double, double);
template RandomArgs<double> random_args<double>(const std::string&, const std::vector<std::string>&,
                                                int64_t, int64_t, uint64_t, double, double);
template ComparisonReport compare_with_reference<float>(const std::string&,
                                                        const std::vector<std::string>&,
                                                        const std::string&, int, const Options&,
                                                        const RandomArgs<float>&, int64_t, int64_t, int64_t);
template ComparisonReport compare_with_reference<double>(const std::string&,
                                                         const std::vector<std::string>&,
                                                         const std::string&, int, const Options&,
                                                         const RandomArgs<double>&, int64_t, int64_t, int64_t);

}  // namespace keops::test
