// Genred: builds and checks the user's reduction, checks the arrays of each call, runs it.
#include "keops/genred.h"

#include <algorithm>

#include <string>
#include <type_traits>

#include "compiler/frontend/aliases.h"
#include "compiler/ir/context.h"
#include "compiler/ir/printer.h"
#include "compiler/program/gradient.h"
#include "compiler/program/reduction_program.h"
#include "keops/error.h"
#include "keops/gpu.h"
#include "runtime/api/batch.h"
#include "runtime/api/genred_impl.h"
#include "runtime/api/host_copies.h"
#include "runtime/api/kernel_dispatch.h"
#include "runtime/api/ranges_run.h"
#include "runtime/api/sizes.h"
#include "runtime/cpu/widened.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/stream.h"

namespace keops {

namespace {

using detail::GenredImpl;

using detail::gpu_device;
using detail::uses_gpu;

void check_options(const GenredImpl& g) {
  const Options& o = g.options;
  if (g.main.axis != 0 && g.main.axis != 1)
    throw Error("Genred: axis must be 0 (reduce over i) or 1 (reduce over j), not " +
                std::to_string(g.main.axis));
  if (o.backend == Backend::GPU && !gpu_available())
    throw Error("Genred: the GPU backend is unavailable: " + gpu_unavailable_reason());
  if (o.threads < 0)
    throw Error("Genred: Options::threads must be >= 0, not " + std::to_string(o.threads));
  if (o.gpu_memory_limit < 0)
    throw Error("Genred: Options::gpu_memory_limit must be >= 0 (0: what the GPU has free), not " +
                std::to_string(o.gpu_memory_limit));
  if (int(o.tensor_cores) < 0 || int(o.tensor_cores) > int(TensorCores::Off))
    throw Error("Genred: Options::tensor_cores must be Auto, On or Off, not " +
                std::to_string(int(o.tensor_cores)));
  if (int(o.matmul_precision) < 0 || int(o.matmul_precision) > int(MatmulPrecision::TF32))
    throw Error("Genred: Options::matmul_precision must be Float32 or TF32, not " +
                std::to_string(int(o.matmul_precision)));
  if (!o.devices.empty()) {
    if (o.backend == Backend::CPU)
      throw Error("Genred: Options::devices lists GPUs, but Options::backend is CPU");
    if (o.ranges) throw Error("Genred: Options::devices cannot be combined with Options::ranges");
    for (int d : o.devices)
      if (d < -1 || (d == -1 && o.devices.size() > 1))
        throw Error("Genred: Options::devices holds GPU ids, or only -1 for every GPU; not " +
                    std::to_string(d));
  }
  try {
    g.main.reduction.check(g.main.f.f64->dim);
  } catch (const Error& e) {
    throw Error(std::string("Genred: ") + e.what());
  }
}

template <class T>
void run_impl(const GenredImpl& g, const std::vector<View<const T>>& args, View<T> values,
              View<int64_t> indices);

// A program of several kernels (a gradient of some reductions) on arrays in GPU memory: its
// steps pass host arrays from one kernel to the next, so the arguments are copied to the
// host once and the outputs back.
template <class T>
void run_stages_via_host(const GenredImpl& g, const std::vector<View<const T>>& args,
                         const detail::RowCounts& rows, View<T> values, View<int64_t> indices,
                         int device) {
  std::vector<std::vector<T>> copies(args.size());
  std::vector<const T*> pointers;
  for (size_t k = 0; k < args.size(); ++k) pointers.push_back(detail::on_host(args[k], copies[k]));
  detail::HostOutput<T> host_values{values, {}};
  detail::HostOutput<int64_t> host_indices{indices, {}};
  detail::run_stages<T>(g, pointers, rows, host_values.data(), host_indices.data(), device);
  host_values.finish();
  host_indices.finish();
  // A copy from pageable memory may return before it lands; the caller's stream (which need
  // not wait for the legacy one) may read the outputs at once.
  if (device >= 0) runtime::cuda::synchronize(device);
}

template <class T>
constexpr bool is_16_bit = std::is_same_v<T, half> || std::is_same_v<T, bfloat16>;

// A program of several kernels on 16-bit arrays: its steps pass arrays from one kernel to the
// next, and add and scatter values on the host, which must not round at every step. So the
// arguments are widened to float32 on the host, the program runs in float32, and its values
// are rounded once at the end.
template <class T>
void run_stages_widened(const GenredImpl& g, const std::vector<View<const T>>& args,
                        const detail::RowCounts& rows, View<T> values, View<int64_t> indices,
                        int device) {
  std::vector<std::vector<T>> host_copies(args.size());
  std::vector<View<const T>> host;
  for (size_t k = 0; k < args.size(); ++k)
    host.push_back({detail::on_host(args[k], host_copies[k]), args[k].rows, args[k].cols});
  std::vector<std::vector<float>> widened;
  std::vector<const float*> pointers;
  for (const View<const float>& v : runtime::widened_views(host, widened, g.options.threads))
    pointers.push_back(v.data);
  std::vector<float> wide_values(size_t(values.rows * values.cols));
  detail::HostOutput<T> host_values{values, {}};
  detail::HostOutput<int64_t> host_indices{indices, {}};
  detail::run_stages<float>(g, pointers, rows, wide_values.data(), host_indices.data(), device);
  runtime::round_values(wide_values.data(), host_values.data(), int64_t(wide_values.size()),
                        g.options.threads);
  host_values.finish();
  host_indices.finish();
  if (device >= 0) runtime::cuda::synchronize(device);
}

// Batch dims: one run of the same compiled kernel per element of the broadcast batch shape,
// on offset pointers (host or device alike).
template <class T>
void run_batched(const GenredImpl& g, const std::vector<View<const T>>& args, View<T> values,
                 View<int64_t> indices) {
  const BatchShape batch = detail::broadcast_batch(args, g.args, "Genred");
  for (int64_t e = 0; e < batch.size(); ++e)
    run_impl<T>(g, detail::batch_element(args, batch, e),
                detail::output_element("Genred::run", "values", values, batch, e),
                detail::output_element("Genred::run", "indices", indices, batch, e));
}

template <class T>
void run_impl(const GenredImpl& g, const std::vector<View<const T>>& args, View<T> values,
              View<int64_t> indices) {
  if (detail::has_batch(args, values, indices)) return run_batched(g, args, values, indices);
  const detail::RowCounts rows = detail::check_arguments(g, args);
  const int64_t out_rows = rows.of(g.main.output_cat());
  detail::check_output("values", values, out_rows, g.main.value_cols(), g.options);
  detail::check_output("indices", indices, out_rows, g.main.index_cols(), g.options);
  if (g.options.ranges) detail::check_ranges(*g.options.ranges, rows.i, rows.j);
  const int device = uses_gpu(g.options) ? gpu_device(g.options, args, values, indices) : -1;
  const auto stream = static_cast<runtime::cuda::CUstream>(g.options.stream);
  // One kernel on the GPU: arrays in its memory are used in place, host arrays copied in and
  // out, and the run orders itself on the stream (and may be queued there).
  // (16-bit arrays: on the CPU too, where a single kernel is all that reads them.)
  const bool one_kernel_run = g.single_kernel() && (device >= 0 || is_16_bit<T>);
  if (one_kernel_run) {
    detail::run_kernel<T>(g.main, g.options, device,
                          {out_rows, rows.of(g.main.inner_cat()), args, values, indices}, stream);
    return;
  }
  if (device >= 0) runtime::cuda::wait_for_stream(device, stream);
  if constexpr (is_16_bit<T>) {
    return run_stages_widened<T>(g, args, rows, values, indices, device);
  } else {
    const bool in_device_memory =
        values.device >= 0 || indices.device >= 0 ||
        std::any_of(args.begin(), args.end(), [](const View<const T>& v) { return v.device >= 0; });
    if (in_device_memory) return run_stages_via_host<T>(g, args, rows, values, indices, device);
    std::vector<const T*> pointers;
    for (const auto& v : args) pointers.push_back(v.data);
    detail::run_stages<T>(g, pointers, rows, values.data, indices.data, device);
  }
}

template <class T>
Result<T> call_impl(const GenredImpl& g, const std::vector<View<const T>>& args) {
  const BatchShape batch = detail::broadcast_batch(args, g.args, "Genred");
  const detail::RowCounts rows = detail::check_arguments(g, detail::batch_element(args, batch, 0));
  Result<T> r;
  r.batch = batch;
  r.rows = rows.of(g.main.output_cat());
  r.cols = g.main.value_cols();
  r.index_cols = g.main.index_cols();
  // (The batch's elements x the rows x the columns.)
  auto allocate = [&](auto& out, const char* what, int64_t cols) {
    const std::string named = std::string(what) + " (" + std::to_string(batch.size()) + " x " +
                              std::to_string(r.rows) + " x " + std::to_string(cols) + ")";
    detail::allocate_output(out,
                            detail::checked_product("Genred", named, {batch.size(), r.rows, cols}),
                            "Genred", named);
  };
  allocate(r.values, "the values", r.cols);
  allocate(r.indices, "the indices", r.index_cols);
  run_impl<T>(g, args, View<T>{r.values.data(), r.rows, r.cols, -1, batch},
              View<int64_t>{r.indices.data(), r.rows, r.index_cols, -1, batch});
  return r;
}

}  // namespace

// The rows of the i and j arguments, checked against each other and the aliases; a
// category without arguments takes its size from Options::nx / ny.
template <class T>
detail::RowCounts detail::check_arguments(const GenredImpl& g,
                                          const std::vector<View<const T>>& args) {
  const size_t n = g.args.size();
  if (args.size() != n)
    throw Error("Genred: expected " + std::to_string(n) + " argument(s), got " +
                std::to_string(args.size()));
  int64_t rows_of[2] = {-1, -1};
  size_t first_of[2] = {0, 0};
  for (size_t k = 0; k < n; ++k) {
    const frontend::ArgInfo& a = g.args[k];
    const View<const T>& v = args[k];
    const std::string which = "argument " + std::to_string(k) + " (" + a.name + ")";
    if (v.device != -1 && !uses_gpu(g.options))
      throw Error(
          "Genred: " + which + " is in GPU memory, but this Genred runs on the CPU" +
          (gpu_available() ? std::string(" (Options::backend)") : ": " + gpu_unavailable_reason()));
    if (v.rows < 0 || v.cols < 0) throw Error("Genred: " + which + " has a negative shape");
    if (v.cols != a.dim)
      throw Error("Genred: " + which + " has " + std::to_string(v.cols) + " cols, but its dim is " +
                  std::to_string(a.dim));
    // A dim-0 argument (the cotangent of an index-only reduction) holds no values.
    if (v.data == nullptr && v.rows > 0 && a.dim > 0)
      throw Error("Genred: " + which + " has null data and " + std::to_string(v.rows) + " rows");
    if (a.cat == ir::CatP) {
      if (v.rows != 1)
        throw Error("Genred: " + which + " is a parameter and must have 1 row, not " +
                    std::to_string(v.rows));
      continue;
    }
    int64_t& rows = rows_of[a.cat];
    if (rows < 0) {
      rows = v.rows;
      first_of[a.cat] = k;
    } else if (rows != v.rows) {
      throw Error("Genred: " + which + " has " + std::to_string(v.rows) + " rows, but argument " +
                  std::to_string(first_of[a.cat]) + " (" + g.args[first_of[a.cat]].name +
                  ") of the same " + (a.cat == ir::CatI ? "i" : "j") + " category has " +
                  std::to_string(rows));
    }
  }
  const int64_t option_rows[2] = {g.options.nx, g.options.ny};
  for (int c = 0; c < 2; ++c)
    if (rows_of[c] < 0) {
      if (option_rows[c] < 0)
        throw Error(std::string("Genred: the formula has no ") + (c == 0 ? "i" : "j") +
                    " argument, so its size must be given in Options::" + (c == 0 ? "nx" : "ny"));
      rows_of[c] = option_rows[c];
    }
  return {rows_of[0], rows_of[1]};
}

template <class V>
void detail::check_output(const char* what, const V& view, int64_t rows, int64_t cols,
                          const Options& options) {
  if (cols == 0) return;
  if (view.device != -1 && !uses_gpu(options))
    throw Error(std::string("Genred::run: ") + what +
                " is in GPU memory, but this Genred runs on the CPU");
  if (view.rows != rows || view.cols != cols)
    throw Error(std::string("Genred::run: ") + what + " is " + std::to_string(view.rows) + " x " +
                std::to_string(view.cols) + ", expected " + std::to_string(rows) + " x " +
                std::to_string(cols));
  if (view.data == nullptr && rows > 0)
    throw Error(std::string("Genred::run: ") + what + " has null data");
}

template detail::RowCounts detail::check_arguments(const GenredImpl&,
                                                   const std::vector<View<const float>>&);
template detail::RowCounts detail::check_arguments(const GenredImpl&,
                                                   const std::vector<View<const double>>&);
template void detail::check_output(const char*, const View<float>&, int64_t, int64_t,
                                   const Options&);
template void detail::check_output(const char*, const View<double>&, int64_t, int64_t,
                                   const Options&);
template void detail::check_output(const char*, const View<int64_t>&, int64_t, int64_t,
                                   const Options&);

bool detail::uses_gpu(const Options& o) {
  return o.backend == Backend::GPU || (o.backend == Backend::Auto && gpu_available());
}

template <class T>
int detail::gpu_device(const Options& o, const std::vector<View<const T>>& args,
                       const View<T>& values, const View<int64_t>& indices) {
  int device = o.device;
  auto claim = [&](int d, const char* what) {
    if (d < 0) return;
    if (device >= 0 && d != device)
      throw Error(std::string("Genred: ") + what + " is on GPU " + std::to_string(d) +
                  ", but the call runs on GPU " + std::to_string(device));
    device = d;
  };
  for (const auto& v : args) claim(v.device, "an argument");
  claim(values.device, "values");
  claim(indices.device, "indices");
  device = std::max(device, 0);
  if (device >= runtime::cuda::device_count())
    throw Error("Genred: there is no GPU " + std::to_string(device) + " (" +
                std::to_string(runtime::cuda::device_count()) + " found)");
  return device;
}

template int detail::gpu_device(const Options&, const std::vector<View<const float>>&,
                                const View<float>&, const View<int64_t>&);
template int detail::gpu_device(const Options&, const std::vector<View<const double>>&,
                                const View<double>&, const View<int64_t>&);
template int detail::gpu_device(const Options&, const std::vector<View<const half>>&,
                                const View<half>&, const View<int64_t>&);
template int detail::gpu_device(const Options&, const std::vector<View<const bfloat16>>&,
                                const View<bfloat16>&, const View<int64_t>&);

std::shared_ptr<const GenredImpl> detail::make_genred_impl(const std::string& formula,
                                                           const std::vector<std::string>& aliases,
                                                           const std::string& reduction, int axis,
                                                           Options options) {
  auto g = std::make_shared<GenredImpl>();
  static_cast<program::ReductionProgram&>(*g) =
      program::parse_program(formula, aliases, reduction, axis, options.k, options.formula2);
  g->options = std::move(options);
  check_options(*g);
  return g;
}

Genred::Genred(std::string formula, std::vector<std::string> aliases, std::string reduction,
               int axis, Options options)
    : impl_(detail::make_genred_impl(formula, aliases, reduction, axis, std::move(options))) {}

Genred::Genred(std::shared_ptr<const detail::GenredImpl> impl) : impl_(std::move(impl)) {}

Result<float> Genred::operator()(const std::vector<View<const float>>& args) const {
  return call_impl<float>(*impl_, args);
}
Result<double> Genred::operator()(const std::vector<View<const double>>& args) const {
  return call_impl<double>(*impl_, args);
}
void Genred::run(const std::vector<View<const float>>& args, View<float> values,
                 View<int64_t> indices) const {
  run_impl<float>(*impl_, args, values, indices);
}
void Genred::run(const std::vector<View<const double>>& args, View<double> values,
                 View<int64_t> indices) const {
  run_impl<double>(*impl_, args, values, indices);
}
Result<half> Genred::operator()(const std::vector<View<const half>>& args) const {
  return call_impl<half>(*impl_, args);
}
Result<bfloat16> Genred::operator()(const std::vector<View<const bfloat16>>& args) const {
  return call_impl<bfloat16>(*impl_, args);
}
void Genred::run(const std::vector<View<const half>>& args, View<half> values,
                 View<int64_t> indices) const {
  run_impl<half>(*impl_, args, values, indices);
}
void Genred::run(const std::vector<View<const bfloat16>>& args, View<bfloat16> values,
                 View<int64_t> indices) const {
  run_impl<bfloat16>(*impl_, args, values, indices);
}

std::shared_ptr<const GenredImpl> detail::gradient(const GenredImpl& forward,
                                                   const std::string& var) {
  auto g = std::make_shared<GenredImpl>();
  static_cast<program::ReductionProgram&>(*g) = std::move(*program::gradient(forward, var));
  g->options = forward.options;
  return g;
}

Genred Genred::grad(const std::string& var) const { return Genred(detail::gradient(*impl_, var)); }

Genred Genred::with_options(Options options) const {
  if (options.k != impl_->options.k || options.formula2 != impl_->options.formula2)
    throw Error("Genred::with_options: k and formula2 shape the reduction (k = " +
                std::to_string(impl_->options.k) + ", formula2 = '" + impl_->options.formula2 +
                "') and cannot change; build another Genred");
  auto g = std::make_shared<GenredImpl>(*impl_);
  g->options = std::move(options);
  check_options(*g);
  return Genred(std::move(g));
}
const Options& Genred::options() const { return impl_->options; }

std::string Genred::formula() const {
  // A gradient through selected indices alone shows the gradient it evaluates at each pair.
  const detail::ReductionStage& shown =
      impl_->main.is_zero() && !impl_->selections.empty() ? impl_->selections[0].pair : impl_->main;
  return ir::print(shown.f.f64);
}
std::string Genred::reduction() const {
  return std::string(ir::reduction_name(impl_->main.reduction.kind));
}
int Genred::reduced_category() const {
  int category = -2;  // none yet
  auto reduces = [&](const detail::ReductionStage& s) {
    if (s.is_zero() || s.single_pair) return;  // no reduction, or a map of outer rows
    const int over = s.axis == 1 ? 1 : 0;
    category = category == -2 || category == over ? over : -1;
  };
  auto steps = [&](const detail::Step& step) {
    reduces(step.main);
    for (const detail::ReductionStage& s : step.more) reduces(s);
    for (const detail::SelectionTerm& s : step.selections) reduces(s.arg_reduction);
  };
  for (const detail::Step& step : impl_->hidden) steps(step);
  steps(*impl_);
  return category != -2 ? category : impl_->main.axis == 1 ? 1 : 0;
}
int Genred::axis() const { return impl_->main.sum_rows ? -1 : impl_->main.axis; }
int Genred::value_cols() const { return impl_->main.value_cols(); }
int Genred::index_cols() const { return impl_->main.index_cols(); }
int Genred::arg_count() const { return int(impl_->args.size()); }
std::vector<ArgumentInfo> Genred::arguments() const {
  std::vector<ArgumentInfo> out;
  for (const frontend::ArgInfo& a : impl_->args) out.push_back({a.name, a.dim, int(a.cat)});
  return out;
}

}  // namespace keops
