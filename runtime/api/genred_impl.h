// GenredImpl: a Genred's reduction program and its options.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/ir/context.h"
#include "compiler/ir/reduction.h"
#include "compiler/program/reduction_program.h"
#include "keops/half.h"
#include "keops/options.h"
#include "keops/view.h"

namespace keops::detail {

using program::ReductionStage;
using program::SelectionTerm;
using program::Step;
using program::TypedFormula;

// A Genred: its program and the options it runs with.
struct GenredImpl : program::ReductionProgram {
  Options options;
};

// The dtype kernels compute in for arrays of T (float32 for 16-bit floats), and how the
// arrays hold it.
template <class T>
constexpr ir::DType dtype_of() {
  return std::is_same_v<T, double> ? ir::DType::F64 : ir::DType::F32;
}
template <class T>
constexpr codegen::Storage storage_of() {
  return std::is_same_v<T, half>       ? codegen::Storage::F16
         : std::is_same_v<T, bfloat16> ? codegen::Storage::BF16
                                       : codegen::Storage::Native;
}

// Rows of the i and j arguments of one call.
struct RowCounts {
  int64_t i = 0, j = 0;
  int64_t of(ir::Cat c) const { return c == ir::CatI ? i : c == ir::CatJ ? j : 1; }
};

// The rows of the i and j arguments of a call, checked against each other and the aliases;
// a category without arguments takes its size from Options::nx / ny.
template <class T>
RowCounts check_arguments(const GenredImpl& g, const std::vector<View<const T>>& args);
// Checks an output of `rows` x `cols` (none to check when cols == 0).
template <class V>
void check_output(const char* what, const V& view, int64_t rows, int64_t cols,
                  const Options& options);
// Whether calls with these options run on the GPU (Auto: whenever one is usable).
bool uses_gpu(const Options& o);
// The GPU of a call: Options::device, else the device of the arrays already on one, else 0;
// keops::Error when the arrays are on different GPUs or the device does not exist.
template <class T>
int gpu_device(const Options& o, const std::vector<View<const T>>& args, const View<T>& values,
               const View<int64_t>& indices);

// Runs g on checked host arguments into host outputs of the shapes g.main yields, on the
// CPU (gpu_device < 0) or on that GPU (genred_stages.cpp).
template <class T>
void run_stages(const GenredImpl& g, const std::vector<const T*>& args, const RowCounts& rows,
                T* values, int64_t* indices, int gpu_device);

// What the Genred constructor builds from its arguments (it throws keops::Error as it does).
std::shared_ptr<const GenredImpl> make_genred_impl(const std::string& formula,
                                                   const std::vector<std::string>& aliases,
                                                   const std::string& reduction, int axis,
                                                   Options options);

// The gradient of <forward(args), e> with respect to the argument named `var`
// (program/gradient.h), with forward's options.
std::shared_ptr<const GenredImpl> gradient(const GenredImpl& forward, const std::string& var);

}  // namespace keops::detail
