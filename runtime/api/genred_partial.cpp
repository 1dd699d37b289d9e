// Genred::accumulate and finish: a reduction over its reduced rows a part at a time.
#include <cstdint>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/codegen/cpu_kernel.h"
#include "compiler/ir/printer.h"
#include "keops/error.h"
#include "keops/genred.h"
#include "runtime/api/genred_impl.h"
#include "runtime/api/kernel_dispatch.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/widened.h"
#include "runtime/cuda/gpu_reduce.h"

namespace keops {

namespace {

using detail::GenredImpl;

// The resumable CPU kernel of g's output step for arrays of dtype.
codegen::KernelSpec resumable_spec(const GenredImpl& g, ir::DType dtype) {
  codegen::KernelSpec spec = detail::kernel_spec(g.main, dtype, g.options, -1);
  std::get<codegen::CpuTarget>(spec.target).resumable = true;
  return spec;
}

// Why g cannot be reduced a part at a time ("" when it can).
std::string not_accumulable(const GenredImpl& g) {
  if (!g.single_kernel())
    return "it runs several kernels (a gradient of several steps, or a "
           "parameter's, summed over both axes)";
  if (g.options.ranges) return "it has block-sparse ranges";
  if (detail::uses_gpu(g.options))
    return g.options.devices.empty() ? "" : "it runs on several GPUs (Options::devices)";
  if (!codegen::cpu_resumable(resumable_spec(g, ir::DType::F32)))
    return "its output is computed a group of columns at a time";
  return "";
}

// One accumulate or finish call (finish: values, and indices, are given).
template <class T>
struct PartCall {
  const GenredImpl& g;
  const std::vector<View<const T>>& args;
  int64_t first_reduced_row;
  int64_t out_rows, reduced;
  View<T>* values;
  View<int64_t>* indices;
  std::string who;
};

// keops::Error where started states are not `cells` a row of the call's output rows.
template <class T>
void check_cells(const PartCall<T>& c, const ReductionStates& states, int64_t cells) {
  if (states.started && int64_t(states.cells.size()) != c.out_rows * cells)
    throw Error(c.who + ": the states hold " + std::to_string(states.cells.size()) +
                " cells, not this reduction's " + std::to_string(c.out_rows * cells));
}

// On the CPU: the resumable kernel over the part, its states in states.cells.
template <class T>
void accumulate_on_cpu(const PartCall<T>& c, ReductionStates& states) {
  const codegen::KernelSpec spec = resumable_spec(c.g, detail::dtype_of<T>());
  const int64_t cells = codegen::cpu_state_cells(spec);
  check_cells(c, states, cells);
  if (!states.started) states.cells.assign(size_t(c.out_rows * cells), 0);
  // The reduced axis's arrays as the kernel reads them: at their row first_reduced_row.
  runtime::ReductionArrays<T> arrays{c.out_rows, c.reduced, c.args, {}, {}, nullptr};
  for (size_t k = 0; k < c.args.size(); ++k)
    if (c.g.args[k].cat == c.g.main.inner_cat())
      arrays.args[k].data =
          reinterpret_cast<const T*>(reinterpret_cast<uintptr_t>(c.args[k].data) -
                                     uintptr_t(c.first_reduced_row * c.args[k].cols) * sizeof(T));
  if (c.values) {
    arrays.values = *c.values;
    arrays.indices = *c.indices;
  }
  runtime::run_cpu_resumable<T>(
      runtime::cpu_kernel_for(spec), arrays,
      {c.first_reduced_row, states.cells.data(), states.started, c.values != nullptr},
      c.g.options.threads);
}

// On the CPU, 16-bit arrays: the part widened to float32 copies for the float32 kernel, as
// run widens them, finish's values rounded once.
template <class T>
void accumulate_widened_on_cpu(const PartCall<T>& c, ReductionStates& states) {
  const int threads = c.g.options.threads;
  std::vector<std::vector<float>> copies;
  const std::vector<View<const float>> wide = runtime::widened_views(c.args, copies, threads);
  std::vector<float> wide_values(c.values ? size_t(c.values->rows * c.values->cols) : 0);
  View<float> values{wide_values.data(), c.out_rows, c.values ? c.values->cols : 0};
  accumulate_on_cpu(PartCall<float>{c.g, wide, c.first_reduced_row, c.out_rows, c.reduced,
                                    c.values ? &values : nullptr, c.indices, c.who},
                    states);
  if (c.values)
    runtime::round_values(wide_values.data(), c.values->data, int64_t(wide_values.size()), threads);
}

// On the GPU: the part's partial states (its indices counted from first_reduced_row), merged
// after the saved ones by the reduction's merge kernel, into them or into the outputs.
template <class T>
void accumulate_on_gpu(const PartCall<T>& c, ReductionStates& states) {
  const int device = detail::gpu_device(c.g.options, c.args, c.values ? *c.values : View<T>{},
                                        c.indices ? *c.indices : View<int64_t>{});
  codegen::KernelSpec spec =
      detail::kernel_spec(c.g.main, detail::dtype_of<T>(), c.g.options, device);
  spec.storage = detail::storage_of<T>();
  const size_t row_bytes = runtime::cuda::partial_state_bytes(spec);
  check_cells(c, states, int64_t(row_bytes / 8));
  std::vector<std::vector<char>> slots;
  if (states.started) {
    const auto* saved = reinterpret_cast<const char*>(states.cells.data());
    slots.emplace_back(saved, saved + states.cells.size() * 8);
  }
  slots.emplace_back(size_t(c.out_rows) * row_bytes);
  runtime::ReductionArrays<T> arrays{
      c.out_rows, c.reduced, c.args, {nullptr, c.out_rows, 0}, {nullptr, c.out_rows, 0}, nullptr};
  runtime::cuda::GpuRunOptions options;
  options.memory_limit = c.g.options.gpu_memory_limit;
  options.states_out = slots.back().data();
  options.index_offset = c.first_reduced_row;
  runtime::cuda::run_gpu_reduction<T>(spec, device, arrays, options);
  if (c.values) {
    runtime::cuda::merge_gpu_states<T>(spec, device, c.out_rows, slots, *c.values, *c.indices);
    return;
  }
  const std::vector<char> merged =
      slots.size() == 1 ? std::move(slots.back())
                        : runtime::cuda::merge_gpu_states(spec, device, c.out_rows, slots);
  states.cells.resize(merged.size() / 8);
  std::memcpy(states.cells.data(), merged.data(), merged.size());
}

// What a part's states depend on, in short: the reduction, axis, K, array type, backend, a
// sum's scheme and accumulator (Kahan keeps two cells, a float64 accumulator doubles in
// float32's cells) and a hash of the formulas' text.
template <class T>
std::string part_signature(const GenredImpl& g) {
  const detail::ReductionStage& s = g.main;
  std::string text = ir::print(s.f.f64);
  if (s.g.f64) text += " ; " + ir::print(s.g.f64);
  std::ostringstream out;
  out << ir::reduction_name(s.reduction.kind) << " over " << (s.axis == 1 ? "j" : "i");
  if (s.reduction.needs_k()) out << ", K = " << s.reduction.k;
  out << ", " << dtype_name<T>() << ", " << (detail::uses_gpu(g.options) ? "GPU" : "CPU");
  if (s.reduction.kind == ir::ReductionKind::Sum) {
    static const char* const kSchemes[] = {"Auto", "Direct", "Block", "Kahan"};
    out << ", " << kSchemes[int(g.options.sum_scheme)] << " sums"
        << (g.options.float64_accumulator ? " in float64" : "");
  }
  out << ", formula #" << std::hex << std::hash<std::string>{}(text);
  return out.str();
}

template <class T>
void accumulate_impl(const GenredImpl& g, const std::vector<View<const T>>& args,
                     int64_t first_reduced_row, ReductionStates& states, View<T>* values,
                     View<int64_t>* indices) {
  const std::string who = values ? "Genred::finish" : "Genred::accumulate";
  const std::string why = not_accumulable(g);
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
  const std::string signature = part_signature<T>(g);
  if (states.started && states.started_by != signature)
    throw Error(who + ": these states were started by another reduction (" + states.started_by +
                "), not by this one (" + signature + ")");
  if (states.started && states.rows != out_rows)
    throw Error(who + ": the states hold " + std::to_string(states.rows) +
                " output rows, but this call's arguments have " + std::to_string(out_rows));
  if (values) {
    detail::check_output("values", *values, out_rows, g.main.value_cols(), g.options);
    detail::check_output("indices", *indices, out_rows, g.main.index_cols(), g.options);
  }
  const PartCall<T> call{g, args, first_reduced_row, out_rows, reduced, values, indices, who};
  if (detail::uses_gpu(g.options))
    accumulate_on_gpu(call, states);
  else if constexpr (sizeof(T) == 2)
    accumulate_widened_on_cpu(call, states);
  else
    accumulate_on_cpu(call, states);
  states.started = !values;
  states.started_by = values ? "" : signature;
  states.rows = out_rows;
  states.next_reduced_row = values ? 0 : first_reduced_row + reduced;
  if (values) states.cells.clear();
}

}  // namespace

bool Genred::accumulates() const { return not_accumulable(*impl_).empty(); }

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
void Genred::accumulate(const std::vector<View<const half>>& args, int64_t first_reduced_row,
                        ReductionStates& states) const {
  accumulate_impl<half>(*impl_, args, first_reduced_row, states, nullptr, nullptr);
}
void Genred::accumulate(const std::vector<View<const bfloat16>>& args, int64_t first_reduced_row,
                        ReductionStates& states) const {
  accumulate_impl<bfloat16>(*impl_, args, first_reduced_row, states, nullptr, nullptr);
}
void Genred::finish(const std::vector<View<const half>>& args, int64_t first_reduced_row,
                    ReductionStates& states, View<half> values, View<int64_t> indices) const {
  accumulate_impl<half>(*impl_, args, first_reduced_row, states, &values, &indices);
}
void Genred::finish(const std::vector<View<const bfloat16>>& args, int64_t first_reduced_row,
                    ReductionStates& states, View<bfloat16> values, View<int64_t> indices) const {
  accumulate_impl<bfloat16>(*impl_, args, first_reduced_row, states, &values, &indices);
}

}  // namespace keops
