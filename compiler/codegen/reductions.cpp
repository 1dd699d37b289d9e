// The reduction emitters: Sum now; every kind of FORMULA_LANGUAGE.md plugs in here.
#include "compiler/codegen/reductions.h"

#include <string>

#include "keops/error.h"

namespace keops::codegen {
namespace {

// Sum: one accumulator per component of F. NaN and inf propagate as IEEE addition does.
class SumEmitter final : public ReductionEmitter {
 public:
  explicit SumEmitter(int dim) : dim_(size_t(dim)) {}

  std::vector<llvm::Type*> state_types(llvm::Type* lanes) const override {
    return std::vector<llvm::Type*>(dim_, lanes);
  }
  Vals init(llvm::IRBuilderBase&, llvm::Type* lanes) const override {
    return Vals(dim_, llvm::ConstantFP::get(lanes, 0.0));
  }
  Vals combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
               llvm::Value*) const override {
    Vals out(dim_);
    for (size_t c = 0; c < dim_; ++c) out[c] = b.CreateFAdd(state[c], match_width(b, f[c], state[c]));
    return out;
  }
  Vals merge(llvm::IRBuilderBase& b, const Vals& first, const Vals& second) const override {
    Vals out(dim_);
    for (size_t c = 0; c < dim_; ++c) out[c] = b.CreateFAdd(first[c], second[c]);
    return out;
  }
  void finalize(llvm::IRBuilderBase&, const Vals& state, Vals& values, Vals&) const override {
    values = state;
  }

 private:
  size_t dim_;
};

}  // namespace

std::unique_ptr<ReductionEmitter> make_reduction_emitter(const KernelSpec& spec) {
  switch (spec.reduction.kind) {
    case ir::ReductionKind::Sum:
      return std::make_unique<SumEmitter>(spec.formula->dim);
    default:
      throw Error("compiling the reduction " + std::string(ir::reduction_name(spec.reduction.kind)) +
                  ": it has no code generation yet");
  }
}

}  // namespace keops::codegen
