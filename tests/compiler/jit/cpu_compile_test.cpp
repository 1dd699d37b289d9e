// CPU code generation: no libm calls in the hot loop, and correct code for AVX-512, AVX2 and SSE
// hosts.
#include <doctest/doctest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "compiler/jit/cpu_compile.h"
#include "keops/error.h"
#include "runtime/cpu/driver.h"

namespace {

using keops::codegen::CpuTarget;
using keops::codegen::KernelSpec;

struct GaussSpec {
  keops::ir::Context ctx;
  KernelSpec spec;
  explicit GaussSpec(keops::ir::DType dtype, CpuTarget target, int axis = 1) {
    const auto aliases =
        keops::frontend::AliasTable::parse({"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"});
    spec.formula = keops::frontend::parse_formula("Exp(-SqDist(x, y)) * b", aliases, ctx, dtype);
    spec.axis = axis;
    spec.dtype = dtype;
    spec.args = {{3, keops::ir::CatI}, {3, keops::ir::CatJ}, {1, keops::ir::CatJ}};
    spec.target = std::move(target);
  }
};

template <class T>
void check_runs_like_reference(const CpuTarget& target) {
  const keops::ir::DType dtype = sizeof(T) == 4 ? keops::ir::DType::F32 : keops::ir::DType::F64;
  for (int axis : {0, 1}) {
    GaussSpec g(dtype, target, axis);
    const auto kernel = keops::jit::compile_cpu_kernel(g.spec);
    const int64_t nx = 37, ny = 29;
    std::vector<double> x(nx * 3), y(ny * 3), b(ny);
    for (size_t k = 0; k < x.size(); ++k) x[k] = std::sin(double(k));
    for (size_t k = 0; k < y.size(); ++k) y[k] = std::cos(double(k));
    for (size_t k = 0; k < b.size(); ++k) b[k] = 1.0 + double(k % 5);
    std::vector<T> xt(x.begin(), x.end()), yt(y.begin(), y.end()), bt(b.begin(), b.end());
    const int64_t out_rows = axis == 1 ? nx : ny;
    std::vector<T> out(static_cast<size_t>(out_rows));
    keops::runtime::ReductionArrays<T> arrays;
    arrays.out_rows = out_rows;
    arrays.n_reduced = axis == 1 ? ny : nx;
    arrays.args = {{xt.data(), nx, 3}, {yt.data(), ny, 3}, {bt.data(), ny, 1}};
    arrays.values = {out.data(), out_rows, 1};
    keops::runtime::run_cpu_kernel<T>(kernel, arrays, 2);

    std::vector<double> xd(xt.begin(), xt.end()), yd(yt.begin(), yt.end()),
        bd(bt.begin(), bt.end());
    keops::ir::Context ref_ctx;
    const auto aliases =
        keops::frontend::AliasTable::parse({"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"});
    auto f = keops::frontend::parse_formula("Exp(-SqDist(x, y)) * b", aliases, ref_ctx,
                                            keops::ir::DType::F64);
    auto ref = keops::ir::reference_reduce(f, {}, axis, {xd.data(), yd.data(), bd.data()}, nx, ny);
    double max_err = 0, max_ref = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      max_err = std::max(max_err, std::fabs(double(out[k]) - ref.values[k]));
      max_ref = std::max(max_ref, std::fabs(ref.values[k]));
    }
    CAPTURE(target.cpu);
    CAPTURE(axis);
    CHECK(max_err / max_ref <= (sizeof(T) == 4 ? 1e-5 : 1e-12));
  }
}

}  // namespace

TEST_CASE("the Gaussian kernel's machine code calls no function (no libm in the hot loop)") {
  for (auto dtype : {keops::ir::DType::F32, keops::ir::DType::F64}) {
    GaussSpec g(dtype, CpuTarget::host());
    const std::string ir = keops::jit::cpu_kernel_llvm_ir(g.spec);
    const std::string assembly = keops::jit::cpu_kernel_assembly(g.spec);
    CHECK(ir.find("@exp") == std::string::npos);
    CHECK_FALSE(std::regex_search(assembly, std::regex("\\bcall")));
    CHECK_FALSE(std::regex_search(assembly, std::regex("\\bjmp\\s+(exp|expf|__)")));
  }
}

TEST_CASE("the host kernel uses the widest vectors the host has") {
  const CpuTarget host = CpuTarget::host();
  GaussSpec g(keops::ir::DType::F32, host);
  const std::string assembly = keops::jit::cpu_kernel_assembly(g.spec);
  if (host.vector_bits == 512)
    CHECK(assembly.find("zmm") != std::string::npos);
  else
    MESSAGE("host has no AVX-512; vector width ", host.vector_bits);
}

TEST_CASE_TEMPLATE("kernels for AVX-512, AVX2 and SSE-only CPUs match the reference", T, float,
                   double) {
  // This host runs all three: each one's code is a subset of what it supports.
  const CpuTarget avx512 = CpuTarget::named("skylake-avx512");
  const CpuTarget avx2 = CpuTarget::named("haswell");
  const CpuTarget sse = CpuTarget::named("x86-64");
  CHECK(avx512.vector_bits == 512);
  CHECK(avx2.vector_bits == 256);
  CHECK(sse.vector_bits == 128);
  const CpuTarget host = CpuTarget::host();
  for (const CpuTarget& t : {sse, avx2, avx512}) {
    if (t.vector_bits > host.vector_bits) {
      MESSAGE("skipped: the host cannot run ", t.cpu, " code");
      continue;
    }
    check_runs_like_reference<T>(t);
  }
}

TEST_CASE("the kernels for different targets differ in their instructions") {
  GaussSpec avx2(keops::ir::DType::F32, CpuTarget::named("haswell"));
  GaussSpec sse(keops::ir::DType::F32, CpuTarget::named("x86-64"));
  const std::string avx2_asm = keops::jit::cpu_kernel_assembly(avx2.spec);
  const std::string sse_asm = keops::jit::cpu_kernel_assembly(sse.spec);
  CHECK(avx2_asm.find("ymm") != std::string::npos);
  CHECK(avx2_asm.find("zmm") == std::string::npos);
  CHECK(sse_asm.find("ymm") == std::string::npos);
  CHECK(sse_asm.find("xmm") != std::string::npos);
}

TEST_CASE("an unknown CPU name is a keops::Error") {
  CHECK_THROWS_WITH_AS(CpuTarget::named("pentium-9000"),
                       doctest::Contains("unknown x86-64 CPU 'pentium-9000'"), keops::Error);
}
