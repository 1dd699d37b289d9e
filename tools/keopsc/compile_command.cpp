// keopsc compile and keopsc emit: a formula to an object and its header, or to text.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "compiler/ir/printer.h"
#include "compiler/jit/cpu_compile.h"
#include "compiler/jit/object.h"
#include "compiler/jit/ptx.h"
#include "keops/error.h"
#include "tools/keopsc/c_header.h"
#include "tools/keopsc/commands.h"

namespace keopsc {
namespace {

namespace fs = std::filesystem;

// sm_XX's XX, or 0 for a CPU target.
int gpu_sm(const std::string& target) {
  std::smatch m;
  return std::regex_match(target, m, std::regex("sm_([0-9]{2,3})")) ? std::stoi(m[1]) : 0;
}

keops::codegen::CpuTarget cpu_target(const std::string& target) {
  if (target == "host" || gpu_sm(target) > 0) return keops::codegen::CpuTarget::host();
  if (target.starts_with("cpu:")) {
    try {
      return keops::codegen::CpuTarget::named(target.substr(4));
    } catch (const keops::Error& e) {
      throw UsageError(std::string(e.what()) + " (e.g. x86-64-v3, skylake-avx512, znver4)");
    }
  }
  throw UsageError("--target " + target + ": expected host, cpu:<llvm cpu name> or sm_XX");
}

bool is_c_identifier(const std::string& s) {
  return std::regex_match(s, std::regex("[A-Za-z_][A-Za-z0-9_]*"));
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("writing " + path.string() + " failed");
}

// The spec of args for its dtype and target (a GPU spec as Genred makes it for sm_XX);
// UsageError for bad input.
keops::runtime::OwnedKernelSpec formula_spec(const FormulaArgs& args) {
  const keops::codegen::CpuTarget target = cpu_target(args.target);
  const keops::ir::DType dtype =
      args.dtype == "float64" ? keops::ir::DType::F64 : keops::ir::DType::F32;
  try {
    keops::runtime::OwnedKernelSpec owned =
        keops::runtime::make_kernel_spec(args.request, dtype, target);
    owned.spec.gpu_sm = gpu_sm(args.target);
    owned.spec.gpu_fast_math = args.request.options.gpu_fast_math;
    return owned;
  } catch (const keops::Error& e) {
    throw UsageError(e.what());
  }
}

}  // namespace

void compile_command(const CompileArgs& args) {
  const fs::path object_path = args.output;
  const fs::path header_path = fs::path(object_path).replace_extension(".h");
  if (object_path.extension() == ".h")
    throw UsageError("-o " + args.output + ": the object would be overwritten by its header");
  if (gpu_sm(args.formula.target) > 0)
    throw UsageError("--target " + args.formula.target +
                     ": GPU objects are not available yet; keopsc emit --emit ptx --target " +
                     args.formula.target + " prints the kernel's PTX");
  const std::string symbol = args.name.empty() ? object_path.stem().string() : args.name;
  if (!is_c_identifier(symbol))
    throw UsageError((args.name.empty() ? "the name of -o " + args.output + " (" + symbol + ")"
                                        : "--name " + symbol) +
                     " is not a C identifier: give one with --name");
  const keops::runtime::OwnedKernelSpec owned = formula_spec(args.formula);
  write_file(object_path, keops::jit::compile_aot_object(owned.spec, symbol));
  write_file(header_path, c_header(args.formula.request, owned, symbol));
}

void emit_command(const EmitArgs& args) {
  const bool gpu = gpu_sm(args.formula.target) > 0;
  if (args.what == "ptx" && !gpu) throw UsageError("--emit ptx needs --target sm_XX");
  if ((args.what == "llvm" || args.what == "asm") && gpu)
    throw UsageError("--emit " + args.what + " is for CPU targets: use --emit ptx for " +
                     args.formula.target);
  const keops::runtime::OwnedKernelSpec owned = formula_spec(args.formula);
  if (args.what == "ir") {
    std::cout << keops::ir::print(owned.spec.formula) << "\n";
    if (owned.spec.reduction.formula2)
      std::cout << keops::ir::print(owned.spec.reduction.formula2) << "\n";
  } else if (args.what == "llvm") {
    std::cout << keops::jit::cpu_kernel_llvm_ir(owned.spec);
  } else if (args.what == "asm") {
    std::cout << keops::jit::cpu_kernel_assembly(owned.spec);
  } else {
    std::cout << keops::jit::gpu_kernel_ptx(owned.spec);
  }
}

}  // namespace keopsc
