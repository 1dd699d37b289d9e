// The slice-summing GPU kernel (see nvptx_slice_sum.h).
#include "compiler/codegen/nvptx_slice_sum.h"

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/nvptx_kernel_parts.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::Value;

void build_nvptx_slice_sum_kernel(llvm::Module& m, ir::DType dtype, const std::string& name) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* T =
      dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
  llvm::Type* sum_type = llvm::Type::getDoubleTy(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  const lower::KernelAbi abi = lower::slice_sum_kernel_abi();
  llvm::Function* fn = kernel_function(m, name, abi);
  Value* n = fn->getArg(abi.index(lower::Param::Count));
  Value* slices = fn->getArg(abi.index(lower::Param::Slices));
  Value* n_slices = fn->getArg(abi.index(lower::Param::NSlices));
  Value* out = fn->getArg(abi.index(lower::Param::Values));
  const llvm::Align align(T->getPrimitiveSizeInBits() / 8);

  auto* entry = BasicBlock::Create(ctx, "entry", fn);
  auto* slice_header = BasicBlock::Create(ctx, "slice.header", fn);
  auto* slice_body = BasicBlock::Create(ctx, "slice.body", fn);
  auto* store = BasicBlock::Create(ctx, "store", fn);
  auto* exit = BasicBlock::Create(ctx, "exit", fn);

  llvm::IRBuilder<> b(entry);
  Value* i = grid_thread_index(b);
  b.CreateCondBr(b.CreateICmpSLT(i, n), slice_header, exit);

  // for (s = 0; s < n_slices; ++s) sum += slices[s * n + i]
  b.SetInsertPoint(slice_header);
  llvm::PHINode* s = b.CreatePHI(i64, 2, "s");
  llvm::PHINode* sum = b.CreatePHI(sum_type, 2, "sum");
  s->addIncoming(b.getInt64(0), entry);
  sum->addIncoming(llvm::ConstantFP::get(sum_type, 0.0), entry);
  b.CreateCondBr(b.CreateICmpSLT(s, n_slices), slice_body, store);

  b.SetInsertPoint(slice_body);
  Value* value =
      b.CreateAlignedLoad(T, b.CreateGEP(T, slices, b.CreateAdd(b.CreateMul(s, n), i)), align);
  sum->addIncoming(b.CreateFAdd(sum, b.CreateFPExt(value, sum_type)), slice_body);
  s->addIncoming(b.CreateAdd(s, b.getInt64(1)), slice_body);
  b.CreateBr(slice_header);

  b.SetInsertPoint(store);
  b.CreateAlignedStore(b.CreateFPTrunc(sum, T), b.CreateGEP(T, out, i), align);
  b.CreateBr(exit);

  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

}  // namespace keops::codegen
