// Widening of float16 and bfloat16 argument elements (see arg_storage.h).
#include "compiler/codegen/arg_storage.h"

#include <llvm/IR/Module.h>
#include <llvm/TargetParser/Triple.h>

namespace keops::codegen {

using llvm::Value;

namespace {

// float16 bits (i16, or a vector) as float32, by integer operations that vectorize on any
// CPU (no libcall, no F16C needed): a normal or infinite/NaN value moves its exponent and
// mantissa into place and rebiases; a subnormal is its mantissa times 2^-24, exact.
Value* widen_f16_bits(llvm::IRBuilderBase& b, Value* raw) {
  llvm::Type* i32 = raw->getType()->getWithNewType(b.getInt32Ty());
  llvm::Type* f32 = raw->getType()->getWithNewType(b.getFloatTy());
  auto c = [&](uint32_t v) { return llvm::ConstantInt::get(i32, v); };
  Value* h = b.CreateZExt(raw, i32);
  Value* sign = b.CreateShl(b.CreateAnd(h, c(0x8000)), c(16));
  Value* magnitude = b.CreateAnd(h, c(0x7fff));
  Value* rebias =
      b.CreateSelect(b.CreateICmpUGE(magnitude, c(0x7c00)), c(0x70000000), c(0x38000000));
  Value* normal = b.CreateAdd(b.CreateShl(magnitude, c(13)), rebias);
  Value* subnormal = b.CreateBitCast(
      b.CreateFMul(b.CreateUIToFP(magnitude, f32), llvm::ConstantFP::get(f32, 0x1p-24)), i32);
  Value* bits = b.CreateSelect(b.CreateICmpULT(magnitude, c(0x0400)), subnormal, normal);
  return b.CreateBitCast(b.CreateOr(bits, sign), f32);
}

}  // namespace

llvm::Type* ArgElements::stored() const {
  return native() ? value : llvm::Type::getInt16Ty(value->getContext());
}

llvm::Align ArgElements::align() const {
  return llvm::Align(stored()->getPrimitiveSizeInBits() / 8);
}

Value* ArgElements::widen(llvm::IRBuilderBase& b, Value* raw) const {
  if (native()) return raw;
  llvm::Type* f32 = raw->getType()->getWithNewType(b.getFloatTy());
  if (storage == ArgStorage::BF16) {
    llvm::Type* i32 = raw->getType()->getWithNewType(b.getInt32Ty());
    return b.CreateBitCast(b.CreateShl(b.CreateZExt(raw, i32), llvm::ConstantInt::get(i32, 16)),
                           f32);
  }
  // A GPU converts float16 in one instruction (cvt.f32.f16).
  if (llvm::Triple(b.GetInsertBlock()->getModule()->getTargetTriple()).isNVPTX())
    return b.CreateFPExt(b.CreateBitCast(raw, raw->getType()->getWithNewType(b.getHalfTy())), f32);
  return widen_f16_bits(b, raw);
}

Value* ArgElements::load(llvm::IRBuilderBase& b, Value* at) const {
  return widen(b, b.CreateAlignedLoad(stored(), at, align()));
}

}  // namespace keops::codegen
