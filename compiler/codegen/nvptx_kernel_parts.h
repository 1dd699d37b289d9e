// Pieces the GPU kernels share (nvptx_kernel.h, its merge, the slice sum): element types,
// kernel entry points, thread indices, long outputs' first columns, partial-state cells and
// output rows.
#pragma once

#include <string>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/codegen/reductions.h"
#include "compiler/codegen/storage.h"
#include "compiler/ir/context.h"
#include "compiler/lower/kernel_abi.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::codegen {

// float or double, as spec.dtype says.
llvm::Type* element_type(llvm::LLVMContext& ctx, const KernelSpec& spec);

// A kernel entry point `name` of module m taking the parameters of `abi`.
llvm::Function* kernel_function(llvm::Module& m, const std::string& name,
                                const lower::KernelAbi& abi);

// A special register (tid, ctaid, ...) as i64.
llvm::Value* special_register(llvm::IRBuilderBase& b, llvm::Intrinsic::ID id);

// This thread's index in a 1-D grid of 1-D blocks: ctaid.x * ntid.x + tid.x, as i64.
llvm::Value* grid_thread_index(llvm::IRBuilderBase& b);

// The first column of group g: min(g * width, dim - width).
llvm::Value* group_first_column(llvm::IRBuilderBase& b, llvm::Value* g,
                                const lower::ColumnGroups& groups);

// The 8-byte cell of state value k of group g, slot `slot`, row `row` (nvptx_kernel.h): a
// row's state is contiguous, so that its values are read at constant offsets of one address.
struct StateCells {
  llvm::Value* states;
  llvm::Value* out_rows;
  int64_t groups;
  int64_t state_values;
  llvm::Value* at(llvm::IRBuilderBase& b, llvm::Value* g, llvm::Value* k, llvm::Value* slot,
                  llvm::Value* row) const {
    llvm::Value* row_group = b.CreateAdd(
        b.CreateMul(b.CreateAdd(b.CreateMul(slot, out_rows), row), b.getInt64(groups)), g);
    return b.CreateGEP(b.getInt64Ty(), states,
                       b.CreateAdd(b.CreateMul(row_group, b.getInt64(state_values)), k));
  }
  llvm::Value* at(llvm::IRBuilderBase& b, llvm::Value* g, size_t k, llvm::Value* slot,
                  llvm::Value* row) const {
    return at(b, g, b.getInt64(int64_t(k)), slot, row);
  }
};

// Where a finalized output row goes.
struct OutputRow {
  llvm::Value* values;   // T*: the outputs' values, value_cols per row
  llvm::Value* indices;  // int64*: their indices, index_cols per row
  llvm::Value* row;
  llvm::Value* c0;  // the first column (nullptr: 0)
  // The spec whose columns the reduction yields (a group's), where not the full one.
  const KernelSpec* group = nullptr;
};
// Stores a finalized output row, its columns at c0 + c of rows value_cols (index_cols) long,
// its values as `elements`; a state that keeps its output in memory, by loops.
void store_output(llvm::IRBuilderBase& b, const ReductionEmitter& reduction, const Vals& state,
                  const KernelSpec& full, const StoredElements& elements, const OutputRow& out);

}  // namespace keops::codegen
