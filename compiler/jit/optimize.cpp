// The module optimization pipeline (see optimize.h).
#include "compiler/jit/optimize.h"

#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/support/check.h"

namespace keops::jit {

void run_module_pipeline(llvm::Module& m, llvm::TargetMachine& tm, llvm::OptimizationLevel level) {
  KEOPS_CHECK(!llvm::verifyModule(m, &llvm::errs()), "the generated module is invalid");
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(level).run(m, mam);
}

}  // namespace keops::jit
