// Inverse trigonometric functions, pow and decimal rounding as straight-line LLVM IR.
#pragma once

#include <cstdint>

#include <llvm/IR/IRBuilder.h>

namespace keops::codegen {

// Like math.h: x (and y, of the same type) float, double or a fixed vector of them, the
// result of the same type; no branches and no calls, only selects, emit_exp/emit_log/emit_sqrt
// and the intrinsics fabs, copysign, fmuladd and trunc. llvm.trunc is one instruction with
// SSE4.1 (and on AArch64 and NVPTX); on the x86-64 baseline without SSE4.1 it becomes a
// call to libm's trunc (pow and round use it).
//
// Special values follow C's atan2, atan, asin, acos, pow and round. Error bounds are in ulps
// of the exact result at the argument's precision, measured against long-double references
// by tests/compiler/codegen/math_extra_test.cpp (2^21 points per range, of which the test
// keeps 2^17) on an FMA host; the bounds stated are the maxima rounded up, which the test
// checks.

// atan2(y, x) in [-pi, pi], with C's signed zeros and infinities (atan2(+-0, -0) = +-pi,
// atan2(+-inf, -inf) = +-3pi/4, ...). The octant is reduced to a ratio in [0, 1] (one
// division), then Cephes' rational approximation (double) or polynomial (float).
// |x|, |y| in [1e-3, 1e3], all signs: float 2.5 ulp (measured 2.20), double 1.5 (1.45).
llvm::Value* emit_atan2(llvm::IRBuilderBase& b, llvm::Value* y, llvm::Value* x);

// atan(x) = atan2(x, 1). |x| in [1e-4, 1e4]: float 2.5 ulp (2.24), double 1.5 (1.43).
llvm::Value* emit_atan(llvm::IRBuilderBase& b, llvm::Value* x);

// asin(x) = atan2(x, sqrt((1 - x)(1 + x))) and acos(x) = atan2(sqrt((1 - x)(1 + x)), x),
// NaN outside [-1, 1]. Over [-1, 1], next to 0 and next to +-1: float 3 ulp (asin 2.82, acos
// 2.86), double 2.5 (asin 2.43, acos 2.05).
llvm::Value* emit_asin(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_acos(llvm::IRBuilderBase& b, llvm::Value* x);

// pow(x, y) = exp(y log|x|), negated for x < 0 and an odd integer y, NaN for a finite x < 0
// and a non-integer y; pow(x, 0) = pow(1, y) = pow(-1, +-inf) = 1, even for NaN.
// float is evaluated in double and rounded once: 0.51 ulp (measured 0.50). In double the
// relative error of log is multiplied by |y log x|: 1 + 2 |y log x| ulp (measured
// 1 + 1.86 |y log x|), x in [1e-2, 1e2] with y in [-8, 8], and x in [-4, -0.25] with integer
// y. An exact-product scheme (log in double-double) would bring it to ~1 ulp.
llvm::Value* emit_pow(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y);

// round(x * 10^digits) / 10^digits with halfway cases rounded away from zero, as KeOps's
// Round; digits may be negative. With digits != 0, float is evaluated in double so that
// halfway cases are decided on the same product as in double precision. digits = 0 is exact.
llvm::Value* emit_round(llvm::IRBuilderBase& b, llvm::Value* x, int64_t digits);

}  // namespace keops::codegen
