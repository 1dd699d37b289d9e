// Elementary functions emitted as straight-line LLVM IR (range reduction + polynomial).
#pragma once

#include <vector>

#include <llvm/IR/IRBuilder.h>

namespace keops::codegen {

// Each emitter takes x of type float, double or a fixed vector of them and returns a value
// of the same type. The IR has no branches and no calls other than the llvm.fmuladd and
// llvm.sqrt intrinsics, which are instructions on every target (fmuladd becomes a mul and
// an add where there is no FMA, never a libm call), so it vectorizes and compiles for
// NVPTX unchanged. ARCHITECTURE.md rule 6.
//
// Error bounds, measured by tests/compiler/codegen/math_test.cpp against long-double
// references (expl, logl, sinl, cosl): |computed - exact| / ulp(exact), where ulp(y) is
// 2^(e-p+1) for |y| in [2^e, 2^(e+1)) and the subnormal spacing below the normal range.
// "FMA": measured on an x86-64 host with FMA (other FMA targets, AArch64 and NVPTX, run
// the same operations); "no FMA": the x86-64 baseline (SSE2). Scalar code and every
// vector width give identical bits. "Max found" includes offline exhaustive runs over
// floats, whose worst inputs the test keeps.

// exp(x). exp(-inf) = +0, exp(+inf) = +inf, NaN -> NaN, overflow -> +inf.
// float:  <= 1.5 ulp (max found 1.48, for x in (-0.2, 0), where x + ln2 rounds), no FMA
//         <= 2 ulp (1.82), for results in the normal range. Results below 2^-126 flush to
//         +0 (so may those within a relative 2^-15 above it): gradual underflow would cost
//         5 more instructions on top of 15 (AVX-512) in the hottest function.
// double: <= 1 ulp (max found 0.87), no FMA <= 1.5 ulp (1.09), over the whole range:
//         subnormal results are rounded once (gradual underflow).
llvm::Value* emit_exp(llvm::IRBuilderBase& b, llvm::Value* x);

// log(x). log(+-0) = -inf, log(x < 0) = NaN (-inf included), log(+inf) = +inf, NaN -> NaN.
// float:  <= 1 ulp for every positive float, subnormals included (max found 0.92; no FMA
//         0.90).
// double: <= 1 ulp for every positive double, subnormals included (max found 0.78; no FMA
//         0.78).
llvm::Value* emit_log(llvm::IRBuilderBase& b, llvm::Value* x);

// sin(x), cos(x). Relative to the exact result even next to their zeros (the metric
// above, with no absolute floor). sin(+-0) = +-0, cos(+-0) = 1, +-inf -> NaN, NaN -> NaN.
// float:  <= 1.7 ulp for |x| <= 1e6 (max found 1.60). No FMA: <= 1.7 ulp for |x| <= pi/2
//         (1.59); beyond, abs error <= 2^-23 max(1, |x|).
// double: <= 1.5 ulp for |x| <= 1e14 (max found 1.43). No FMA: <= 1.5 ulp for |x| <= pi/2
//         (1.33); beyond, abs error <= 2^-52 max(1, |x|).
// The reduction holds up to |x| ~ 2.5e6 (float) and 1.6e14 (double); beyond, it degrades
// gracefully: results stay finite and in [-1, 1] for every finite x, never NaN.
llvm::Value* emit_sin(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_cos(llvm::IRBuilderBase& b, llvm::Value* x);

// sqrt(x): the llvm.sqrt intrinsic, one correctly rounded instruction (<= 0.5 ulp).
llvm::Value* emit_sqrt(llvm::IRBuilderBase& b, llvm::Value* x);

// x / d for each x of `numerators` (all of d's type). With GPU fast math (below) one
// correctly rounded reciprocal and a product each (<= 1.5 ulp): a division is a ~10
// instruction sequence with a call on the GPU, and a quotient per output column (the
// SumSoftMaxWeight of dimension 64) made the kernel's code a fifth longer. Elsewhere
// correctly rounded divisions.
std::vector<llvm::Value*> emit_divide_all(llvm::IRBuilderBase& b,
                                          const std::vector<llvm::Value*>& numerators,
                                          llvm::Value* d);

// GPU fast math: in an NVPTX module so marked, float32 exp, log, sin, cos and sqrt map to
// the hardware approximations (ex2/lg2/sin/cos/sqrt.approx.ftz, as KeOps's __expf etc.):
// a few ulp near 0, relative error ~2^-22 growing with |x| for exp (x log2 e is rounded
// first); sin/cos absolute error ~2^-21 in [-pi, pi]. Subnormals flush to zero. Float64
// and unmarked modules keep the polynomials above.
void request_gpu_fast_math(llvm::Module& m);

}  // namespace keops::codegen
