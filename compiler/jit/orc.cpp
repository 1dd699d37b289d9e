// The CPU JIT (ORC LLJIT) and the optimization pipeline shared with AOT compilation.
#include "compiler/jit/orc.h"

#include "compiler/jit/optimize.h"

#include <atomic>
#include <mutex>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::jit {
namespace {

void initialize_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return s;
}

std::unique_ptr<llvm::TargetMachine> make_target_machine(const codegen::CpuTarget& target) {
  initialize_llvm();
  std::string err;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(target.triple, err);
  if (!t) throw Error("creating the CPU target " + target.triple + ": " + err);
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(
      t->createTargetMachine(target.triple, target.cpu, target.features, options, llvm::Reloc::PIC_,
                             std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!tm) throw Error("creating the CPU target " + target.triple + " for " + target.cpu);
  return tm;
}

}  // namespace

void optimize_module(llvm::Module& m, const codegen::CpuTarget& target) {
  auto tm = make_target_machine(target);
  m.setDataLayout(tm->createDataLayout());
  m.setTargetTriple(target.triple);
  run_module_pipeline(m, *tm, llvm::OptimizationLevel::O3);
}

namespace {

std::string emit_machine_code(llvm::Module& m, const codegen::CpuTarget& target,
                              llvm::CodeGenFileType type) {
  auto tm = make_target_machine(target);
  m.setDataLayout(tm->createDataLayout());
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  KEOPS_CHECK(!tm->addPassesToEmitFile(pm, os, nullptr, type),
              "the CPU target cannot emit this kind of file");
  pm.run(m);
  return std::string(buffer.str());
}

}  // namespace

std::string emit_assembly(llvm::Module& m, const codegen::CpuTarget& target) {
  return emit_machine_code(m, target, llvm::CodeGenFileType::AssemblyFile);
}

std::string emit_object(llvm::Module& m, const codegen::CpuTarget& target) {
  return emit_machine_code(m, target, llvm::CodeGenFileType::ObjectFile);
}

struct CpuJit::State {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::atomic<uint64_t> dylibs{0};

  llvm::orc::JITDylib& new_dylib() {
    auto dylib = jit->createJITDylib("keops." + std::to_string(dylibs++));
    if (!dylib) throw Error("creating a JITDylib: " + error_text(dylib.takeError()));
    return *dylib;
  }

  void* lookup(llvm::orc::JITDylib& dylib, const std::string& symbol) {
    auto address = jit->lookup(dylib, symbol);
    if (!address)
      throw Error("looking up kernel " + symbol + ": " + error_text(address.takeError()));
    return address->toPtr<void*>();
  }
};

CpuJit::CpuJit() : state_(std::make_unique<State>()) {
  initialize_llvm();
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder) throw Error("starting the CPU JIT: " + error_text(builder.takeError()));
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*builder)).create();
  if (!jit) throw Error("starting the CPU JIT: " + error_text(jit.takeError()));
  state_->jit = std::move(*jit);
}

CpuJit& CpuJit::instance() {
  static CpuJit jit;
  return jit;
}

void* CpuJit::load(std::unique_ptr<llvm::LLVMContext> context, std::unique_ptr<llvm::Module> module,
                   const std::string& symbol) {
  module->setDataLayout(state_->jit->getDataLayout());
  llvm::orc::ThreadSafeModule tsm(std::move(module), std::move(context));
  llvm::orc::JITDylib& dylib = state_->new_dylib();
  if (auto err = state_->jit->addIRModule(dylib, std::move(tsm)))
    throw Error("loading kernel " + symbol + " into the CPU JIT: " + error_text(std::move(err)));
  return state_->lookup(dylib, symbol);
}

namespace {

// Refuses an object (a disk cache entry) that is not what keops compiles for `symbol`: an ELF
// object defining that one global function and no other global, with no initializers or
// finalizers to run on load. Another kernel's object, under a forged header, fails here
// instead of running in this one's place.
void check_kernel_object(std::string_view object, const std::string& symbol) {
  auto parsed = llvm::object::ObjectFile::createObjectFile(
      llvm::MemoryBufferRef(llvm::StringRef(object.data(), object.size()), symbol));
  if (!parsed)
    throw Error("loading the object of kernel " + symbol +
                ": not an object file: " + error_text(parsed.takeError()));
  std::vector<std::string> defined;
  for (const llvm::object::SymbolRef& sym : (*parsed)->symbols()) {
    auto flags = sym.getFlags();
    auto name = sym.getName();
    if (!flags || !name) {
      if (!flags) llvm::consumeError(flags.takeError());
      if (!name) llvm::consumeError(name.takeError());
      throw Error("loading the object of kernel " + symbol + ": unreadable symbol table");
    }
    if ((*flags & llvm::object::SymbolRef::SF_Global) &&
        !(*flags & llvm::object::SymbolRef::SF_Undefined))
      defined.push_back(name->str());
  }
  if (defined != std::vector<std::string>{symbol}) {
    std::string list;
    for (const std::string& d : defined) list += (list.empty() ? "" : ", ") + d;
    throw Error("loading the object of kernel " + symbol + ": it defines " +
                (list.empty() ? std::string("no global symbol") : list) + ", not " + symbol +
                " alone");
  }
  for (const llvm::object::SectionRef& section : (*parsed)->sections()) {
    auto name = section.getName();
    if (!name) {
      llvm::consumeError(name.takeError());
      continue;
    }
    if (name->starts_with(".init_array") || name->starts_with(".fini_array") ||
        name->starts_with(".ctors") || name->starts_with(".dtors"))
      throw Error("loading the object of kernel " + symbol + ": it has a " + name->str() +
                  " section");
  }
}

}  // namespace

void* CpuJit::load_object(std::string_view object, const std::string& symbol) {
  check_kernel_object(object, symbol);
  auto buffer =
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), symbol);
  llvm::orc::JITDylib& dylib = state_->new_dylib();
  if (auto err = state_->jit->addObjectFile(dylib, std::move(buffer)))
    throw Error("loading the object of kernel " + symbol +
                " into the CPU JIT: " + error_text(std::move(err)));
  return state_->lookup(dylib, symbol);
}

}  // namespace keops::jit
