// The GPU kernel's schemes as PTX: 2-D partial and merge kernels, long outputs, prefetched tiles.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/codegen/reductions.h"
#include "compiler/jit/ptx.h"
#include "keops/error.h"
#include "tests/support/gpu_spec.h"
#include "tests/support/ptxas.h"

namespace {

using keops::test::assemble_ptx;
using keops::test::find_ptxas;
using keops::test::GpuCase;
using keops::test::GpuSpec;

using keops::codegen::KernelSpec;
using keops::ir::DType;

const auto count = &keops::test::occurrences;

}  // namespace

TEST_CASE("the 2-D scheme: a partial kernel and its merge kernel, every reduction kind") {
  const std::string ptxas = find_ptxas();
  const GpuCase cases[] = {{"Exp(-p * SqDist(x, y)) * b", "Sum", 0, ""},
                           {"SqDist(x, y)", "Min", 0, ""},
                           {"x - y", "Max", 0, ""},
                           {"SqDist(x, y)", "ArgMin", 0, ""},
                           {"x - y", "ArgMax", 0, ""},
                           {"x - y", "Min_ArgMin", 0, ""},
                           {"x - y", "Max_ArgMax", 0, ""},
                           {"SqDist(x, y)", "KMin", 3, ""},
                           {"SqDist(x, y)", "ArgKMin", 5, ""},
                           {"SqDist(x, y)", "KMin_ArgKMin", 2, ""},
                           // Slots in local memory (K x dim > 32), cells their values and indices.
                           {"SqDist(x, y)", "KMin", 100, ""},
                           {"SqDist(x, y)", "ArgKMin", 300, ""},
                           {"x - y", "KMin_ArgKMin", 40, ""},
                           {"-SqDist(x, y)", "LogSumExp", 0, ""},
                           {"-SqDist(x, y)", "LogSumExpWeight", 0, "y"},
                           {"(x | y)", "SumSoftMaxWeight", 0, "y"},
                           {"-SqDist(x, y)", "Max_SumShiftExp", 0, ""},
                           {"-SqDist(x, y)", "Max_SumShiftExpWeight", 0, "y"}};
  for (const GpuCase& c : cases)
    for (DType dtype : {DType::F32, DType::F64}) {
      CAPTURE(std::string(c.reduction));
      CAPTURE(int(dtype));
      GpuSpec g(c, dtype);
      const KernelSpec dense = g.spec;
      g.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;
      CHECK(g.spec.key() != dense.key());
      // Two modules, which compile in parallel: the partial kernel and its merge kernel.
      const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
      const std::string merge_ptx = keops::jit::gpu_merge_kernel_ptx(g.spec);
      const std::string name = keops::jit::gpu_kernel_symbol(g.spec);
      CHECK(count(ptx, ".entry ") == 1);
      CHECK(ptx.find(".entry " + name + "(") != std::string::npos);
      CHECK(count(merge_ptx, ".entry ") == 1);
      CHECK(merge_ptx.find(".entry " + keops::lower::merge_kernel_name(name) + "(") !=
            std::string::npos);
      // The split is ctaid.y; the merge kernel has no barrier.
      CHECK(ptx.find("%ctaid.y") != std::string::npos);
      CHECK(count(ptx, "bar.sync") == 2);
      CHECK(count(merge_ptx, "bar.sync") == 0);
      CHECK(keops::lower::lower(g.spec).gpu.state_values > 0);
      if (!ptxas.empty())
        for (const std::string& module : {ptx, merge_ptx})
          CHECK(assemble_ptx(ptxas, module, 90, /*no_spills=*/true) == "");
    }
  // A whole kernel has no merge kernel.
  GpuSpec dense("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
  CHECK_THROWS_WITH(keops::jit::gpu_merge_kernel_ptx(dense.spec),
                    doctest::Contains("a merge kernel merges the states of a partial kernel"));
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}

TEST_CASE("merge kernels of wide states fold 8 columns at a time: short PTX") {
  const std::string ptxas = find_ptxas();
  struct Case {
    const char* formula;
    const char* reduction;
    const char* formula2;
    int e;
    bool chunked;
  };
  // Chunked above 16 columns where the state splits by column: a plain Sum, and the
  // columns of G after m (and SumSoftMaxWeight's normalizer).
  const Case cases[] = {{"Exp(-SqDist(x, y)) * v", "Sum", "", 17, true},
                        {"Exp(-SqDist(x, y)) * v", "Sum", "", 64, true},
                        {"Exp(-SqDist(x, y)) * v", "Sum", "", 16, false},
                        {"(x | y)", "SumSoftMaxWeight", "v", 64, true},
                        {"-SqDist(x, y)", "LogSumExpWeight", "v", 20, true},
                        {"-SqDist(x, y)", "Max_SumShiftExpWeight", "v", 40, false},
                        {"v - SqDist(x, y)", "Max", "", 40, false}};
  for (const Case& c : cases)
    for (DType dtype : {DType::F32, DType::F64}) {
      CAPTURE(std::string(c.reduction));
      CAPTURE(c.e);
      CAPTURE(int(dtype));
      GpuSpec g(c.formula, c.reduction, dtype, 0, c.formula2, 3, c.e);
      g.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;
      const int cells = keops::lower::lower(g.spec).gpu.state_values;
      const std::string merge_ptx = keops::jit::gpu_merge_kernel_ptx(g.spec);
      // A merge loads the cells it folds from slot 0 and from each later slot, in a loop
      // that LLVM unrolls twice: every cell unchunked, the header and 8 columns chunked.
      const size_t loads = count(merge_ptx, "ld.global.");
      if (c.chunked) {
        CHECK(loads <= 4 * (2 + 8));
      } else {
        CHECK(loads >= size_t(2 * cells));
      }
      if (std::string(c.reduction) == "SumSoftMaxWeight" && dtype == DType::F32)
        CHECK(merge_ptx.size() < 9000);  // 23.7 kB unchunked
      if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, merge_ptx, 90, /*no_spills=*/true) == "");
    }
  // A Kahan sum keeps two cells per column: merged whole.
  GpuSpec kahan("Exp(-SqDist(x, y)) * v", "Sum", DType::F32, 0, "", 3, 64);
  kahan.spec.sum_scheme = keops::codegen::SumScheme::Kahan;
  kahan.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;
  CHECK(count(keops::jit::gpu_merge_kernel_ptx(kahan.spec), "ld.global.") >= 2 * 128);
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}

TEST_CASE("partial states: one 8-byte cell per state value, per column group") {
  GpuSpec sum("Exp(-p * SqDist(x, y)) * b", "Sum", DType::F32);
  CHECK(keops::lower::lower(sum.spec).gpu.state_values == 1);
  CHECK(keops::lower::lower(sum.spec).gpu.state_bytes() == 8);
  sum.spec.sum_scheme = keops::codegen::SumScheme::Kahan;
  CHECK(keops::lower::lower(sum.spec).gpu.state_values == 2);
  GpuSpec knn("SqDist(x, y)", "KMin_ArgKMin", DType::F32, 4);
  CHECK(keops::lower::lower(knn.spec).gpu.state_values == 8);  // 4 values, 4 indices
  // Slots in memory: a cell per slot's value, and per index where kept.
  GpuSpec many("SqDist(x, y)", "KMin_ArgKMin", DType::F32, 100);
  CHECK(keops::lower::lower(many.spec).gpu.state_values == 200);
  GpuSpec values_only("x - y", "KMin", DType::F64, 40);
  CHECK(keops::lower::lower(values_only.spec).gpu.state_values == 120);
  GpuSpec wide("Exp(-SqDist(x, y)) * v", "Sum", DType::F64, 0, "", 3, 1000);
  const auto layout = keops::lower::lower(wide.spec).gpu;
  CHECK(layout.column_groups == 32);
  CHECK(layout.state_values == 32);
  CHECK(layout.state_bytes() == 32 * 32 * 8);
}

TEST_CASE("long outputs on the GPU: 32 columns per block, small PTX that does not spill") {
  const std::string ptxas = find_ptxas();
  struct Case {
    const char* formula;
    const char* reduction;
    const char* formula2;
    int dim;
    int e;
    int groups32;  // float32
    int groups64;  // float64: groups of 16 columns for states with indices
  };
  // Grouped above 64 columns: the last group overlaps the one before it.
  const Case cases[] = {{"Exp(-SqDist(x, y)) * v", "Sum", "", 3, 1000, 32, 32},
                        {"Exp(-SqDist(x, y)) * v", "Sum", "", 3, 65, 3, 3},
                        {"x * b", "Max_ArgMax", "", 100, 1, 4, 7},
                        {"x - y", "Min", "", 80, 1, 3, 3},
                        {"y * b", "ArgMin", "", 300, 1, 10, 19},
                        {"-SqDist(x, y)", "SumSoftMaxWeight", "v", 3, 1000, 32, 32}};
  for (const Case& c : cases)
    for (DType dtype : {DType::F32, DType::F64})
      for (bool partial : {false, true}) {
        CAPTURE(c.reduction);
        CAPTURE(c.e);
        CAPTURE(c.dim);
        CAPTURE(partial);
        GpuSpec g(c.formula, c.reduction, dtype, 0, c.formula2, c.dim, c.e);
        g.spec.gpu().scheme =
            partial ? keops::codegen::GpuScheme::Partial : keops::codegen::GpuScheme::Dense;
        CHECK(keops::lower::lower(g.spec).gpu.column_groups ==
              (dtype == DType::F32 ? c.groups32 : c.groups64));
        const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
        CHECK(ptx.find("%ctaid.z") != std::string::npos);
        CHECK(ptx.find("%nctaid.z") != std::string::npos);
        // Unrolled, E=1000 took 261 kB of PTX and spilled 21 kB per thread.
        CHECK(ptx.size() < 60000);
        if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 90, /*no_spills=*/true) == "");
      }
  // Outputs of 64 columns or fewer are computed whole, as before.
  GpuSpec whole("x - y", "Min", DType::F32, 0, "", 64);
  CHECK(keops::lower::lower(whole.spec).gpu.column_groups == 1);
  CHECK(keops::jit::gpu_kernel_ptx(whole.spec).find("%ctaid.z") == std::string::npos);
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}

TEST_CASE("wide tiles pay for long pair bodies staged whole, not for short or tiled ones") {
  // 128 values a pair (knn_D64), 144 (gauss_D64_E16 with 16 columns out): staged whole.
  CHECK(keops::lower::lower(GpuSpec("SqDist(x, y)", "ArgKMin", DType::F32, 10, "", 64).spec)
            .gpu.wide_tiles_pay);
  CHECK(keops::lower::lower(GpuSpec({"x = Vi(64)", "y = Vj(64)", "v = Vj(16)"},
                                    "Exp(-SqDist(x, y)) * v", "Sum", DType::F32)
                                .spec)
            .gpu.wide_tiles_pay);
  // 7 values (gauss_sum_D3); 2001 (gauss_D1000, dimension tiles); a long output of 200
  // columns (column groups).
  CHECK_FALSE(keops::lower::lower(GpuSpec("Exp(-SqDist(x, y)) * b", "Sum", DType::F32).spec)
                  .gpu.wide_tiles_pay);
  CHECK_FALSE(
      keops::lower::lower(GpuSpec("Exp(-SqDist(x, y)) * b", "Sum", DType::F32, 0, "", 1000).spec)
          .gpu.wide_tiles_pay);
  CHECK_FALSE(
      keops::lower::lower(GpuSpec("x * b", "Sum", DType::F32, 0, "", 200).spec).gpu.wide_tiles_pay);
}

TEST_CASE("grouped_dim: the CPU's and the GPU's long outputs") {
  GpuSpec sum("Exp(-SqDist(x, y)) * v", "Sum", DType::F32, 0, "", 3, 1000);
  CHECK(keops::codegen::grouped_dim(sum.spec) == 1000);
  GpuSpec lse("Exp(-SqDist(x, y)) * v", "LogSumExp", DType::F32, 0, "", 3, 1000);
  CHECK(keops::codegen::grouped_dim(lse.spec) == 0);  // columns that are not independent
  GpuSpec softmax("-SqDist(x, y)", "SumSoftMaxWeight", DType::F32, 0, "v", 3, 100);
  CHECK(keops::codegen::grouped_dim(softmax.spec) == 100);
  // The CPU groups more than 48 columns, the GPU more than 64.
  GpuSpec small("x - y", "Sum", DType::F32, 0, "", 64);
  CHECK(keops::codegen::grouped_dim(small.spec) == 0);
  small.spec.target = keops::codegen::CpuTarget{};
  CHECK(keops::codegen::grouped_dim(small.spec) == 64);
  GpuSpec cpu("x - y", "Sum", DType::F32, 0, "", 48);
  cpu.spec.target = keops::codegen::CpuTarget{};
  CHECK(keops::codegen::grouped_dim(cpu.spec) == 0);
}

TEST_CASE("several rows per thread: each tile value loaded once serves every row") {
  const std::string ptxas = find_ptxas();
  for (DType dtype : {DType::F32, DType::F64}) {
    CAPTURE(int(dtype));
    GpuSpec one("Exp(-SqDist(x, y)) * b", "Sum", dtype);
    GpuSpec four("Exp(-SqDist(x, y)) * b", "Sum", dtype);
    four.spec.gpu().rows_per_thread = 4;
    CHECK(one.spec.key() != four.spec.key());
    CHECK(keops::lower::lower(four.spec).gpu.rows_per_thread == 4);
    const std::string ptx1 = keops::jit::gpu_kernel_ptx(one.spec);
    const std::string ptx4 = keops::jit::gpu_kernel_ptx(four.spec);
    // The shared-memory loads of a reduced row (y and b: one ld.shared.v4.f32, or two
    // ld.shared.v2.f64) in the unrolled pair loop and its remainder: eight reduced rows an
    // iteration for float32 and a row per thread, else four. Each serves four times the
    // pairs with four rows: four stores of results at the end.
    const int per_row = dtype == DType::F32 ? 1 : 2, unrolled = dtype == DType::F32 ? 8 : 4;
    CHECK(count(ptx1, "ld.shared") == per_row * (unrolled + 1));
    CHECK(count(ptx4, "ld.shared") == per_row * (4 + 1));
    const std::string exp = dtype == DType::F32 ? "ex2.approx" : "fma.rn.f64";
    CHECK(count(ptx4, exp) * (unrolled + 1) >= 4 * (4 + 1) * count(ptx1, exp));
    CHECK(count(ptx4, "st.global") == 4 * count(ptx1, "st.global"));
    if (!ptxas.empty())
      for (int sm : {80, 90}) {
        four.spec.gpu().sm = sm;
        CHECK(assemble_ptx(ptxas, keops::jit::gpu_kernel_ptx(four.spec), sm,
                           /*no_spills=*/true) == "");
      }
  }
  // Block-sparse and partial kernels take one row per thread.
  GpuSpec partial("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
  partial.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;
  partial.spec.gpu().rows_per_thread = 2;
  CHECK_THROWS_WITH(keops::jit::gpu_kernel_ptx(partial.spec),
                    doctest::Contains("several rows per thread need a dense"));
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}

TEST_CASE("one row per thread, short rows: the next tile's rows are loaded before the pair loop") {
  // Whether the kernel has the block that loads the first tile's rows ahead.
  auto prefetches = [](const KernelSpec& spec) {
    llvm::LLVMContext ctx;
    llvm::Module m("prefetch", ctx);
    keops::codegen::build_nvptx_kernel(m, keops::lower::lower(spec), "k");
    for (const llvm::BasicBlock& block : *m.getFunction("k"))
      if (block.getName() == "tile.prefetch.first") return true;
    return false;
  };
  const GpuCase cases[] = {{"Exp(-SqDist(x, y)) * b", "Sum", 0},
                           {"SqDist(x, y)", "ArgKMin", 3},
                           {"-SqDist(x, y)", "LogSumExp", 0}};
  for (const GpuCase& c : cases) {
    CAPTURE(std::string(c.reduction));
    GpuSpec g(c, DType::F32);
    CHECK(prefetches(g.spec));
    g.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;  // the 2-D scheme's splits and the
                                                               // block-sparse ranges too
    CHECK(prefetches(g.spec));
    g.spec.gpu().scheme = keops::codegen::GpuScheme::BlockSparse;
    CHECK(prefetches(g.spec));
  }
  // Not with four rows per thread, nor with long rows (D = 64), nor with long outputs.
  GpuSpec four("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
  four.spec.gpu().rows_per_thread = 4;
  CHECK_FALSE(prefetches(four.spec));
  CHECK_FALSE(prefetches(GpuSpec("SqDist(x, y)", "ArgKMin", DType::F32, 10, "", 64).spec));
  CHECK_FALSE(prefetches(GpuSpec("x * b", "Sum", DType::F32, 0, "", 200).spec));
}

TEST_CASE("registers are capped at 128 where the pair loop holds few values across pairs") {
  const std::string ptxas = find_ptxas();
  // Held across pairs: KMin's 10 values and 10 indices and x's 64 values (94 registers);
  // SumSoftMaxWeight's 66 values and x's 64 (130) stay free.
  const std::pair<GpuCase, bool> cases[] = {
      {{"SqDist(x, y)", "ArgKMin", 10, "", 64, 1}, true},
      {{"Exp(-p * SqDist(x, y)) * v", "Sum", 0, "", 64, 16}, true},
      {{"Exp(-SqDist(x, y)) * b", "Sum", 0, "", 3, 1}, false},
      {{"(x | y)", "SumSoftMaxWeight", 0, "v", 64, 64}, false},
      {{"x * b", "KMin", 20, "", 100, 1}, false}};
  for (const auto& entry : cases) {
    const GpuCase& c = entry.first;  // (not a structured binding: CAPTURE's lambda reads it, which
                                     // Clang 14 refuses)
    const bool capped = entry.second;
    CAPTURE(std::string(c.formula));
    CAPTURE(std::string(c.reduction));
    GpuSpec g(c, DType::F32);
    const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
    CHECK((ptx.find(".maxnreg 128") != std::string::npos) == capped);
    if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 90) == "");
  }
  // Short float32 pair bodies are not capped (they take far fewer registers), float64 ones
  // are. Four rows per thread hold four states and rows: a float64 Gaussian of x = Vi(12)
  // is capped with one row per thread (2 + 24 registers), not with four (104).
  GpuSpec one("Exp(-SqDist(x, y)) * b", "Sum", DType::F64, 0, "", 12);
  CHECK(keops::jit::gpu_kernel_ptx(one.spec).find(".maxnreg") != std::string::npos);
  one.spec.gpu().rows_per_thread = 4;
  CHECK(keops::jit::gpu_kernel_ptx(one.spec).find(".maxnreg") == std::string::npos);
}

TEST_CASE(
    "selections of many slots on the GPU: loops over local memory, PTX made in constant time") {
  const std::string ptxas = find_ptxas();
  // ArgKMin with K = 1024 took 24 s to emit unrolled (3.8 MB of PTX) and ptxas 62 s.
  for (int k : {32, 33, 1024}) {
    CAPTURE(k);
    GpuSpec g("SqDist(x, y)", "ArgKMin", DType::F32, k);
    const auto start = std::chrono::steady_clock::now();
    const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(seconds < 2.0);
    // Unrolled up to 32 slots (registers); past it, one local buffer of values and indices.
    const bool in_memory = k > keops::codegen::kGpuUnrolledSelectSlots;
    CHECK((ptx.find(".local .align 8 .b8") != std::string::npos) == in_memory);
    if (in_memory) CHECK(ptx.size() < 40000);
    if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 90, /*no_spills=*/true) == "");
  }
  // 16-bit arrays (float32 slots), through the 2-D scheme: the partial and merge kernels.
  for (auto storage : {keops::codegen::Storage::F16, keops::codegen::Storage::BF16}) {
    GpuSpec g("SqDist(x, y)", "KMin_ArgKMin", DType::F32, 40);
    g.spec.storage = storage;
    g.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;
    const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
    const std::string merge_ptx = keops::jit::gpu_merge_kernel_ptx(g.spec);
    CHECK(ptx.find(".local .align 8 .b8") != std::string::npos);
    CHECK(merge_ptx.find(".local .align 8 .b8") != std::string::npos);
    if (!ptxas.empty())
      for (const std::string& module : {ptx, merge_ptx})
        CHECK(assemble_ptx(ptxas, module, 90, /*no_spills=*/true) == "");
  }
  // Max and Min of long vectors stay unrolled (a register a column).
  GpuSpec max("v - SqDist(x, y)", "Max_ArgMax", DType::F32, 0, "", 3, 40);
  CHECK(keops::jit::gpu_kernel_ptx(max.spec).find(".local") == std::string::npos);
  // A thread keeps at most kGpuMaxSelectBytes: 1,365 float32 values and indices, 4,096 values.
  GpuSpec values_only("x - y", "KMin", DType::F32, 1000);
  CHECK(keops::jit::gpu_kernel_ptx(values_only.spec).find(".local") != std::string::npos);
  GpuSpec too_many("x - y", "KMin_ArgKMin", DType::F32, 500);
  CHECK_THROWS_WITH_AS(keops::jit::gpu_kernel_ptx(too_many.spec),
                       "the reduction KMin_ArgKMin keeps K x dim(F) = 500 x 3 values per row, 17 "
                       "KB; on the GPU, where a thread keeps them in its local memory, at most 16 "
                       "KB are supported: run it on the CPU (Options::backend = Backend::CPU)",
                       keops::Error);
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}
