// The lowering plan: GPU kernels' parameters, staged formulas, layouts and CPU tilings.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/traverse.h"
#include "compiler/jit/ptx.h"
#include "compiler/lower/kernel_plan.h"
#include "keops/error.h"
#include "tests/support/gpu_spec.h"

namespace {

using keops::codegen::GpuScheme;
using keops::ir::DType;
using keops::lower::KernelAbi;
using keops::lower::Param;
using keops::test::GpuSpec;

}  // namespace

TEST_CASE("kernel ABIs list each kernel's parameters in order") {
  const KernelAbi dense = keops::lower::reduction_kernel_abi(GpuScheme::Dense);
  CHECK(dense.params == std::vector<Param>{Param::OutRows, Param::NReduced, Param::ArgTable,
                                           Param::Values, Param::Indices});
  const KernelAbi sparse = keops::lower::reduction_kernel_abi(GpuScheme::BlockSparse);
  CHECK(sparse.params.size() == 7);
  CHECK(sparse.index(Param::Items) == 5);
  CHECK(sparse.index(Param::Ranges) == 6);
  const KernelAbi partial = keops::lower::reduction_kernel_abi(GpuScheme::Partial);
  CHECK(partial.index(Param::States) == 3);
  CHECK(partial.index(Param::FirstSlot) == 6);
  CHECK_FALSE(partial.has(Param::Values));
  CHECK_THROWS_WITH_AS(partial.index(Param::Values), doctest::Contains("ABI does not have"),
                       std::logic_error);
  CHECK(keops::lower::merge_kernel_abi().index(Param::Finalize) == 5);
  CHECK(keops::lower::slice_sum_kernel_abi().index(Param::Values) == 3);
  CHECK(KernelAbi::is_address(Param::States));
  CHECK_FALSE(KernelAbi::is_address(Param::SplitLen));
}

TEST_CASE("launch parameters point at the fields an ABI lists, in its order") {
  keops::lower::KernelArgs args;
  const KernelAbi partial = keops::lower::reduction_kernel_abi(GpuScheme::Partial);
  const std::vector<void*> params = partial.launch_params(args);
  REQUIRE(params.size() == 7);
  CHECK(params[0] == &args.out_rows);
  CHECK(params[2] == &args.arg_table);
  CHECK(params[3] == &args.states);
  CHECK(params[4] == &args.split_len);
  CHECK(params[5] == &args.index_base);
  CHECK(params[6] == &args.first_slot);
  const std::vector<void*> slice = keops::lower::slice_sum_kernel_abi().launch_params(args);
  CHECK(slice == std::vector<void*>{&args.count, &args.slices, &args.n_slices, &args.values});
}

TEST_CASE("the GPU kernel builder declares the parameters of the plan's ABI") {
  for (GpuScheme scheme : {GpuScheme::Dense, GpuScheme::BlockSparse, GpuScheme::Partial}) {
    GpuSpec g("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
    g.spec.gpu().scheme = scheme;
    const keops::lower::KernelPlan plan = keops::lower::lower(g.spec);
    llvm::LLVMContext ctx;
    llvm::Module m("k", ctx);
    m.setTargetTriple("nvptx64-nvidia-cuda");
    keops::codegen::build_nvptx_kernel(m, plan, "k");
    const llvm::Function* fn = m.getFunction("k");
    REQUIRE(fn != nullptr);
    REQUIRE(fn->arg_size() == plan.abi.params.size());
    for (size_t k = 0; k < plan.abi.params.size(); ++k)
      CHECK(fn->getArg(unsigned(k))->getType()->isPointerTy() ==
            KernelAbi::is_address(plan.abi.params[k]));
  }
}

TEST_CASE("a GPU plan stages the reduced-only values and sizes its tile") {
  GpuSpec gauss("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
  const keops::lower::KernelPlan plan = keops::lower::lower(gauss.spec);
  CHECK_FALSE(plan.dim_tiled());
  // y (scaled by fast math's exp_scale) and b are staged: 4 values a reduced row.
  CHECK(plan.gpu.staged_values == 4);
  CHECK(plan.gpu.shared_bytes(256) == 256 * 4 * 4);
  CHECK(plan.gpu.block_threads == 256);
  CHECK(plan.gpu.column_groups == 1);
  // The pair loop reads staged values as Vars past the arguments.
  int staged_vars = 0;
  for (keops::ir::Expr e : keops::ir::reachable_nodes({plan.f()}))
    if (e->op == keops::ir::Op::Var && e->var_index() >= int(gauss.spec.args.size())) ++staged_vars;
  CHECK(staged_vars >= 1);

  GpuSpec long_rows("Exp(-SqDist(x, y)) * b", "Sum", DType::F32, 0, "", 1000);
  const keops::lower::KernelPlan tiled = keops::lower::lower(long_rows.spec);
  CHECK(tiled.dim_tiled());
  CHECK(tiled.gpu.staged_values == 0);

  GpuSpec wide("b * v", "Sum", DType::F32, 0, "", 3, 200);
  const keops::lower::KernelPlan grouped = keops::lower::lower(wide.spec);
  CHECK(grouped.groups->dim == 200);
  CHECK(grouped.gpu.column_groups == (200 + grouped.groups->width - 1) / grouped.groups->width);
}

TEST_CASE("a CPU plan carries the kernel's register tiling; too deep a formula is refused") {
  GpuSpec g("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
  g.spec.target = keops::codegen::CpuTarget::named("skylake-avx512");
  const keops::lower::KernelPlan plan = keops::lower::lower(g.spec);
  CHECK(plan.cpu.tiling.lanes == 16);
  CHECK(plan.cpu.tiling.rows_per_tile() ==
        keops::codegen::choose_cpu_tiling(g.spec).rows_per_tile());

  CHECK(plan.cpu.grouped_dim == 0);
  CHECK(plan.cpu.whole.width == 0);

  // A long output: full groups of columns, then the rest, each with its own tiling.
  GpuSpec wide("b * v", "Sum", DType::F32, 0, "", 3, 100);
  wide.spec.target = keops::codegen::CpuTarget::named("skylake-avx512");
  const keops::lower::KernelPlan grouped = keops::lower::lower(wide.spec);
  CHECK(grouped.cpu.grouped_dim == 100);
  REQUIRE(grouped.cpu.groups);
  REQUIRE(grouped.cpu.rest);
  CHECK(grouped.cpu.groups->width == keops::codegen::kColumnGroup);
  CHECK(grouped.cpu.full == 96);
  CHECK(grouped.cpu.rest->width == 4);
  CHECK(grouped.cpu.rest->spec.formula->dim == 4);
  CHECK(grouped.cpu.groups->spec.formula->dim == keops::codegen::kColumnGroup);

  keops::ir::Expr deep = g.spec.formula;
  for (int k = 0; k < keops::codegen::kMaxEmittedDepth; ++k)
    deep = g.ctx.make(keops::ir::Op::Exp, {deep});
  g.spec.formula = deep;
  CHECK_THROWS_WITH_AS(keops::lower::lower(g.spec), doctest::Contains("operations deep"),
                       keops::Error);
}

TEST_CASE("a plan owns its formulas: it outlives the context of the spec it was lowered from") {
  std::string expected;
  std::unique_ptr<keops::lower::KernelPlan> plan;
  for (const bool tiled : {false, true}) {  // a dimension-tiled plan keeps F as given
    const int dim = tiled ? 1000 : 3;
    {
      GpuSpec g("Exp(-SqDist(x, y)) * b", "Sum", DType::F32, 0, "", dim);
      expected = keops::jit::gpu_kernel_ptx(g.spec);
      plan = std::make_unique<keops::lower::KernelPlan>(keops::lower::lower(g.spec));
    }  // g's context is gone
    CHECK(plan->dim_tiled() == tiled);
    CHECK(keops::jit::gpu_kernel_ptx(*plan) == expected);
  }
}

TEST_CASE("Context::adopt copies DAGs as they are, shared nodes once, in creation order") {
  keops::ir::Context from, to;
  using keops::ir::Op;
  const keops::ir::Expr x = from.var(0, 3, keops::ir::CatI, DType::F32);
  const keops::ir::Expr y = from.var(1, 3, keops::ir::CatJ, DType::F32);
  const keops::ir::Expr d = from.make(Op::SqDist, {x, y});
  const keops::ir::Expr f = from.make(Op::Exp, {from.make(Op::Minus, {d})});
  const keops::ir::Expr g = from.make(Op::Mult, {d, x});
  const std::vector<keops::ir::Expr> copies = to.adopt({f, nullptr, g});
  REQUIRE(copies.size() == 3);
  CHECK(copies[1] == nullptr);
  CHECK(keops::ir::print(copies[0]) == keops::ir::print(f));
  CHECK(keops::ir::print(copies[2]) == keops::ir::print(g));
  CHECK(copies[0]->hash == f->hash);
  CHECK(copies[0]->args[0]->args[0] == copies[2]->args[0]);  // d, shared
  CHECK(to.size() == 6);                                     // x, y, d, -d, Exp, d * x
  CHECK(copies[0]->args[0]->args[0]->id < copies[0]->id);
}

TEST_CASE("lowering simplifies the formulas; kernels keep the name of the spec as requested") {
  // Like terms collected, a constant factor merged: x*y + x*y*2 is 3 * (x*y).
  GpuSpec written({"x = Vi(3)", "y = Vj(3)"}, "x * y + x * y * 2", "Sum", DType::F32);
  GpuSpec direct({"x = Vi(3)", "y = Vj(3)"}, "3 * (x * y)", "Sum", DType::F32);
  const keops::lower::KernelPlan plan = keops::lower::lower(written.spec);
  const keops::lower::KernelPlan direct_plan = keops::lower::lower(direct.spec);
  CHECK(keops::ir::print(plan.spec.formula) == keops::ir::print(direct_plan.spec.formula));
  CHECK(keops::ir::reachable_nodes({plan.spec.formula}).size() <
        keops::ir::reachable_nodes({written.spec.formula}).size());
  // Named and cached after the request: two requests lowered alike are two kernels.
  CHECK(plan.key == written.spec.key());
  CHECK(plan.key_hash() == written.spec.key_hash());
  CHECK(plan.key_hash() != direct_plan.key_hash());
  const std::string ptx = keops::jit::gpu_kernel_ptx(plan);
  CHECK(ptx.find(".entry " + keops::jit::gpu_kernel_symbol(written.spec)) != std::string::npos);
  CHECK(keops::jit::gpu_kernel_ptx(direct_plan)
            .find(".entry " + keops::jit::gpu_kernel_symbol(direct.spec)) != std::string::npos);
}
