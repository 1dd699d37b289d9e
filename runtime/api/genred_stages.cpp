// Runs a GenredImpl: its hidden steps, then its output, each a sum of reductions and gathers.
#include <algorithm>
#include <type_traits>

#include "runtime/api/genred_impl.h"
#include "runtime/api/kernel_request.h"
#include "runtime/api/ranges_run.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/multi_gpu.h"

namespace keops::detail {

codegen::KernelSpec kernel_spec(const ReductionStage& s, ir::DType dtype, const Options& o,
                                int gpu_device) {
  codegen::KernelSpec spec;
  spec.formula = s.f.of(dtype);
  spec.reduction = s.reduction;
  spec.reduction.formula2 = s.g.of(dtype);
  spec.axis = s.axis;
  spec.dtype = dtype;
  spec.args = s.args;
  if (gpu_device >= 0)
    spec.target = codegen::GpuTarget{runtime::cuda::device_sm(gpu_device), o.gpu_fast_math};
  else
    spec.target = codegen::CpuTarget::host();
  spec.sum_scheme = runtime::codegen_sum_scheme(o.sum_scheme);
  spec.float64_accumulator = o.float64_accumulator;
  return spec;
}

namespace {

// Runs one stage's kernel on host arrays, on the CPU or on a GPU (copies in and out).
template <class T>
void run_kernel(const ReductionStage& s, const std::vector<const T*>& args, const RowCounts& rows,
                const Options& o, int gpu_device, int64_t out_rows, int64_t reduced, T* values,
                int64_t* indices) {
  const codegen::KernelSpec spec = kernel_spec(s, dtype_of<T>(), o, gpu_device);
  const auto sparse = sparse_axis(o, s);
  if (gpu_device < 0) {
    runtime::run_cpu_kernel<T>(runtime::cpu_kernel_for(spec), out_rows, reduced, args.data(),
                               values, indices, o.threads, sparse_ptr(sparse));
    return;
  }
  std::vector<View<const T>> views;
  for (size_t k = 0; k < s.args.size(); ++k)
    views.push_back({args[k], rows.of(s.args[k].cat), s.args[k].dim});
  if (s.single_pair)  // the reduced axis is one pair, whatever the rows of its category
    for (size_t k = 0; k < s.args.size(); ++k)
      if (s.args[k].cat == s.inner_cat()) views[k].rows = 1;
  if (!o.devices.empty()) {
    runtime::cuda::run_multi_gpu_reduction<T>(
        spec, runtime::cuda::multi_gpu_devices(o.devices), out_rows, reduced, views, s.args,
        {values, out_rows, s.value_cols()}, {indices, out_rows, s.index_cols()},
        {o.gpu_memory_limit});
    return;
  }
  runtime::cuda::run_gpu_reduction<T>(
      spec, gpu_device, out_rows, reduced, views, {values, out_rows, s.value_cols()},
      {indices, out_rows, s.index_cols()}, sparse_ptr(sparse), {o.gpu_memory_limit});
}

// One stage into values (rows of its output category) and indices; args[k] is argument k.
template <class T>
void run_stage(const ReductionStage& s, const std::vector<const T*>& args, const RowCounts& rows,
               const Options& o, int gpu_device, T* values, int64_t* indices) {
  const int64_t out_rows = rows.of(s.outer_cat());
  const int64_t reduced = s.single_pair ? 1 : rows.of(s.inner_cat());
  const int64_t cols = s.value_cols();
  if (s.is_zero() || (s.sum_rows && out_rows == 0)) {
    std::fill_n(values, (s.sum_rows ? 1 : out_rows) * cols, T(0));
    return;
  }
  if (out_rows == 0) return;
  if (!s.sum_rows) {
    run_kernel<T>(s, args, rows, o, gpu_device, out_rows, reduced, values, indices);
    return;
  }
  std::vector<T> per_row(size_t(out_rows * cols));
  run_kernel<T>(s, args, rows, o, gpu_device, out_rows, reduced, per_row.data(), nullptr);
  for (int64_t c = 0; c < cols; ++c) {
    long double total = 0;
    for (int64_t r = 0; r < out_rows; ++r) total += per_row[size_t(r * cols + c)];
    values[c] = T(total);
  }
}

// One selected (outer row, slot) pair and the index picked there.
struct Pick {
  int64_t row;
  int64_t index;
  int slot;
};

// Adds a selection term to values: pairs gathered into rows, one kernel over them, and
// each row's result scattered into values. layouts[k] is the shape of args[k].
template <class T>
void add_selection(const SelectionTerm& s, const std::vector<const T*>& args,
                   const std::vector<codegen::ArgLayout>& layouts, const RowCounts& rows,
                   const Options& o, int gpu_device, T* values) {
  const ReductionStage& arg_reduction = s.arg_reduction;
  const ir::Cat outer = arg_reduction.outer_cat();
  const int64_t out_rows = rows.of(outer);
  const int slots = arg_reduction.index_cols();
  std::vector<int64_t> indices(size_t(out_rows * slots));
  run_stage<T>(arg_reduction, args, rows, o, gpu_device, nullptr, indices.data());

  std::vector<Pick> picks;  // an index of -1 (all NaN, or K beyond the range) picks nothing
  for (int64_t r = 0; r < out_rows; ++r)
    for (int slot = 0; slot < slots; ++slot)
      if (const int64_t index = indices[size_t(r * slots + slot)]; index >= 0)
        picks.push_back({r, index, slot});
  if (picks.empty()) return;
  const int64_t n_picks = int64_t(picks.size());
  auto row_of = [&](const Pick& pick, ir::Cat cat) {
    return cat == ir::CatP ? 0 : cat == outer ? pick.row : pick.index;
  };

  // The pair rows: each array at its outer row, at the picked inner row, or as it is.
  const ReductionStage& pair = s.pair;
  const size_t gathered_count = s.gathered();
  std::vector<std::vector<T>> gathered(pair.args.size());
  std::vector<const T*> pair_args(pair.args.size());
  for (size_t k = 0; k < gathered_count; ++k) {
    const codegen::ArgLayout& arg = layouts[k];
    if (arg.cat == ir::CatP) {
      pair_args[k] = args[k];
      continue;
    }
    std::vector<T>& rows_k = gathered[k];
    rows_k.resize(size_t(n_picks * arg.dim));
    for (int64_t p = 0; p < n_picks; ++p)
      std::copy_n(args[k] + row_of(picks[size_t(p)], arg.cat) * arg.dim, arg.dim,
                  rows_k.begin() + p * arg.dim);
    pair_args[k] = rows_k.data();
  }
  // E_k: the slot's value of C_k in its component of F.
  const int f_dim = arg_reduction.f.f64->dim;
  for (size_t k = 0; k < s.slot_args.size(); ++k) {
    const int c_position = s.slot_args[k];
    const T* c = args[size_t(c_position)];
    std::vector<T>& e = gathered[gathered_count + k];
    e.assign(size_t(n_picks * f_dim), T(0));
    for (int64_t p = 0; p < n_picks; ++p) {
      const Pick& pick = picks[size_t(p)];
      e[size_t(p * f_dim + pick.slot % f_dim)] =
          c[row_of(pick, layouts[size_t(c_position)].cat) * slots + pick.slot];
    }
    pair_args[gathered_count + k] = e.data();
  }

  RowCounts pair_rows;
  (outer == ir::CatI ? pair_rows.i : pair_rows.j) = n_picks;
  const int64_t v_dim = pair.value_cols();
  std::vector<T> results(size_t(n_picks * v_dim));
  run_stage<T>(pair, pair_args, pair_rows, o, gpu_device, results.data(), nullptr);
  for (int64_t p = 0; p < n_picks; ++p) {
    const Pick& pick = picks[size_t(p)];
    const T* result = results.data() + p * v_dim;
    const int64_t target = row_of(pick, s.target_cat);
    if (s.to_slots)
      values[target * slots + pick.slot] += result[pick.slot % f_dim];
    else
      for (int64_t c = 0; c < v_dim; ++c) values[target * v_dim + c] += result[c];
  }
}

// One step into values (rows of its output category) and indices: its main stage, then
// every other term added.
template <class T>
void run_step(const Step& step, const std::vector<const T*>& args,
              const std::vector<codegen::ArgLayout>& layouts, const RowCounts& rows,
              const Options& o, int gpu_device, T* values, int64_t* indices) {
  run_stage<T>(step.main, args, rows, o, gpu_device, values, indices);
  const size_t size = size_t(rows.of(step.output_cat()) * step.value_cols());
  std::vector<T> term(step.more.empty() ? 0 : size);
  for (const ReductionStage& s : step.more) {
    run_stage<T>(s, args, rows, o, gpu_device, term.data(), nullptr);
    for (size_t q = 0; q < size; ++q) values[q] += term[q];
  }
  for (const SelectionTerm& s : step.selections)
    add_selection<T>(s, args, layouts, rows, o, gpu_device, values);
}

}  // namespace

template <class T>
void run_stages(const GenredImpl& g, const std::vector<const T*>& args, const RowCounts& rows,
                T* values, int64_t* indices, int gpu_device) {
  std::vector<const T*> all_args = args;
  std::vector<codegen::ArgLayout> layouts;
  for (const frontend::ArgInfo& a : g.args) layouts.push_back({a.dim, a.cat});
  std::vector<std::vector<T>> hidden_outputs(g.hidden.size());
  for (size_t k = 0; k < g.hidden.size(); ++k) {
    const Step& s = g.hidden[k];
    hidden_outputs[k].resize(size_t(rows.of(s.output_cat()) * s.value_cols()));
    run_step<T>(s, all_args, layouts, rows, g.options, gpu_device, hidden_outputs[k].data(),
                nullptr);
    all_args.push_back(hidden_outputs[k].data());
    layouts.push_back({s.value_cols(), s.output_cat()});
  }
  run_step<T>(g, all_args, layouts, rows, g.options, gpu_device, values, indices);
}

template void run_stages<float>(const GenredImpl&, const std::vector<const float*>&,
                                const RowCounts&, float*, int64_t*, int);
template void run_stages<double>(const GenredImpl&, const std::vector<const double*>&,
                                 const RowCounts&, double*, int64_t*, int);

}  // namespace keops::detail
