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

// The (rows, cols) an argument's array is read as: 2-D as it is; 1-D as a row of values
// for a parameter, a column for an i or j argument of dim 1 (as pykeops takes them).
struct Shape {
  int64_t rows, cols;
};

std::string describe(const RunArgs& args, const keops::runtime::OwnedKernelSpec& owned, size_t k) {
  return args.inputs[k] + " (argument " + std::to_string(k) + ", " + owned.args[k].name + ")";
}

Shape shape_of(const std::string& which, const NpyArray& a, const keops::frontend::ArgInfo& info) {
  if (a.rank == 2) return {a.rows, a.cols};
  if (info.cat == keops::ir::CatP) return {1, a.rows};
  if (info.dim != 1)
    throw UsageError(which + " is 1-D, a column of " + std::to_string(a.rows) +
                     " values, but its dim is " + std::to_string(info.dim) +
                     ": save it as a 2-D (rows, " + std::to_string(info.dim) + ") array");
  return {a.rows, 1};
}

// The number of rows of category `cat` given by --nx or --ny: the rows of its arguments
// when it has any (which --nx must then match), else the option, which is then required.
void check_size(const RunArgs& args, keops::ir::Cat cat, int64_t rows, const std::string& file) {
  const char* option = cat == keops::ir::CatI ? "--nx" : "--ny";
  const int64_t given =
      cat == keops::ir::CatI ? args.formula.request.options.nx : args.formula.request.options.ny;
  const char* name = cat == keops::ir::CatI ? "i" : "j";
  if (rows < 0 && given < 0)
    throw UsageError(std::string("the formula has no ") + name + " argument (" +
                     (cat == keops::ir::CatI ? "Vi" : "Vj") + "), so the number of " + name +
                     " rows must be given with " + option);
  if (rows >= 0 && given >= 0 && rows != given)
    throw UsageError(std::string(option) + " " + std::to_string(given) + " disagrees with " + file +
                     ", an " + name + " argument of " + std::to_string(rows) + " rows");
}

// The shape of each argument, after naming the file of any whose shape or dtype does not
// fit the formula, and checking the sizes of categories without arguments.
std::vector<Shape> check_inputs(const RunArgs& args, const std::vector<NpyArray>& arrays,
                                const keops::runtime::OwnedKernelSpec& owned) {
  const auto& infos = owned.args;
  if (arrays.size() != infos.size()) {
    std::string names;
    for (const auto& a : infos) names += (names.empty() ? "" : ", ") + a.name;
    throw UsageError("the formula takes " + std::to_string(infos.size()) + " argument(s) (" +
                     names + "), but " + std::to_string(arrays.size()) +
                     " --arg file(s) were given");
  }
  std::vector<Shape> shapes;
  int64_t rows_of[2] = {-1, -1};
  size_t first_of[2] = {0, 0};
  for (size_t k = 0; k < arrays.size(); ++k) {
    const NpyArray& a = arrays[k];
    const std::string which = describe(args, owned, k);
    if (a.type != arrays[0].type)
      throw UsageError(which + " is " + npy_type_name(a.type) + ", but " + args.inputs[0] + " is " +
                       npy_type_name(arrays[0].type) + ": all arguments must have one dtype");
    const Shape shape = shape_of(which, a, infos[k]);
    shapes.push_back(shape);
    if (shape.cols != infos[k].dim)
      throw UsageError(which + " has " + std::to_string(shape.cols) +
                       " column(s), but its dim is " + std::to_string(infos[k].dim));
    const keops::ir::Cat cat = infos[k].cat;
    if (cat == keops::ir::CatP) {
      if (shape.rows != 1)
        throw UsageError(which + " is a parameter: it must have 1 row, not " +
                         std::to_string(shape.rows));
      continue;
    }
    if (rows_of[cat] < 0) {
      rows_of[cat] = shape.rows;
      first_of[cat] = k;
    } else if (rows_of[cat] != shape.rows) {
      throw UsageError(which + " has " + std::to_string(shape.rows) + " rows, but " +
                       args.inputs[first_of[cat]] + " of the same " +
                       (cat == keops::ir::CatI ? "i" : "j") + " category has " +
                       std::to_string(rows_of[cat]));
    }
  }
  for (keops::ir::Cat cat : {keops::ir::CatI, keops::ir::CatJ})
    check_size(args, cat, rows_of[cat], rows_of[cat] < 0 ? "" : args.inputs[first_of[cat]]);
  return shapes;
}

// Where the values and the indices go: -o for the values (for the indices of a reduction
// yielding only indices, unless --indices-out names their file), --indices-out or
// OUT.indices.npy for the indices of one yielding both.
struct Outputs {
  std::string values, indices;
};

Outputs outputs_of(const RunArgs& args, const keops::runtime::OwnedKernelSpec& owned) {
  const std::string& reduction = args.formula.request.reduction;
  const bool values = owned.spec.value_cols() > 0, indices = owned.spec.index_cols() > 0;
  if (!indices && !args.indices_output.empty())
    throw UsageError("--indices-out: " + reduction + " yields no indices");
  if (values && args.output.empty())
    throw UsageError("--output is required: where " + reduction + "'s values go");
  if (values)
    return {args.output, !indices                      ? ""
                         : args.indices_output.empty() ? default_indices_path(args.output)
                                                       : args.indices_output};
  if (!args.output.empty() && !args.indices_output.empty())
    throw UsageError(reduction +
                     " yields only indices: give -o or --indices-out for them, not both");
  if (args.output.empty() && args.indices_output.empty())
    throw UsageError("--output is required: where " + reduction + "'s indices go");
  return {"", args.output.empty() ? args.indices_output : args.output};
}

template <class T>
void run_and_write(const RunArgs& args, const std::vector<NpyArray>& arrays,
                   const std::vector<Shape>& shapes, const Outputs& outputs, NpyType type,
                   double checked_ms) {
  const Clock::time_point start = Clock::now();
  const keops::runtime::KernelRequest& r = args.formula.request;
  const keops::Genred genred(r.formula, r.aliases, r.reduction, r.axis, r.options);
  std::vector<keops::View<const T>> views;
  for (size_t k = 0; k < arrays.size(); ++k)
    views.push_back({arrays[k].data<T>(), shapes[k].rows, shapes[k].cols});
  const keops::Result<T> result = genred(views);
  keops::detail::log_debug("keopsc run: inputs read and checked in " + std::to_string(checked_ms) +
                           " ms, then the first result in " + std::to_string(ms_since(start)) +
                           " ms");
  if (!outputs.values.empty())
    write_npy(outputs.values, type, result.rows, result.cols, result.values.data());
  if (!outputs.indices.empty())
    write_npy(outputs.indices, NpyType::I64, result.rows, result.index_cols, result.indices.data());
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
  const std::vector<Shape> shapes = check_inputs(args, arrays, owned);
  const Outputs outputs = outputs_of(args, owned);
  if (type == NpyType::F64)
    run_and_write<double>(args, arrays, shapes, outputs, type, ms_since(start));
  else if (type == NpyType::F16)
    run_and_write<keops::half>(args, arrays, shapes, outputs, type, ms_since(start));
  else
    run_and_write<float>(args, arrays, shapes, outputs, type, ms_since(start));
}

}  // namespace keopsc
