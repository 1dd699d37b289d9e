// pykeops._keops: the nanobind binding of the public keops API (Genred, KernelSolve, caches).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <keops/keops.h>

namespace nb = nanobind;

namespace {

using Array = nb::ndarray<>;
using HostIndices = nb::ndarray<const int64_t, nb::device::cpu, nb::c_contig>;

// Where an array lives, as a View's device: -1 for host memory, the GPU id for CUDA memory.
int device_of(const Array& a, const std::string& what) {
  if (a.device_type() == nb::device::cpu::value) return -1;
  if (a.device_type() == nb::device::cuda::value) return int(a.device_id());
  throw nb::type_error((what + ": arrays must be in host or CUDA device memory (DLPack device " +
                        std::to_string(a.device_type()) + ")")
                           .c_str());
}

void check_contiguous(const Array& a, const std::string& what) {
  if (a.size() == 0) return;  // an empty array's strides are arbitrary
  int64_t step = 1;
  for (size_t d = a.ndim(); d-- > 0;) {
    if (a.shape(d) != 1 && a.stride(d) != step)
      throw nb::value_error((what + ": the array is not C-contiguous").c_str());
    step *= int64_t(a.shape(d));
  }
}

// The leading `count` dims of a as batch dims.
keops::BatchShape batch_of(const Array& a, size_t count) {
  keops::BatchShape batch;
  batch.count = int(count);
  for (size_t d = 0; d < count; ++d) batch.dims[d] = int64_t(a.shape(d));
  return batch;
}

// The DLPack dtype of arrays of T.
template <class T>
nb::dlpack::dtype dlpack_dtype() {
  if constexpr (std::is_same_v<T, keops::half>)
    return {uint8_t(nb::dlpack::dtype_code::Float), 16, 1};
  else if constexpr (std::is_same_v<T, keops::bfloat16>)
    return {uint8_t(nb::dlpack::dtype_code::Bfloat), 16, 1};
  else
    return nb::dtype<T>();
}

// An array of (batch..., rows, cols) values of T (a parameter: (batch..., cols), one row).
template <class T>
keops::View<const T> argument_view(const Array& a, const keops::ArgumentInfo& info, size_t k) {
  const std::string what = "argument " + std::to_string(k) + " (" + info.name + ")";
  if (a.dtype() != dlpack_dtype<T>())
    throw nb::type_error((what + ": expected an array of " + keops::dtype_name<T>() +
                          " like the first argument, got another dtype")
                             .c_str());
  const bool parameter = info.category == 2;
  const size_t trailing = parameter ? 1 : 2;
  if (a.ndim() < trailing)
    throw nb::value_error((what + (parameter ? " is a parameter: expected an array of shape "
                                               "(..., dim), got a 0-d array"
                                             : " is a variable: expected an array of shape "
                                               "(..., rows, dim), got " +
                                                   std::to_string(a.ndim()) + " dim(s)"))
                              .c_str());
  check_contiguous(a, what);
  const size_t nd = a.ndim();
  return {static_cast<const T*>(a.data()), parameter ? 1 : int64_t(a.shape(nd - 2)),
          int64_t(a.shape(nd - 1)), device_of(a, what), batch_of(a, nd - trailing)};
}

// An output (batch..., rows, cols) of T, or an empty view for None.
template <class T>
keops::View<T> output_view(const std::optional<Array>& a, const char* what) {
  if (!a) return {nullptr, 0, 0};
  if (a->dtype() != dlpack_dtype<T>())
    throw nb::type_error((std::string(what) + ": wrong dtype").c_str());
  if (a->ndim() < 2)
    throw nb::value_error((std::string(what) + ": expected (..., rows, cols)").c_str());
  check_contiguous(*a, what);
  const size_t nd = a->ndim();
  return {static_cast<T*>(a->data()), int64_t(a->shape(nd - 2)), int64_t(a->shape(nd - 1)),
          device_of(*a, what), batch_of(*a, nd - 2)};
}

template <class T>
std::vector<keops::View<const T>> argument_views(const std::vector<keops::ArgumentInfo>& infos,
                                                 const std::vector<Array>& args) {
  if (args.size() != infos.size())
    throw nb::value_error(("expected " + std::to_string(infos.size()) + " argument(s), got " +
                           std::to_string(args.size()))
                              .c_str());
  std::vector<keops::View<const T>> views;
  views.reserve(args.size());
  for (size_t k = 0; k < args.size(); ++k) views.push_back(argument_view<T>(args[k], infos[k], k));
  return views;
}

// Calls f(T()) for T the first argument's element type (float32 without arguments).
template <class F>
void with_element_type(const std::vector<Array>& args, F&& f) {
  if (args.empty() || args[0].dtype() == nb::dtype<float>()) return f(float(0));
  if (args[0].dtype() == nb::dtype<double>()) return f(double(0));
  if (args[0].dtype() == dlpack_dtype<keops::half>()) return f(keops::half());
  if (args[0].dtype() == dlpack_dtype<keops::bfloat16>()) return f(keops::bfloat16());
  throw nb::type_error(
      "argument 0: keops computes on float16, bfloat16, float32 or float64 arrays (not on "
      "integers or complex numbers)");
}

// Whether KernelSolve's arguments hold float64 values (else float32): the first argument's
// dtype; conjugate gradients in 16 bits would not converge to float32's tolerances.
bool float64_arguments(const std::vector<Array>& args) {
  bool float64 = false;
  with_element_type(args, [&](auto zero) {
    using T = decltype(zero);
    if (sizeof(T) == 2)
      throw nb::type_error(
          "KernelSolve: float16 and bfloat16 arrays are not supported (solve in float32)");
    float64 = sizeof(T) == 8;
  });
  return float64;
}

// Runs op on the arrays, writing the outputs in place; the GIL is released meanwhile.
void run_genred(const keops::Genred& op, const std::vector<Array>& args,
                const std::optional<Array>& values, const std::optional<Array>& indices) {
  const std::vector<keops::ArgumentInfo> infos = op.arguments();
  const keops::View<int64_t> index_view = output_view<int64_t>(indices, "indices");
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const auto views = argument_views<T>(infos, args);
    const keops::View<T> value_view = output_view<T>(values, "values");
    nb::gil_scoped_release release;
    op.run(views, value_view, index_view);
  };
  with_element_type(args, run);
}

// What run() hands keops for each array: (address, rows, cols, device, batch dims), so that
// tests can check that arrays are used in place.
std::vector<std::tuple<uintptr_t, int64_t, int64_t, int, std::vector<int64_t>>> argument_views_of(
    const keops::Genred& op, const std::vector<Array>& args) {
  std::vector<std::tuple<uintptr_t, int64_t, int64_t, int, std::vector<int64_t>>> out;
  auto describe = [&](auto zero) {
    using T = decltype(zero);
    for (const auto& v : argument_views<T>(op.arguments(), args)) {
      std::vector<int64_t> batch;
      for (int d = 0; d < v.batch.count; ++d) batch.push_back(v.batch.dims[size_t(d)]);
      out.emplace_back(uintptr_t(v.data), v.rows, v.cols, v.device, batch);
    }
  };
  with_element_type(args, describe);
  return out;
}

// A host Result as a NumPy array of (batch..., rows, cols) values that owns its storage.
template <class T>
nb::ndarray<nb::numpy, T> numpy_of(std::vector<T>&& values, int64_t rows, int64_t cols) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  const size_t shape[2] = {size_t(rows), size_t(cols)};
  return nb::ndarray<nb::numpy, T>(owned->data(), 2, shape, owner);
}

template <class T>
nb::object solve_typed(const keops::KernelSolve& s, const std::vector<Array>& args, double alpha,
                       double tolerance, int max_iterations) {
  const auto views = argument_views<T>(s.kernel().arguments(), args);
  keops::SolveInfo info;
  keops::Result<T> r;
  {
    nb::gil_scoped_release release;
    r = s(views, alpha, tolerance, max_iterations, &info);
  }
  return nb::make_tuple(nb::cast(numpy_of(std::move(r.values), r.rows, r.cols)), info.iterations,
                        info.residual, info.converged);
}

template <class T>
nb::object solve_gradient_typed(const keops::KernelSolve& s, const std::vector<Array>& args,
                                double alpha, const Array& solution, const Array& cotangent,
                                const std::string& wrt, double tolerance, int max_iterations) {
  const auto infos = s.kernel().arguments();
  const auto views = argument_views<T>(infos, args);
  const keops::ArgumentInfo& b = infos[size_t(s.var_position())];
  const auto a = argument_view<T>(solution, b, size_t(s.var_position()));
  const auto e = argument_view<T>(cotangent, b, size_t(s.var_position()));
  keops::Result<T> r;
  {
    nb::gil_scoped_release release;
    r = s.gradient(views, alpha, a, e, wrt, tolerance, max_iterations);
  }
  return nb::cast(numpy_of(std::move(r.values), r.rows, r.cols));
}

// Options::ranges from six host int64 arrays: ranges_i (Mc, 2), slices_i (Mc,),
// redranges_j (Mcc, 2), then the same for the other axis.
void set_ranges(keops::Options& o, const std::vector<HostIndices>& arrays) {
  if (arrays.size() != 6) throw nb::value_error("ranges: expected a 6-tuple of int64 arrays");
  auto pairs = [](const HostIndices& a, const char* what) {
    if (a.ndim() != 2 || a.shape(1) != 2)
      throw nb::value_error(
          (std::string("ranges: ") + what + " must have shape (count, 2)").c_str());
    std::vector<keops::RowRange> out(a.shape(0));
    const int64_t* p = a.data();
    for (size_t r = 0; r < out.size(); ++r) out[r] = {p[2 * r], p[2 * r + 1]};
    return out;
  };
  auto ends = [](const HostIndices& a, const char* what) {
    if (a.ndim() != 1)
      throw nb::value_error((std::string("ranges: ") + what + " must have shape (count,)").c_str());
    return std::vector<int64_t>(a.data(), a.data() + a.shape(0));
  };
  keops::Ranges r;
  r.ranges_i = pairs(arrays[0], "ranges_i");
  r.slices_i = ends(arrays[1], "slices_i");
  r.redranges_j = pairs(arrays[2], "redranges_j");
  r.ranges_j = pairs(arrays[3], "ranges_j");
  r.slices_j = ends(arrays[4], "slices_j");
  r.redranges_i = pairs(arrays[5], "redranges_i");
  o.ranges = std::move(r);
}

void bind_options(nb::module_& m) {
  nb::enum_<keops::Backend>(m, "Backend")
      .value("Auto", keops::Backend::Auto)
      .value("CPU", keops::Backend::CPU)
      .value("GPU", keops::Backend::GPU);
  nb::enum_<keops::SumScheme>(m, "SumScheme")
      .value("Auto", keops::SumScheme::Auto)
      .value("Direct", keops::SumScheme::Direct)
      .value("Block", keops::SumScheme::Block)
      .value("Kahan", keops::SumScheme::Kahan);
  nb::enum_<keops::TensorCores>(m, "TensorCores")
      .value("Auto", keops::TensorCores::Auto)
      .value("On", keops::TensorCores::On)
      .value("Off", keops::TensorCores::Off);
  nb::enum_<keops::MatmulPrecision>(m, "MatmulPrecision")
      .value("Float32", keops::MatmulPrecision::Float32)
      .value("TF32", keops::MatmulPrecision::TF32);
  nb::class_<keops::Options>(m, "Options")
      .def(nb::init<>())
      .def("__copy__", [](const keops::Options& o) { return keops::Options(o); })
      .def_rw("backend", &keops::Options::backend)
      .def_rw("device", &keops::Options::device)
      .def_rw("k", &keops::Options::k)
      .def_rw("formula2", &keops::Options::formula2)
      .def_rw("sum_scheme", &keops::Options::sum_scheme)
      .def_rw("float64_accumulator", &keops::Options::float64_accumulator)
      .def_rw("gpu_fast_math", &keops::Options::gpu_fast_math)
      .def_rw("tensor_cores", &keops::Options::tensor_cores)
      .def_rw("matmul_precision", &keops::Options::matmul_precision)
      .def_rw("threads", &keops::Options::threads)
      .def_rw("nx", &keops::Options::nx)
      .def_rw("ny", &keops::Options::ny)
      .def_rw("devices", &keops::Options::devices)
      .def_rw("gpu_memory_limit", &keops::Options::gpu_memory_limit)
      .def_prop_rw(
          "stream", [](const keops::Options& o) { return uintptr_t(o.stream); },
          [](keops::Options& o, uintptr_t s) { o.stream = reinterpret_cast<void*>(s); })
      .def("set_ranges", &set_ranges)
      .def("clear_ranges", [](keops::Options& o) { o.ranges.reset(); })
      .def_prop_ro("has_ranges", [](const keops::Options& o) { return o.ranges.has_value(); });
}

void bind_genred(nb::module_& m) {
  nb::class_<keops::Genred>(m, "Genred")
      .def(nb::init<std::string, std::vector<std::string>, std::string, int, keops::Options>(),
           nb::arg("formula"), nb::arg("aliases"), nb::arg("reduction") = "Sum",
           nb::arg("axis") = 0, nb::arg("options") = keops::Options())
      .def("run", &run_genred, nb::arg("args"), nb::arg("values").none(), nb::arg("indices").none())
      .def("argument_views", &argument_views_of, nb::arg("args"))
      .def("grad", &keops::Genred::grad)
      .def("with_options", &keops::Genred::with_options)
      .def_prop_ro("options", &keops::Genred::options)
      .def_prop_ro("formula", &keops::Genred::formula)
      .def_prop_ro("axis", &keops::Genred::axis)
      .def_prop_ro("value_cols", &keops::Genred::value_cols)
      .def_prop_ro("index_cols", &keops::Genred::index_cols)
      .def_prop_ro("arguments", [](const keops::Genred& op) {
        std::vector<std::tuple<std::string, int, int>> out;
        for (const keops::ArgumentInfo& a : op.arguments())
          out.emplace_back(a.name, a.dim, a.category);
        return out;
      });
}

void bind_kernel_solve(nb::module_& m) {
  nb::class_<keops::KernelSolve>(m, "KernelSolve")
      .def(nb::init<std::string, std::vector<std::string>, std::string, int, keops::Options>(),
           nb::arg("formula"), nb::arg("aliases"), nb::arg("var"), nb::arg("axis") = 0,
           nb::arg("options") = keops::Options())
      .def("with_options", &keops::KernelSolve::with_options)
      .def_prop_ro("options", [](const keops::KernelSolve& s) { return s.kernel().options(); })
      .def_prop_ro("kernel", &keops::KernelSolve::kernel)
      .def_prop_ro("var_position", &keops::KernelSolve::var_position)
      .def(
          "solve",
          [](const keops::KernelSolve& s, const std::vector<Array>& args, double alpha,
             double tolerance, int max_iterations) {
            return float64_arguments(args)
                       ? solve_typed<double>(s, args, alpha, tolerance, max_iterations)
                       : solve_typed<float>(s, args, alpha, tolerance, max_iterations);
          },
          nb::arg("args"), nb::arg("alpha"), nb::arg("tolerance"), nb::arg("max_iterations"))
      .def(
          "gradient",
          [](const keops::KernelSolve& s, const std::vector<Array>& args, double alpha,
             const Array& solution, const Array& cotangent, const std::string& wrt,
             double tolerance, int max_iterations) {
            return float64_arguments(args)
                       ? solve_gradient_typed<double>(s, args, alpha, solution, cotangent, wrt,
                                                      tolerance, max_iterations)
                       : solve_gradient_typed<float>(s, args, alpha, solution, cotangent, wrt,
                                                     tolerance, max_iterations);
          },
          nb::arg("args"), nb::arg("alpha"), nb::arg("solution"), nb::arg("cotangent"),
          nb::arg("wrt"), nb::arg("tolerance"), nb::arg("max_iterations"));
}

}  // namespace

NB_MODULE(_keops, m) {
  m.doc() = "keops, the LLVM formula compiler, for pykeops";
  // Autograd graphs that hold reductions may still be alive when the interpreter exits.
  nb::set_leak_warnings(false);
  nb::exception<keops::Error>(m, "KeOpsError", PyExc_ValueError);
  bind_options(m);
  bind_genred(m);
  bind_kernel_solve(m);
  m.def("gpu_available", &keops::gpu_available);
  m.def("gpu_unavailable_reason", &keops::gpu_unavailable_reason);
  m.def("cache_directory", &keops::cache_directory);
  m.def("set_cache_directory", &keops::set_cache_directory);
  m.def("clear_cache", &keops::clear_cache);
}
