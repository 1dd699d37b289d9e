// Genred: checks the user's formula, options and arrays, then runs the compiled kernel.
#include "keops/genred.h"

#include <algorithm>
#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/codegen/reductions.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"
#include "keops/error.h"
#include "keops/gpu.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"

namespace keops {
namespace detail {

// The formula (and formula2) built for one dtype.
struct TypedFormula {
  ir::Expr f = nullptr;
  ir::Expr g = nullptr;
};

struct GenredImpl {
  std::string formula_text;
  int axis = 0;
  Options options;
  ir::ReductionSpec reduction;  // formula2 is the float64 G; kernels take their dtype's
  std::vector<frontend::ArgInfo> args;
  std::shared_ptr<ir::Context> context;
  TypedFormula f32, f64;

  const TypedFormula& typed(ir::DType t) const { return t == ir::DType::F32 ? f32 : f64; }
};

}  // namespace detail

namespace {

using detail::GenredImpl;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

detail::TypedFormula parse_typed(const std::string& formula, const std::string& formula2,
                                 const frontend::AliasTable& aliases, ir::Context& ctx,
                                 ir::DType dtype) {
  detail::TypedFormula t;
  t.f = frontend::parse_formula(formula, aliases, ctx, dtype);
  if (!formula2.empty()) t.g = frontend::parse_formula(formula2, aliases, ctx, dtype);
  ir::verify(t.f);
  if (t.g) ir::verify(t.g);
  return t;
}

codegen::SumScheme sum_scheme(const Options& o) {
  switch (o.sum_scheme) {
    case SumScheme::Direct: return codegen::SumScheme::Direct;
    case SumScheme::Kahan: return codegen::SumScheme::Kahan;
    case SumScheme::Auto:
    case SumScheme::Block: break;
  }
  return codegen::SumScheme::Block;
}

void check_options(const GenredImpl& g) {
  const Options& o = g.options;
  if (g.axis != 0 && g.axis != 1)
    throw Error("Genred: axis must be 0 (reduce over i) or 1 (reduce over j), not " +
                std::to_string(g.axis));
  if (o.backend == Backend::GPU)
    throw Error("Genred: the GPU backend is unavailable: " + gpu_unavailable_reason());
  if (o.threads < 0) throw Error("Genred: Options::threads must be >= 0, not " + std::to_string(o.threads));
  try {
    g.reduction.check(g.f64.f->dim);
  } catch (const Error& e) {
    throw Error(std::string("Genred: ") + e.what());
  }
}

template <class T>
constexpr ir::DType dtype_of() {
  return std::is_same_v<T, float> ? ir::DType::F32 : ir::DType::F64;
}

// Rows of the output axis and of the reduced axis, from the arguments or the options.
struct Sizes {
  int64_t out_rows;
  int64_t reduced;
};

template <class T>
Sizes check_arguments(const GenredImpl& g, const std::vector<View<const T>>& args) {
  const size_t n = g.args.size();
  if (args.size() != n)
    throw Error("Genred: expected " + std::to_string(n) + " argument(s), got " + std::to_string(args.size()));
  int64_t rows_of[2] = {-1, -1};
  size_t first_of[2] = {0, 0};
  for (size_t k = 0; k < n; ++k) {
    const frontend::ArgInfo& a = g.args[k];
    const View<const T>& v = args[k];
    const std::string which = "argument " + std::to_string(k) + " (" + a.name + ")";
    if (v.device != -1)
      throw Error("Genred: " + which + " is in GPU memory, but " + gpu_unavailable_reason());
    if (v.rows < 0 || v.cols < 0) throw Error("Genred: " + which + " has a negative shape");
    if (v.cols != a.dim)
      throw Error("Genred: " + which + " has " + std::to_string(v.cols) + " cols, but its dim is " +
                  std::to_string(a.dim));
    if (v.data == nullptr && v.rows > 0) throw Error("Genred: " + which + " has null data and " +
                                                     std::to_string(v.rows) + " rows");
    if (a.cat == ir::CatP) {
      if (v.rows != 1)
        throw Error("Genred: " + which + " is a parameter and must have 1 row, not " + std::to_string(v.rows));
      continue;
    }
    int64_t& rows = rows_of[a.cat];
    if (rows < 0) {
      rows = v.rows;
      first_of[a.cat] = k;
    } else if (rows != v.rows) {
      throw Error("Genred: " + which + " has " + std::to_string(v.rows) + " rows, but argument " +
                  std::to_string(first_of[a.cat]) + " (" + g.args[first_of[a.cat]].name + ") of the same " +
                  (a.cat == ir::CatI ? "i" : "j") + " category has " + std::to_string(rows));
    }
  }
  const int64_t option_rows[2] = {g.options.nx, g.options.ny};
  for (int c = 0; c < 2; ++c)
    if (rows_of[c] < 0) {
      if (option_rows[c] < 0)
        throw Error(std::string("Genred: the formula has no ") + (c == 0 ? "i" : "j") +
                    " argument, so its size must be given in Options::" + (c == 0 ? "nx" : "ny"));
      rows_of[c] = option_rows[c];
    }
  return g.axis == 1 ? Sizes{rows_of[0], rows_of[1]} : Sizes{rows_of[1], rows_of[0]};
}

template <class V>
void check_output(const char* what, const V& view, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  if (view.device != -1) throw Error(std::string("Genred::run: ") + what + " is in GPU memory, but " + gpu_unavailable_reason());
  if (view.rows != rows || view.cols != cols)
    throw Error(std::string("Genred::run: ") + what + " is " + std::to_string(view.rows) + " x " +
                std::to_string(view.cols) + ", expected " + std::to_string(rows) + " x " + std::to_string(cols));
  if (view.data == nullptr && rows > 0) throw Error(std::string("Genred::run: ") + what + " has null data");
}

template <class T>
void run_impl(const GenredImpl& g, const std::vector<View<const T>>& args, View<T> values,
              View<int64_t> indices) {
  const Sizes sizes = check_arguments(g, args);
  const detail::TypedFormula& typed = g.typed(dtype_of<T>());
  codegen::KernelSpec spec;
  spec.formula = typed.f;
  spec.reduction = g.reduction;
  spec.reduction.formula2 = typed.g;
  spec.axis = g.axis;
  spec.dtype = dtype_of<T>();
  for (const frontend::ArgInfo& a : g.args) spec.args.push_back({a.dim, a.cat});
  spec.target = codegen::CpuTarget::host();
  spec.sum_scheme = sum_scheme(g.options);
  spec.float64_accumulator = g.options.float64_accumulator;
  check_output("values", values, sizes.out_rows, spec.value_cols());
  check_output("indices", indices, sizes.out_rows, spec.index_cols());
  if (sizes.out_rows == 0) return;
  const jit::CpuKernel kernel = runtime::cpu_kernel_for(spec);
  std::vector<const T*> pointers;
  for (const auto& v : args) pointers.push_back(v.data);
  runtime::run_cpu_kernel<T>(kernel, sizes.out_rows, sizes.reduced, pointers.data(), values.data,
                             indices.data, g.options.threads);
}

template <class T>
Result<T> call_impl(const GenredImpl& g, const std::vector<View<const T>>& args) {
  const Sizes sizes = check_arguments(g, args);
  Result<T> r;
  r.rows = sizes.out_rows;
  r.cols = g.reduction.value_cols(g.f64.f->dim);
  r.index_cols = g.reduction.index_cols(g.f64.f->dim);
  r.values.resize(size_t(r.rows * r.cols));
  r.indices.resize(size_t(r.rows * r.index_cols));
  run_impl<T>(g, args, View<T>{r.values.data(), r.rows, r.cols},
              View<int64_t>{r.indices.data(), r.rows, r.index_cols});
  return r;
}

}  // namespace

Genred::Genred(std::string formula, std::vector<std::string> aliases, std::string reduction, int axis,
               Options options) {
  auto g = std::make_shared<GenredImpl>();
  g->formula_text = std::move(formula);
  g->axis = axis;
  g->options = std::move(options);
  g->reduction.kind = ir::reduction_by_name(reduction);
  g->reduction.k = g->options.k;
  g->context = std::make_shared<ir::Context>();
  const auto table = frontend::AliasTable::parse(aliases);
  g->f32 = parse_typed(g->formula_text, g->options.formula2, table, *g->context, ir::DType::F32);
  g->f64 = parse_typed(g->formula_text, g->options.formula2, table, *g->context, ir::DType::F64);
  std::vector<ir::Expr> roots{g->f64.f};
  if (g->f64.g) roots.push_back(g->f64.g);
  g->args = frontend::collect_arguments(table, roots);
  g->reduction.formula2 = g->f64.g;  // for shapes; each dtype's kernel gets its own G
  check_options(*g);
  impl_ = std::move(g);
}

Result<float> Genred::operator()(const std::vector<View<const float>>& args) const {
  return call_impl<float>(*impl_, args);
}
Result<double> Genred::operator()(const std::vector<View<const double>>& args) const {
  return call_impl<double>(*impl_, args);
}
void Genred::run(const std::vector<View<const float>>& args, View<float> values,
                 View<int64_t> indices) const {
  run_impl<float>(*impl_, args, values, indices);
}
void Genred::run(const std::vector<View<const double>>& args, View<double> values,
                 View<int64_t> indices) const {
  run_impl<double>(*impl_, args, values, indices);
}

Genred Genred::grad(const std::string& var) const {
  throw Error("Genred::grad(" + quoted(var) + "): differentiation is not available yet");
}

std::string Genred::formula() const { return ir::print(impl_->f64.f); }
int Genred::axis() const { return impl_->axis; }
int Genred::value_cols() const { return impl_->reduction.value_cols(impl_->f64.f->dim); }
int Genred::index_cols() const { return impl_->reduction.index_cols(impl_->f64.f->dim); }
int Genred::arg_count() const { return int(impl_->args.size()); }

}  // namespace keops
