// keopsc run: a reduction of .npy arrays through keops::Genred, written to .npy files.
#include <chrono>

#include <keops/keops.h>

#include "compiler/support/log.h"
#include "tools/keopsc/commands.h"
#include "tools/keopsc/npy.h"

namespace keopsc {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string default_indices_path(const std::string& output) {
  const std::string suffix = ".npy";
  const bool npy = output.size() > suffix.size() && output.ends_with(suffix);
  return (npy ? output.substr(0, output.size() - suffix.size()) : output) + ".indices.npy";
}

// Names the file of any argument whose shape or dtype does not fit the formula.
void check_inputs(const RunArgs& args, const std::vector<NpyArray>& arrays,
                  const keops::runtime::OwnedKernelSpec& owned) {
  const auto& infos = owned.args;
  if (arrays.size() != infos.size()) {
    std::string names;
    for (const auto& a : infos) names += (names.empty() ? "" : ", ") + a.name;
    throw UsageError("the formula takes " + std::to_string(infos.size()) + " argument(s) (" +
                     names + "), but " + std::to_string(arrays.size()) +
                     " --arg file(s) were given");
  }
  int64_t rows_of[2] = {-1, -1};
  size_t first_of[2] = {0, 0};
  for (size_t k = 0; k < arrays.size(); ++k) {
    const NpyArray& a = arrays[k];
    const std::string which =
        args.inputs[k] + " (argument " + std::to_string(k) + ", " + infos[k].name + ")";
    if (a.type != arrays[0].type)
      throw UsageError(which + " is " + npy_type_name(a.type) + ", but " + args.inputs[0] + " is " +
                       npy_type_name(arrays[0].type) + ": all arguments must have one dtype");
    if (a.cols != infos[k].dim)
      throw UsageError(which + " has " + std::to_string(a.cols) + " column(s), but its dim is " +
                       std::to_string(infos[k].dim));
    const keops::ir::Cat cat = infos[k].cat;
    if (cat == keops::ir::CatP) {
      if (a.rows != 1)
        throw UsageError(which + " is a parameter: it must have 1 row, not " +
                         std::to_string(a.rows));
      continue;
    }
    if (rows_of[cat] < 0) {
      rows_of[cat] = a.rows;
      first_of[cat] = k;
    } else if (rows_of[cat] != a.rows) {
      throw UsageError(which + " has " + std::to_string(a.rows) + " rows, but " +
                       args.inputs[first_of[cat]] + " of the same " +
                       (cat == keops::ir::CatI ? "i" : "j") + " category has " +
                       std::to_string(rows_of[cat]));
    }
  }
}

template <class T>
void run_and_write(const RunArgs& args, const std::vector<NpyArray>& arrays, NpyType type,
                   double checked_ms) {
  const Clock::time_point start = Clock::now();
  const keops::runtime::KernelRequest& r = args.formula.request;
  const keops::Genred genred(r.formula, r.aliases, r.reduction, r.axis, r.options);
  std::vector<keops::View<const T>> views;
  for (const NpyArray& a : arrays) views.push_back({a.data<T>(), a.rows, a.cols});
  const keops::Result<T> result = genred(views);
  keops::detail::log_debug("keopsc run: inputs read and checked in " + std::to_string(checked_ms) +
                           " ms, then the first result in " + std::to_string(ms_since(start)) +
                           " ms");
  if (result.cols > 0) write_npy(args.output, type, result.rows, result.cols, result.values.data());
  if (result.index_cols > 0) {
    const std::string path = result.cols == 0              ? args.output
                             : args.indices_output.empty() ? default_indices_path(args.output)
                                                           : args.indices_output;
    write_npy(path, NpyType::I64, result.rows, result.index_cols, result.indices.data());
  }
}

}  // namespace

void run_command(const RunArgs& args) {
  const Clock::time_point start = Clock::now();
  std::vector<NpyArray> arrays;
  try {
    for (const std::string& path : args.inputs) arrays.push_back(read_npy(path));
  } catch (const keops::Error& e) {
    throw UsageError(e.what());
  }
  const NpyType type = arrays.empty() ? NpyType::F32 : arrays[0].type;
  const keops::ir::DType dtype =
      type == NpyType::F64 ? keops::ir::DType::F64 : keops::ir::DType::F32;
  keops::runtime::OwnedKernelSpec owned;
  try {
    owned = keops::runtime::make_kernel_spec(args.formula.request, dtype,
                                             keops::codegen::CpuTarget::host());
  } catch (const keops::Error& e) {
    throw UsageError(e.what());
  }
  check_inputs(args, arrays, owned);
  if (owned.spec.value_cols() == 0 && !args.indices_output.empty())
    throw UsageError("--indices-out: " + args.formula.request.reduction +
                     " yields only indices, and they go to -o");
  if (type == NpyType::F64)
    run_and_write<double>(args, arrays, type, ms_since(start));
  else
    run_and_write<float>(args, arrays, type, ms_since(start));
}

}  // namespace keopsc
