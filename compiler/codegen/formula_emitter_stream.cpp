// Streaming of long vectors: reductions over their components run as loops over chunks,
// their element-wise ops evaluated a chunk at a time, their leaves read from memory.
#include <algorithm>
#include <string>
#include <vector>

#include <llvm/IR/Function.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Module.h>
#include <llvm/TargetParser/Triple.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/codegen/math.h"
#include "compiler/support/check.h"

namespace keops::codegen {

using ir::Expr;
using ir::Op;
using llvm::Value;

namespace {

// Components per loop iteration: enough independent accumulators to hide FMA latency,
// few enough registers to leave the rest of the kernel its own.
constexpr int kChunk = 8;

// Ops whose chunks are computed from their arguments' chunks (the rest are read from memory).
bool chunks_from_arguments(Expr e) {
  return ir::is_elementwise(e->op) || e->op == Op::Extract || e->op == Op::OneHot;
}

// The wider of two value types: <W x T> over T.
llvm::Type* wider(llvm::Type* a, llvm::Type* b) { return a && a->isVectorTy() ? a : b; }

Value* widen(llvm::IRBuilderBase& b, Value* v, llvm::Type* to) {
  auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(to);
  return vt && !v->getType()->isVectorTy() ? b.CreateVectorSplat(vt->getNumElements(), v) : v;
}

}  // namespace

llvm::Type* FormulaEmitter::Row::value_type() const {
  return storage == Storage::Native ? elem : llvm::Type::getFloatTy(elem->getContext());
}

Value* FormulaEmitter::Row::load(llvm::IRBuilderBase& b, Value* c) const {
  const StoredElements elements(value_type(), storage);
  return elements.widen(b, b.CreateLoad(elem, b.CreateGEP(elem, base, c)));
}

FormulaEmitter::Row argument_row(llvm::IRBuilderBase& b, const StoredElements& elements, Value* arg,
                                 Value* row, int64_t dim) {
  llvm::Type* stored = elements.stored();
  return {b.CreateGEP(stored, arg, b.CreateMul(row, b.getInt64(dim))), stored, elements.storage};
}

Vals load_argument_row(llvm::IRBuilderBase& b, const StoredElements& elements, Value* arg,
                       Value* row, int64_t dim) {
  Value* base = argument_row(b, elements, arg, row, dim).base;
  Vals out(static_cast<size_t>(dim));
  for (int64_t c = 0; c < dim; ++c)
    out[size_t(c)] = elements.load(b, b.CreateConstGEP1_64(elements.stored(), base, uint64_t(c)));
  return out;
}

llvm::AllocaInst* entry_alloca(llvm::IRBuilderBase& b, llvm::Type* t) {
  llvm::BasicBlock& entry = b.GetInsertBlock()->getParent()->getEntryBlock();
  llvm::IRBuilder<> at(&entry, entry.getFirstInsertionPt());
  return at.CreateAlloca(t);
}

Value* entry_buffer(llvm::IRBuilderBase& b, llvm::Type* t) {
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  llvm::Module& m = *fn->getParent();
  const uint64_t bytes = m.getDataLayout().getTypeAllocSize(t).getFixedValue();
  if (bytes <= kMaxStackBufferBytes || llvm::Triple(m.getTargetTriple()).isNVPTX())
    return entry_alloca(b, t);
  llvm::LLVMContext& ctx = m.getContext();
  // Aligned as a stack slot would be: vector elements are stored with aligned moves.
  const uint64_t align = std::max<uint64_t>(64, m.getDataLayout().getPrefTypeAlign(t).value());
  llvm::FunctionCallee aligned_alloc = m.getOrInsertFunction(
      "aligned_alloc", llvm::PointerType::getUnqual(ctx), b.getInt64Ty(), b.getInt64Ty());
  llvm::BasicBlock& entry = fn->getEntryBlock();
  llvm::IRBuilder<> at(&entry, entry.getFirstInsertionPt());
  llvm::CallInst* buffer = at.CreateCall(
      aligned_alloc, {at.getInt64(align), at.getInt64((bytes + align - 1) / align * align)},
      "heap.buffer");
  buffer->setMetadata(kHeapBufferMetadata, llvm::MDNode::get(ctx, {}));
  return buffer;
}

void free_heap_buffers(llvm::Function& fn) {
  std::vector<llvm::CallInst*> buffers;
  std::vector<llvm::ReturnInst*> returns;
  for (llvm::BasicBlock& block : fn)
    for (llvm::Instruction& i : block) {
      if (auto* call = llvm::dyn_cast<llvm::CallInst>(&i);
          call && call->getMetadata(kHeapBufferMetadata))
        buffers.push_back(call);
      if (auto* ret = llvm::dyn_cast<llvm::ReturnInst>(&i)) returns.push_back(ret);
    }
  if (buffers.empty()) return;
  llvm::Module& m = *fn.getParent();
  llvm::LLVMContext& ctx = m.getContext();
  llvm::FunctionCallee free_fn =
      m.getOrInsertFunction("free", llvm::Type::getVoidTy(ctx), llvm::PointerType::getUnqual(ctx));
  for (llvm::ReturnInst* ret : returns) {
    llvm::IRBuilder<> at(ret);
    for (llvm::CallInst* buffer : buffers) at.CreateCall(free_fn, {buffer});
  }
}

llvm::Instruction* split_block_at(llvm::IRBuilderBase& b, const char* name) {
  llvm::BasicBlock* before = b.GetInsertBlock();
  if (b.GetInsertPoint() == before->end()) return nullptr;
  llvm::Instruction* resume = &*b.GetInsertPoint();
  before->splitBasicBlock(resume, name);
  before->getTerminator()->eraseFromParent();
  b.SetInsertPoint(before);
  return resume;
}

void emit_component_loop(llvm::IRBuilderBase& b, int64_t dim, int chunk,
                         const std::function<void(Value* c0, int width)>& body) {
  const int64_t full = dim / chunk * chunk;
  if (full > chunk) {
    // The loop goes between the two halves of the current block.
    llvm::BasicBlock* before = b.GetInsertBlock();
    llvm::Function* fn = before->getParent();
    llvm::Instruction* resume = split_block_at(b, "components.after");
    llvm::BasicBlock* after =
        resume ? resume->getParent()
               : llvm::BasicBlock::Create(fn->getContext(), "components.after", fn);
    auto* loop = llvm::BasicBlock::Create(fn->getContext(), "components", fn, after);
    b.SetInsertPoint(before);
    b.CreateBr(loop);
    b.SetInsertPoint(loop);
    llvm::PHINode* c0 = b.CreatePHI(b.getInt64Ty(), 2, "c0");
    c0->addIncoming(b.getInt64(0), before);
    body(c0, chunk);
    Value* next = b.CreateAdd(c0, b.getInt64(chunk));
    c0->addIncoming(next, b.GetInsertBlock());
    b.CreateCondBr(b.CreateICmpSLT(next, b.getInt64(full)), loop, after);
    if (resume)
      b.SetInsertPoint(resume);
    else
      b.SetInsertPoint(after);
  } else if (full == chunk) {
    body(b.getInt64(0), chunk);
  }
  if (dim > full) body(b.getInt64(full), int(dim - full));
}

bool FormulaEmitter::streams_arguments(Expr e) const {
  switch (e->op) {
    case Op::Sum:
    case Op::SqNorm2:
    case Op::Norm2:
    case Op::Scalprod:
    case Op::SqDist:
    case Op::Max:
    case Op::Min:
    case Op::ArgMax:
    case Op::ArgMin:
    case Op::Elem:
    case Op::Extract:
      return is_large(e->args[0]) && !is_large(e);
    case Op::WeightedSqNorm:
    case Op::WeightedSqDist:
      // The diagonal and scalar weights; a full d x d weight matrix stays unrolled.
      return is_large(e->args[1]) && (e->args[0]->dim == 1 || e->args[0]->dim == e->args[1]->dim);
    case Op::SoftDTW_SqDist:  // a long series, read by index from its row
      return is_large(e->args[0]) || is_large(e->args[1]);
    default:
      return false;
  }
}

const FormulaEmitter::Row& FormulaEmitter::row(Expr e) {
  FormulaEmitter* owner = owner_of(e);
  if (owner != this) return owner->row(e);
  if (auto it = rows_.find(e); it != rows_.end()) return it->second;
  Row r = e->op == Op::Var && row_loader_ ? row_loader_(b_, e) : buffer_of(e);
  return rows_.emplace(e, r).first->second;
}

FormulaEmitter::Row FormulaEmitter::buffer_of(Expr e) {
  if (e->op != Op::Var && chunks_from_arguments(e)) {
    llvm::Type* elem = prepare_chunks(e);
    Value* buffer = entry_buffer(b_, llvm::ArrayType::get(elem, uint64_t(e->dim)));
    emit_component_loop(b_, e->dim, kChunk, [&](Value* c0, int width) {
      Vals v = chunk(e, c0, width);
      for (int k = 0; k < width; ++k)
        b_.CreateStore(widen(b_, v[size_t(k)], elem),
                       b_.CreateGEP(elem, buffer, b_.CreateAdd(c0, b_.getInt64(k))));
    });
    return {buffer, elem};
  }
  // A Var without a row loader, or an op computed whole: its values, stored once.
  const Vals& v = emit(e);
  llvm::Type* elem = nullptr;
  for (Value* x : v) elem = wider(elem, x->getType());
  Value* buffer = entry_buffer(b_, llvm::ArrayType::get(elem, uint64_t(e->dim)));
  for (size_t c = 0; c < v.size(); ++c)
    b_.CreateStore(widen(b_, v[c], elem), b_.CreateConstGEP1_64(elem, buffer, c));
  return {buffer, elem};
}

llvm::Type* FormulaEmitter::prepare_chunks(Expr e) {
  if (!is_large(e)) return emit(e)[0]->getType();
  if (owner_of(e) != this || !chunks_from_arguments(e)) return row(e).value_type();
  llvm::Type* elem = nullptr;
  for (Expr arg : e->args) elem = wider(elem, prepare_chunks(arg));
  return elem;
}

Vals FormulaEmitter::chunk(Expr e, Value* c0, int width) {
  if (!is_large(e)) {
    // A small argument of an element-wise op is broadcast (dim 1); emitted before the loop.
    const Vals& v = emit(e);
    KEOPS_CHECK(v.size() == 1, "a small operand of a streamed op has dim 1");
    return v;
  }
  if (owner_of(e) != this || !chunks_from_arguments(e)) {
    const Row& r = row(e);
    Vals out(static_cast<size_t>(width));
    for (int k = 0; k < width; ++k) out[size_t(k)] = r.load(b_, b_.CreateAdd(c0, b_.getInt64(k)));
    return out;
  }
  if (e->op == Op::Extract)
    return chunk(e->args[0], b_.CreateAdd(c0, b_.getInt64(e->ints[0])), width);
  if (e->op == Op::OneHot) return one_hot_chunk(e, c0, width);
  std::vector<Vals> arg_chunks;
  detail::ArgVals args;
  arg_chunks.reserve(e->args.size());
  for (Expr arg : e->args) arg_chunks.push_back(chunk(arg, c0, width));
  for (const Vals& v : arg_chunks) args.push_back(&v);
  detail::Arith a{b_};
  return detail::emit_elementwise(a, e, args);
}

Vals FormulaEmitter::one_hot_chunk(Expr e, Value* c0, int width) {
  detail::Arith a{b_};
  Value* f = emit(e->args[0])[0];
  Vals out(static_cast<size_t>(width));
  for (int k = 0; k < width; ++k) {
    Value* index = b_.CreateSIToFP(b_.CreateAdd(c0, b_.getInt64(k)), f->getType()->getScalarType());
    out[size_t(k)] = detail::one_hot_component(a, f, match_width(b_, index, f));
  }
  return out;
}

Vals FormulaEmitter::emit_chunk(Expr e, Value* c0, int width) {
  FormulaEmitter* owner = owner_of(e);
  if (owner != this) return owner->emit_chunk(e, c0, width);
  KEOPS_CHECK(is_large(e), "emit_chunk of a vector that is not streamed");
  prepare_chunks(e);
  return chunk(e, c0, width);
}

void FormulaEmitter::emit_to_memory(Expr e, Row dst) {
  auto store = [&](const Vals& v, Value* c0) {
    for (size_t k = 0; k < v.size(); ++k)
      b_.CreateStore(widen(b_, v[k], dst.elem),
                     b_.CreateGEP(dst.elem, dst.base, b_.CreateAdd(c0, b_.getInt64(int64_t(k)))));
  };
  if (!is_large(e)) {
    store(emit(e), b_.getInt64(0));
    return;
  }
  prepare_chunks(e);
  emit_component_loop(b_, e->dim, kChunk,
                      [&](Value* c0, int width) { store(chunk(e, c0, width), c0); });
}

Vals FormulaEmitter::emit_streamed(Expr e) {
  llvm::Type* elem = nullptr;  // the type the terms are computed in: the widest operand's
  for (Expr arg : e->args) elem = wider(elem, prepare_chunks(arg));
  detail::Arith a{b_};
  if (e->op == Op::Elem) return {chunk(e->args[0], b_.getInt64(e->ints[0]), 1)[0]};
  if (e->op == Op::SoftDTW_SqDist) {
    auto series = [&](Expr v) {
      const Row& r = row(v);
      return detail::Series{v->dim, [this, r](Value* i) { return r.load(b_, i); }};
    };
    Value* gamma = emit(e->args[2])[0];
    return {detail::soft_dtw_series(a, series(e->args[0]), series(e->args[1]), gamma,
                                    llvm::Constant::getNullValue(wider(elem, gamma->getType())))};
  }
  if (e->op == Op::Extract) return chunk(e->args[0], b_.getInt64(e->ints[0]), int(e->ints[1]));

  const bool weighted = e->op == Op::WeightedSqNorm || e->op == Op::WeightedSqDist;
  Expr streamed = e->args[weighted ? 1 : 0];
  const int64_t dim = streamed->dim;

  if (e->op == Op::Max || e->op == Op::Min || e->op == Op::ArgMax || e->op == Op::ArgMin) {
    // A scan in component order keeps the first extremum and the NaN rules of the
    // unrolled form (formula_emitter_vector.cpp): a strict ordered improvement replaces.
    const bool is_max = e->op == Op::Max || e->op == Op::ArgMax;
    llvm::AllocaInst* best = entry_alloca(b_, elem);
    llvm::AllocaInst* best_index = entry_alloca(b_, elem);
    b_.CreateStore(widen(b_, chunk(streamed, b_.getInt64(0), 1)[0], elem), best);
    b_.CreateStore(llvm::Constant::getNullValue(elem), best_index);
    emit_component_loop(b_, dim, kChunk, [&](Value* c0, int width) {
      Vals v = chunk(streamed, c0, width);
      Value* current = b_.CreateLoad(elem, best);
      Value* current_index = b_.CreateLoad(elem, best_index);
      for (int k = 0; k < width; ++k) {
        Value* x = widen(b_, v[size_t(k)], elem);
        Value* better =
            b_.CreateFCmp(is_max ? llvm::CmpInst::FCMP_OGT : llvm::CmpInst::FCMP_OLT, x, current);
        Value* position = b_.CreateSIToFP(b_.CreateAdd(c0, b_.getInt64(k)), elem->getScalarType());
        current = b_.CreateSelect(better, x, current);
        current_index = b_.CreateSelect(better, widen(b_, position, elem), current_index);
      }
      b_.CreateStore(current, best);
      b_.CreateStore(current_index, best_index);
    });
    return {b_.CreateLoad(elem, e->op == Op::Max || e->op == Op::Min ? best : best_index)};
  }

  // Sums of terms x * y (or x): an accumulator per component of a chunk, added up after.
  std::vector<Expr> parts;  // the operands a term reads, in term()'s order
  switch (e->op) {
    case Op::WeightedSqNorm:  // f, then the diagonal weight
    case Op::WeightedSqDist:  // x, y, then the diagonal weight
      parts.assign(e->args.begin() + 1, e->args.end());
      if (e->args[0]->dim > 1) parts.push_back(e->args[0]);
      break;
    default:
      parts.assign(e->args.begin(), e->args.end());
  }
  auto term = [&](int k, const std::vector<Vals>& chunks) -> std::pair<Value*, Value*> {
    auto at = [&](size_t p) { return detail::component(chunks[p], size_t(k)); };
    switch (e->op) {
      case Op::Sum:
        return {at(0), nullptr};
      case Op::SqNorm2:
      case Op::Norm2:
        return {at(0), at(0)};
      case Op::Scalprod:
        return {at(0), at(1)};
      case Op::SqDist: {
        Value* d = a.sub(at(0), at(1));
        return {d, d};
      }
      case Op::WeightedSqNorm:
        return {chunks.size() > 1 ? a.mul(at(1), at(0)) : at(0), at(0)};
      case Op::WeightedSqDist: {
        Value* d = a.sub(at(0), at(1));
        return {chunks.size() > 2 ? a.mul(at(2), d) : d, d};
      }
      default:
        KEOPS_CHECK(false, "not a streamed sum");
        return {nullptr, nullptr};
    }
  };
  std::vector<llvm::AllocaInst*> acc;
  for (int k = 0; k < kChunk; ++k) {
    acc.push_back(entry_alloca(b_, elem));
    b_.CreateStore(llvm::Constant::getNullValue(elem), acc.back());
  }
  emit_component_loop(b_, dim, kChunk, [&](Value* c0, int width) {
    std::vector<Vals> chunks;
    for (Expr p : parts) chunks.push_back(chunk(p, c0, width));
    for (int k = 0; k < width; ++k) {
      auto [x, y] = term(k, chunks);
      Value* sum = b_.CreateLoad(elem, acc[size_t(k)]);
      sum = y ? a.fmuladd(x, y, sum) : a.add(sum, x);
      b_.CreateStore(widen(b_, sum, elem), acc[size_t(k)]);
    }
  });
  // Pairwise total of the accumulators.
  Vals totals;
  for (llvm::AllocaInst* slot : acc) totals.push_back(b_.CreateLoad(elem, slot));
  for (size_t n = totals.size(); n > 1; n = (n + 1) / 2)
    for (size_t k = 0; k < n / 2; ++k) totals[k] = a.add(totals[k], totals[n - 1 - k]);
  Value* total = totals[0];
  if (e->op == Op::Norm2) total = emit_sqrt(b_, total);
  if (weighted && e->args[0]->dim == 1) total = a.mul(emit(e->args[0])[0], total);
  return {total};
}

}  // namespace keops::codegen
