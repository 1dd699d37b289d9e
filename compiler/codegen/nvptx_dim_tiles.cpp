// Dimension-tiled pair products on the GPU (see nvptx_dim_tiles.h).
#include "compiler/codegen/nvptx_dim_tiles.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/IntrinsicsNVPTX.h>

#include "compiler/codegen/nvptx_mma.h"
#include "compiler/support/check.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::PHINode;
using llvm::Value;

namespace {

constexpr int64_t kChunkValues = int64_t(kTileRows) * kTileDims;

// The emission of one tile's dimension-tiled products: the chunks' loop (each chunk staged
// by the block, then multiplied), then the loop over the tile's rows that folds them.
class DimTileEmitter {
 public:
  DimTileEmitter(llvm::IRBuilderBase& b, const DimTileLoop& loop)
      : b_(b),
        ctx_(b.getContext()),
        fn_(b.GetInsertBlock()->getParent()),
        loop_(loop),
        tiles_(loop.tiles),
        T_(loop.elements.value),
        dim_(loop.tiles.dim),
        element_bytes_(T_->getPrimitiveSizeInBits() / 8),
        align_t_(uint64_t(element_bytes_)),
        zero_(llvm::ConstantFP::get(T_, 0.0)),
        // On sm_80 and later the block copies the next chunk (cp.async, into the other of two
        // buffers) while it multiplies this one, and each thread loads its next components
        // before the products: no thread waits for global memory between chunks (gauss_D1000
        // at 1e5 on an H100: 2.24 s with the copy between the two barriers, 1.56 s so).
        // cp.async copies bytes: 16-bit floats are widened by the threads instead.
        async_(loop.sm >= 80 && loop.elements.native()) {
    KEOPS_CHECK(tiles_.dim > 0, "dimension tiles without products");
    if (loop.matrix_units) mma_.emplace(b, loop);
  }

  void emit(const std::function<void(Value* index, const Vals& products)>& fold);

 private:
  void barrier() { b_.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {}); }
  Value* buffer_of(Value* chunk);
  void stage(Value* c0, Value* buffer);
  void copy_component(Value* to, Value* base, Value* c);
  std::vector<Vals> own_components(Value* c0);
  void open_chunks();
  std::vector<Vals> stage_chunk(Value* next_c0);
  void multiply_chunk(const std::vector<Vals>& own);
  void fold_rows(const std::function<void(Value* index, const Vals& products)>& fold);

  llvm::IRBuilderBase& b_;
  llvm::LLVMContext& ctx_;
  llvm::Function* fn_;
  const DimTileLoop& loop_;
  const passes::DimTiles& tiles_;
  llvm::Type* T_;
  const int64_t dim_, element_bytes_;
  const llvm::Align align_t_;
  Value* zero_;
  const bool async_;
  BasicBlock *chunk_header_ = nullptr, *chunk_body_ = nullptr, *chunks_done_ = nullptr,
             *rows_header_ = nullptr, *rows_body_ = nullptr, *rows_done_ = nullptr;
  PHINode *c0_ = nullptr, *chunk_ = nullptr;
  std::vector<PHINode*> sums_;                   // product-major: sums[n * kTileRows + r]
  std::vector<std::vector<PHINode*>> own_phis_;  // async: this thread's chunk components
  std::vector<Value*> next_;                     // the sums after this chunk
  std::vector<Vals> next_own_;  // async: this thread's components of the next chunk
  // On the matrix units, the product's accumulators are sums_, and a thread reads no
  // components of its own.
  std::optional<MatrixUnitProducts> mma_;
};

// The first value of chunk's buffer.
Value* DimTileEmitter::buffer_of(Value* chunk) {
  return b_.CreateMul(b_.CreateAnd(chunk, b_.getInt64(async_ ? 1 : 0)),
                      b_.getInt64(int64_t(tiles_.reduced_vars.size()) * kChunkValues));
}

// The block copies components [c0, c0 + kTileDims) of the tile's rows of each reduced Var to
// `buffer`: element e is row e / kTileDims, component e % kTileDims (a row past the end
// copies the last row, whose terms are not folded; components past the end are 0).
void DimTileEmitter::stage(Value* c0, Value* buffer) {
  llvm::IRBuilderBase& b = b_;
  BasicBlock* before = b.GetInsertBlock();
  auto* header = BasicBlock::Create(ctx_, "dims.stage", fn_);
  auto* body = BasicBlock::Create(ctx_, "dims.stage.body", fn_);
  auto* done = BasicBlock::Create(ctx_, "dims.staged", fn_);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  PHINode* e = b.CreatePHI(b.getInt64Ty(), 2, "e");
  e->addIncoming(loop_.thread, before);
  b.CreateCondBr(b.CreateICmpSLT(e, b.getInt64(kChunkValues)), body, done);
  b.SetInsertPoint(body);
  Value* row = b.CreateAdd(loop_.t0, b.CreateUDiv(e, b.getInt64(kTileDims)));
  row = b.CreateSelect(b.CreateICmpSLT(row, loop_.tiles_end), row,
                       b.CreateSub(loop_.tiles_end, b.getInt64(1)));
  Value* c = b.CreateAdd(c0, b.CreateURem(e, b.getInt64(kTileDims)));
  for (size_t v = 0; v < tiles_.reduced_vars.size(); ++v) {
    Value* to =
        b.CreateGEP(T_, loop_.shared,
                    b.CreateAdd(buffer, b.CreateAdd(b.getInt64(int64_t(v) * kChunkValues), e)));
    copy_component(to, loop_.reduced_row(b, tiles_.reduced_vars[v], row), c);
  }
  e->addIncoming(b.CreateAdd(e, loop_.block_threads), b.GetInsertBlock());
  b.CreateBr(header);
  b.SetInsertPoint(done);
}

// Component c of the row at base to the shared value `to`: stored, or copied by cp.async.
void DimTileEmitter::copy_component(Value* to, Value* base, Value* c) {
  llvm::IRBuilderBase& b = b_;
  if (!async_) {
    b.CreateAlignedStore(row_component(b, loop_.elements, dim_, base, c), to, align_t_);
    return;
  }
  const auto [inside, at] = clamp_to_row(b, dim_, c);
  Value* from = b.CreateAddrSpaceCast(b.CreateGEP(T_, base, at), llvm::PointerType::get(ctx_, 1));
  // Inline PTX: LLVM 19 selects its cp.async intrinsics only for 64-bit shared addresses,
  // and kernels use 32-bit ones (nvptx-short-ptr). A copy of 0 bytes fills with zeros.
  auto* i32 = b.getInt32Ty();
  auto* copy = llvm::InlineAsm::get(
      llvm::FunctionType::get(b.getVoidTy(), {i32, b.getInt64Ty(), i32}, false),
      "cp.async.ca.shared.global [$0], [$1], " + std::to_string(element_bytes_) + ", $2;", "r,l,r",
      /*hasSideEffects=*/true);
  b.CreateCall(copy, {b.CreatePtrToInt(to, i32), b.CreatePtrToInt(from, b.getInt64Ty()),
                      b.CreateSelect(inside, b.getInt32(int32_t(element_bytes_)), b.getInt32(0))});
}

// This thread's components [c0, c0 + kTileDims) of each of its outer rows.
std::vector<Vals> DimTileEmitter::own_components(Value* c0) {
  std::vector<Vals> own(tiles_.outer_vars.size());
  for (size_t u = 0; u < own.size(); ++u) {
    Value* base = loop_.outer_row(b_, tiles_.outer_vars[u]);
    for (int k = 0; k < kTileDims; ++k)
      own[u].push_back(
          row_component(b_, loop_.elements, dim_, base, b_.CreateAdd(c0, b_.getInt64(k))));
  }
  return own;
}

// dims.header: for (c0 = 0; c0 < dim; c0 += kTileDims), chunk number `chunk`, the sums,
// and (async) this thread's components of the chunk, the first chunk copied before.
void DimTileEmitter::open_chunks() {
  llvm::IRBuilderBase& b = b_;
  chunk_header_ = BasicBlock::Create(ctx_, "dims.header", fn_);
  chunk_body_ = BasicBlock::Create(ctx_, "dims.chunk", fn_);
  chunks_done_ = BasicBlock::Create(ctx_, "dims.done", fn_);
  rows_header_ = BasicBlock::Create(ctx_, "dims.rows", fn_);
  rows_body_ = BasicBlock::Create(ctx_, "dims.row", fn_);
  rows_done_ = BasicBlock::Create(ctx_, "dims.rows.done", fn_);
  std::vector<Vals> first_own;
  if (mma_) mma_->prepare();
  if (async_) {
    stage(b.getInt64(0), buffer_of(b.getInt64(0)));
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_commit_group, {}, {});
    if (!mma_) first_own = own_components(b.getInt64(0));
  }
  BasicBlock* entry = b.GetInsertBlock();
  b.CreateBr(chunk_header_);
  b.SetInsertPoint(chunk_header_);
  c0_ = b.CreatePHI(b.getInt64Ty(), 2, "c0");
  c0_->addIncoming(b.getInt64(0), entry);
  chunk_ = b.CreatePHI(b.getInt64Ty(), 2, "chunk");
  chunk_->addIncoming(b.getInt64(0), entry);
  const size_t sums = mma_ ? mma_->accumulators() : tiles_.products.size() * kTileRows;
  for (size_t k = 0; k < sums; ++k) {
    sums_.push_back(b.CreatePHI(T_, 2));
    sums_.back()->addIncoming(zero_, entry);
  }
  for (const Vals& row : first_own) {
    own_phis_.emplace_back();
    for (Value* first : row) {
      own_phis_.back().push_back(b.CreatePHI(T_, 2));
      own_phis_.back().back()->addIncoming(first, entry);
    }
  }
  b.CreateCondBr(b.CreateICmpSLT(c0_, b.getInt64(dim_)), chunk_body_, chunks_done_);
}

// dims.chunk: once everyone has read the buffer this chunk's copies go to, the next chunk is
// copied (async) or this one (else); returns the thread's components of this chunk, and
// (async) leaves the next chunk's in next_own.
std::vector<Vals> DimTileEmitter::stage_chunk(Value* next_c0) {
  llvm::IRBuilderBase& b = b_;
  barrier();
  std::vector<Vals> own;
  if (async_) {
    auto* copy_next = BasicBlock::Create(ctx_, "dims.copy.next", fn_, chunks_done_);
    auto* copied = BasicBlock::Create(ctx_, "dims.copy.issued", fn_, chunks_done_);
    b.CreateCondBr(b.CreateICmpSLT(next_c0, b.getInt64(dim_)), copy_next, copied);
    b.SetInsertPoint(copy_next);
    stage(next_c0, buffer_of(b.CreateAdd(chunk_, b.getInt64(1))));
    b.CreateBr(copied);
    b.SetInsertPoint(copied);
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_commit_group, {}, {});
    if (!mma_) next_own_ = own_components(next_c0);
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_wait_group, {}, {b.getInt32(1)});
    for (const auto& row : own_phis_) own.emplace_back(row.begin(), row.end());
  } else {
    stage(c0_, buffer_of(chunk_));
    if (!mma_) own = own_components(c0_);
  }
  barrier();
  return own;
}

// After the barrier, the chunk's products of this thread's components with the tile's rows.
void DimTileEmitter::multiply_chunk(const std::vector<Vals>& own) {
  llvm::IRBuilderBase& b = b_;
  Value* buffer = buffer_of(chunk_);
  auto position = [](const std::vector<ir::Expr>& vars, ir::Expr var) {
    return size_t(std::find(vars.begin(), vars.end(), var) - vars.begin());
  };
  next_.assign(sums_.begin(), sums_.end());
  if (mma_) {
    next_ = mma_->multiply(next_, c0_, buffer);
    return;
  }
  for (size_t n = 0; n < tiles_.products.size(); ++n) {
    const passes::DimTiles::Product& product = tiles_.products[n];
    const Vals& x = own[position(tiles_.outer_vars, product.outer)];
    Value* first = b.CreateAdd(
        buffer, b.getInt64(int64_t(position(tiles_.reduced_vars, product.reduced)) * kChunkValues));
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
            T_, b.CreateGEP(T_, loop_.shared, b.CreateAdd(first, b.getInt64(at))),
            llvm::commonAlignment(llvm::Align(16), uint64_t(at * element_bytes_)));
        Value* p = x[size_t(k)];
        Value* q = y;
        if (product.squared_distance) p = q = b.CreateFSub(x[size_t(k)], y);
        terms = terms ? b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {T_}, {p, q, terms})
                      : b.CreateFMul(p, q);
      }
      next_[n * kTileRows + size_t(r)] = b.CreateFAdd(next_[n * kTileRows + size_t(r)], terms);
    }
  }
}

// dims.done: the sums go to local memory (on the matrix units, to shared memory), which a
// loop over the tile's rows reads back (one copy of the rest of the formula, not kTileRows).
void DimTileEmitter::fold_rows(
    const std::function<void(Value* index, const Vals& products)>& fold) {
  llvm::IRBuilderBase& b = b_;
  auto* i32 = b.getInt32Ty();
  b.SetInsertPoint(chunks_done_);
  if (async_) b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_wait_all, {}, {});
  std::function<Vals(Value*)> read_products;
  if (mma_) {
    mma_->publish(Vals(sums_.begin(), sums_.end()));
    read_products = [&](Value* r) { return Vals{mma_->product(r)}; };
  } else {
    auto* stash_type = llvm::ArrayType::get(T_, sums_.size());
    llvm::AllocaInst* stash = entry_alloca(b, stash_type);
    for (size_t k = 0; k < sums_.size(); ++k)
      b.CreateStore(sums_[k], b.CreateConstGEP2_64(stash_type, stash, 0, k));
    read_products = [&, stash_type, stash](Value* r) {
      Vals products;
      for (size_t n = 0; n < tiles_.products.size(); ++n) {
        Value* at = b.CreateAdd(b.getInt32(int32_t(n) * kTileRows), r);
        products.push_back(b.CreateLoad(T_, b.CreateGEP(stash_type, stash, {b.getInt32(0), at})));
      }
      return products;
    };
  }
  Value* remaining = b.CreateSub(loop_.tiles_end, loop_.t0);
  Value* rows = b.CreateTrunc(b.CreateSelect(b.CreateICmpSLT(remaining, b.getInt64(kTileRows)),
                                             remaining, b.getInt64(kTileRows)),
                              i32);
  BasicBlock* before_rows = b.GetInsertBlock();
  b.CreateBr(rows_header_);
  b.SetInsertPoint(rows_header_);
  PHINode* r = b.CreatePHI(i32, 2, "r");
  r->addIncoming(b.getInt32(0), before_rows);
  b.CreateCondBr(b.CreateICmpSLT(r, rows), rows_body_, rows_done_);
  b.SetInsertPoint(rows_body_);
  fold(b.CreateAdd(loop_.t0, b.CreateZExt(r, b.getInt64Ty())), read_products(r));
  r->addIncoming(b.CreateAdd(r, b.getInt32(1)), b.GetInsertBlock());
  b.CreateBr(rows_header_);
  b.SetInsertPoint(rows_done_);
}

void DimTileEmitter::emit(const std::function<void(Value* index, const Vals& products)>& fold) {
  open_chunks();
  b_.SetInsertPoint(chunk_body_);
  Value* next_c0 = b_.CreateAdd(c0_, b_.getInt64(kTileDims));
  multiply_chunk(stage_chunk(next_c0));
  BasicBlock* chunk_end = b_.GetInsertBlock();
  c0_->addIncoming(next_c0, chunk_end);
  chunk_->addIncoming(b_.CreateAdd(chunk_, b_.getInt64(1)), chunk_end);
  for (size_t k = 0; k < sums_.size(); ++k) sums_[k]->addIncoming(next_[k], chunk_end);
  for (size_t u = 0; u < own_phis_.size(); ++u)
    for (size_t k = 0; k < own_phis_[u].size(); ++k)
      own_phis_[u][k]->addIncoming(next_own_[u][k], chunk_end);
  b_.CreateBr(chunk_header_);
  fold_rows(fold);
}

}  // namespace

std::pair<Value*, Value*> clamp_to_row(llvm::IRBuilderBase& b, int64_t dim, Value* c) {
  Value* inside = b.CreateICmpSLT(c, b.getInt64(dim));
  return std::pair{inside, b.CreateSelect(inside, c, b.getInt64(dim - 1))};
}

Value* row_component(llvm::IRBuilderBase& b, const StoredElements& elements, int64_t dim,
                     Value* base, Value* c) {
  llvm::Type* stored = elements.stored();
  if (dim % kTileDims == 0) return elements.load(b, b.CreateGEP(stored, base, c));
  const auto [inside, at] = clamp_to_row(b, dim, c);
  return b.CreateSelect(inside, elements.load(b, b.CreateGEP(stored, base, at)),
                        llvm::ConstantFP::get(elements.value, 0.0));
}

void emit_dim_tiled_products(llvm::IRBuilderBase& b, const DimTileLoop& loop,
                             const std::function<void(Value* index, const Vals& products)>& fold) {
  DimTileEmitter(b, loop).emit(fold);
}

}  // namespace keops::codegen
