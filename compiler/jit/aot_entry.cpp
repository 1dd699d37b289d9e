// The C entry of an ahead-of-time object (see aot_entry.h).
#include "compiler/jit/aot_entry.h"

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/cpu_kernel.h"
#include "compiler/support/check.h"

namespace keops::jit {
namespace {

// What the entry hands to the threads of the team, field by field.
enum SharedField { kArgs, kValues, kIndices, kOutRows, kReduced, kNextChunk, kFieldCount };

llvm::StructType* shared_type(llvm::LLVMContext& ctx) {
  auto* ptr = llvm::PointerType::get(ctx, 0);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  return llvm::StructType::get(ctx, {ptr, ptr, ptr, i64, i64, i64});
}

void copy_target_attributes(const llvm::Function& from, llvm::Function& to) {
  for (const char* name : {"target-cpu", "target-features"})
    if (from.hasFnAttribute(name)) to.addFnAttr(from.getFnAttribute(name));
  to.addFnAttr(llvm::Attribute::NoUnwind);
}

// The single range [0, reduced) of a dense reduction, as the kernel takes its ranges.
llvm::Value* whole_range(llvm::IRBuilderBase& b, llvm::Value* reduced) {
  llvm::Type* pair = llvm::ArrayType::get(b.getInt64Ty(), 2);
  llvm::Value* range = b.CreateAlloca(pair);
  b.CreateStore(b.getInt64(0), b.CreateConstInBoundsGEP2_64(pair, range, 0, 0));
  b.CreateStore(reduced, b.CreateConstInBoundsGEP2_64(pair, range, 0, 1));
  return range;
}

// void worker(Shared*): takes chunks of output rows until none is left. Chunks are a few
// per thread (whole register tiles), as in runtime/cpu/driver.cpp.
llvm::Function* build_worker(llvm::Module& m, llvm::Function* kernel, int64_t rows_per_tile,
                             const std::string& name) {
  llvm::LLVMContext& ctx = m.getContext();
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::get(ctx, 0);
  llvm::FunctionCallee team_size =
      m.getOrInsertFunction("omp_get_num_threads", llvm::Type::getInt32Ty(ctx));
  auto* worker =
      llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false),
                             llvm::Function::InternalLinkage, name, m);
  copy_target_attributes(*kernel, *worker);
  llvm::StructType* shared_ty = shared_type(ctx);
  llvm::Value* shared = worker->getArg(0);

  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", worker));
  auto field = [&](SharedField f, llvm::Type* type) {
    return b.CreateLoad(type, b.CreateStructGEP(shared_ty, shared, f));
  };
  llvm::Value* args = field(kArgs, ptr);
  llvm::Value* values = field(kValues, ptr);
  llvm::Value* indices = field(kIndices, ptr);
  llvm::Value* out_rows = field(kOutRows, i64);
  llvm::Value* reduced = field(kReduced, i64);
  llvm::Value* next_chunk = b.CreateStructGEP(shared_ty, shared, kNextChunk);
  llvm::Value* all = whole_range(b, reduced);

  llvm::Value* tile = b.getInt64(rows_per_tile);
  llvm::Value* team = b.CreateSExt(b.CreateCall(team_size), i64);
  llvm::Value* tiles = b.CreateSDiv(b.CreateAdd(out_rows, b.getInt64(rows_per_tile - 1)), tile);
  llvm::Value* per_thread = b.CreateSDiv(tiles, b.CreateMul(team, b.getInt64(4)));
  llvm::Value* chunk_tiles =
      b.CreateSelect(b.CreateICmpSLT(per_thread, b.getInt64(1)), b.getInt64(1), per_thread);
  llvm::Value* chunk = b.CreateMul(chunk_tiles, tile);
  llvm::Value* chunks =
      b.CreateSDiv(b.CreateAdd(out_rows, b.CreateSub(chunk, b.getInt64(1))), chunk);

  auto* loop = llvm::BasicBlock::Create(ctx, "next_chunk", worker);
  auto* body = llvm::BasicBlock::Create(ctx, "run_chunk", worker);
  auto* done = llvm::BasicBlock::Create(ctx, "done", worker);
  b.CreateBr(loop);
  b.SetInsertPoint(loop);
  llvm::Value* c = b.CreateAtomicRMW(llvm::AtomicRMWInst::Add, next_chunk, b.getInt64(1),
                                     llvm::MaybeAlign(8), llvm::AtomicOrdering::Monotonic);
  b.CreateCondBr(b.CreateICmpSGE(c, chunks), done, body);
  b.SetInsertPoint(body);
  llvm::Value* begin = b.CreateMul(c, chunk);
  llvm::Value* end =
      b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, out_rows, b.CreateAdd(begin, chunk));
  b.CreateCall(kernel, {begin, end, all, b.getInt64(1), args, values, indices});
  b.CreateBr(loop);
  b.SetInsertPoint(done);
  b.CreateRetVoid();
  return worker;
}

}  // namespace

void build_aot_entry(llvm::Module& m, const lower::KernelPlan& plan,
                     const std::string& kernel_symbol, const std::string& symbol) {
  const codegen::KernelSpec& spec = plan.spec;
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Function* kernel = m.getFunction(kernel_symbol);
  KEOPS_CHECK(kernel != nullptr, "the module has no kernel " + kernel_symbol);
  kernel->setLinkage(llvm::GlobalValue::InternalLinkage);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::get(ctx, 0);
  const int64_t rows_per_tile = plan.cpu.tiling.rows_per_tile();
  llvm::Function* worker = build_worker(m, kernel, rows_per_tile, symbol + ".worker");
  // void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags)
  llvm::FunctionCallee gomp_parallel =
      m.getOrInsertFunction("GOMP_parallel", llvm::Type::getVoidTy(ctx), ptr, ptr, i32, i32);

  auto* entry =
      llvm::Function::Create(llvm::FunctionType::get(i32, {i64, i64, ptr, ptr, ptr}, false),
                             llvm::Function::ExternalLinkage, symbol, m);
  copy_target_attributes(*kernel, *entry);
  llvm::Value* nx = entry->getArg(0);
  llvm::Value* ny = entry->getArg(1);
  llvm::Value* args = entry->getArg(2);
  llvm::Value* values = entry->getArg(3);
  llvm::Value* indices = entry->getArg(4);

  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
  // Returns `status` when `failed`, else goes on in a new block.
  auto fail_if = [&](llvm::Value* failed, AotStatus status) {
    auto* fail = llvm::BasicBlock::Create(ctx, "bad_argument", entry);
    auto* next = llvm::BasicBlock::Create(ctx, "checked", entry);
    b.CreateCondBr(failed, fail, next);
    b.SetInsertPoint(fail);
    b.CreateRet(b.getInt32(status));
    b.SetInsertPoint(next);
  };
  auto positive = [&](llvm::Value* rows) { return b.CreateICmpSGT(rows, b.getInt64(0)); };
  auto is_null = [&](llvm::Value* p) {
    return b.CreateICmpEQ(p, llvm::Constant::getNullValue(ptr));
  };

  fail_if(b.CreateOr(b.CreateICmpSLT(nx, b.getInt64(0)), b.CreateICmpSLT(ny, b.getInt64(0))),
          kAotNegativeSize);
  if (!spec.args.empty()) {
    std::vector<llvm::Value*> rows_of;
    llvm::Value* any_rows = b.getFalse();
    for (const codegen::ArgLayout& a : spec.args) {
      rows_of.push_back(a.cat == ir::CatI ? nx : a.cat == ir::CatJ ? ny : b.getInt64(1));
      any_rows = b.CreateOr(any_rows, positive(rows_of.back()));
    }
    fail_if(b.CreateAnd(any_rows, is_null(args)), kAotNullArgument);
    // args may be NULL when every argument has 0 rows: then it is not read.
    auto* each_arg = llvm::BasicBlock::Create(ctx, "check_each_arg", entry);
    auto* args_checked = llvm::BasicBlock::Create(ctx, "args_checked", entry);
    b.CreateCondBr(is_null(args), args_checked, each_arg);
    b.SetInsertPoint(each_arg);
    llvm::Value* null_arg = b.getFalse();
    for (size_t k = 0; k < spec.args.size(); ++k) {
      llvm::Value* arg = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, args, k));
      null_arg = b.CreateOr(null_arg, b.CreateAnd(positive(rows_of[k]), is_null(arg)));
    }
    fail_if(null_arg, kAotNullArgument);
    b.CreateBr(args_checked);
    b.SetInsertPoint(args_checked);
  }
  llvm::Value* out_rows = spec.axis == 1 ? nx : ny;
  llvm::Value* reduced = spec.axis == 1 ? ny : nx;
  if (spec.value_cols() > 0)
    fail_if(b.CreateAnd(positive(out_rows), is_null(values)), kAotNullValues);
  if (spec.index_cols() > 0)
    fail_if(b.CreateAnd(positive(out_rows), is_null(indices)), kAotNullIndices);

  auto* single = llvm::BasicBlock::Create(ctx, "one_tile", entry);
  auto* team = llvm::BasicBlock::Create(ctx, "team", entry);
  // Nothing to do, or one tile: no thread team is worth starting.
  b.CreateCondBr(b.CreateICmpSLE(out_rows, b.getInt64(rows_per_tile)), single, team);
  b.SetInsertPoint(single);
  auto* nothing = llvm::BasicBlock::Create(ctx, "nothing", entry);
  auto* run_one = llvm::BasicBlock::Create(ctx, "run_one_tile", entry);
  b.CreateCondBr(positive(out_rows), run_one, nothing);
  b.SetInsertPoint(run_one);
  b.CreateCall(kernel, {b.getInt64(0), out_rows, whole_range(b, reduced), b.getInt64(1), args,
                        values, indices});
  b.CreateBr(nothing);
  b.SetInsertPoint(nothing);
  b.CreateRet(b.getInt32(kAotOk));

  b.SetInsertPoint(team);
  llvm::StructType* shared_ty = shared_type(ctx);
  llvm::Value* shared = b.CreateAlloca(shared_ty);
  llvm::Value* fields[kFieldCount] = {args, values, indices, out_rows, reduced, b.getInt64(0)};
  for (int f = 0; f < kFieldCount; ++f)
    b.CreateStore(fields[f], b.CreateStructGEP(shared_ty, shared, f));
  // num_threads 0: the OpenMP default (OMP_NUM_THREADS or the core count); flags 0.
  b.CreateCall(gomp_parallel, {worker, shared, b.getInt32(0), b.getInt32(0)});
  b.CreateRet(b.getInt32(kAotOk));
}

}  // namespace keops::jit
