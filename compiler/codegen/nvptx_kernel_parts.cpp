// Pieces the GPU kernel and its merge kernel share (see nvptx_kernel_parts.h).
#include "compiler/codegen/nvptx_kernel_parts.h"

#include <llvm/IR/IntrinsicsNVPTX.h>

namespace keops::codegen {

using llvm::Value;

llvm::Type* element_type(llvm::LLVMContext& ctx, const KernelSpec& spec) {
  return spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
}

KernelSpec cut_columns(ir::Context& ctx, const KernelSpec& spec, bool of_g, int columns) {
  KernelSpec cut = spec;
  ir::Expr& formula = of_g ? cut.reduction.formula2 : cut.formula;
  formula = ctx.make(ir::Op::Extract, {formula}, {0, columns});
  return cut;
}

ColumnGroups::ColumnGroups(const KernelSpec& full, bool products_tiled)
    : spec(full), dim(grouped_dim(full)) {
  if (dim == 0) return;
  of_g = full.reduction.kind == ir::ReductionKind::SumSoftMaxWeight;
  auto cut_to = [&](int columns) { spec = cut_columns(ctx, full, of_g, columns); };
  cut_to(kColumnGroup);
  llvm::LLVMContext llvm_ctx;
  unsigned bits = 0;
  for (llvm::Type* t : make_reduction_emitter(spec)->state_types(element_type(llvm_ctx, full)))
    bits += t->getPrimitiveSizeInBits();
  width = bits > 3 * 32 * kColumnGroup ? kColumnGroup / 2 : kColumnGroup;
  // Each group computes the dimension-tiled products again: with one register of state per
  // column, twice as many columns (the gradient of gauss_D1000 w.r.t. x at 2e4 on an H100:
  // 2.28 s with groups of 32 columns, 1.26 s with 64 (254 registers), 1.10 s with 96, which
  // spill 644 bytes).
  if (products_tiled && bits <= 32 * kColumnGroup) width = 2 * kColumnGroup;
  if (width != kColumnGroup) cut_to(width);
  groups = int((dim + width - 1) / width);
}

llvm::Function* kernel_function(llvm::Module& m, const std::string& name,
                                const std::vector<llvm::Type*>& params) {
  llvm::LLVMContext& ctx = m.getContext();
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

Value* group_first_column(llvm::IRBuilderBase& b, Value* g, const ColumnGroups& groups) {
  Value* c0 = b.CreateMul(g, b.getInt64(groups.width));
  Value* last = b.getInt64(groups.dim - groups.width);
  return b.CreateSelect(b.CreateICmpSLT(c0, last), c0, last);
}

void store_output(llvm::IRBuilderBase& b, const ReductionEmitter& reduction, const Vals& state,
                  const KernelSpec& full, llvm::Type* T, Value* values, Value* indices, Value* row,
                  Value* c0) {
  Vals out_values, out_indices;
  reduction.finalize(b, state, out_values, out_indices);
  const int value_cols = full.value_cols(), index_cols = full.index_cols();
  const llvm::Align align_t(T->getPrimitiveSizeInBits() / 8);
  auto column = [&](size_t c) {
    return c0 ? b.CreateAdd(c0, b.getInt64(int64_t(c))) : b.getInt64(int64_t(c));
  };
  for (size_t c = 0; c < out_values.size(); ++c)
    b.CreateAlignedStore(
        out_values[c],
        b.CreateGEP(T, values, b.CreateAdd(b.CreateMul(row, b.getInt64(value_cols)), column(c))),
        align_t);
  for (size_t c = 0; c < out_indices.size(); ++c)
    b.CreateAlignedStore(
        out_indices[c],
        b.CreateGEP(b.getInt64Ty(), indices,
                    b.CreateAdd(b.CreateMul(row, b.getInt64(index_cols)), column(c))),
        llvm::Align(8));
}

}  // namespace keops::codegen
