// Dimension-tiled pair products on the GPU (see nvptx_dim_tiles.h).
#include "compiler/codegen/nvptx_dim_tiles.h"

#include <string>
#include <utility>

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/IntrinsicsNVPTX.h>

#include "compiler/support/check.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::PHINode;
using llvm::Value;

void emit_dim_tiled_products(llvm::IRBuilderBase& b, const DimTileLoop& loop,
                             const std::function<void(Value* index, const Vals& products)>& fold) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  const passes::DimTiles& tiles = loop.tiles;
  KEOPS_CHECK(tiles.dim > 0, "dimension tiles without products");
  llvm::Type* T = loop.T;
  auto* i64 = b.getInt64Ty();
  auto* i32 = b.getInt32Ty();
  const int64_t dim = tiles.dim, element_bytes = T->getPrimitiveSizeInBits() / 8;
  const llvm::Align align_t{uint64_t(element_bytes)};
  constexpr int64_t kChunkValues = int64_t(kTileRows) * kTileDims;
  Value* zero = llvm::ConstantFP::get(T, 0.0);
  // Whether component c is in the row, and c clamped to the row (a last chunk may pass it).
  auto clamp = [&](Value* c) {
    Value* inside = b.CreateICmpSLT(c, b.getInt64(dim));
    return std::pair{inside, b.CreateSelect(inside, c, b.getInt64(dim - 1))};
  };
  // Component c of the row at base; 0 past the row's end (a last, partial chunk adds 0).
  auto component = [&](Value* base, Value* c) -> Value* {
    if (dim % kTileDims == 0) return b.CreateAlignedLoad(T, b.CreateGEP(T, base, c), align_t);
    const auto [inside, at] = clamp(c);
    return b.CreateSelect(inside, b.CreateAlignedLoad(T, b.CreateGEP(T, base, at), align_t), zero);
  };
  auto barrier = [&] { b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {}); };
  // On sm_80 and later the block copies the next chunk (cp.async, into the other of two
  // buffers) while it multiplies this one, and each thread loads its next components before
  // the products: no thread waits for global memory between chunks (gauss_D1000 at 1e5 on
  // an H100: 2.24 s with the copy between the two barriers, 1.56 s so).
  const bool async = loop.sm >= 80;
  auto buffer_of = [&](Value* chunk) {  // the first value of chunk's buffer
    return b.CreateMul(b.CreateAnd(chunk, b.getInt64(async ? 1 : 0)),
                       b.getInt64(int64_t(tiles.reduced_vars.size()) * kChunkValues));
  };
  // The block copies components [c0, c0 + kTileDims) of the tile's rows of each reduced Var to
  // `buffer`: element e is row e / kTileDims, component e % kTileDims (a row past the end
  // copies the last row, whose terms are not folded; components past the end are 0).
  auto stage = [&](Value* c0, Value* buffer) {
    BasicBlock* before = b.GetInsertBlock();
    auto* header = BasicBlock::Create(ctx, "dims.stage", fn);
    auto* body = BasicBlock::Create(ctx, "dims.stage.body", fn);
    auto* done = BasicBlock::Create(ctx, "dims.staged", fn);
    b.CreateBr(header);
    b.SetInsertPoint(header);
    PHINode* e = b.CreatePHI(i64, 2, "e");
    e->addIncoming(loop.thread, before);
    b.CreateCondBr(b.CreateICmpSLT(e, b.getInt64(kChunkValues)), body, done);
    b.SetInsertPoint(body);
    Value* row = b.CreateAdd(loop.t0, b.CreateUDiv(e, b.getInt64(kTileDims)));
    row = b.CreateSelect(b.CreateICmpSLT(row, loop.tiles_end), row,
                         b.CreateSub(loop.tiles_end, b.getInt64(1)));
    Value* c = b.CreateAdd(c0, b.CreateURem(e, b.getInt64(kTileDims)));
    for (size_t v = 0; v < tiles.reduced_vars.size(); ++v) {
      Value* to =
          b.CreateGEP(T, loop.shared,
                      b.CreateAdd(buffer, b.CreateAdd(b.getInt64(int64_t(v) * kChunkValues), e)));
      Value* base = loop.reduced_row(b, tiles.reduced_vars[v], row);
      if (!async) {
        b.CreateAlignedStore(component(base, c), to, align_t);
        continue;
      }
      const auto [inside, at] = clamp(c);
      Value* from = b.CreateAddrSpaceCast(b.CreateGEP(T, base, at), llvm::PointerType::get(ctx, 1));
      // Inline PTX: LLVM 19 selects its cp.async intrinsics only for 64-bit shared addresses,
      // and kernels use 32-bit ones (nvptx-short-ptr). A copy of 0 bytes fills with zeros.
      auto* copy = llvm::InlineAsm::get(
          llvm::FunctionType::get(b.getVoidTy(), {i32, i64, i32}, false),
          "cp.async.ca.shared.global [$0], [$1], " + std::to_string(element_bytes) + ", $2;",
          "r,l,r", /*hasSideEffects=*/true);
      b.CreateCall(copy,
                   {b.CreatePtrToInt(to, i32), b.CreatePtrToInt(from, i64),
                    b.CreateSelect(inside, b.getInt32(int32_t(element_bytes)), b.getInt32(0))});
    }
    e->addIncoming(b.CreateAdd(e, loop.block_threads), b.GetInsertBlock());
    b.CreateBr(header);
    b.SetInsertPoint(done);
  };
  // This thread's components [c0, c0 + kTileDims) of each of its outer rows.
  auto own_components = [&](Value* c0) {
    std::vector<Vals> own(tiles.outer_vars.size());
    for (size_t u = 0; u < own.size(); ++u) {
      Value* base = loop.outer_row(b, tiles.outer_vars[u]);
      for (int k = 0; k < kTileDims; ++k)
        own[u].push_back(component(base, b.CreateAdd(c0, b.getInt64(k))));
    }
    return own;
  };

  auto* chunk_header = BasicBlock::Create(ctx, "dims.header", fn);
  auto* chunk_body = BasicBlock::Create(ctx, "dims.chunk", fn);
  auto* chunks_done = BasicBlock::Create(ctx, "dims.done", fn);
  auto* rows_header = BasicBlock::Create(ctx, "dims.rows", fn);
  auto* rows_body = BasicBlock::Create(ctx, "dims.row", fn);
  auto* rows_done = BasicBlock::Create(ctx, "dims.rows.done", fn);
  std::vector<Vals> first_own;
  if (async) {
    stage(b.getInt64(0), buffer_of(b.getInt64(0)));
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_commit_group, {}, {});
    first_own = own_components(b.getInt64(0));
  }
  BasicBlock* entry = b.GetInsertBlock();
  b.CreateBr(chunk_header);

  // dims.header: for (c0 = 0; c0 < dim; c0 += kTileDims), chunk number `chunk`, product-major
  // sums[n * kTileRows + r], and (async) this thread's components of the chunk.
  b.SetInsertPoint(chunk_header);
  PHINode* c0 = b.CreatePHI(i64, 2, "c0");
  c0->addIncoming(b.getInt64(0), entry);
  PHINode* chunk = b.CreatePHI(i64, 2, "chunk");
  chunk->addIncoming(b.getInt64(0), entry);
  std::vector<PHINode*> sums;
  for (size_t k = 0; k < tiles.products.size() * kTileRows; ++k) {
    sums.push_back(b.CreatePHI(T, 2));
    sums.back()->addIncoming(zero, entry);
  }
  std::vector<std::vector<PHINode*>> own_phis;
  for (const Vals& row : first_own) {
    own_phis.emplace_back();
    for (Value* first : row) {
      own_phis.back().push_back(b.CreatePHI(T, 2));
      own_phis.back().back()->addIncoming(first, entry);
    }
  }
  b.CreateCondBr(b.CreateICmpSLT(c0, b.getInt64(dim)), chunk_body, chunks_done);

  // dims.chunk: once everyone has read the buffer this chunk's copies go to, the next chunk is
  // copied (async) or this one (else); after the barrier, the chunk's products.
  b.SetInsertPoint(chunk_body);
  Value* next_c0 = b.CreateAdd(c0, b.getInt64(kTileDims));
  barrier();
  std::vector<Vals> own, next_own;
  if (async) {
    auto* copy_next = BasicBlock::Create(ctx, "dims.copy.next", fn, chunks_done);
    auto* copied = BasicBlock::Create(ctx, "dims.copy.issued", fn, chunks_done);
    b.CreateCondBr(b.CreateICmpSLT(next_c0, b.getInt64(dim)), copy_next, copied);
    b.SetInsertPoint(copy_next);
    stage(next_c0, buffer_of(b.CreateAdd(chunk, b.getInt64(1))));
    b.CreateBr(copied);
    b.SetInsertPoint(copied);
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_commit_group, {}, {});
    next_own = own_components(next_c0);
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_wait_group, {}, {b.getInt32(1)});
    for (const auto& row : own_phis) own.emplace_back(row.begin(), row.end());
  } else {
    stage(c0, buffer_of(chunk));
    own = own_components(c0);
  }
  barrier();
  Value* buffer = buffer_of(chunk);
  auto position = [](const std::vector<ir::Expr>& vars, ir::Expr var) {
    return size_t(std::find(vars.begin(), vars.end(), var) - vars.begin());
  };
  std::vector<Value*> next(sums.begin(), sums.end());
  for (size_t n = 0; n < tiles.products.size(); ++n) {
    const passes::DimTiles::Product& product = tiles.products[n];
    const Vals& x = own[position(tiles.outer_vars, product.outer)];
    Value* first = b.CreateAdd(
        buffer, b.getInt64(int64_t(position(tiles.reduced_vars, product.reduced)) * kChunkValues));
    // Each chunk's terms are summed apart, then added to the row's sum: rounding grows with
    // kTileDims + dim / kTileDims terms, not dim (float32 Gaussians of dimension 1000 were
    // 2.5e-5 off the reference with one running sum; one add per chunk more).
    for (int r = 0; r < kTileRows; ++r) {
      Value* terms = nullptr;
      for (int k = 0; k < kTileDims; ++k) {
        const int64_t at = int64_t(r) * kTileDims + k;
        // Aligned where a vector load of consecutive components may start (LDS.128): buffers
        // and Vars' chunks start at multiples of kChunkValues.
        Value* y = b.CreateAlignedLoad(
            T, b.CreateGEP(T, loop.shared, b.CreateAdd(first, b.getInt64(at))),
            llvm::commonAlignment(llvm::Align(16), uint64_t(at * element_bytes)));
        Value* p = x[size_t(k)];
        Value* q = y;
        if (product.squared_distance) p = q = b.CreateFSub(x[size_t(k)], y);
        terms = terms ? b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {T}, {p, q, terms})
                      : b.CreateFMul(p, q);
      }
      next[n * kTileRows + size_t(r)] = b.CreateFAdd(next[n * kTileRows + size_t(r)], terms);
    }
  }
  BasicBlock* chunk_end = b.GetInsertBlock();
  c0->addIncoming(next_c0, chunk_end);
  chunk->addIncoming(b.CreateAdd(chunk, b.getInt64(1)), chunk_end);
  for (size_t k = 0; k < sums.size(); ++k) sums[k]->addIncoming(next[k], chunk_end);
  for (size_t u = 0; u < own_phis.size(); ++u)
    for (size_t k = 0; k < own_phis[u].size(); ++k)
      own_phis[u][k]->addIncoming(next_own[u][k], chunk_end);
  b.CreateBr(chunk_header);

  // dims.done: the sums go to local memory, which a loop over the tile's rows reads back (one
  // copy of the rest of the formula, not kTileRows).
  b.SetInsertPoint(chunks_done);
  if (async) b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_wait_all, {}, {});
  auto* stash_type = llvm::ArrayType::get(T, sums.size());
  llvm::AllocaInst* stash = entry_alloca(b, stash_type);
  for (size_t k = 0; k < sums.size(); ++k)
    b.CreateStore(sums[k], b.CreateConstGEP2_64(stash_type, stash, 0, k));
  Value* remaining = b.CreateSub(loop.tiles_end, loop.t0);
  Value* rows = b.CreateTrunc(b.CreateSelect(b.CreateICmpSLT(remaining, b.getInt64(kTileRows)),
                                             remaining, b.getInt64(kTileRows)),
                              i32);
  b.CreateBr(rows_header);
  b.SetInsertPoint(rows_header);
  PHINode* r = b.CreatePHI(i32, 2, "r");
  r->addIncoming(b.getInt32(0), chunks_done);
  b.CreateCondBr(b.CreateICmpSLT(r, rows), rows_body, rows_done);
  b.SetInsertPoint(rows_body);
  Vals products;
  for (size_t n = 0; n < tiles.products.size(); ++n) {
    Value* at = b.CreateAdd(b.getInt32(int32_t(n) * kTileRows), r);
    products.push_back(b.CreateLoad(T, b.CreateGEP(stash_type, stash, {b.getInt32(0), at})));
  }
  fold(b.CreateAdd(loop.t0, b.CreateZExt(r, i64)), products);
  r->addIncoming(b.CreateAdd(r, b.getInt32(1)), b.GetInsertBlock());
  b.CreateBr(rows_header);
  b.SetInsertPoint(rows_done);
}

}  // namespace keops::codegen
