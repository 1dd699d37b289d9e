// A dimension-tiled product on the GPU's matrix units (see nvptx_mma.h).
#include "compiler/codegen/nvptx_mma.h"

#include <llvm/IR/IntrinsicsNVPTX.h>

#include "compiler/support/check.h"

namespace keops::codegen {

using llvm::Value;

namespace {

constexpr int kMTiles = 2;                        // m16 tiles: a warp's 32 output rows
constexpr int kNTiles = kTileRows / 8;            // n8 tiles: the tile's reduced rows
constexpr int kProducts = kMTiles * kNTiles * 4;  // a thread's accumulators (4 per tile)
constexpr unsigned kFullWarp = 0xffffffffu;

}  // namespace

MatrixUnitProducts::MatrixUnitProducts(llvm::IRBuilderBase& b, const DimTileLoop& loop)
    : b_(b), loop_(loop), product_(loop.tiles.products.at(0)) {
  KEOPS_CHECK(loop.matrix_units && loop.tiles.products.size() == 1 &&
                  loop.elements.value->isFloatTy() && kTileDims == 8 && loop.matrix_tile,
              "matrix-unit products need one float32 product, k8 chunks and a shared tile");
}

// float16 and bfloat16 values are TF32 values (10 and 7 fraction bits, TF32 has 10 and
// float32's exponents): their products need no split. SqDist's centered differences are not.
bool MatrixUnitProducts::one_pass() const {
  return loop_.tf32 || (!loop_.elements.native() && !product_.squared_distance);
}

size_t MatrixUnitProducts::accumulators() const {
  // The squared distance adds partial squared norms: of the 2 x 2 output rows a thread
  // holds fragments of, and of its reduced row of each n8 tile.
  return kProducts + (product_.squared_distance ? kMTiles * 2 + kNTiles : 0);
}

Value* MatrixUnitProducts::shuffle(Value* v, Value* lane) {
  return b_.CreateIntrinsic(llvm::Intrinsic::nvvm_shfl_sync_idx_f32, {},
                            {b_.getInt32(kFullWarp), v, lane, b_.getInt32(0x1f)});
}

// v summed over the four threads of this thread's quad (one group of the fragments).
Value* MatrixUnitProducts::quad_sum(Value* v) {
  for (int mask : {1, 2})
    v = b_.CreateFAdd(
        v, b_.CreateIntrinsic(llvm::Intrinsic::nvvm_shfl_sync_bfly_f32, {},
                              {b_.getInt32(kFullWarp), v, b_.getInt32(mask), b_.getInt32(0x1f)}));
  return v;
}

void MatrixUnitProducts::prepare() {
  llvm::IRBuilderBase& b = b_;
  Value* thread = b.CreateTrunc(loop_.thread, b.getInt32Ty());
  lane_ = b.CreateAnd(thread, b.getInt32(31));
  group_ = b.CreateLShr(lane_, b.getInt32(2));
  quad_lane_ = b.CreateAnd(lane_, b.getInt32(3));
  warp_ = b.CreateLShr(thread, b.getInt32(5));
  Value* own = loop_.outer_row(b, product_.outer);
  Value* address = b.CreatePtrToInt(own, b.getInt64Ty());
  Value* low = b.CreateBitCast(b.CreateTrunc(address, b.getInt32Ty()), b.getFloatTy());
  Value* high =
      b.CreateBitCast(b.CreateTrunc(b.CreateLShr(address, 32), b.getInt32Ty()), b.getFloatTy());
  for (int a = 0; a < kMTiles; ++a)
    for (int h = 0; h < 2; ++h) {
      Value* from = b.CreateAdd(group_, b.getInt32(16 * a + 8 * h));
      auto half = [&](Value* v) {
        return b.CreateZExt(b.CreateBitCast(shuffle(v, from), b.getInt32Ty()), b.getInt64Ty());
      };
      Value* joined = b.CreateOr(half(low), b.CreateShl(half(high), 32));
      rows_[a][h] = b.CreateIntToPtr(joined, own->getType());
    }
}

// v as TF32: its high part, and with the split the TF32 rounding of what that leaves.
void MatrixUnitProducts::split(Value* v, Value*& high, Value*& low) {
  high = b_.CreateIntrinsic(llvm::Intrinsic::nvvm_f2tf32_rna, {}, {v});
  low = nullptr;
  if (one_pass()) return;
  Value* rest = b_.CreateFSub(v, b_.CreateBitCast(high, b_.getFloatTy()));
  low = b_.CreateIntrinsic(llvm::Intrinsic::nvvm_f2tf32_rna, {}, {rest});
}

Vals MatrixUnitProducts::mma(const Vals& a, const Vals& b, const Vals& c) {
  Value* d = b_.CreateIntrinsic(llvm::Intrinsic::nvvm_mma_m16n8k8_row_col_tf32, {},
                                {a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], c[2], c[3]});
  Vals out;
  for (unsigned k = 0; k < 4; ++k) out.push_back(b_.CreateExtractValue(d, k));
  return out;
}

Vals MatrixUnitProducts::multiply(const Vals& acc, Value* c0, Value* staged) {
  llvm::IRBuilderBase& b = b_;
  llvm::Type* T = loop_.elements.value;
  Vals next = acc;
  Value* t = b.CreateZExt(quad_lane_, b.getInt64Ty());
  auto fma = [&](Value* x, Value* sum) {
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {T}, {x, x, sum});
  };
  // SqDist(u, v) is SqDist(u - w, v - w) for w the tile's first reduced row: the norms, and
  // so the cancellation's error, are then those of the rows' spread around w, not of their
  // distance from the origin.
  Value* center[2] = {};
  for (int k = 0; k < 2 && product_.squared_distance; ++k)
    center[k] = b.CreateAlignedLoad(
        T, b.CreateGEP(T, loop_.shared, b.CreateAdd(staged, b.CreateAdd(t, b.getInt64(4 * k)))),
        llvm::Align(4));
  auto centered = [&](Value* v, int k) {
    return product_.squared_distance ? b.CreateFSub(v, center[k]) : v;
  };
  // A fragments: a0 (row g, component t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4).
  Vals a_high[kMTiles], a_low[kMTiles];
  for (int a = 0; a < kMTiles; ++a) {
    a_high[a].resize(4);
    a_low[a].resize(4);
    for (int k = 0; k < 2; ++k)
      for (int h = 0; h < 2; ++h) {
        Value* c = b.CreateAdd(c0, b.CreateAdd(t, b.getInt64(4 * k)));
        Value* x = centered(row_component(b, loop_.elements, loop_.tiles.dim, rows_[a][h], c), k);
        split(x, a_high[a][size_t(2 * k + h)], a_low[a][size_t(2 * k + h)]);
        if (product_.squared_distance)
          next[kProducts + size_t(2 * a + h)] = fma(x, next[kProducts + size_t(2 * a + h)]);
      }
  }
  // B fragments: b0 (component t of reduced row g of the n8 tile), b1 (component t + 4).
  Value* g = b.CreateZExt(group_, b.getInt64Ty());
  for (int n = 0; n < kNTiles; ++n) {
    Vals b_high(2), b_low(2);
    Value* row = b.CreateMul(b.CreateAdd(g, b.getInt64(8 * n)), b.getInt64(kTileDims));
    for (int k = 0; k < 2; ++k) {
      Value* at = b.CreateAdd(staged, b.CreateAdd(row, b.CreateAdd(t, b.getInt64(4 * k))));
      Value* y =
          centered(b.CreateAlignedLoad(T, b.CreateGEP(T, loop_.shared, at), llvm::Align(4)), k);
      split(y, b_high[size_t(k)], b_low[size_t(k)]);
      if (product_.squared_distance) {
        const size_t norm = kProducts + kMTiles * 2 + size_t(n);
        next[norm] = fma(y, next[norm]);
      }
    }
    for (int a = 0; a < kMTiles; ++a) {
      const auto first = next.begin() + (a * kNTiles + n) * 4;
      // This chunk's products from 0 (the small cross terms first, then the high parts'),
      // added to the running sums on the CUDA cores: the matrix units' accumulation rounds
      // less accurately than a float32 add, which showed over hundreds of chunks.
      Vals c(4, llvm::ConstantFP::get(T, 0.0));
      if (!one_pass()) {
        c = mma(a_low[a], b_high, c);
        c = mma(a_high[a], b_low, c);
      }
      c = mma(a_high[a], b_high, c);
      for (size_t k = 0; k < 4; ++k) *(first + k) = b.CreateFAdd(*(first + k), c[k]);
    }
  }
  return next;
}

// The start of row `row` (i32) of this warp's rows in matrix_tile.
Value* MatrixUnitProducts::tile_row(Value* row) {
  Value* first = b_.CreateAdd(b_.CreateMul(warp_, b_.getInt32(kTileRows)), row);
  return b_.CreateMul(first, b_.getInt32(kMatrixTileStride));
}

void MatrixUnitProducts::publish(const Vals& acc) {
  llvm::IRBuilderBase& b = b_;
  llvm::Type* T = loop_.elements.value;
  // C fragments: c0 (row g, reduced row 2t), c1 (g, 2t + 1), c2 (g + 8, 2t), c3 (g + 8, 2t + 1).
  Value* output_norm[kMTiles][2] = {};
  Value* reduced_norm[kNTiles][2] = {};
  if (product_.squared_distance) {
    for (int a = 0; a < kMTiles; ++a)
      for (int h = 0; h < 2; ++h) output_norm[a][h] = quad_sum(acc[kProducts + size_t(2 * a + h)]);
    for (int n = 0; n < kNTiles; ++n) {
      Value* norm = quad_sum(acc[kProducts + kMTiles * 2 + size_t(n)]);  // of reduced row g
      for (int p = 0; p < 2; ++p)
        reduced_norm[n][p] = shuffle(
            norm, b.CreateMul(b.CreateAdd(b.CreateMul(quad_lane_, b.getInt32(2)), b.getInt32(p)),
                              b.getInt32(4)));
    }
  }
  Value* zero = llvm::ConstantFP::get(T, 0.0);
  for (int a = 0; a < kMTiles; ++a)
    for (int n = 0; n < kNTiles; ++n)
      for (int k = 0; k < 4; ++k) {
        const int h = k / 2, p = k % 2;
        Value* v = acc[size_t((a * kNTiles + n) * 4 + k)];
        if (product_.squared_distance) {
          Value* d = b.CreateFSub(b.CreateFAdd(output_norm[a][h], reduced_norm[n][p]),
                                  b.CreateFMul(llvm::ConstantFP::get(T, 2.0), v));
          v = b.CreateSelect(b.CreateFCmpOLT(d, zero), zero, d);
        }
        Value* row = b.CreateAdd(group_, b.getInt32(16 * a + 8 * h));
        Value* column = b.CreateAdd(b.CreateMul(quad_lane_, b.getInt32(2)), b.getInt32(8 * n + p));
        b.CreateAlignedStore(v,
                             b.CreateGEP(T, loop_.matrix_tile, b.CreateAdd(tile_row(row), column)),
                             llvm::Align(4));
      }
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_bar_warp_sync, {}, {b.getInt32(kFullWarp)});
}

Value* MatrixUnitProducts::product(Value* r) {
  return b_.CreateAlignedLoad(
      loop_.elements.value,
      b_.CreateGEP(loop_.elements.value, loop_.matrix_tile, b_.CreateAdd(tile_row(lane_), r)),
      llvm::Align(4));
}

}  // namespace keops::codegen
