// Widening and rounding of float16 and bfloat16 array elements (see storage.h).
#include "compiler/codegen/storage.h"

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

// float32 values (scalar or vector) as float16 bits, rounded to nearest even, by integer
// operations (as keops::half's constructor): NaN stays a quiet NaN, 65520 and up overflow to
// infinity, magnitudes under 2^-14 become subnormals through one float addition of 0.5,
// whose ulp is the subnormals' step.
Value* narrow_f16_bits(llvm::IRBuilderBase& b, Value* v) {
  llvm::Type* i32 = v->getType()->getWithNewType(b.getInt32Ty());
  llvm::Type* f32 = v->getType();
  auto c = [&](uint32_t x) { return llvm::ConstantInt::get(i32, x); };
  Value* x = b.CreateBitCast(v, i32);
  Value* sign = b.CreateAnd(b.CreateLShr(x, c(16)), c(0x8000));
  Value* magnitude = b.CreateAnd(x, c(0x7fffffff));
  Value* nan = b.CreateOr(c(0x7e00), b.CreateAnd(b.CreateLShr(magnitude, c(13)), c(0x3ff)));
  Value* odd = b.CreateAnd(b.CreateLShr(magnitude, c(13)), c(1));
  Value* normal = b.CreateLShr(
      b.CreateAdd(b.CreateSub(magnitude, c(112u << 23)), b.CreateAdd(c(0xfff), odd)), c(13));
  Value* subnormal = b.CreateSub(
      b.CreateBitCast(
          b.CreateFAdd(b.CreateBitCast(magnitude, f32), llvm::ConstantFP::get(f32, 0.5)), i32),
      c(0x3f000000));
  Value* bits = b.CreateSelect(b.CreateICmpULT(magnitude, c(0x38800000)), subnormal, normal);
  bits = b.CreateSelect(b.CreateICmpUGE(magnitude, c(0x477ff000)), c(0x7c00), bits);
  bits = b.CreateSelect(b.CreateICmpUGT(magnitude, c(0x7f800000)), nan, bits);
  return b.CreateTrunc(b.CreateOr(bits, sign), v->getType()->getWithNewType(b.getInt16Ty()));
}

// float32 values as bfloat16 bits: the upper half rounded to nearest even, NaN kept quiet.
Value* narrow_bf16_bits(llvm::IRBuilderBase& b, Value* v) {
  llvm::Type* i32 = v->getType()->getWithNewType(b.getInt32Ty());
  auto c = [&](uint32_t x) { return llvm::ConstantInt::get(i32, x); };
  Value* x = b.CreateBitCast(v, i32);
  Value* upper = b.CreateLShr(x, c(16));
  Value* rounded =
      b.CreateLShr(b.CreateAdd(x, b.CreateAdd(c(0x7fff), b.CreateAnd(upper, c(1)))), c(16));
  Value* is_nan = b.CreateICmpUGT(b.CreateAnd(x, c(0x7fffffff)), c(0x7f800000));
  Value* bits = b.CreateSelect(is_nan, b.CreateOr(upper, c(0x40)), rounded);
  return b.CreateTrunc(bits, v->getType()->getWithNewType(b.getInt16Ty()));
}

bool on_nvptx(llvm::IRBuilderBase& b) {
  return llvm::Triple(b.GetInsertBlock()->getModule()->getTargetTriple()).isNVPTX();
}

}  // namespace

llvm::Type* StoredElements::stored() const {
  return native() ? value : llvm::Type::getInt16Ty(value->getContext());
}

llvm::Align StoredElements::align() const {
  return llvm::Align(stored()->getPrimitiveSizeInBits() / 8);
}

Value* StoredElements::widen(llvm::IRBuilderBase& b, Value* raw) const {
  if (native()) return raw;
  llvm::Type* f32 = raw->getType()->getWithNewType(b.getFloatTy());
  if (storage == Storage::BF16) {
    llvm::Type* i32 = raw->getType()->getWithNewType(b.getInt32Ty());
    return b.CreateBitCast(b.CreateShl(b.CreateZExt(raw, i32), llvm::ConstantInt::get(i32, 16)),
                           f32);
  }
  // A GPU converts float16 in one instruction (cvt.f32.f16).
  if (on_nvptx(b))
    return b.CreateFPExt(b.CreateBitCast(raw, raw->getType()->getWithNewType(b.getHalfTy())), f32);
  return widen_f16_bits(b, raw);
}

Value* StoredElements::narrow(llvm::IRBuilderBase& b, Value* v) const {
  if (native()) return v;
  if (storage == Storage::BF16) return narrow_bf16_bits(b, v);
  // A GPU rounds to float16 in one instruction (cvt.rn.f16.f32).
  if (on_nvptx(b))
    return b.CreateBitCast(b.CreateFPTrunc(v, v->getType()->getWithNewType(b.getHalfTy())),
                           v->getType()->getWithNewType(b.getInt16Ty()));
  return narrow_f16_bits(b, v);
}

Value* StoredElements::load(llvm::IRBuilderBase& b, Value* at) const {
  return widen(b, b.CreateAlignedLoad(stored(), at, align()));
}

void StoredElements::store(llvm::IRBuilderBase& b, Value* v, Value* at) const {
  b.CreateAlignedStore(narrow(b, v), at, align());
}

}  // namespace keops::codegen
