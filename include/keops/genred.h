// keops::Genred: a generic reduction of a formula over i or j, compiled on first use.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keops/half.h"
#include "keops/options.h"
#include "keops/result.h"
#include "keops/view.h"

namespace keops {

namespace detail {
struct GenredImpl;
}

// One argument of a Genred, as its calls take it (Genred::arguments()).
struct ArgumentInfo {
  std::string name;  // the first alias at its position, or "Var(position,dim,cat)"
  int dim = 0;       // cols
  int category = 0;  // 0: indexed by i (Vi), 1: by j (Vj), 2: a parameter (Pm, one row)
};

// The states of a reduction's output rows partway through its reduced rows
// (Genred::accumulate): what a reduction keeps for each row, in the kernel's layout.
struct ReductionStates {
  bool started = false;          // false: the next part starts from the reduction's identity
  int64_t rows = 0;              // output rows
  int64_t next_reduced_row = 0;  // where the reduced rows folded so far end
  std::vector<uint64_t> cells;   // rows x the kernel's cells per row (opaque)
  // What started them (opaque): the formulas, reduction, array type, backend and a sum's
  // scheme and accumulator, which every later part must have.
  std::string started_by;
};

class Genred {
 public:
  // Throws keops::Error for a bad formula, alias, reduction or option: nothing is run.
  Genred(std::string formula, std::vector<std::string> aliases, std::string reduction = "Sum",
         int axis = 0, Options options = {});

  Result<float> operator()(const std::vector<View<const float>>& args) const;
  Result<double> operator()(const std::vector<View<const double>>& args) const;

  void run(const std::vector<View<const float>>& args, View<float> values,
           View<int64_t> indices = {}) const;
  void run(const std::vector<View<const double>>& args, View<double> values,
           View<int64_t> indices = {}) const;

  // float16 and bfloat16 arrays (keops/half.h), for every reduction and gradient: kernels
  // widen the values to float32 as they load them, compute and accumulate in float32, and
  // round the outputs once (a float16 output past 65504 is infinite). Programs of several
  // kernels (some gradients) run in float32 on widened copies of the arguments.
  Result<half> operator()(const std::vector<View<const half>>& args) const;
  Result<bfloat16> operator()(const std::vector<View<const bfloat16>>& args) const;
  void run(const std::vector<View<const half>>& args, View<half> values,
           View<int64_t> indices = {}) const;
  void run(const std::vector<View<const bfloat16>>& args, View<bfloat16> values,
           View<int64_t> indices = {}) const;

  // Partial reductions (keops::mpi's pipelined scheme): the reduced rows a part at a time.
  // args are as run's, but the reduced axis's arrays hold the part: rows [first_reduced_row,
  // first_reduced_row + their rows) of the whole axis, whose row numbers the indices give.
  // accumulate folds the part into `states` (an unstarted ReductionStates starts them, for
  // this call's output rows); finish folds a last part (of any rows, none included), writes
  // the outputs as run does, and leaves the states unstarted. Parts must come in increasing
  // order of rows: the outputs are then run's over all of them, bit for bit for selections
  // (ties go to the lowest index), within rounding for sums (each part's terms are added
  // apart). For the reductions accumulates() allows (one kernel: not gradients of several
  // steps nor a parameter's; no ranges; on the CPU an output computed whole, at most 64
  // values of F for most reductions; on one GPU, not Options::devices, where each part's
  // partial states are merged after the saved ones by the reduction's merge kernel, the
  // states kept in host memory); else keops::Error.
  bool accumulates() const;
  void accumulate(const std::vector<View<const float>>& args, int64_t first_reduced_row,
                  ReductionStates& states) const;
  void accumulate(const std::vector<View<const double>>& args, int64_t first_reduced_row,
                  ReductionStates& states) const;
  void finish(const std::vector<View<const float>>& args, int64_t first_reduced_row,
              ReductionStates& states, View<float> values, View<int64_t> indices = {}) const;
  void finish(const std::vector<View<const double>>& args, int64_t first_reduced_row,
              ReductionStates& states, View<double> values, View<int64_t> indices = {}) const;
  // 16-bit arrays: states in float32 (as run's), the values rounded once by finish.
  void accumulate(const std::vector<View<const half>>& args, int64_t first_reduced_row,
                  ReductionStates& states) const;
  void accumulate(const std::vector<View<const bfloat16>>& args, int64_t first_reduced_row,
                  ReductionStates& states) const;
  void finish(const std::vector<View<const half>>& args, int64_t first_reduced_row,
              ReductionStates& states, View<half> values, View<int64_t> indices = {}) const;
  void finish(const std::vector<View<const bfloat16>>& args, int64_t first_reduced_row,
              ReductionStates& states, View<bfloat16> values, View<int64_t> indices = {}) const;

  // The gradient of <this(args), e> with respect to the argument named `var` (an alias,
  // or its Var(position,dim,cat) text): a Genred whose arguments are this one's followed
  // by e (rows of this output, value_cols() wide) and whose output has the shape of var's
  // argument (one row for a parameter). Every reduction has one, and so has every gradient,
  // with respect to any argument, e included: grad(u).grad(v) is a Hessian-vector product,
  // and so on to any order. Selections (Min, Max, KMin, their Arg forms, the max of
  // Max_SumShiftExp) are differentiated at the indices they pick, which are piecewise
  // constant (exact but at ties). keops::Error for an unknown name or a dim-0 argument.
  Genred grad(const std::string& var) const;

  std::string formula() const;  // canonical text of the compiled formula
  // The reduction its output step runs ("Sum", "ArgKMin", ...; "Sum" for most gradients).
  std::string reduction() const;

  // This reduction with other options (backend, device, threads, sum scheme, nx/ny, ranges,
  // devices, stream, ...), sharing the parsed formula and the compiled kernels: cheap,
  // where building a Genred parses. keops::Error when k or formula2 differ from this
  // Genred's (they shape the reduction: build another Genred) and for what the
  // constructor rejects in options.
  Genred with_options(Options options) const;
  const Options& options() const;

  // Beyond the contract: the shape of what the reduction yields.
  int axis() const;        // -1 for a reduction over both axes (a parameter's gradient)
  int value_cols() const;  // values per output row
  int index_cols() const;  // indices per output row (0 for value-only reductions)
  int arg_count() const;   // arguments expected, in position order
  // The category (0: i, 1: j) that every reduction of a run reduces over, the output
  // step's and those of the steps some gradients run before it, or -1 when they reduce over
  // both. Then the output rows of a reduction over j (i) read no other row of i (j).
  int reduced_category() const;
  std::vector<ArgumentInfo> arguments() const;  // each argument, in position order

 private:
  explicit Genred(std::shared_ptr<const detail::GenredImpl> impl);

  std::shared_ptr<const detail::GenredImpl> impl_;
};

}  // namespace keops
