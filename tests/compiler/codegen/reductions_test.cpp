// Reduction emitters: every kind merged over blocks of 1, 7 and 256 equals its Direct run.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/codegen/reductions.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "compiler/jit/cpu_compile.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"

namespace {

using keops::codegen::KernelSpec;
using keops::codegen::SumScheme;

const std::vector<std::string> kAliases = {"x = Vi(2)", "y = Vj(2)", "a = Vi(1)", "b = Vj(1)"};
const std::string kVectorF = "x - y + a + b";
const std::string kScalarF = "Elem(x - y, 0) + Elem(x, 1) * Elem(y, 1) + a + b";

struct Case {
  std::string formula;
  std::string reduction;
  int k = 0;
  std::string formula2 = "";
  bool exact = true;  // selections are exact; sums only up to rounding
};

const std::vector<Case> kCases = {
    {kVectorF, "Sum", 0, "", false},
    {kVectorF, "Max"},
    {kVectorF, "Min"},
    {kVectorF, "ArgMax"},
    {kVectorF, "ArgMin"},
    {kVectorF, "Max_ArgMax"},
    {kVectorF, "Min_ArgMin"},
    {kVectorF, "KMin", 3},
    {kVectorF, "ArgKMin", 1},
    {kVectorF, "ArgKMin", 4},
    {kVectorF, "KMin_ArgKMin", 3},
    // K over kUnrolledSelectK: in memory on the CPU.
    {kVectorF, "KMin", 40},
    {kVectorF, "ArgKMin", 70},
    {kVectorF, "KMin_ArgKMin", 33},
    {kScalarF, "LogSumExp", 0, "", false},
    {kScalarF, "LogSumExpWeight", 0, "Exp(y)", false},
    {kScalarF, "Max_SumShiftExp", 0, "", false},
    {kScalarF, "Max_SumShiftExpWeight", 0, "y", false},
    {kScalarF, "SumSoftMaxWeight", 0, "y", false},
};

struct Scheme {
  SumScheme sum_scheme;
  int64_t block_size = 0;
  bool float64_accumulator = false;
  keops::codegen::CpuTarget target = keops::codegen::CpuTarget::host();
};

// The spec of a case; its formulas live in ctx.
KernelSpec spec_for(keops::ir::Context& ctx, const Case& c, keops::ir::DType dtype,
                    const Scheme& scheme) {
  const auto aliases = keops::frontend::AliasTable::parse(kAliases);
  KernelSpec spec;
  spec.formula = keops::frontend::parse_formula(c.formula, aliases, ctx, dtype);
  spec.reduction.kind = keops::ir::reduction_by_name(c.reduction);
  spec.reduction.k = c.k;
  if (!c.formula2.empty())
    spec.reduction.formula2 = keops::frontend::parse_formula(c.formula2, aliases, ctx, dtype);
  spec.dtype = dtype;
  for (const auto& a : keops::frontend::collect_arguments(aliases, {spec.formula}))
    spec.args.push_back({a.dim, a.cat});
  spec.target = scheme.target;
  spec.sum_scheme = scheme.sum_scheme;
  spec.block_size = scheme.block_size;
  spec.float64_accumulator = scheme.float64_accumulator;
  return spec;
}

// x, y: small integers, so that F has many ties; a (per i) and b (per j) mostly 0 or 0.5.
// Some a are NaN or infinite, making whole rows special; with special_columns some b too,
// which the selections skip or take but which would make almost every sum NaN.
template <class T>
struct Data {
  std::vector<T> x, y, a, b;
  Data(int64_t nx, int64_t ny, bool special_columns) {
    std::mt19937_64 rng(7);
    auto small_int = [&] { return T(int(rng() % 3)); };
    auto offset = [&](bool special) -> T {
      const T inf = std::numeric_limits<T>::infinity();
      switch (special ? rng() % 16 : 3) {
        case 0:
          return std::numeric_limits<T>::quiet_NaN();
        case 1:
          return inf;
        case 2:
          return -inf;
        default:
          return T(0.5) * T(rng() % 2);
      }
    };
    for (int64_t k = 0; k < 2 * nx; ++k) x.push_back(small_int());
    for (int64_t k = 0; k < 2 * ny; ++k) y.push_back(small_int());
    for (int64_t k = 0; k < nx; ++k) a.push_back(offset(true));
    for (int64_t k = 0; k < ny; ++k) b.push_back(offset(special_columns));
  }
};

struct Outputs {
  std::vector<double> values;
  std::vector<int64_t> indices;
};

template <class T>
Outputs run(const Case& c, const Scheme& scheme, const Data<T>& data, int64_t nx, int64_t ny) {
  keops::ir::Context ctx;
  const KernelSpec spec =
      spec_for(ctx, c, sizeof(T) == 4 ? keops::ir::DType::F32 : keops::ir::DType::F64, scheme);
  const auto kernel = keops::runtime::cpu_kernel_for(spec);
  std::vector<T> values(size_t(nx * spec.value_cols()));
  std::vector<int64_t> indices(size_t(nx * spec.index_cols()));
  keops::runtime::ReductionArrays<T> arrays;
  arrays.out_rows = nx;
  arrays.n_reduced = ny;
  arrays.args = {{data.x.data(), nx, 2},
                 {data.y.data(), ny, 2},
                 {data.a.data(), nx, 1},
                 {data.b.data(), ny, 1}};
  arrays.values = {values.data(), nx, spec.value_cols()};
  arrays.indices = {indices.data(), nx, spec.index_cols()};
  keops::runtime::run_cpu_kernel<T>(kernel, arrays, 2);
  return {std::vector<double>(values.begin(), values.end()), indices};
}

// Max-norm relative difference over the finite values; special values must match.
double relative_difference(const std::vector<double>& got, const std::vector<double>& want) {
  double max_error = 0, max_want = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    if (!std::isfinite(want[k])) {
      if (std::isnan(want[k]) != std::isnan(got[k]) || (!std::isnan(want[k]) && got[k] != want[k]))
        return INFINITY;
      continue;
    }
    max_error = std::max(max_error, std::fabs(got[k] - want[k]));
    max_want = std::max(max_want, std::fabs(want[k]));
  }
  return max_want > 0 ? max_error / max_want : max_error;
}

bool bitwise_equal(const std::vector<double>& u, const std::vector<double>& v) {
  return u.size() == v.size() &&
         (u.empty() || std::memcmp(u.data(), v.data(), u.size() * sizeof(double)) == 0);
}

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

template <class T>
void check_blocks_match_direct(const Case& c, bool float64_accumulator = false) {
  const int64_t nx = 37;
  for (int64_t ny : {2, 300}) {
    const Data<T> data(nx, ny, /*special_columns=*/c.exact);
    const Outputs direct = run<T>(c, {SumScheme::Direct, 0, float64_accumulator}, data, nx, ny);
    for (int64_t block : {1, 7, 256}) {
      CAPTURE(c.reduction);
      CAPTURE(c.k);
      CAPTURE(ny);
      CAPTURE(block);
      const Outputs blocked =
          run<T>(c, {SumScheme::Block, block, float64_accumulator}, data, nx, ny);
      CHECK(blocked.indices == direct.indices);
      if (c.exact)
        CHECK(bitwise_equal(blocked.values, direct.values));
      else
        CHECK(relative_difference(blocked.values, direct.values) <= tolerance<T>());
    }
  }
}

}  // namespace

TEST_CASE_TEMPLATE("every reduction merged over blocks of 1, 7 and 256 equals its Direct run", T,
                   float, double) {
  for (const Case& c : kCases) check_blocks_match_direct<T>(c);
}

// The selections of many slots (in memory, their insertions loops) against the float64
// reference: F's values are exact in float32 here, so values and indices must be equal, ties
// (many), NaN, infinities and slots left empty (ny < K) included.
TEST_CASE_TEMPLATE("selections with their slots in memory equal the reference", T, float, double) {
  const int64_t nx = 37;
  for (const Case& c : kCases) {
    if (c.k <= keops::codegen::kUnrolledSelectK) continue;
    for (int64_t ny : {20, 300}) {
      CAPTURE(c.reduction);
      CAPTURE(c.k);
      CAPTURE(ny);
      const Data<T> data(nx, ny, /*special_columns=*/true);
      const Outputs got = run<T>(c, {SumScheme::Direct}, data, nx, ny);
      keops::ir::Context ctx;
      const KernelSpec spec = spec_for(ctx, c, keops::ir::DType::F64, {SumScheme::Direct});
      const std::vector<double> x(data.x.begin(), data.x.end()), y(data.y.begin(), data.y.end()),
          a(data.a.begin(), data.a.end()), b(data.b.begin(), data.b.end());
      const auto want = keops::ir::reference_reduce(
          spec.formula, spec.reduction, 1, {x.data(), y.data(), a.data(), b.data()}, nx, ny);
      CHECK(got.indices == want.indices);
      CHECK(relative_difference(got.values, want.values) == 0);
    }
  }
  // Compiled in well under a second at the largest K (31 s unrolled).
  keops::ir::Context ctx;
  const auto start = std::chrono::steady_clock::now();
  const KernelSpec big =
      spec_for(ctx, {"x - y", "KMin_ArgKMin", 1024}, keops::ir::DType::F32, {SumScheme::Block});
  CHECK(!keops::jit::cpu_kernel_assembly(big).empty());
  MESSAGE("KMin_ArgKMin, K = 1024, dim 2: compiled in ",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), " s");
}

TEST_CASE("float64-accumulated float32 sums merge over blocks like their Direct run") {
  check_blocks_match_direct<float>(kCases[0], /*float64_accumulator=*/true);
}

TEST_CASE_TEMPLATE("a Kahan sum (one block merged into the total) matches the Direct sum", T, float,
                   double) {
  const int64_t nx = 37, ny = 300;
  const Data<T> data(nx, ny, /*special_columns=*/false);
  for (bool float64_accumulator : {false, true}) {
    CAPTURE(float64_accumulator);
    const Outputs direct =
        run<T>(kCases[0], {SumScheme::Direct, 0, float64_accumulator}, data, nx, ny);
    const Outputs kahan =
        run<T>(kCases[0], {SumScheme::Kahan, 0, float64_accumulator}, data, nx, ny);
    CHECK(relative_difference(kahan.values, direct.values) <= tolerance<T>());
  }
}

TEST_CASE("every reduction's machine code calls no function (straight-line, GPU-ready)") {
  for (const Case& c : kCases) {
    // (Selections of many slots, CPU only, call their init and merge loops.)
    if (c.k > keops::codegen::kUnrolledSelectK) continue;
    keops::ir::Context ctx;
    const KernelSpec spec = spec_for(ctx, c, keops::ir::DType::F32, {SumScheme::Block, 256});
    CAPTURE(c.reduction);
    CHECK_FALSE(std::regex_search(keops::jit::cpu_kernel_assembly(spec), std::regex("\\bcall")));
  }
}

TEST_CASE_TEMPLATE("every reduction gives the same on AVX2 and SSE-only targets as on the host", T,
                   float, double) {
  // Other vector widths mean other lane and i64 index vector types; the host runs them all.
  const int64_t nx = 37, ny = 300;
  for (const char* cpu : {"haswell", "x86-64"}) {
    const keops::codegen::CpuTarget target = keops::codegen::CpuTarget::named(cpu);
    if (target.vector_bits > keops::codegen::CpuTarget::host().vector_bits) continue;
    for (const Case& c : kCases) {
      CAPTURE(cpu);
      CAPTURE(c.reduction);
      const Data<T> data(nx, ny, /*special_columns=*/c.exact);
      const Outputs host = run<T>(c, {SumScheme::Block, 7}, data, nx, ny);
      const Outputs other = run<T>(c, {SumScheme::Block, 7, false, target}, data, nx, ny);
      CHECK(other.indices == host.indices);
      if (c.exact)
        CHECK(bitwise_equal(other.values, host.values));
      else
        CHECK(relative_difference(other.values, host.values) <= tolerance<T>());
    }
  }
}

// merge_block and full_combine of the shifted-exponential forms drop merge's selects where
// the second shift is not below the first (a block grown from block_init, a term the fast
// path turned away): there they must give merge's and combine's very bits.
TEST_CASE("shifted-exponential merges where the shift does not fall give merge's bits") {
  keops::ir::Context ctx;
  const KernelSpec spec = spec_for(ctx, {kScalarF, "SumSoftMaxWeight", 0, "y", false},
                                   keops::ir::DType::F32, {SumScheme::Block});
  const auto reduction = keops::codegen::make_reduction_emitter(spec);
  using keops::codegen::Vals;
  // void name(const float* first, const float* second, float* general, float* special)
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto llvm_ctx = std::make_unique<llvm::LLVMContext>();
  auto m = std::make_unique<llvm::Module>("rising", *llvm_ctx);
  m->setTargetTriple(llvm::sys::getProcessTriple());
  llvm::Type* f32 = llvm::Type::getFloatTy(*llvm_ctx);
  llvm::Type* ptr = llvm::PointerType::get(*llvm_ctx, 0);
  auto define = [&](const char* name, size_t second_size, auto&& general, auto&& special) {
    auto* fn = llvm::Function::Create(
        llvm::FunctionType::get(llvm::Type::getVoidTy(*llvm_ctx), {ptr, ptr, ptr, ptr}, false),
        llvm::Function::ExternalLinkage, name, *m);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(*llvm_ctx, "entry", fn));
    auto load = [&](llvm::Value* p, size_t n) {
      Vals v;
      for (size_t k = 0; k < n; ++k)
        v.push_back(b.CreateLoad(f32, b.CreateConstGEP1_64(f32, p, k)));
      return v;
    };
    auto store = [&](const Vals& v, llvm::Value* p) {
      for (size_t k = 0; k < v.size(); ++k) b.CreateStore(v[k], b.CreateConstGEP1_64(f32, p, k));
    };
    const Vals first = load(fn->getArg(0), 4), second = load(fn->getArg(1), second_size);
    store(general(b, first, second), fn->getArg(2));
    store(special(b, first, second), fn->getArg(3));
    b.CreateRetVoid();
  };
  // States (m, normalizer, two weighted sums); terms (F, two weights).
  define(
      "merges", 4, [&](auto& b, const Vals& u, const Vals& v) { return reduction->merge(b, u, v); },
      [&](auto& b, const Vals& u, const Vals& v) { return reduction->merge_block(b, u, v); });
  define(
      "combines", 3,
      [&](auto& b, const Vals& u, const Vals& f) { return reduction->combine(b, u, f, nullptr); },
      [&](auto& b, const Vals& u, const Vals& f) {
        return reduction->full_combine(b, u, f, nullptr);
      });
  auto jit = llvm::cantFail(llvm::orc::LLJITBuilder().create());
  llvm::cantFail(jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(llvm_ctx))));
  using Fn = void (*)(const float*, const float*, float*, float*);
  const Fn merges = llvm::cantFail(jit->lookup("merges")).toPtr<Fn>();
  const Fn combines = llvm::cantFail(jit->lookup("combines")).toPtr<Fn>();

  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const float shifts[] = {-inf, -2.5f, -0.0f, 0.0f, 1.0f, 3.0f, inf, nan};
  auto same = [](const float(&u)[4], const float(&v)[4]) {
    for (int k = 0; k < 4; ++k)
      if (!(std::isnan(u[k]) && std::isnan(v[k])) && std::memcmp(&u[k], &v[k], 4) != 0)
        return false;
    return true;
  };
  int checked = 0;
  for (float m1 : shifts)
    for (float m2 : shifts) {
      if (m2 < m1) continue;  // the shift fell: merge_block and full_combine are not used there
      CAPTURE(m1);
      CAPTURE(m2);
      const float first[4] = {m1, 1.25f, 7.5f, -3.0f}, second[4] = {m2, 0.5f, 2.0f, 0.25f};
      float general[4], special[4];
      merges(first, second, general, special);
      CHECK(same(general, special));
      combines(first, second, general, special);  // the term (m2, 0.5, 2)
      CHECK(same(general, special));
      ++checked;
    }
  CHECK(checked == 44);
}
