// Pieces the GPU kernel and its merge kernel share (see nvptx_kernel_parts.h).
#include "compiler/codegen/nvptx_kernel_parts.h"

#include <llvm/IR/IntrinsicsNVPTX.h>

namespace keops::codegen {

using llvm::Value;

llvm::Type* element_type(llvm::LLVMContext& ctx, const KernelSpec& spec) {
  return spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
}

llvm::Function* kernel_function(llvm::Module& m, const std::string& name,
                                const lower::KernelAbi& abi) {
  llvm::LLVMContext& ctx = m.getContext();
  std::vector<llvm::Type*> params;
  for (const lower::Param p : abi.params)
    params.push_back(lower::KernelAbi::is_address(p)
                         ? static_cast<llvm::Type*>(llvm::PointerType::get(ctx, 0))
                         : llvm::Type::getInt64Ty(ctx));
  auto* fty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params, false);
  auto* fn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, m);
  fn->setCallingConv(llvm::CallingConv::PTX_Kernel);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  m.getOrInsertNamedMetadata("nvvm.annotations")
      ->addOperand(llvm::MDNode::get(
          ctx,
          {llvm::ValueAsMetadata::get(fn), llvm::MDString::get(ctx, "kernel"),
           llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), 1))}));
  return fn;
}

Value* special_register(llvm::IRBuilderBase& b, llvm::Intrinsic::ID id) {
  return b.CreateZExt(b.CreateIntrinsic(id, {}, {}), b.getInt64Ty());
}

Value* grid_thread_index(llvm::IRBuilderBase& b) {
  return b.CreateAdd(b.CreateMul(special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x),
                                 special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x)),
                     special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x));
}

Value* group_first_column(llvm::IRBuilderBase& b, Value* g, const lower::ColumnGroups& groups) {
  Value* c0 = b.CreateMul(g, b.getInt64(groups.width));
  Value* last = b.getInt64(groups.dim - groups.width);
  return b.CreateSelect(b.CreateICmpSLT(c0, last), c0, last);
}

void store_output(llvm::IRBuilderBase& b, const ReductionEmitter& reduction, const Vals& state,
                  const KernelSpec& full, const StoredElements& elements, const OutputRow& out) {
  Value* const values = out.values;
  Value* const indices = out.indices;
  Value* const row = out.row;
  Value* const c0 = out.c0;
  const int value_cols = full.value_cols(), index_cols = full.index_cols();
  auto column = [&](Value* c) { return c0 ? b.CreateAdd(c0, c) : c; };
  auto store_value = [&](Value* v, Value* c) {
    elements.store(b, v,
                   b.CreateGEP(elements.stored(), values,
                               b.CreateAdd(b.CreateMul(row, b.getInt64(value_cols)), column(c))));
  };
  auto store_index = [&](Value* i, Value* c) {
    b.CreateAlignedStore(
        i,
        b.CreateGEP(b.getInt64Ty(), indices,
                    b.CreateAdd(b.CreateMul(row, b.getInt64(index_cols)), column(c))),
        llvm::Align(8));
  };
  if (reduction.output_in_memory()) {
    // Many columns (a selection's slots in memory): stored in loops.
    const KernelSpec& columns = out.group ? *out.group : full;
    emit_component_loop(b, columns.value_cols(), 1, [&](Value* c, int) {
      store_value(reduction.value_column(b, state, c), c);
    });
    emit_component_loop(b, columns.index_cols(), 1, [&](Value* c, int) {
      store_index(reduction.index_column(b, state, c), c);
    });
    return;
  }
  Vals out_values, out_indices;
  reduction.finalize(b, state, out_values, out_indices);
  for (size_t c = 0; c < out_values.size(); ++c) store_value(out_values[c], b.getInt64(int64_t(c)));
  for (size_t c = 0; c < out_indices.size(); ++c)
    store_index(out_indices[c], b.getInt64(int64_t(c)));
}

}  // namespace keops::codegen
