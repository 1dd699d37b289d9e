// keopsc: the command line of the keops compiler (API.md, keopsc).
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/cache/disk_cache.h"
#include "tools/keopsc/commands.h"

namespace {

using keopsc::FormulaArgs;

// Each occurrence takes one value, so "-a x=Vi(3) FORMULA" leaves the formula alone.
CLI::Option* repeated(CLI::Option* option) {
  return option->expected(1)->take_all()->allow_extra_args(false);
}

void add_formula_options(CLI::App* command, FormulaArgs& f, bool with_dtype_and_target) {
  command->add_option("formula", f.request.formula, "The formula, e.g. \"Exp(-SqDist(x,y))*b\"")
      ->required();
  repeated(command->add_option("-a,--alias", f.request.aliases,
                               "An alias, e.g. \"x = Vi(3)\"; one -a per alias"))
      ->required();
  command
      ->add_option("-r,--reduction", f.request.reduction,
                   "Sum, Max, Min, ArgMin, KMin, LogSumExp, ...")
      ->capture_default_str();
  command->add_option("--axis", f.request.axis, "1: one output row per i (reduce over j); 0: per j")
      ->check(CLI::IsMember({0, 1}))
      ->capture_default_str();
  command->add_option("-k", f.request.options.k, "K of KMin, ArgKMin and KMin_ArgKMin");
  command->add_option("--formula2", f.request.options.formula2,
                      "G of LogSumExpWeight, SumSoftMaxWeight and the other ..Weight reductions");
  if (!with_dtype_and_target) return;
  command
      ->add_option("--dtype", f.dtype,
                   "float32, float64, float16 or bfloat16 (arrays of 16-bit floats, computed on "
                   "in float32)")
      ->check(CLI::IsMember({"float32", "float64", "float16", "bfloat16"}))
      ->capture_default_str();
  command
      ->add_option("--target", f.target,
                   "host, cpu:<llvm cpu name> (x86-64-v3, znver4, ...), or sm_XX (a GPU, e.g. "
                   "sm_90)")
      ->capture_default_str();
  command
      ->add_option("--tensor-cores", f.tensor_cores,
                   "GPU targets: auto, on or off: float32 products of long rows on the matrix "
                   "units")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  command
      ->add_option("--matmul-precision", f.matmul_precision,
                   "float32 (three TF32 products per product) or tf32 (one)")
      ->check(CLI::IsMember({"float32", "tf32"}))
      ->capture_default_str();
}

// CLI11 answers an unknown command with "A subcommand is required": name it instead.
std::string unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* at = &app;
  for (int k = 1; k < argc && argv[k][0] != '-' && !at->get_subcommands({}).empty(); ++k) {
    std::string known;
    for (CLI::App* sub : at->get_subcommands({})) {
      if (sub->get_name() == argv[k]) {
        at = sub;
        known.clear();
        break;
      }
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known.empty())
      return std::string("unknown command '") + argv[k] + "' (expected " + known + ")";
  }
  return "";
}

// Formulas often start with '-' (-SqDist(x,y)), which CLI11 would take for an option. A
// word starting with '-' and a letter that is no short option of keopsc is a value: it
// passes through CLI11 behind a space, which every value option removes again.
std::vector<CLI::App*> all_commands(CLI::App& app) {
  std::vector<CLI::App*> apps{&app};
  for (size_t k = 0; k < apps.size(); ++k)
    for (CLI::App* sub : apps[k]->get_subcommands({})) apps.push_back(sub);
  return apps;
}

std::vector<std::string> shield_values(CLI::App& app, int argc, char** argv) {
  std::string short_names;
  for (CLI::App* command : all_commands(app))
    for (CLI::Option* option : command->get_options()) {
      for (const std::string& name : option->get_snames()) short_names += name;
      if (option->get_type_size() != 0)
        option->transform(CLI::Validator(
            [](std::string& value) {
              if (value.size() > 1 && value[0] == ' ' && value[1] == '-') value.erase(0, 1);
              return std::string();  // no error
            },
            ""));
    }
  std::vector<std::string> words(argv, argv + argc);
  for (size_t k = 1; k < words.size(); ++k)
    if (words[k].size() > 1 && words[k][0] == '-' && words[k][1] != '-' &&
        short_names.find(words[k][1]) == std::string::npos)
      words[k].insert(0, " ");
  return words;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "keopsc: compiles KeOps formulas ahead of time, prints their code, runs them on .npy "
      "files and manages the kernel cache."};
  app.require_subcommand(1);

  keopsc::CompileArgs compile;
  CLI::App* compile_cmd =
      app.add_subcommand("compile", "Compiles a reduction into an ELF object and its C header");
  const std::string library_dir = keopsc::keops_library_dir();
  const std::string libdir = library_dir.empty() ? "LIBDIR" : library_dir;
  compile_cmd->footer(
      "OUT.h declares\n"
      "  int SYMBOL(int64_t nx, int64_t ny, const T* const* args, T* values, int64_t* indices);\n"
      "which returns 0 on success, nonzero on bad arguments (see the comment in OUT.h).\n"
      "CPU targets: OUT.o is self-contained: cc prog.c OUT.o -fopenmp -lm\n"
      "sm_XX: OUT.o holds the kernel's PTX and an entry that runs it through libkeops\n"
      "(the GPU of the device arrays, else GPU 0; arrays in host or device memory); a\n"
      "nonzero status has its reason in keops_aot_last_error():\n"
      "  cc prog.c OUT.o -L" +
      libdir + " -lkeops -Wl,-rpath," + libdir +
      (library_dir.empty() ? "\n(LIBDIR: the directory of libkeops.so)" : ""));
  add_formula_options(compile_cmd, compile.formula, true);
  compile_cmd->add_option("--name", compile.name, "The C symbol (default: the stem of OUT.o)");
  compile_cmd
      ->add_option("-o,--output", compile.output, "The object file; the header goes next to it")
      ->required();

  keopsc::EmitArgs emit;
  CLI::App* emit_cmd = app.add_subcommand("emit", "Prints a reduction's code to stdout");
  emit_cmd->footer(
      "ir: the formula's canonical IR (a second line for --formula2); llvm: the kernel's\n"
      "optimized LLVM IR; asm: its assembly (CPU targets; for float16/bfloat16, the float32\n"
      "kernel that the object runs on widened copies); ptx: the GPU kernel's PTX\n"
      "(--target sm_XX).");
  add_formula_options(emit_cmd, emit.formula, true);
  emit_cmd->add_option("--emit", emit.what, "ir, llvm, asm or ptx")
      ->check(CLI::IsMember({"ir", "llvm", "asm", "ptx"}))
      ->required();

  keopsc::RunArgs run;
  CLI::App* run_cmd = app.add_subcommand("run", "Runs a reduction on .npy files");
  run_cmd->footer(
      "Arguments: float16, float32 or float64 (all of one dtype; float16 computed in float32),\n"
      "little-endian, C order, 2-D, or 1-D:\n"
      "the values of a parameter, or a column for an i or j argument of dim 1. A formula\n"
      "without i (or j) arguments takes the number of i (j) rows from --nx (--ny). The\n"
      "values go to -o. The int64 indices of reductions yielding values too (Min_ArgMin,\n"
      "KMin_ArgKMin, ...) go to --indices-out, by default OUT.indices.npy for -o OUT.npy;\n"
      "reductions yielding only indices (ArgMin, ArgKMin, ...) write them to -o or to\n"
      "--indices-out. Exit status 2 for bad input, 1 when running fails.");
  add_formula_options(run_cmd, run.formula, false);
  repeated(run_cmd->add_option("--arg", run.inputs,
                               "An argument's .npy file, in argument order; "
                               "one --arg per argument"));
  run_cmd->add_option("-o,--output", run.output, "The output .npy file");
  run_cmd->add_option("--indices-out", run.indices_output,
                      "Where the int64 indices go (default: OUT.indices.npy for -o OUT.npy when "
                      "the reduction yields values too, else -o)");
  run_cmd
      ->add_option("--nx", run.formula.request.options.nx,
                   "The number of i rows, for a formula without i arguments")
      ->check(CLI::NonNegativeNumber);
  run_cmd
      ->add_option("--ny", run.formula.request.options.ny,
                   "The number of j rows, for a formula without j arguments")
      ->check(CLI::NonNegativeNumber);

  CLI::App* cache_cmd = app.add_subcommand("cache", "Lists or clears the disk cache of kernels");
  cache_cmd->footer(
      "The cache is $KEOPS_CACHE_DIR, else $XDG_CACHE_HOME/keops, else ~/.cache/keops.\n"
      "KEOPS_CACHE=0 turns it off; KEOPS_CACHE_MAX_BYTES caps its size (default 512 MiB):\n"
      "the least recently used entries go first.");
  cache_cmd->require_subcommand(1);
  CLI::App* list_cmd =
      cache_cmd->add_subcommand("list", "Lists the entries: key digest, kind, size, last use, key");
  CLI::App* clear_cmd = cache_cmd->add_subcommand("clear", "Removes every entry");

  if (const std::string unknown = unknown_command(app, argc, argv); !unknown.empty()) {
    std::cerr << unknown << "\nRun with --help for more information.\n";
    return 2;
  }
  std::vector<std::string> words = shield_values(app, argc, argv);
  std::vector<char*> shielded;
  for (std::string& w : words) shielded.push_back(w.data());
  try {
    app.parse(int(shielded.size()), shielded.data());
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // help to stdout, errors to stderr
    return status == 0 ? 0 : 2;
  }
  if (const char* max = std::getenv("KEOPS_CACHE_MAX_BYTES");
      max && !keops::runtime::parse_byte_count(max)) {
    std::cerr << "keopsc: KEOPS_CACHE_MAX_BYTES=" << max
              << " is not a number of bytes (decimal digits)\n";
    return 2;
  }
  try {
    if (compile_cmd->parsed()) keopsc::compile_command(compile);
    if (emit_cmd->parsed()) keopsc::emit_command(emit);
    if (run_cmd->parsed()) keopsc::run_command(run);
    if (list_cmd->parsed()) keopsc::cache_list_command();
    if (clear_cmd->parsed()) keopsc::cache_clear_command();
  } catch (const keopsc::UsageError& e) {
    std::cerr << "keopsc " << app.get_subcommands().front()->get_name() << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "keopsc " << app.get_subcommands().front()->get_name() << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
