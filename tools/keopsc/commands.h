// The keopsc commands: their options as parsed from the command line, and their actions.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/api/kernel_request.h"

namespace keopsc {

// Bad input (command line, formula, aliases, files): exit status 2. Other failures: 1.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What every formula command reads: the Genred arguments, the dtype and the target.
struct FormulaArgs {
  keops::runtime::KernelRequest request;
  std::string dtype = "float32";
  std::string target = "host";
  std::string tensor_cores = "auto";         // Options::tensor_cores
  std::string matmul_precision = "float32";  // Options::matmul_precision
};

struct CompileArgs {
  FormulaArgs formula;
  std::string name;    // the C symbol; "" for OUT's stem
  std::string output;  // OUT.o; the header is OUT.h
};

struct EmitArgs {
  FormulaArgs formula;
  std::string what;  // ir, llvm, asm or ptx
};

struct RunArgs {
  FormulaArgs formula;  // dtype and target unused: the files give the dtype, the host runs it
  std::vector<std::string> inputs;
  std::string output;
  std::string indices_output;  // "" for OUT.indices.npy
};

// The directory of the libkeops.so that GPU objects link with: next to an installed keopsc
// (PREFIX/lib), else in the build tree keopsc comes from; "" when neither has one.
std::string keops_library_dir();

// Each writes what it makes and throws UsageError or another exception on failure.
void compile_command(const CompileArgs& args);
void emit_command(const EmitArgs& args);
void run_command(const RunArgs& args);
void cache_list_command();
void cache_clear_command();

}  // namespace keopsc
