// Runs a GenredImpl: its hidden steps, then its output, each a sum of reductions and gathers.
#include <algorithm>
#include <type_traits>

#include "runtime/api/genred_impl.h"
#include "runtime/api/kernel_dispatch.h"

namespace keops::detail {
namespace {

// One selected (outer row, slot) pair and the index picked there.
struct Pick {
  int64_t row;
  int64_t index;
  int slot;
};

// The row of an array of category `cat` that a pick reads or writes: its output row (outer),
// its picked index, or the one row of a parameter.
int64_t row_of(const Pick& pick, ir::Cat cat, ir::Cat outer) {
  return cat == ir::CatP ? 0 : cat == outer ? pick.row : pick.index;
}

// A selection term's picks: each output row's slots with an index (-1, all NaN or K beyond
// the range, picks nothing).
std::vector<Pick> picks_of(const std::vector<int64_t>& indices, int64_t out_rows, int slots) {
  std::vector<Pick> picks;
  for (int64_t r = 0; r < out_rows; ++r)
    for (int slot = 0; slot < slots; ++slot)
      if (const int64_t index = indices[size_t(r * slots + slot)]; index >= 0)
        picks.push_back({r, index, slot});
  return picks;
}

// A program's arrays on the host and where its kernels run: the arguments by position (the
// hidden steps' outputs appended as they are computed), their layouts, the rows of each
// category, the options, and the GPU (-1: the CPU).
template <class T>
class StageRunner {
 public:
  StageRunner(const Options& o, int gpu_device, std::vector<const T*> args,
              std::vector<codegen::ArgLayout> layouts, const RowCounts& rows)
      : o_(o),
        gpu_device_(gpu_device),
        args_(std::move(args)),
        layouts_(std::move(layouts)),
        rows_(rows) {}

  // Appends an argument (a hidden step's output).
  void append(const T* rows, codegen::ArgLayout layout) {
    args_.push_back(rows);
    layouts_.push_back(layout);
  }

  // One step into values (rows of its output category) and indices: its main stage, then
  // every other term added.
  void run_step(const Step& step, T* values, int64_t* indices) const;

  // One stage into values and indices.
  void run_stage(const ReductionStage& s, T* values, int64_t* indices) const;

 private:
  void run_kernel(const ReductionStage& s, T* values, int64_t* indices) const;
  void add_selection(const SelectionTerm& s, T* values) const;
  std::vector<std::vector<T>> gather_pairs(const SelectionTerm& s, const std::vector<Pick>& picks,
                                           std::vector<const T*>& pair_args) const;

  const Options& o_;
  const int gpu_device_;
  std::vector<const T*> args_;
  std::vector<codegen::ArgLayout> layouts_;
  const RowCounts rows_;
};

template <class T>
void StageRunner<T>::run_kernel(const ReductionStage& s, T* values, int64_t* indices) const {
  runtime::ReductionArrays<T> a;
  a.out_rows = rows_.of(s.outer_cat());
  // A map over single pairs reduces one pair, whatever the rows of its category.
  a.n_reduced = s.single_pair ? 1 : rows_.of(s.inner_cat());
  for (size_t k = 0; k < s.args.size(); ++k) {
    const bool one_row = s.single_pair && s.args[k].cat == s.inner_cat();
    a.args.push_back({args_[k], one_row ? 1 : rows_.of(s.args[k].cat), s.args[k].dim});
  }
  a.values = {values, a.out_rows, s.value_cols()};
  a.indices = {indices, a.out_rows, s.index_cols()};
  detail::run_kernel<T>(s, o_, gpu_device_, std::move(a), nullptr);
}

template <class T>
void StageRunner<T>::run_stage(const ReductionStage& s, T* values, int64_t* indices) const {
  const int64_t out_rows = rows_.of(s.outer_cat());
  const int64_t cols = s.value_cols();
  if (s.is_zero() || (s.sum_rows && out_rows == 0)) {
    std::fill_n(values, (s.sum_rows ? 1 : out_rows) * cols, T(0));
    return;
  }
  if (out_rows == 0) return;
  if (!s.sum_rows) {
    run_kernel(s, values, indices);
    return;
  }
  std::vector<T> per_row(size_t(out_rows * cols));
  run_kernel(s, per_row.data(), nullptr);
  for (int64_t c = 0; c < cols; ++c) {
    long double total = 0;
    for (int64_t r = 0; r < out_rows; ++r) total += per_row[size_t(r * cols + c)];
    values[c] = T(total);
  }
}

// The pair rows of a selection term's picks: each array at its outer row, at the picked
// inner row, or as it is; then E_k, the slot's value of C_k in its component of F. Sets
// pair_args to them; returns the gathered copies it points into.
template <class T>
std::vector<std::vector<T>> StageRunner<T>::gather_pairs(const SelectionTerm& s,
                                                         const std::vector<Pick>& picks,
                                                         std::vector<const T*>& pair_args) const {
  const ir::Cat outer = s.arg_reduction.outer_cat();
  const int slots = s.arg_reduction.index_cols();
  const int64_t n_picks = int64_t(picks.size());
  const size_t gathered_count = s.gathered();
  std::vector<std::vector<T>> gathered(s.pair.args.size());
  pair_args.assign(s.pair.args.size(), nullptr);
  for (size_t k = 0; k < gathered_count; ++k) {
    const codegen::ArgLayout& arg = layouts_[k];
    if (arg.cat == ir::CatP) {
      pair_args[k] = args_[k];
      continue;
    }
    std::vector<T>& rows_k = gathered[k];
    rows_k.resize(size_t(n_picks * arg.dim));
    for (int64_t p = 0; p < n_picks; ++p)
      std::copy_n(args_[k] + row_of(picks[size_t(p)], arg.cat, outer) * arg.dim, arg.dim,
                  rows_k.begin() + p * arg.dim);
    pair_args[k] = rows_k.data();
  }
  const int f_dim = s.arg_reduction.f.f64->dim;
  for (size_t k = 0; k < s.slot_args.size(); ++k) {
    const int c_position = s.slot_args[k];
    const T* c = args_[size_t(c_position)];
    std::vector<T>& e = gathered[gathered_count + k];
    e.assign(size_t(n_picks * f_dim), T(0));
    for (int64_t p = 0; p < n_picks; ++p) {
      const Pick& pick = picks[size_t(p)];
      e[size_t(p * f_dim + pick.slot % f_dim)] =
          c[row_of(pick, layouts_[size_t(c_position)].cat, outer) * slots + pick.slot];
    }
    pair_args[gathered_count + k] = e.data();
  }
  return gathered;
}

// Adds a selection term to values: pairs gathered into rows, one kernel over them, and
// each row's result scattered into values.
template <class T>
void StageRunner<T>::add_selection(const SelectionTerm& s, T* values) const {
  const ReductionStage& arg_reduction = s.arg_reduction;
  const ir::Cat outer = arg_reduction.outer_cat();
  const int64_t out_rows = rows_.of(outer);
  const int slots = arg_reduction.index_cols();
  std::vector<int64_t> indices(size_t(out_rows * slots));
  run_stage(arg_reduction, nullptr, indices.data());
  const std::vector<Pick> picks = picks_of(indices, out_rows, slots);
  if (picks.empty()) return;
  const int64_t n_picks = int64_t(picks.size());

  std::vector<const T*> pair_args;
  const std::vector<std::vector<T>> gathered = gather_pairs(s, picks, pair_args);
  RowCounts pair_rows;
  (outer == ir::CatI ? pair_rows.i : pair_rows.j) = n_picks;
  const StageRunner<T> pairs(o_, gpu_device_, std::move(pair_args), s.pair.args, pair_rows);
  const int64_t v_dim = s.pair.value_cols();
  std::vector<T> results(size_t(n_picks * v_dim));
  pairs.run_stage(s.pair, results.data(), nullptr);

  const int f_dim = arg_reduction.f.f64->dim;
  for (int64_t p = 0; p < n_picks; ++p) {
    const Pick& pick = picks[size_t(p)];
    const T* result = results.data() + p * v_dim;
    const int64_t target = row_of(pick, s.target_cat, outer);
    if (s.to_slots)
      values[target * slots + pick.slot] += result[pick.slot % f_dim];
    else
      for (int64_t c = 0; c < v_dim; ++c) values[target * v_dim + c] += result[c];
  }
}

template <class T>
void StageRunner<T>::run_step(const Step& step, T* values, int64_t* indices) const {
  run_stage(step.main, values, indices);
  const size_t size = size_t(rows_.of(step.output_cat()) * step.value_cols());
  std::vector<T> term(step.more.empty() ? 0 : size);
  for (const ReductionStage& s : step.more) {
    run_stage(s, term.data(), nullptr);
    for (size_t q = 0; q < size; ++q) values[q] += term[q];
  }
  for (const SelectionTerm& s : step.selections) add_selection(s, values);
}

}  // namespace

template <class T>
void run_stages(const GenredImpl& g, const std::vector<const T*>& args, const RowCounts& rows,
                T* values, int64_t* indices, int gpu_device) {
  std::vector<codegen::ArgLayout> layouts;
  for (const frontend::ArgInfo& a : g.args) layouts.push_back({a.dim, a.cat});
  StageRunner<T> runner(g.options, gpu_device, args, std::move(layouts), rows);
  std::vector<std::vector<T>> hidden_outputs(g.hidden.size());
  for (size_t k = 0; k < g.hidden.size(); ++k) {
    const Step& s = g.hidden[k];
    hidden_outputs[k].resize(size_t(rows.of(s.output_cat()) * s.value_cols()));
    runner.run_step(s, hidden_outputs[k].data(), nullptr);
    runner.append(hidden_outputs[k].data(), {s.value_cols(), s.output_cat()});
  }
  runner.run_step(g, values, indices);
}

template void run_stages<float>(const GenredImpl&, const std::vector<const float*>&,
                                const RowCounts&, float*, int64_t*, int);
template void run_stages<double>(const GenredImpl&, const std::vector<const double*>&,
                                 const RowCounts&, double*, int64_t*, int);

}  // namespace keops::detail
