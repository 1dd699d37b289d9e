// The C entry of an ahead-of-time object (see aot_entry.h).
#include "compiler/jit/aot_entry.h"

#include <functional>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/cpu_kernel.h"
#include "compiler/codegen/storage.h"
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

// What the entry's run needs: the kernel and its team's worker, the arrays as the kernel takes
// them, the sizes.
struct RunCall {
  llvm::Function* kernel;
  llvm::Function* worker;
  int64_t rows_per_tile;
  llvm::Value *args, *values, *indices, *out_rows, *reduced;
};

// Runs the kernel over every output row at b's position (one call for a tile or less, else
// the OpenMP team); b is left after it.
void emit_run(llvm::IRBuilderBase& b, const RunCall& call) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* entry = b.GetInsertBlock()->getParent();
  llvm::Module& m = *entry->getParent();
  auto* ptr = llvm::PointerType::get(ctx, 0);
  auto* i32 = b.getInt32Ty();
  // void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags)
  llvm::FunctionCallee gomp_parallel =
      m.getOrInsertFunction("GOMP_parallel", b.getVoidTy(), ptr, ptr, i32, i32);
  auto* run_one = llvm::BasicBlock::Create(ctx, "run_one_tile", entry);
  auto* team = llvm::BasicBlock::Create(ctx, "team", entry);
  auto* done = llvm::BasicBlock::Create(ctx, "ran", entry);
  // Nothing to do, or one tile: no thread team is worth starting.
  auto* single = llvm::BasicBlock::Create(ctx, "one_tile", entry);
  b.CreateCondBr(b.CreateICmpSLE(call.out_rows, b.getInt64(call.rows_per_tile)), single, team);
  b.SetInsertPoint(single);
  b.CreateCondBr(b.CreateICmpSGT(call.out_rows, b.getInt64(0)), run_one, done);
  b.SetInsertPoint(run_one);
  b.CreateCall(call.kernel, {b.getInt64(0), call.out_rows, whole_range(b, call.reduced),
                             b.getInt64(1), call.args, call.values, call.indices});
  b.CreateBr(done);

  b.SetInsertPoint(team);
  llvm::StructType* shared_ty = shared_type(ctx);
  llvm::Value* shared = b.CreateAlloca(shared_ty);
  llvm::Value* fields[kFieldCount] = {call.args,     call.values,  call.indices,
                                      call.out_rows, call.reduced, b.getInt64(0)};
  for (int f = 0; f < kFieldCount; ++f)
    b.CreateStore(fields[f], b.CreateStructGEP(shared_ty, shared, f));
  // num_threads 0: the OpenMP default (OMP_NUM_THREADS or the core count); flags 0.
  b.CreateCall(gomp_parallel, {call.worker, shared, b.getInt32(0), b.getInt32(0)});
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

// for (q = 0; q < n; ++q) body(q) at b's position, n an i64 at run time; b left after it.
void emit_counted_loop(llvm::IRBuilderBase& b, llvm::Value* n,
                       const std::function<void(llvm::Value*)>& body) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  llvm::BasicBlock* before = b.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ctx, "copy", fn);
  auto* loop = llvm::BasicBlock::Create(ctx, "copy.body", fn);
  auto* done = llvm::BasicBlock::Create(ctx, "copied", fn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  llvm::PHINode* q = b.CreatePHI(b.getInt64Ty(), 2);
  q->addIncoming(b.getInt64(0), before);
  b.CreateCondBr(b.CreateICmpSLT(q, n), loop, done);
  b.SetInsertPoint(loop);
  body(q);
  q->addIncoming(b.CreateAdd(q, b.getInt64(1), "", /*HasNUW=*/true, /*HasNSW=*/true),
                 b.GetInsertBlock());
  b.CreateBr(header);
  b.SetInsertPoint(done);
}

// The run of a 16-bit object (a float32 kernel, call.args and call.values the caller's 16-bit
// arrays): the arguments widened once into one allocation, the kernel run on them, its values
// rounded once into the caller's, as Genred does on the CPU; the kernel, widening each row as it
// read it, took up to 4.3 times the float32 object's time for long rows. Returns
// kAotOutOfMemory when the copies cannot be allocated; b is left after the run.
void emit_widened_run(llvm::IRBuilderBase& b, const codegen::KernelSpec& spec,
                      const std::vector<llvm::Value*>& rows_of, RunCall call,
                      codegen::Storage storage) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* entry = b.GetInsertBlock()->getParent();
  llvm::Module& m = *entry->getParent();
  auto* ptr = llvm::PointerType::get(ctx, 0);
  auto* f32 = b.getFloatTy();
  const codegen::StoredElements elements(f32, storage);
  // The copies' float counts: each argument's, then the values', added up with overflow checks.
  llvm::Value* overflow = b.getFalse();
  auto checked = [&](llvm::Intrinsic::ID op, llvm::Value* x, llvm::Value* y) {
    llvm::Value* r = b.CreateBinaryIntrinsic(op, x, y);
    overflow = b.CreateOr(overflow, b.CreateExtractValue(r, 1));
    return b.CreateExtractValue(r, 0);
  };
  std::vector<llvm::Value*> counts, offsets;
  llvm::Value* total = b.getInt64(0);
  for (size_t k = 0; k <= spec.args.size(); ++k) {
    const bool is_values = k == spec.args.size();
    counts.push_back(is_values ? checked(llvm::Intrinsic::umul_with_overflow, call.out_rows,
                                         b.getInt64(spec.value_cols()))
                               : checked(llvm::Intrinsic::umul_with_overflow, rows_of[k],
                                         b.getInt64(spec.args[k].dim)));
    offsets.push_back(total);
    total = checked(llvm::Intrinsic::uadd_with_overflow, total, counts.back());
  }
  llvm::Value* bytes = checked(llvm::Intrinsic::umul_with_overflow, total, b.getInt64(4));
  llvm::FunctionCallee malloc_fn = m.getOrInsertFunction("malloc", ptr, b.getInt64Ty());
  llvm::FunctionCallee free_fn = m.getOrInsertFunction("free", b.getVoidTy(), ptr);
  // malloc(0) may return NULL: at least one float is asked for.
  llvm::Value* buffer = b.CreateCall(
      malloc_fn,
      {b.CreateSelect(overflow, b.getInt64(4),
                      b.CreateBinaryIntrinsic(llvm::Intrinsic::umax, bytes, b.getInt64(4)))});
  auto* no_memory = llvm::BasicBlock::Create(ctx, "no_memory", entry);
  auto* widen = llvm::BasicBlock::Create(ctx, "widen", entry);
  b.CreateCondBr(b.CreateOr(overflow, b.CreateIsNull(buffer)), no_memory, widen);
  b.SetInsertPoint(no_memory);
  b.CreateCall(free_fn, {buffer});
  b.CreateRet(b.getInt32(kAotOutOfMemory));

  b.SetInsertPoint(widen);
  auto* table_type = llvm::ArrayType::get(ptr, std::max<size_t>(spec.args.size(), 1));
  llvm::Value* wide_args = b.CreateAlloca(table_type);
  for (size_t k = 0; k < spec.args.size(); ++k) {
    llvm::Value* copy = b.CreateGEP(f32, buffer, offsets[k]);
    b.CreateStore(copy, b.CreateConstInBoundsGEP2_64(table_type, wide_args, 0, k));
    // The caller's array is read only where it has values (args may be NULL otherwise).
    emit_counted_loop(b, counts[k], [&](llvm::Value* q) {
      llvm::Value* from = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, call.args, k));
      b.CreateStore(elements.load(b, b.CreateGEP(elements.stored(), from, q)),
                    b.CreateGEP(f32, copy, q));
    });
  }
  llvm::Value* caller_values = call.values;
  llvm::Value* wide_values = b.CreateGEP(f32, buffer, offsets.back());
  call.args = wide_args;
  call.values = wide_values;
  emit_run(b, call);
  emit_counted_loop(b, counts.back(), [&](llvm::Value* q) {
    elements.store(b, b.CreateLoad(f32, b.CreateGEP(f32, wide_values, q)),
                   b.CreateGEP(elements.stored(), caller_values, q));
  });
  b.CreateCall(free_fn, {buffer});
}

}  // namespace

void build_aot_entry(llvm::Module& m, const lower::KernelPlan& plan,
                     const std::string& kernel_symbol, const std::string& symbol,
                     codegen::Storage storage) {
  const codegen::KernelSpec& spec = plan.spec;
  KEOPS_CHECK(spec.storage == codegen::Storage::Native,
              "an object's kernel computes on its dtype; the entry widens 16-bit arrays");
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Function* kernel = m.getFunction(kernel_symbol);
  KEOPS_CHECK(kernel != nullptr, "the module has no kernel " + kernel_symbol);
  kernel->setLinkage(llvm::GlobalValue::InternalLinkage);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::get(ctx, 0);
  const int64_t rows_per_tile = plan.cpu.tiling.rows_per_tile();
  llvm::Function* worker = build_worker(m, kernel, rows_per_tile, symbol + ".worker");

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
  std::vector<llvm::Value*> rows_of;
  for (const codegen::ArgLayout& a : spec.args)
    rows_of.push_back(a.cat == ir::CatI ? nx : a.cat == ir::CatJ ? ny : b.getInt64(1));
  if (!spec.args.empty()) {
    llvm::Value* any_rows = b.getFalse();
    for (llvm::Value* rows : rows_of) any_rows = b.CreateOr(any_rows, positive(rows));
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

  const RunCall call{kernel, worker, rows_per_tile, args, values, indices, out_rows, reduced};
  if (storage == codegen::Storage::Native)
    emit_run(b, call);
  else
    emit_widened_run(b, spec, rows_of, call, storage);
  b.CreateRet(b.getInt32(kAotOk));
}

}  // namespace keops::jit
