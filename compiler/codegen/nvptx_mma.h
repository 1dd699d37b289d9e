// A dimension-tiled product on the GPU's matrix units: mma.sync m16n8k8 TF32 tiles per warp.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/nvptx_dim_tiles.h"

namespace keops::codegen {

// The matrix-unit form of a DimTileLoop's one product (loop.matrix_units). A warp's 32
// threads own 32 output rows, two m16 tiles; the tile's kTileRows reduced rows are four n8
// tiles. Each chunk of kTileDims components is one k8 step: a thread loads its fragments of
// the output rows from global memory (the rows' starts are shuffled from their threads once)
// and of the reduced rows from the staged chunk, and runs the 8 tiles' mma (x3 with the
// high/low split of float32 values). SqDist(u, v) is |u|^2 + |v|^2 - 2 <u, v> with u and v centered
// on the tile's first reduced row, the squared norms summed in float32 from the same fragments,
// clamped at 0 (a NaN stays NaN). The accumulators are
// the caller's loop-carried values: accumulators() of them, starting at 0.
class MatrixUnitProducts {
 public:
  MatrixUnitProducts(llvm::IRBuilderBase& b, const DimTileLoop& loop);

  // Before the chunks' loop: this thread's lane, and the starts of its fragments' rows.
  void prepare();
  size_t accumulators() const;
  // The accumulators after the chunk at component c0, staged at `staged` (the chunk's first
  // value of the reduced Var in loop.shared).
  Vals multiply(const Vals& acc, llvm::Value* c0, llvm::Value* staged);
  // After the loop (every thread of the warp): the products to the warp's rows of
  // loop.matrix_tile, then a warp barrier.
  void publish(const Vals& acc);
  // This thread's product with the tile's reduced row r (i32), once published.
  llvm::Value* product(llvm::Value* r);

 private:
  bool one_pass() const;  // whether one TF32 product is exact or asked for
  llvm::Value* shuffle(llvm::Value* v, llvm::Value* lane);
  llvm::Value* quad_sum(llvm::Value* v);
  void split(llvm::Value* v, llvm::Value*& high, llvm::Value*& low);
  Vals mma(const Vals& a, const Vals& b, const Vals& c);
  llvm::Value* tile_row(llvm::Value* row);

  llvm::IRBuilderBase& b_;
  const DimTileLoop& loop_;
  const passes::DimTiles::Product& product_;
  llvm::Value *lane_ = nullptr, *group_ = nullptr, *quad_lane_ = nullptr, *warp_ = nullptr;
  llvm::Value* rows_[2][2] = {};  // the start of output row 16 a + 8 h + group of the warp
};

}  // namespace keops::codegen
