// The host side of a keopsc GPU object (see aot_gpu_entry.h).
#include "compiler/jit/aot_gpu_entry.h"

#include <algorithm>
#include <cstddef>
#include <regex>

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>

#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/jit/aot_entry.h"
#include "compiler/jit/ptx.h"
#include "compiler/support/check.h"
#include "keops/aot_gpu.h"
#include "keops/error.h"

extern "C" {
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTargetMC();
}

namespace keops::jit {
namespace {

// The IR below lays the description out as 17 consecutive 8-byte fields.
static_assert(sizeof(keops_aot_gpu_kernel) == 17 * 8);
static_assert(offsetof(keops_aot_gpu_kernel, ptx) == 2 * 8);
static_assert(offsetof(keops_aot_gpu_kernel, column_groups) == 10 * 8);
static_assert(offsetof(keops_aot_gpu_kernel, arg_cats) == 15 * 8);
static_assert(offsetof(keops_aot_gpu_kernel, wide_tiles_pay) == 16 * 8);
// GPU entries return what CPU entries return for the same bad arguments.
static_assert(KEOPS_AOT_BAD_SIZE == int(kAotNegativeSize) &&
              KEOPS_AOT_NULL_ARGUMENT == int(kAotNullArgument) &&
              KEOPS_AOT_NULL_VALUES == int(kAotNullValues) &&
              KEOPS_AOT_NULL_INDICES == int(kAotNullIndices));
static_assert(KEOPS_AOT_CAT_I == int(ir::CatI) && KEOPS_AOT_CAT_J == int(ir::CatJ) &&
              KEOPS_AOT_CAT_P == int(ir::CatP));

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// A private constant global holding `init`.
llvm::GlobalVariable* constant(llvm::Module& m, llvm::Constant* init, const std::string& name) {
  auto* g = new llvm::GlobalVariable(m, init->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::PrivateLinkage, init, name);
  g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return g;
}

// An int64 array as a private constant, or a null pointer when it is empty.
llvm::Constant* int64_array(llvm::Module& m, const std::vector<int64_t>& values,
                            const std::string& name) {
  auto* ptr = llvm::PointerType::get(m.getContext(), 0);
  if (values.empty()) return llvm::ConstantPointerNull::get(ptr);
  std::vector<uint64_t> bits(values.begin(), values.end());
  return constant(m, llvm::ConstantDataArray::get(m.getContext(), bits), name);
}

}  // namespace

std::vector<int> nvptx_sms() {
  static const std::vector<int> sms = [] {
    // Registering a target twice is allowed: ptx.cpp may have done it already.
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTargetMC();
    const char* triple = "nvptx64-nvidia-cuda";
    std::string err;
    const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, err);
    if (!target) throw Error("listing the NVPTX architectures: " + err);
    std::unique_ptr<llvm::MCSubtargetInfo> info(target->createMCSubtargetInfo(triple, "", ""));
    std::vector<int> found;
    const std::regex sm("sm_([0-9]+)");
    std::cmatch m;
    for (const llvm::SubtargetSubTypeKV& cpu : info->getAllProcessorDescriptions())
      if (std::regex_match(cpu.Key, m, sm)) found.push_back(std::stoi(m[1]));
    std::sort(found.begin(), found.end());
    return found;
  }();
  return sms;
}

void build_aot_gpu_entry(llvm::Module& m, const lower::KernelPlan& plan, const std::string& ptx,
                         const std::string& symbol) {
  const codegen::KernelSpec& spec = plan.spec;
  KEOPS_CHECK(spec.on_gpu(), "a GPU entry needs a GPU spec");
  llvm::LLVMContext& ctx = m.getContext();
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::get(ctx, 0);
  const lower::GpuLayout& layout = plan.gpu;
  auto string = [&](const std::string& text, const std::string& name) -> llvm::Constant* {
    return constant(m, llvm::ConstantDataArray::getString(ctx, text), symbol + "." + name);
  };
  auto int64 = [&](int64_t v) -> llvm::Constant* { return llvm::ConstantInt::get(i64, v); };
  std::vector<int64_t> dims, cats;
  for (const codegen::ArgLayout& a : spec.args) {
    dims.push_back(a.dim);
    cats.push_back(a.cat);
  }
  llvm::Constant* fields[] = {
      int64(KEOPS_AOT_GPU_ABI_VERSION),
      string(symbol, "symbol"),
      string(ptx, "ptx"),
      int64(int64_t(fnv1a(ptx))),
      string(gpu_kernel_symbol(plan.key_hash()), "kernel_name"),
      int64(spec.gpu().sm),
      int64(spec.storage != codegen::Storage::Native ? 2
            : spec.dtype == ir::DType::F32           ? 4
                                                     : 8),
      int64(spec.axis),
      int64(layout.block_threads),
      int64(layout.shared_bytes()),
      int64(layout.column_groups),
      int64(spec.value_cols()),
      int64(spec.index_cols()),
      int64(int64_t(spec.args.size())),
      int64_array(m, dims, symbol + ".arg_dims"),
      int64_array(m, cats, symbol + ".arg_cats"),
      int64(layout.wide_tiles_pay ? 1 : 0),
  };
  std::vector<llvm::Type*> types;
  for (llvm::Constant* f : fields) types.push_back(f->getType());
  llvm::Constant* kernel = constant(
      m, llvm::ConstantStruct::get(llvm::StructType::get(ctx, types), fields), symbol + ".kernel");

  // int keops_aot_gpu_launch(const struct keops_aot_gpu_kernel*, int64_t, int64_t,
  //                          const void* const*, void*, int64_t*)
  llvm::FunctionCallee launch = m.getOrInsertFunction(
      "keops_aot_gpu_launch", llvm::FunctionType::get(i32, {ptr, i64, i64, ptr, ptr, ptr}, false));
  auto* entry =
      llvm::Function::Create(llvm::FunctionType::get(i32, {i64, i64, ptr, ptr, ptr}, false),
                             llvm::Function::ExternalLinkage, symbol, m);
  entry->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
  llvm::CallInst* call =
      b.CreateCall(launch, {kernel, entry->getArg(0), entry->getArg(1), entry->getArg(2),
                            entry->getArg(3), entry->getArg(4)});
  call->setTailCall();
  b.CreateRet(call);
}

}  // namespace keops::jit
