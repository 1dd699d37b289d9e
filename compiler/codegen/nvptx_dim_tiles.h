// The GPU's dimension-tiled pair products: SqDist and Scalprod of long rows, a block of
// reduced rows at a time, as a small matrix product over chunks of dimensions.
#pragma once

#include <functional>
#include <utility>

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/passes/dim_tiles.h"

namespace keops::codegen {

// Reduced rows per tile, and dimensions per chunk: each thread keeps kTileRows sums per product
// in registers, and reads kTileDims values of its own rows per chunk.
inline constexpr int kTileRows = 32;
inline constexpr int kTileDims = 8;

// On the matrix units (DimTileLoop::matrix_units), each warp computes the products of its 32
// output rows with the tile's kTileRows reduced rows as 2 x 4 mma tiles of m16n8k8 TF32
// products, chunk after chunk, then passes them through shared memory to the threads of
// their rows: blocks of at most kMatrixUnitThreads threads, and kMatrixTileStride floats a
// row (one more than kTileRows: rows start in different banks).
inline constexpr int kMatrixUnitThreads = 256;
inline constexpr int kMatrixTileStride = kTileRows + 1;
inline constexpr int64_t kMatrixTileValues =
    int64_t(kMatrixUnitThreads) * kMatrixTileStride;  // a float per (row, reduced row) pair

// Shared memory values of a dimension-tiled kernel (static): two buffers of a chunk of each
// reduced row (one used before sm_80).
inline int64_t dim_tile_shared_values(const passes::DimTiles& tiles) {
  return 2 * int64_t(tiles.reduced_vars.size()) * kTileRows * kTileDims;
}

struct DimTileLoop {
  const passes::DimTiles& tiles;
  int sm;                   // the target's sm_XX (cp.async from 80)
  StoredElements elements;  // how the rows hold their values, T = elements.value
  llvm::Value* shared;      // dim_tile_shared_values(tiles) values of type T, 16-byte aligned
  // The matrix units (float32, sm_80 and later, one product): matrix_tile holds
  // kMatrixTileValues floats; tf32 rounds the values once instead of splitting them.
  bool matrix_units = false;
  bool tf32 = false;
  llvm::Value* matrix_tile = nullptr;
  llvm::Value* thread;  // i64: this thread, and the block's threads
  llvm::Value* block_threads;
  llvm::Value* t0;  // i64: the tile's first reduced row, and the end of the reduced rows
  llvm::Value* tiles_end;
  // The first component of a row: this thread's row of an outer Var, a reduced Var's `row`.
  std::function<llvm::Value*(llvm::IRBuilderBase&, ir::Expr var)> outer_row;
  std::function<llvm::Value*(llvm::IRBuilderBase&, ir::Expr var, llvm::Value* row)> reduced_row;
};

// Whether component c of a row of `dim` values is in the row, and c clamped to the row (a
// last chunk may pass it).
std::pair<llvm::Value*, llvm::Value*> clamp_to_row(llvm::IRBuilderBase& b, int64_t dim,
                                                   llvm::Value* c);
// Component c (i64) of the row of `dim` argument elements at base, as a T; 0 past the row's
// end (a last, partial chunk adds 0).
llvm::Value* row_component(llvm::IRBuilderBase& b, const StoredElements& elements, int64_t dim,
                           llvm::Value* base, llvm::Value* c);

// At b: the products of loop.tiles for the reduced rows [t0, t0 + n), n = min(kTileRows,
// tiles_end - t0), each dimension chunk staged in shared memory by the whole block (every
// thread must run this, with barriers); then, for each of those rows in increasing order,
// fold(reduced row index, one value per product). b is left after the last fold.
void emit_dim_tiled_products(
    llvm::IRBuilderBase& b, const DimTileLoop& loop,
    const std::function<void(llvm::Value* index, const Vals& products)>& fold);

}  // namespace keops::codegen
