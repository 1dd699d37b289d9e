// The reduction state kernels keep: which specs keep blocks, and the slots a state takes.
#include <doctest/doctest.h>

#include <string>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>

#include "compiler/codegen/blocked_state.h"
#include "compiler/codegen/reductions.h"
#include "tests/support/gpu_spec.h"

namespace {

using keops::codegen::BlockedState;
using keops::codegen::keeps_blocks;
using keops::codegen::SumScheme;
using keops::ir::DType;
using keops::test::GpuSpec;

bool blocks(const char* reduction, SumScheme scheme, int64_t block_size = 0, int k = 0) {
  GpuSpec g("Exp(-SqDist(x, y)) * b", reduction, DType::F32, k);
  g.spec.sum_scheme = scheme;
  g.spec.block_size = block_size;
  return keeps_blocks(g.spec, *keops::codegen::make_reduction_emitter(g.spec));
}

TEST_CASE("sums keep blocks under the Block scheme; selections only when block_size forces") {
  CHECK(blocks("Sum", SumScheme::Block));
  CHECK(blocks("LogSumExp", SumScheme::Block));
  CHECK_FALSE(blocks("Sum", SumScheme::Kahan));
  CHECK_FALSE(blocks("Sum", SumScheme::Direct));
  CHECK_FALSE(blocks("Min", SumScheme::Block));
  CHECK_FALSE(blocks("ArgKMin", SumScheme::Block, 0, 3));
  CHECK(blocks("Min", SumScheme::Block, 16));
  CHECK_FALSE(blocks("Min", SumScheme::Direct, 16));
}

// The allocas of a function that keeps one state through two blocks of a term each.
int state_slots(const char* reduction, bool blocked) {
  GpuSpec g("Exp(-SqDist(x, y)) * b", reduction, DType::F32);
  const auto emitter = keops::codegen::make_reduction_emitter(g.spec);
  llvm::LLVMContext ctx;
  llvm::Module m("state", ctx);
  llvm::Type* f32 = llvm::Type::getFloatTy(ctx);
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(f32, {f32}, false),
                                    llvm::Function::ExternalLinkage, "fold", m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
  const BlockedState state(b, *emitter, f32, blocked);
  state.start(b);
  for (int block = 0; block < 2; ++block) {
    state.open_block(b);
    state.fold(b, {fn->getArg(0)}, b.getInt64(block));
    state.close_block(b);
  }
  keops::codegen::Vals values, indices;
  emitter->finalize(b, state.total(b), values, indices);
  b.CreateRet(values.at(0));
  CHECK_FALSE(llvm::verifyFunction(*fn, &llvm::errs()));
  int allocas = 0;
  for (const llvm::Instruction& i : fn->getEntryBlock())
    allocas += llvm::isa<llvm::AllocaInst>(i) ? 1 : 0;
  return allocas;
}

TEST_CASE("a blocked state takes a total and a block; unblocked, the total alone") {
  CHECK(state_slots("Sum", true) == 2);  // one value each
  CHECK(state_slots("Sum", false) == 1);
  CHECK(state_slots("LogSumExp", true) == 4);  // max and sum each
}

}  // namespace
