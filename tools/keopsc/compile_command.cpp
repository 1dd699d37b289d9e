// keopsc compile and keopsc emit: a formula to an object and its header, or to text.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>

#include "compiler/ir/printer.h"
#include "compiler/jit/aot_gpu_entry.h"
#include "compiler/jit/cpu_compile.h"
#include "compiler/jit/object.h"
#include "compiler/jit/ptx.h"
#include "keops/error.h"
#include "tools/keopsc/c_header.h"
#include "tools/keopsc/commands.h"

namespace keopsc {
namespace {

namespace fs = std::filesystem;

// sm_XX's XX, or 0 for a CPU target; UsageError for an sm_XX that LLVM cannot emit PTX for.
int gpu_sm(const std::string& target) {
  std::smatch m;
  if (!std::regex_match(target, m, std::regex("sm_([0-9]{1,4})"))) return 0;
  const int sm = std::stoi(m[1]);
  const std::vector<int> known = keops::jit::nvptx_sms();
  if (std::find(known.begin(), known.end(), sm) != known.end()) return sm;
  std::string list;
  for (int k : known) list += (list.empty() ? "sm_" : ", sm_") + std::to_string(k);
  throw UsageError("--target " + target + ": not an architecture LLVM's NVPTX backend knows (" +
                   list + ")" +
                   (sm > known.back()
                        ? "; PTX for sm_" + std::to_string(known.back()) + " runs on later GPUs too"
                        : ""));
}

keops::codegen::KernelTarget kernel_target(const std::string& target) {
  if (target == "host") return keops::codegen::CpuTarget::host();
  if (const int sm = gpu_sm(target); sm > 0) return keops::codegen::GpuTarget{sm};
  if (target.starts_with("cpu:")) {
    try {
      return keops::codegen::CpuTarget::named(target.substr(4));
    } catch (const keops::Error& e) {
      throw UsageError(std::string(e.what()) + " (e.g. x86-64-v3, skylake-avx512, znver4)");
    }
  }
  throw UsageError("--target " + target + ": expected host, cpu:<llvm cpu name> or sm_XX");
}

// A name the header may declare: an identifier, and not one of C's keywords (C23's, and the
// reserved spellings of earlier standards).
bool is_c_identifier(const std::string& s) {
  static const std::set<std::string> keywords = {"alignas",
                                                 "alignof",
                                                 "auto",
                                                 "bool",
                                                 "break",
                                                 "case",
                                                 "char",
                                                 "const",
                                                 "constexpr",
                                                 "continue",
                                                 "default",
                                                 "do",
                                                 "double",
                                                 "else",
                                                 "enum",
                                                 "extern",
                                                 "false",
                                                 "float",
                                                 "for",
                                                 "goto",
                                                 "if",
                                                 "inline",
                                                 "int",
                                                 "long",
                                                 "nullptr",
                                                 "register",
                                                 "restrict",
                                                 "return",
                                                 "short",
                                                 "signed",
                                                 "sizeof",
                                                 "static",
                                                 "static_assert",
                                                 "struct",
                                                 "switch",
                                                 "thread_local",
                                                 "true",
                                                 "typedef",
                                                 "typeof",
                                                 "typeof_unqual",
                                                 "union",
                                                 "unsigned",
                                                 "void",
                                                 "volatile",
                                                 "while",
                                                 "_Alignas",
                                                 "_Alignof",
                                                 "_Atomic",
                                                 "_BitInt",
                                                 "_Bool",
                                                 "_Complex",
                                                 "_Decimal128",
                                                 "_Decimal32",
                                                 "_Decimal64",
                                                 "_Generic",
                                                 "_Imaginary",
                                                 "_Noreturn",
                                                 "_Static_assert",
                                                 "_Thread_local"};
  return std::regex_match(s, std::regex("[A-Za-z_][A-Za-z0-9_]*")) && !keywords.contains(s);
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
  const keops::codegen::KernelTarget target = kernel_target(args.target);
  const keops::ir::DType dtype =
      args.dtype == "float64" ? keops::ir::DType::F64 : keops::ir::DType::F32;
  keops::runtime::KernelRequest request = args.request;
  request.options.tensor_cores = args.tensor_cores == "on"    ? keops::TensorCores::On
                                 : args.tensor_cores == "off" ? keops::TensorCores::Off
                                                              : keops::TensorCores::Auto;
  request.options.matmul_precision = args.matmul_precision == "tf32"
                                         ? keops::MatmulPrecision::TF32
                                         : keops::MatmulPrecision::Float32;
  try {
    keops::runtime::OwnedKernelSpec owned =
        keops::runtime::make_kernel_spec(request, dtype, target);
    owned.spec.storage = args.dtype == "float16"    ? keops::codegen::Storage::F16
                         : args.dtype == "bfloat16" ? keops::codegen::Storage::BF16
                                                    : keops::codegen::Storage::Native;
    return owned;
  } catch (const keops::Error& e) {
    throw UsageError(e.what());
  }
}

}  // namespace

std::string keops_library_dir() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / KEOPS_INSTALL_LIBDIR);
  dirs.push_back(KEOPS_BUILD_LIBDIR);
  for (const fs::path& dir : dirs)
    if (fs::exists(dir / "libkeops.so", ec)) return fs::weakly_canonical(dir, ec).string();
  return "";
}

void compile_command(const CompileArgs& args) {
  const fs::path object_path = args.output;
  const fs::path header_path = fs::path(object_path).replace_extension(".h");
  if (object_path.extension() == ".h")
    throw UsageError("-o " + args.output + ": the object would be overwritten by its header");
  const std::string symbol = args.name.empty() ? object_path.stem().string() : args.name;
  if (!is_c_identifier(symbol))
    throw UsageError((args.name.empty() ? "the name of -o " + args.output + " (" + symbol + ")"
                                        : "--name " + symbol) +
                     " is not a C identifier (or is a C keyword): give one with --name");
  const keops::runtime::OwnedKernelSpec owned = formula_spec(args.formula);
  write_file(object_path, keops::jit::compile_aot_object(owned.spec, symbol));
  write_file(header_path, c_header(args.formula.request, owned, symbol,
                                   owned.spec.on_gpu() ? keops_library_dir() : ""));
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
    std::cout << keops::jit::cpu_kernel_llvm_ir(keops::jit::aot_kernel_spec(owned.spec));
  } else if (args.what == "asm") {
    std::cout << keops::jit::cpu_kernel_assembly(keops::jit::aot_kernel_spec(owned.spec));
  } else {
    std::cout << keops::jit::gpu_kernel_ptx(owned.spec);
  }
}

}  // namespace keopsc
