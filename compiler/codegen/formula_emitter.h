// FormulaEmitter: LLVM IR for a formula, one value per component, hoisted by dependency.
#pragma once

#include <functional>
#include <unordered_map>
#include <vector>

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/storage.h"
#include "compiler/ir/node.h"

namespace keops::codegen {

using Vals = std::vector<llvm::Value*>;

// Emits IR nodes as LLVM values. Each emitter owns one scope (a dependency set) and a
// builder positioned where that scope's code goes; a node whose dependencies fit an
// earlier scope is delegated to that scope's emitter, so parameter-only work lands
// once before all loops, i-only work once per tile, j-only work once per j, and only
// the rest per pair (ARCHITECTURE.md rule 5).
//
// Values are the scalar type T or a vector <W x T> (lanes over output rows); a scalar
// meeting a vector is broadcast at the point of use.
//
// Vectors longer than stream_dim are streamed instead of unrolled (formula_emitter_stream.cpp):
// their components live in memory (a Var's row, or a buffer) and a reduction over them
// (Sum, SqNorm2, SqDist, Scalprod, ...) runs a loop over chunks of components, evaluating the
// element-wise ops between on the fly. Compile time and live registers then stay flat in the
// dimension; only a large vector that must exist as values (a large output) is unrolled.
class FormulaEmitter {
 public:
  // Loads the components of a Var leaf owned by this scope.
  using VarLoader = std::function<Vals(llvm::IRBuilderBase&, ir::Expr var)>;
  // Where a Var leaf owned by this scope is in memory: component c at row.base + c, in
  // elements of row.elem (T, or <W x T> for a buffer of lanes). Optional: without it a
  // streamed Var is loaded with the VarLoader and stored into a buffer.
  // An argument's row may hold 16-bit floats (elem i16, `storage` saying which), widened
  // to float32 as they are read.
  struct Row {
    llvm::Value* base;
    llvm::Type* elem;
    Storage storage = Storage::Native;
    llvm::Type* value_type() const;  // elem, or float32 for 16-bit floats
    llvm::Value* load(llvm::IRBuilderBase& b, llvm::Value* c) const;  // component c, widened
  };
  using RowLoader = std::function<Row(llvm::IRBuilderBase&, ir::Expr var)>;

  // Longest vector unrolled. On the CPU a vector of lanes per component held across the
  // reduced loop spills past about 48 (gauss_D64_E16: 0.84 s unrolled, 0.55 s streamed; D=32
  // is faster unrolled); a GPU thread keeps its row in registers up to KeOps's sizes.
  static constexpr int64_t kCpuStreamDim = 48;
  static constexpr int64_t kGpuStreamDim = 256;

  // Every scope of one kernel must use the same stream_dim.
  FormulaEmitter(llvm::IRBuilderBase& builder, ir::DepSet scope, VarLoader loader,
                 RowLoader row_loader = nullptr, int64_t stream_dim = kCpuStreamDim);

  // Scopes tried, in order, before this one emits a node itself.
  void delegate_to(FormulaEmitter* outer) { delegates_.push_back(outer); }

  // The components of e (memoized): every op of ops.def has a rule (formula_emitter_ops.h).
  const Vals& emit(ir::Expr e);
  // e's components, computed elsewhere (a GPU dimension tile), for emit to return: e must be
  // of this scope (no delegate's) and not emitted yet.
  void provide(ir::Expr e, Vals components);

  // Components [c0, c0 + width) of e, c0 a runtime index (e streamed: longer than stream_dim).
  Vals emit_chunk(ir::Expr e, llvm::Value* c0, int width);
  // Stores e's components at dst.base + c (elements of dst.elem): a loop when e is streamed.
  void emit_to_memory(ir::Expr e, Row dst);

  llvm::IRBuilderBase& builder() { return b_; }
  llvm::Type* scalar_type(ir::DType dtype) const;

 private:
  Vals emit_op(ir::Expr e);
  FormulaEmitter* owner_of(ir::Expr e);
  bool is_large(ir::Expr e) const { return e->dim > stream_dim_; }

  // Streaming (formula_emitter_stream.cpp).
  // e reduces a streamed argument over its components: emitted as a loop.
  bool streams_arguments(ir::Expr e) const;
  Vals emit_streamed(ir::Expr e);
  // e's components in memory (memoized per owning scope): a Var's row, or a buffer filled
  // by a loop at the owning scope's position.
  const Row& row(ir::Expr e);
  // Emits before any loop what chunk() will read of e (small values and rows); returns the
  // type of e's chunk components (T, or <W x T> when lanes are involved).
  llvm::Type* prepare_chunks(ir::Expr e);
  // Components [c0, c0 + width) of e, at the builder's position.
  Vals chunk(ir::Expr e, llvm::Value* c0, int width);
  Vals one_hot_chunk(ir::Expr e, llvm::Value* c0, int width);
  Row buffer_of(ir::Expr e);

  llvm::IRBuilderBase& b_;
  ir::DepSet scope_;
  VarLoader loader_;
  RowLoader row_loader_;
  int64_t stream_dim_;
  std::vector<FormulaEmitter*> delegates_;
  std::unordered_map<ir::Expr, Vals> memo_;
  std::unordered_map<ir::Expr, Row> rows_;
};

// b's block split at b's position when b is in the middle of one (a hoisted scope's
// position), so that loops can go between: returns the instruction the code after b's
// position starts with, now first in a block named `name` that nothing branches to yet, b
// left at the end of the first half; null when b is at its block's end.
llvm::Instruction* split_block_at(llvm::IRBuilderBase& b, const char* name);

// Emits body(c0, width) over the components [0, dim) in chunks of `chunk` (a runtime loop,
// then a remainder chunk), at b's position; b is left after the loop.
void emit_component_loop(llvm::IRBuilderBase& b, int64_t dim, int chunk,
                         const std::function<void(llvm::Value* c0, int width)>& body);

// Row `row` of an argument of `dim` elements at `arg` (row-major): where it starts, and its
// components loaded one by one (widened to the kernel's type).
FormulaEmitter::Row argument_row(llvm::IRBuilderBase& b, const StoredElements& elements,
                                 llvm::Value* arg, llvm::Value* row, int64_t dim);
Vals load_argument_row(llvm::IRBuilderBase& b, const StoredElements& elements, llvm::Value* arg,
                       llvm::Value* row, int64_t dim);

// A stack slot of type t in the function's entry block, where SROA finds it.
llvm::AllocaInst* entry_alloca(llvm::IRBuilderBase& b, llvm::Type* t);

// A buffer of type t for the whole function (a long row's components): a stack slot up to
// kMaxStackBufferBytes, so that no input's dimension can overflow a thread's stack; beyond,
// on CPU targets, memory from aligned_alloc at the entry, which free_heap_buffers(fn) releases
// before each return once fn is complete.
inline constexpr uint64_t kMaxStackBufferBytes = 64 << 10;
inline constexpr const char* kHeapBufferMetadata = "keops.heap_buffer";
llvm::Value* entry_buffer(llvm::IRBuilderBase& b, llvm::Type* t);
void free_heap_buffers(llvm::Function& fn);

// Broadcasts a scalar to the vector type of `like` when one is a vector and the other not.
llvm::Value* match_width(llvm::IRBuilderBase& b, llvm::Value* v, llvm::Value* like);

}  // namespace keops::codegen
