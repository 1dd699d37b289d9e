// Genred::accumulate and finish: a reduction over its reduced rows a part at a time.
#include <cstdint>
#include <string>

#include "compiler/codegen/cpu_kernel.h"
#include "keops/error.h"
#include "keops/genred.h"
#include "runtime/api/genred_impl.h"
#include "runtime/api/kernel_dispatch.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"

namespace keops {

namespace {

using detail::GenredImpl;

// The resumable CPU kernel of g's output step for arrays of dtype.
codegen::KernelSpec resumable_spec(const GenredImpl& g, ir::DType dtype) {
  codegen::KernelSpec spec = detail::kernel_spec(g.main, dtype, g.options, -1);
  std::get<codegen::CpuTarget>(spec.target).resumable = true;
  return spec;
}

// Why g, whose resumable kernel would be `spec`, cannot be reduced a part at a time ("" when
// it can).
std::string not_accumulable(const GenredImpl& g, const codegen::KernelSpec& spec) {
  if (!g.single_kernel())
    return "it runs several kernels (a gradient of several steps, or a "
           "parameter's, summed over both axes)";
  if (detail::uses_gpu(g.options)) return "it runs on the GPU (partial reductions run on the CPU)";
  if (g.options.ranges) return "it has block-sparse ranges";
  if (!codegen::cpu_resumable(spec))
    return "its output is computed a group of columns at a time";
  return "";
}

template <class T>
void accumulate_impl(const GenredImpl& g, const std::vector<View<const T>>& args,
                     int64_t first_reduced_row, ReductionStates& states, View<T>* values,
                     View<int64_t>* indices) {
  const std::string who = values ? "Genred::finish" : "Genred::accumulate";
  const codegen::KernelSpec spec = resumable_spec(g, detail::dtype_of<T>());
  const std::string why = not_accumulable(g, spec);
  if (!why.empty())
    throw Error(who + ": this reduction cannot be reduced a part at a time: " + why);
  const detail::RowCounts rows = detail::check_arguments(g, args);
  const int64_t out_rows = rows.of(g.main.output_cat()), reduced = rows.of(g.main.inner_cat());
  if (first_reduced_row < 0)
    throw Error(who + ": first_reduced_row must be >= 0, not " + std::to_string(first_reduced_row));
  if (first_reduced_row < states.next_reduced_row)
    throw Error(who + ": parts must come in increasing order of rows: this one starts at row " +
                std::to_string(first_reduced_row) + ", before the end of the parts so far (" +
                std::to_string(states.next_reduced_row) + ")");
  if (states.started && states.rows != out_rows)
    throw Error(who + ": the states hold " + std::to_string(states.rows) +
                " output rows, but this call's arguments have " + std::to_string(out_rows));
  if (values) {
    detail::check_output("values", *values, out_rows, g.main.value_cols(), g.options);
    detail::check_output("indices", *indices, out_rows, g.main.index_cols(), g.options);
  }
  const int64_t cells = codegen::cpu_state_cells(spec);
  if (!states.started)
    states.cells.assign(size_t(out_rows * cells), 0);
  else if (int64_t(states.cells.size()) != out_rows * cells)
    throw Error(who + ": the states hold " + std::to_string(states.cells.size()) +
                " cells, not this reduction's " + std::to_string(out_rows * cells));
  // The reduced axis's arrays as the kernel reads them: at their row first_reduced_row.
  runtime::ReductionArrays<T> arrays{out_rows, reduced, args, {}, {}, nullptr};
  for (size_t k = 0; k < args.size(); ++k)
    if (g.args[k].cat == g.main.inner_cat())
      arrays.args[k].data =
          reinterpret_cast<const T*>(reinterpret_cast<uintptr_t>(args[k].data) -
                                     uintptr_t(first_reduced_row * args[k].cols) * sizeof(T));
  if (values) {
    arrays.values = *values;
    arrays.indices = *indices;
  }
  runtime::run_cpu_resumable<T>(
      runtime::cpu_kernel_for(spec), arrays,
      {first_reduced_row, states.cells.data(), states.started, values != nullptr},
      g.options.threads);
  states.started = !values;
  states.rows = out_rows;
  states.next_reduced_row = values ? 0 : first_reduced_row + reduced;
  if (values) states.cells.clear();
}

}  // namespace

bool Genred::accumulates() const {
  return not_accumulable(*impl_, resumable_spec(*impl_, ir::DType::F32)).empty();
}

void Genred::accumulate(const std::vector<View<const float>>& args, int64_t first_reduced_row,
                        ReductionStates& states) const {
  accumulate_impl<float>(*impl_, args, first_reduced_row, states, nullptr, nullptr);
}
void Genred::accumulate(const std::vector<View<const double>>& args, int64_t first_reduced_row,
                        ReductionStates& states) const {
  accumulate_impl<double>(*impl_, args, first_reduced_row, states, nullptr, nullptr);
}
void Genred::finish(const std::vector<View<const float>>& args, int64_t first_reduced_row,
                    ReductionStates& states, View<float> values, View<int64_t> indices) const {
  accumulate_impl<float>(*impl_, args, first_reduced_row, states, &values, &indices);
}
void Genred::finish(const std::vector<View<const double>>& args, int64_t first_reduced_row,
                    ReductionStates& states, View<double> values, View<int64_t> indices) const {
  accumulate_impl<double>(*impl_, args, first_reduced_row, states, &values, &indices);
}

}  // namespace keops
