// KMin and its forms with many slots: sorted slots in memory, insertions as loops.
#include <functional>
#include <string>
#include <vector>

#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/reductions.h"
#include "compiler/codegen/select_rules.h"
#include "compiler/support/check.h"

namespace keops::codegen {
namespace {

using llvm::BasicBlock;
using llvm::Value;

// Emits for (r = 0; r < n; ++r) body(r) at b's position (r an i64), b left after the loop.
void emit_loop(llvm::IRBuilderBase& b, int64_t n, const std::function<void(Value* r)>& body) {
  emit_component_loop(b, n, 1, [&](Value* r, int) { body(r); });
}

// Calls the module's function `name` (made by body(builder, parameters) on first use, with
// the target attributes of b's function) on args: the loops of init and merge, which run
// where kernels expect straight-line code (a block they later name as a predecessor).
void call_helper(llvm::IRBuilderBase& b, const std::string& name, const Vals& args,
                 const std::function<void(llvm::IRBuilderBase&, const Vals&)>& body) {
  llvm::Function* caller = b.GetInsertBlock()->getParent();
  llvm::Module& m = *caller->getParent();
  llvm::Function* fn = m.getFunction(name);
  if (!fn) {
    std::vector<llvm::Type*> types;
    for (Value* a : args) types.push_back(a->getType());
    fn = llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), types, false),
                                llvm::Function::InternalLinkage, name, m);
    for (const char* attribute : {"target-cpu", "target-features"})
      if (caller->hasFnAttribute(attribute)) fn->addFnAttr(caller->getFnAttribute(attribute));
    llvm::IRBuilder<> hb(BasicBlock::Create(b.getContext(), "entry", fn));
    Vals params;
    for (llvm::Argument& a : fn->args()) params.push_back(&a);
    body(hb, params);
    hb.CreateRetVoid();
  }
  b.CreateCall(fn, args);
}

// The SelectEmitter's reduction (reductions.cpp) with its K x dim slots in memory, for CPU
// kernels whose slots would be too many to unroll: one insertion is a loop over a
// component's K slots, whatever K, so that code size and compile time stay flat (K = 1024:
// 31 s to compile unrolled). The state is the addresses of two buffers of the kernel's entry
// (values, then indices when kept: the slots rank-major, the output's layout), each holding
// lane groups; a state's init fills them, and every other function reads and writes them in
// place. SelectEmitter's rules (select_rules.h) decide which entry beats which.
class InMemorySelectEmitter final : public ReductionEmitter {
 public:
  InMemorySelectEmitter(int dim, int k, bool is_max, bool values_out, bool indices_out)
      : dim_(dim), k_(k), rules_{is_max}, values_out_(values_out), indices_out_(indices_out) {}

  std::vector<llvm::Type*> state_types(llvm::Type* lanes) const override {
    set_lanes(lanes);
    return std::vector<llvm::Type*>(indices_out_ ? 2 : 1,
                                    llvm::PointerType::get(lanes->getContext(), 0));
  }
  Vals init(llvm::IRBuilderBase& b, llvm::Type* lanes) const override {
    llvm::Type* index_lanes = index_lanes_of(lanes);
    set_lanes(lanes);
    const Vals state = buffers(b);
    call_helper(b, helper_name("init"), state, [&](llvm::IRBuilderBase& hb, const Vals& at) {
      emit_loop(hb, slots(), [&](Value* s) {
        hb.CreateStore(rules_.empty_value(lanes), hb.CreateGEP(lanes, at[0], s));
        if (indices_out_)
          hb.CreateStore(empty_index(index_lanes), hb.CreateGEP(index_lanes, at[1], s));
      });
    });
    return state;
  }
  Vals combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
               Value* index) const override {
    for (int c = 0; c < dim_; ++c)
      insert(b, state, c, {match_width(b, f[size_t(c)], zero()), indices_out_ ? index : nullptr});
    return state;
  }
  Value* may_change(llvm::IRBuilderBase& b, const Vals& state, const Vals& f) const override {
    Value* any = nullptr;
    for (int c = 0; c < dim_; ++c) {
      Value* last = load_slot(b, state, b.getInt64(k_ - 1), c).value;
      Value* wins = rules_.may_beat(b, match_width(b, f[size_t(c)], last), last);
      any = any ? b.CreateOr(any, wins) : wins;
    }
    return any;
  }
  Value* needs_full_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals&) const override {
    if (!indices_out_) return nullptr;
    Value* any = nullptr;
    for (int c = 0; c < dim_; ++c) {
      Value* empty = is_empty(b, load_slot(b, state, b.getInt64(k_ - 1), c).index);
      any = any ? b.CreateOr(any, empty) : empty;
    }
    return any;
  }
  Vals fast_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                    Value* index) const override {
    for (int c = 0; c < dim_; ++c)
      insert(b, state, c, {match_width(b, f[size_t(c)], zero()), index}, /*full=*/true);
    return state;
  }
  bool exact() const override { return true; }
  // The second state's entries inserted in rank order (its ties after the first's).
  Vals merge(llvm::IRBuilderBase& b, const Vals& first, const Vals& second) const override {
    Vals both = first;
    both.insert(both.end(), second.begin(), second.end());
    call_helper(b, helper_name("merge"), both, [&](llvm::IRBuilderBase& hb, const Vals& at) {
      const Vals into(at.begin(), at.begin() + long(first.size()));
      const Vals from(at.begin() + long(first.size()), at.end());
      for (int c = 0; c < dim_; ++c)
        emit_loop(hb, k_, [&](Value* r) { insert(hb, into, c, load_slot(hb, from, r, c)); });
    });
    return first;
  }
  // The slots' values, then their indices where kept, a cell each (slot s's value in cell s).
  int64_t state_cells(llvm::Type*) const override { return slots() * (indices_out_ ? 2 : 1); }
  void store_cells(llvm::IRBuilderBase& b, const Vals& state,
                   const StateCellsAt& cells) const override {
    copy_cells(b, "store_cells", state, cells,
               [&](llvm::IRBuilderBase& hb, const Vals& at, const StateCellsAt& to, Value* s) {
                 const Entry e = load_at(hb, at, s);
                 store_cell(hb, to, s, e.value);
                 if (indices_out_)
                   store_cell(hb, to, hb.CreateAdd(s, hb.getInt64(slots())), e.index);
               });
  }
  Vals load_cells(llvm::IRBuilderBase& b, llvm::Type* lanes,
                  const StateCellsAt& cells) const override {
    set_lanes(lanes);
    const Vals state = buffers(b);
    copy_cells(b, "load_cells", state, cells,
               [&](llvm::IRBuilderBase& hb, const Vals& at, const StateCellsAt& from, Value* s) {
                 llvm::Type* index_lanes = index_lanes_of(lanes_);
                 hb.CreateStore(load_cell(hb, from, s, lanes_), hb.CreateGEP(lanes_, at[0], s));
                 if (indices_out_)
                   hb.CreateStore(
                       load_cell(hb, from, hb.CreateAdd(s, hb.getInt64(slots())), index_lanes),
                       hb.CreateGEP(index_lanes, at[1], s));
               });
    return state;
  }
  bool output_in_memory() const override { return true; }
  Value* value_column(llvm::IRBuilderBase& b, const Vals& state, Value* c) const override {
    return values_out_ ? load_at(b, state, c).value : nullptr;
  }
  Value* index_column(llvm::IRBuilderBase& b, const Vals& state, Value* c) const override {
    return indices_out_ ? load_at(b, state, c).index : nullptr;
  }
  void finalize(llvm::IRBuilderBase& b, const Vals& state, Vals& values,
                Vals& indices) const override {
    for (int s = 0; s < slots(); ++s) {
      const Entry e = load_at(b, state, b.getInt64(s));
      if (values_out_) values.push_back(e.value);
      if (indices_out_) indices.push_back(e.index);
    }
  }

 private:
  struct Entry {
    Value* value;
    Value* index;  // null when indices are not kept
  };

  int slots() const { return k_ * dim_; }
  // Calls a helper `what` on state and cells that runs slot(hb, state, cells, s) for every
  // slot s (the state and cells as the helper's parameters).
  void copy_cells(llvm::IRBuilderBase& b, const char* what, const Vals& state,
                  const StateCellsAt& cells,
                  const std::function<void(llvm::IRBuilderBase&, const Vals&, const StateCellsAt&,
                                           Value*)>& slot) const {
    Vals args = state;
    args.push_back(cells.first);
    if (cells.mask) args.push_back(cells.mask);
    call_helper(b, helper_name(what, cells), args, [&](llvm::IRBuilderBase& hb, const Vals& at) {
      const StateCellsAt in_helper{at[state.size()], cells.mask ? at.back() : nullptr, cells.align};
      emit_loop(hb, slots(), [&](Value* s) { slot(hb, at, in_helper, s); });
    });
  }
  // A state's buffers, of the kernel's entry: the values', then the indices' where kept.
  Vals buffers(llvm::IRBuilderBase& b) const {
    Vals state{entry_buffer(b, llvm::ArrayType::get(lanes_, slots()))};
    if (indices_out_)
      state.push_back(entry_buffer(b, llvm::ArrayType::get(index_lanes_of(lanes_), slots())));
    return state;
  }
  // A name for a helper of this emitter's shape: slots, order, indices and lanes.
  std::string helper_name(const char* what) const {
    std::string lanes;
    llvm::raw_string_ostream(lanes) << *lanes_;
    return std::string("keops.select.") + what + "." + std::to_string(k_) + "x" +
           std::to_string(dim_) + (rules_.is_max ? ".max" : ".min") +
           (indices_out_ ? ".indexed." : ".") + lanes;
  }
  // The same for a helper reading or writing `cells` (masked lanes or not, their alignment).
  std::string helper_name(const char* what, const StateCellsAt& cells) const {
    return helper_name(what) + (cells.mask ? ".masked" : "") + ".align" +
           std::to_string(cells.align.value());
  }
  // The lane type (T or <W x T>) of the kernel's states, given by state_types and init,
  // which a kernel calls first; every state of one emitter has the same.
  void set_lanes(llvm::Type* lanes) const {
    KEOPS_CHECK(!lanes_ || lanes_ == lanes, "one in-memory selection emitter, two lane types");
    lanes_ = lanes;
  }
  // A value of the state's lane type, for match_width.
  Value* zero() const { return llvm::Constant::getNullValue(lanes_); }

  // The entry in slot s (rank-major: rank r of component c is r * dim + c).
  Entry load_at(llvm::IRBuilderBase& b, const Vals& state, Value* s) const {
    return {b.CreateLoad(lanes_, b.CreateGEP(lanes_, state[0], s)),
            indices_out_ ? b.CreateLoad(index_lanes_of(lanes_),
                                        b.CreateGEP(index_lanes_of(lanes_), state[1], s))
                         : nullptr};
  }
  Entry load_slot(llvm::IRBuilderBase& b, const Vals& state, Value* rank, int c) const {
    return load_at(b, state, b.CreateAdd(b.CreateMul(rank, b.getInt64(dim_)), b.getInt64(c)));
  }
  void store_slot(llvm::IRBuilderBase& b, const Vals& state, Value* rank, int c,
                  const Entry& e) const {
    Value* s = b.CreateAdd(b.CreateMul(rank, b.getInt64(dim_)), b.getInt64(c));
    b.CreateStore(e.value, b.CreateGEP(lanes_, state[0], s));
    if (indices_out_) b.CreateStore(e.index, b.CreateGEP(index_lanes_of(lanes_), state[1], s));
  }

  // SelectEmitter::insert as a loop over ranks: slot r takes slot r-1's old entry where x
  // beats both, x where it beats slot r only, and keeps its entry elsewhere. The loop
  // carries whether x beat the previous slot, and that slot's old entry, in entry allocas
  // (promoted to registers).
  void insert(llvm::IRBuilderBase& b, const Vals& state, int c, const Entry& x,
              bool full = false) const {
    llvm::Type* mask_type = x.value->getType()->getWithNewType(b.getInt1Ty());
    Value* beat_previous = entry_alloca(b, mask_type);
    Value* previous_value = entry_alloca(b, lanes_);
    Value* previous_index = x.index ? entry_alloca(b, index_lanes_of(lanes_)) : nullptr;
    b.CreateStore(llvm::Constant::getNullValue(mask_type), beat_previous);
    emit_loop(b, k_, [&](Value* r) {
      const Entry old = load_slot(b, state, r, c);
      Value* wins = rules_.beats(b, x.value, x.index, old.value, old.index, full);
      Value* shifted = b.CreateLoad(mask_type, beat_previous);
      Entry incoming{
          b.CreateSelect(shifted, b.CreateLoad(lanes_, previous_value), x.value),
          x.index ? b.CreateSelect(shifted, b.CreateLoad(index_lanes_of(lanes_), previous_index),
                                   x.index)
                  : nullptr};
      store_slot(b, state, r, c,
                 {b.CreateSelect(wins, incoming.value, old.value),
                  x.index ? b.CreateSelect(wins, incoming.index, old.index) : nullptr});
      b.CreateStore(wins, beat_previous);
      b.CreateStore(old.value, previous_value);
      if (x.index) b.CreateStore(old.index, previous_index);
    });
  }

  int dim_, k_;
  SelectRules rules_;
  bool values_out_, indices_out_;
  mutable llvm::Type* lanes_ = nullptr;  // set_lanes
};

}  // namespace

std::unique_ptr<ReductionEmitter> make_in_memory_select(int dim, int k, bool is_max,
                                                        bool values_out, bool indices_out) {
  return std::make_unique<InMemorySelectEmitter>(dim, k, is_max, values_out, indices_out);
}

}  // namespace keops::codegen
