// keops_bench: runs the cases of BENCHMARKS.md by name and prints one JSON line per case.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <keops/keops.h>

#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/stream.h"

namespace {

struct Case {
  std::string name;
  std::string formula;
  std::vector<std::string> aliases;
  std::string reduction;
  bool float64;
  int64_t nx, ny;              // CPU sizes of BENCHMARKS.md
  int64_t quick_nx, quick_ny;  // --quick sizes
  int k = 0;                   // Options::k
  std::string formula2;        // Options::formula2
  // Non-empty: also time the gradient of sum(a^2), a the result, with respect to this
  // argument (e = 2a): the forward prints as "<name>_forward", the gradient as "<name>".
  std::string grad_var = "";
};

const std::vector<Case>& cases() {
  const std::vector<std::string> d3 = {"x=Vi(3)", "y=Vj(3)", "b=Vj(1)"};
  // clang-format off
  static const std::vector<Case> all = {
      {"gauss_sum_D3", "Exp(-SqDist(x,y))*b", d3, "Sum", false, 100000, 100000, 10000, 10000, 0, ""},
      {"gauss_sum_D3_f64", "Exp(-SqDist(x,y))*b", d3, "Sum", true, 20000, 20000, 5000, 5000, 0, ""},
      {"gauss_D64_E16", "Exp(-SqDist(x,y)*g)*b", {"x=Vi(64)", "y=Vj(64)", "b=Vj(16)", "g=Pm(1)"},
       "Sum", false, 20000, 20000, 4000, 4000, 0, ""},
      // Beyond BENCHMARKS.md: long vectors, streamed by the emitter (above kStreamDim = 64).
      {"gauss_D128_E16", "Exp(-SqDist(x,y)*g)*b", {"x=Vi(128)", "y=Vj(128)", "b=Vj(16)", "g=Pm(1)"},
       "Sum", false, 20000, 20000, 4000, 4000, 0, ""},
      {"gauss_D1000", "Exp(-SqDist(x,y)*g*0.001)*b", {"x=Vi(1000)", "y=Vj(1000)", "b=Vj(1)", "g=Pm(1)"},
       "Sum", false, 10000, 10000, 2000, 2000, 0, ""},
      {"logsumexp_D3", "-SqDist(x,y)", {"x=Vi(3)", "y=Vj(3)"}, "LogSumExp", false,
       20000, 20000, 5000, 5000, 0, ""},
      {"knn_D3", "SqDist(x,y)", {"x=Vi(3)", "y=Vj(3)"}, "ArgKMin", false,
       20000, 20000, 5000, 5000, 10, ""},
      {"knn_D64", "SqDist(x,y)", {"x=Vi(64)", "y=Vj(64)"}, "ArgKMin", false,
       10000, 100000, 2000, 20000, 10, ""},
      {"attention_D64", "(x|y)", {"x=Vi(64)", "y=Vj(64)", "v=Vj(64)"}, "SumSoftMaxWeight", false,
       10000, 10000, 2000, 2000, 0, "v"},
      {"gauss_grad_x", "Exp(-SqDist(x,y))*b", d3, "Sum", false, 100000, 100000, 10000, 10000, 0, "",
       "x"},
      // Beyond BENCHMARKS.md: the gradient of gauss_D64_E16 (issue 20's bench case).
      {"gauss_D64_E16_grad_x", "Exp(-SqDist(x,y)*g)*b", {"x=Vi(64)", "y=Vj(64)", "b=Vj(16)", "g=Pm(1)"},
       "Sum", false, 20000, 20000, 4000, 4000, 0, "", "x"},
      // Beyond BENCHMARKS.md: a gradient whose output is a long row (1000 columns).
      {"gauss_D1000_grad_x", "Exp(-SqDist(x,y)*g*0.001)*b", {"x=Vi(1000)", "y=Vj(1000)", "b=Vj(1)", "g=Pm(1)"},
       "Sum", false, 10000, 10000, 2000, 2000, 0, "", "x"},
  };
  // clang-format on
  return all;
}

struct Settings {
  bool quick = false;
  bool check = true;
  int repeat = 5;
  int threads = 0;
  bool gpu = false;       // --backend gpu: inputs and outputs in GPU 0's memory
  bool fast_math = true;  // --accurate: Options::gpu_fast_math = false
  // --devices 0,1 (or -1: all): Options::devices, one reduction on several GPUs, with the
  // inputs and outputs in host memory (each GPU copies in what it needs).
  std::vector<int> devices;
  // --tensor-cores auto|on|off, --matmul-precision float32|tf32: Options' matrix units.
  std::string tensor_cores = "auto";
  std::string matmul_precision = "float32";
  // --dtype float16|bfloat16: the float32 cases on 16-bit arrays (float64 ones stay).
  std::string dtype = "float32";
  int64_t nx = -1, ny = -1;
  std::vector<std::string> only;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class T>
std::vector<T> random_vector(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<T> v(n);
  for (T& x : v) x = T(u(rng));
  return v;
}

// Max-norm relative error of the first rows of a result against the float64 reference evaluator
// (for index-only reductions, the formula's values at the indices found, or the fraction of
// indices that differ).
template <class T>
double reference_error(const Case& c, const std::vector<std::vector<T>>& data,
                       const std::vector<keops::frontend::ArgInfo>& args,
                       const keops::Result<T>& result, int64_t ny, int64_t rows) {
  keops::ir::Context ctx;
  const auto table = keops::frontend::AliasTable::parse(c.aliases);
  auto f = keops::frontend::parse_formula(c.formula, table, ctx, keops::ir::DType::F64);
  std::vector<std::vector<double>> d;
  std::vector<const double*> ptrs;
  for (size_t k = 0; k < data.size(); ++k) {
    const size_t n = args[k].cat == keops::ir::CatI ? size_t(rows * args[k].dim) : data[k].size();
    d.emplace_back(data[k].begin(), data[k].begin() + long(n));
  }
  for (auto& v : d) ptrs.push_back(v.data());
  keops::ir::ReductionSpec spec;
  spec.kind = keops::ir::reduction_by_name(c.reduction);
  spec.k = c.k;
  if (!c.formula2.empty())
    spec.formula2 = keops::frontend::parse_formula(c.formula2, table, ctx, keops::ir::DType::F64);
  auto ref = keops::ir::reference_reduce(f, spec, 1, ptrs, rows, ny);
  double err = 0, norm = 0;
  for (size_t k = 0; k < ref.values.size(); ++k) {
    err = std::max(err, std::fabs(double(result.values[k]) - ref.values[k]));
    norm = std::max(norm, std::fabs(ref.values[k]));
  }
  if (ref.values.empty() && !ref.indices.empty()) {
    // Index-only reductions of a scalar formula (k-nearest neighbours): the formula at the
    // indices found against its value at the reference's, so that a near-tie of float32
    // distances, two indices swapped, counts as its rounding and not as a wrong index.
    if (f->dim == 1) {
      auto value_at = [&](int64_t i, int64_t j) {
        std::vector<const double*> pair_rows;
        for (size_t k = 0; k < args.size(); ++k)
          pair_rows.push_back(ptrs[k] + (args[k].cat == keops::ir::CatI   ? i * args[k].dim
                                         : args[k].cat == keops::ir::CatJ ? j * args[k].dim
                                                                          : 0));
        return keops::ir::evaluate(f, pair_rows)[0];
      };
      for (size_t k = 0; k < ref.indices.size(); ++k) {
        const int64_t i = int64_t(k) / ref.index_cols;
        const double expected = value_at(i, ref.indices[k]);
        err = std::max(err, std::fabs(value_at(i, result.indices[k]) - expected));
        norm = std::max(norm, std::fabs(expected));
      }
      return norm > 0 ? err / norm : err;
    }
    // Otherwise the fraction of indices that differ from the reference's.
    size_t differ = 0;
    for (size_t k = 0; k < ref.indices.size(); ++k) differ += ref.indices[k] != result.indices[k];
    return double(differ) / double(ref.indices.size());
  }
  return norm > 0 ? err / norm : err;
}

// The first call (compile included) and the later calls, which write into the first result,
// so memory stays inputs + one output.
template <class T>
struct Timing {
  keops::Result<T> result;
  double first = 0, median = 0, min = 0;
  double queued = NAN;  // GPU: seconds a call, calls queued back to back on a stream
};

// The median time a call of `run` takes when calls are queued back to back on `stream` (as
// PyTorch code runs them) and waited for once: blocks of about 20 ms.
template <class Run>
double queued_seconds(const keops::runtime::cuda::Stream& stream, double call_seconds, int repeat,
                      Run&& run) {
  const int calls = int(std::clamp(0.02 / call_seconds, 1.0, 100.0));
  std::vector<double> times;
  for (int r = 0; r < std::max(repeat, 1); ++r) {
    stream.synchronize();
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < calls; ++c) run();
    stream.synchronize();
    times.push_back(seconds_since(start) / calls);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

template <class T>
Timing<T> time_calls(const keops::Genred& op, const std::vector<keops::View<const T>>& views,
                     int repeat, std::chrono::steady_clock::time_point t0, bool gpu) {
  Timing<T> t;
  t.result = op(views);
  t.first = seconds_since(t0);
  keops::View<T> values{t.result.values.data(), t.result.rows, t.result.cols};
  keops::View<int64_t> indices{t.result.indices.data(), t.result.rows, t.result.index_cols};
  // On the GPU the timed calls write to device memory, as KeOps's do to torch tensors.
  keops::runtime::cuda::DeviceBuffer device_values, device_indices;
  if (gpu) {
    device_values = {0, t.result.values.size() * sizeof(T)};
    device_indices = {0, t.result.indices.size() * sizeof(int64_t)};
    values = {device_values.as<T>(), t.result.rows, t.result.cols, 0};
    indices = {device_indices.as<int64_t>(), t.result.rows, t.result.index_cols, 0};
  }
  std::vector<double> times;
  for (int r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    op.run(views, values, indices);
    times.push_back(seconds_since(start));
  }
  std::sort(times.begin(), times.end());
  t.median = times.empty() ? t.first : times[times.size() / 2];
  t.min = times.empty() ? t.first : times.front();
  if (gpu) {
    const keops::runtime::cuda::Stream stream(0);
    keops::Options queued_options = op.options();
    queued_options.stream = stream.get();
    const keops::Genred queued_op = op.with_options(queued_options);
    t.queued =
        queued_seconds(stream, t.median, repeat, [&] { queued_op.run(views, values, indices); });
  }
  return t;
}

// JSON has no NaN or infinity: an unchecked error (--no-check) is null, and so is an infinite
// one (a float16 output past 65504), with "overflow" beside it.
std::string json_number(double v, int digits = 3) {
  if (std::isnan(v)) return "null";
  if (std::isinf(v)) return "null, \"overflow\": true";
  char text[32];
  std::snprintf(text, sizeof text, "%.*g", digits, v);
  return text;
}

template <class T>
void print_line(const std::string& name, int64_t nx, int64_t ny, const Settings& s,
                const Timing<T>& t, double err) {
  std::printf(
      "{\"case\": \"%s\", \"backend\": \"%s\", \"dtype\": \"%s\", \"nx\": %lld, \"ny\": %lld, "
      "\"threads\": %d, \"median_s\": %.6g, \"min_s\": %.6g, \"first_call_s\": %.6g, "
      "\"pairs_per_s\": %.4g, \"max_rel_err\": %s, \"queued_s\": %s%s%s}\n",
      name.c_str(), s.gpu || !s.devices.empty() ? (s.fast_math ? "gpu" : "gpu-accurate") : "cpu",
      keops::dtype_name<T>(), (long long)nx, (long long)ny, s.threads, t.median, t.min, t.first,
      double(nx) * double(ny) / t.median, json_number(err).c_str(),
      json_number(t.queued, 6).c_str(),
      s.devices.empty() ? "" : (", \"devices\": " + std::to_string(s.devices.size())).c_str(),
      s.gpu || !s.devices.empty() ? (", \"tensor_cores\": \"" + s.tensor_cores +
                                     "\", \"matmul_precision\": \"" + s.matmul_precision + "\"")
                                        .c_str()
                                  : "");
  std::fflush(stdout);
}

template <class T>
void run_case(const Case& c, const Settings& s) {
  const int64_t nx = s.nx > 0 ? s.nx : (s.quick ? c.quick_nx : c.nx);
  const int64_t ny = s.ny > 0 ? s.ny : (s.quick ? c.quick_ny : c.ny);
  keops::Options options;
  options.threads = s.threads;
  options.k = c.k;
  options.formula2 = c.formula2;
  options.backend = s.gpu || !s.devices.empty() ? keops::Backend::GPU : keops::Backend::CPU;
  options.devices = s.devices;
  options.gpu_fast_math = s.fast_math;
  options.tensor_cores = s.tensor_cores == "on"    ? keops::TensorCores::On
                         : s.tensor_cores == "off" ? keops::TensorCores::Off
                                                   : keops::TensorCores::Auto;
  options.matmul_precision =
      s.matmul_precision == "tf32" ? keops::MatmulPrecision::TF32 : keops::MatmulPrecision::Float32;
  keops::ir::Context ctx;
  const auto table = keops::frontend::AliasTable::parse(c.aliases);
  std::vector<keops::ir::Expr> roots = {
      keops::frontend::parse_formula(c.formula, table, ctx, keops::ir::DType::F64)};
  if (!c.formula2.empty())
    roots.push_back(keops::frontend::parse_formula(c.formula2, table, ctx, keops::ir::DType::F64));
  auto args = keops::frontend::collect_arguments(table, roots);
  std::vector<std::vector<T>> data;
  std::vector<keops::View<const T>> views;
  for (size_t k = 0; k < args.size(); ++k) {
    const int64_t rows = args[k].cat == keops::ir::CatI   ? nx
                         : args[k].cat == keops::ir::CatJ ? ny
                                                          : 1;
    data.push_back(random_vector<T>(size_t(rows * args[k].dim), 1000 + k));
  }
  for (size_t k = 0; k < args.size(); ++k)
    views.push_back({data[k].data(), int64_t(data[k].size()) / args[k].dim, args[k].dim});
  std::vector<keops::runtime::cuda::DeviceBuffer>
      on_gpu;  // the inputs, on GPU 0 with --backend gpu
  auto to_gpu = [&](keops::View<const T>& v) {
    if (!s.gpu) return;
    on_gpu.emplace_back(0, size_t(v.rows * v.cols) * sizeof(T));
    if (v.rows * v.cols > 0) on_gpu.back().upload(v.data, on_gpu.back().bytes());
    v = {on_gpu.back().template as<T>(), v.rows, v.cols, 0};
  };
  on_gpu.reserve(args.size() + 1);
  for (auto& v : views) to_gpu(v);

  const int64_t check_rows = std::min<int64_t>(nx, 16);
  const auto t0 = std::chrono::steady_clock::now();
  const keops::Genred op(c.formula, c.aliases, c.reduction, 1, options);
  const Timing<T> forward = time_calls<T>(op, views, s.repeat, t0, s.gpu);
  const double err =
      s.check ? reference_error<T>(c, data, args, forward.result, ny, check_rows) : NAN;
  if (c.grad_var.empty()) {
    print_line(c.name, nx, ny, s, forward, err);
    return;
  }
  print_line(c.name + "_forward", nx, ny, s, forward, err);

  // The gradient of sum(a^2): its cotangent e = 2a is one more argument, of a's rows.
  const auto t1 = std::chrono::steady_clock::now();
  const keops::Genred grad = op.grad(c.grad_var);
  data.emplace_back(forward.result.values);
  for (T& v : data.back()) v = T(2 * float(v));
  args.push_back({"e", int(forward.result.cols), keops::ir::CatI});
  views.push_back({data.back().data(), forward.result.rows, forward.result.cols});
  to_gpu(views.back());
  const Timing<T> gradient = time_calls<T>(grad, views, s.repeat, t1, s.gpu);
  // The gradient's reference: its formula (Var leaves, no aliases) summed over j.
  Case grad_case = c;
  grad_case.formula = grad.formula();
  grad_case.aliases = {};
  grad_case.reduction = "Sum";
  grad_case.k = 0;
  grad_case.formula2 = "";
  const double grad_err =
      s.check ? reference_error<T>(grad_case, data, args, gradient.result, ny, check_rows) : NAN;
  print_line(c.name, nx, ny, s, gradient, grad_err);
}

// "a,b,c" -> {"a", "b", "c"}; "" -> {""}.
std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  for (size_t pos = 0; pos <= list.size();) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    items.push_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return items;
}

int usage() {
  std::fprintf(stderr,
               "usage: keops_bench [--quick] [--cases a,b] [--repeat N] [--threads T]\n"
               "                   [--backend cpu|gpu] [--accurate] [--nx N] [--ny M]\n"
               "                   [--devices 0,1 | -1] [--no-check] [--list]\n"
               "                   [--tensor-cores auto|on|off] [--matmul-precision float32|tf32]\n"
               "                   [--dtype float32|float16|bfloat16]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    auto value = [&]() -> std::string { return k + 1 < argc ? argv[++k] : ""; };
    if (a == "--quick")
      s.quick = true;
    else if (a == "--no-check")
      s.check = false;
    else if (a == "--accurate")
      s.fast_math = false;
    else if (a == "--backend") {
      const std::string b = value();
      if (b != "cpu" && b != "gpu") return usage();
      s.gpu = b == "gpu";
    } else if (a == "--tensor-cores") {
      s.tensor_cores = value();
      if (s.tensor_cores != "auto" && s.tensor_cores != "on" && s.tensor_cores != "off")
        return usage();
    } else if (a == "--matmul-precision") {
      s.matmul_precision = value();
      if (s.matmul_precision != "float32" && s.matmul_precision != "tf32") return usage();
    } else if (a == "--dtype") {
      s.dtype = value();
      if (s.dtype != "float32" && s.dtype != "float16" && s.dtype != "bfloat16") return usage();
    } else if (a == "--repeat")
      s.repeat = std::atoi(value().c_str());
    else if (a == "--threads")
      s.threads = std::atoi(value().c_str());
    else if (a == "--nx")
      s.nx = std::atoll(value().c_str());
    else if (a == "--ny")
      s.ny = std::atoll(value().c_str());
    else if (a == "--cases")
      s.only = split_commas(value());
    else if (a == "--devices") {
      for (const std::string& device : split_commas(value()))
        s.devices.push_back(std::atoi(device.c_str()));
    } else if (a == "--list") {
      for (const Case& c : cases()) std::printf("%s\n", c.name.c_str());
      return 0;
    } else
      return usage();
  }
  // Several devices take host arrays: device-resident inputs would all be on GPU 0.
  if (!s.devices.empty() && s.gpu) return usage();
  for (const std::string& name : s.only)
    if (std::none_of(cases().begin(), cases().end(),
                     [&](const Case& c) { return c.name == name; })) {
      std::fprintf(stderr, "keops_bench: unknown case '%s' (see --list)\n", name.c_str());
      return 2;
    }
  try {
    for (const Case& c : cases()) {
      if (!s.only.empty() && std::find(s.only.begin(), s.only.end(), c.name) == s.only.end())
        continue;
      if (c.float64)
        run_case<double>(c, s);
      else if (s.dtype == "float16")
        run_case<keops::half>(c, s);
      else if (s.dtype == "bfloat16")
        run_case<keops::bfloat16>(c, s);
      else
        run_case<float>(c, s);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keops_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
