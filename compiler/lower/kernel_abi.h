// The parameters of the GPU kernels, in order: what the builders declare and launchers pass.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "compiler/codegen/kernel_spec.h"

namespace keops::lower {

// Every parameter is 8 bytes: an int64 or a device address. nvptx_kernel.h says what each
// kernel does with them.
enum class Param {
  OutRows,    // int64: output rows of the launch
  NReduced,   // int64: reduced rows
  ArgTable,   // const T* const*: the arguments' device addresses, by position
  Values,     // T*: output values
  Indices,    // int64*: output indices
  Items,      // const int64*: a block-sparse kernel's work items
  Ranges,     // const int64*: their reduced ranges
  States,     // void*: partial states
  SplitLen,   // int64: reduced rows per split of a partial kernel
  IndexBase,  // int64: the reduced index of the arrays' first reduced row
  FirstSlot,  // int64: the state slot of split 0
  NSlots,     // int64: slots a merge kernel folds
  Finalize,   // int64: != 0: a merge writes the outputs, else the merged state to slot 0
  Count,      // int64: values a slice sum writes
  Slices,     // const T*: the slices a slice sum adds
  NSlices,    // int64
};

// The values of one launch's parameters; launch_params points at those its ABI lists.
struct KernelArgs {
  int64_t out_rows = 0, n_reduced = 0;
  uint64_t arg_table = 0, values = 0, indices = 0, items = 0, ranges = 0, states = 0;
  int64_t split_len = 0, index_base = 0, first_slot = 0, n_slots = 0, finalize = 0;
  int64_t count = 0;
  uint64_t slices = 0;
  int64_t n_slices = 0;
};

// A kernel's parameter list.
struct KernelAbi {
  std::vector<Param> params;

  KernelAbi() = default;
  KernelAbi(std::initializer_list<Param> list) : params(list) {}
  // The position of p; KEOPS_CHECK that the kernel has it.
  unsigned index(Param p) const;
  bool has(Param p) const;
  // Whether p is a device address (else an int64).
  static bool is_address(Param p);
  // Pointers to args' fields, in this ABI's order (cuLaunchKernel's kernelParams).
  std::vector<void*> launch_params(KernelArgs& args) const;
};

// The entry point of a partial kernel's merge kernel.
std::string merge_kernel_name(const std::string& kernel_name);

// The reduction kernel's ABI: dense, block-sparse or partial (the 2-D scheme).
KernelAbi reduction_kernel_abi(codegen::GpuScheme scheme);
// The partial kernel's merge kernel, and the kernel that sums an output's slices.
KernelAbi merge_kernel_abi();
KernelAbi slice_sum_kernel_abi();

}  // namespace keops::lower
