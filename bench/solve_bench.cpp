// solve_bench: times KernelSolve on a Gaussian kernel system and prints one JSON line per solve.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "runtime/cuda/memory.h"

namespace {

// (alpha I + K) a = b with K_ij = exp(-g |x_i - x_j|^2), x uniform in the unit cube:
// sigma = 0.1 (g = 1 / (2 sigma^2) = 50) and alpha = 0.8 by default, KeOps's tutorial system.
struct Settings {
  bool gpu = false;
  bool float64 = false;
  int64_t n = -1;  // default: 1e4 on the CPU, 1e5 on the GPU
  double alpha = 0.8;
  double g = 50.0;
  double tolerance = 1e-6;
  int max_iterations = 0;
  int repeat = 3;
  int threads = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class T>
std::vector<T> uniform(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = T(u(rng));
  return v;
}

template <class T>
void run(const Settings& s) {
  const int64_t n = s.n > 0 ? s.n : (s.gpu ? 100000 : 10000);
  keops::Options options;
  options.backend = s.gpu ? keops::Backend::GPU : keops::Backend::CPU;
  options.threads = s.threads;
  const std::vector<T> x = uniform<T>(size_t(3 * n), 1, 0, 1);
  const std::vector<T> b = uniform<T>(size_t(n), 2, -1, 1);
  const std::vector<T> g = {T(s.g)};
  std::vector<keops::View<const T>> args = {
      {x.data(), n, 3}, {x.data(), n, 3}, {b.data(), n, 1}, {g.data(), 1, 1}};
  // With --backend gpu the points and b start in GPU 0's memory, as KeOps's torch tensors.
  std::vector<keops::runtime::cuda::DeviceBuffer> on_gpu;
  if (s.gpu) {
    on_gpu.reserve(2);
    for (const std::vector<T>* v : {&x, &b}) {
      on_gpu.emplace_back(0, v->size() * sizeof(T));
      on_gpu.back().upload(v->data(), on_gpu.back().bytes());
    }
    args[0] = args[1] = {on_gpu[0].template as<const T>(), n, 3, 0};
    args[2] = {on_gpu[1].template as<const T>(), n, 1, 0};
  }
  const auto t0 = std::chrono::steady_clock::now();
  const keops::KernelSolve solve("Exp(-g * SqDist(x, y)) * b",
                                 {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "g = Pm(1)"}, "b", 1,
                                 options);
  keops::SolveInfo info;
  solve(args, s.alpha, s.tolerance, s.max_iterations, &info);
  const double first = seconds_since(t0);
  std::vector<double> times;
  for (int r = 0; r < s.repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    solve(args, s.alpha, s.tolerance, s.max_iterations, &info);
    times.push_back(seconds_since(start));
  }
  std::sort(times.begin(), times.end());
  const double median = times.empty() ? first : times[times.size() / 2];
  // Each solve makes iterations + 1 products (the last recomputes the residual).
  std::printf(
      "{\"case\": \"gauss_solve_D3\", \"backend\": \"%s\", \"dtype\": \"%s\", \"n\": %lld, "
      "\"alpha\": %g, \"sigma\": %g, \"tolerance\": %g, \"threads\": %d, \"iterations\": %d, "
      "\"converged\": %s, \"residual\": %.3g, \"median_s\": %.6g, \"min_s\": %.6g, "
      "\"first_call_s\": %.6g, \"per_product_s\": %.6g}\n",
      s.gpu ? "gpu" : "cpu", sizeof(T) == 4 ? "float32" : "float64", (long long)n, s.alpha,
      1.0 / std::sqrt(2 * s.g), s.tolerance, s.threads, info.iterations,
      info.converged ? "true" : "false", info.residual, median,
      times.empty() ? first : times.front(), first, median / (info.iterations + 1));
  std::fflush(stdout);
}

int usage() {
  std::fprintf(stderr,
               "usage: solve_bench [--backend cpu|gpu] [--n N] [--dtype float32|float64]\n"
               "                   [--alpha A] [--g G] [--tolerance T] [--max-iterations K]\n"
               "                   [--repeat R] [--threads T]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (k + 1 >= argc) return usage();
    const std::string v = argv[++k];
    if (a == "--backend" && (v == "cpu" || v == "gpu"))
      s.gpu = v == "gpu";
    else if (a == "--dtype" && (v == "float32" || v == "float64"))
      s.float64 = v == "float64";
    else if (a == "--n")
      s.n = std::atoll(v.c_str());
    else if (a == "--alpha")
      s.alpha = std::atof(v.c_str());
    else if (a == "--g")
      s.g = std::atof(v.c_str());
    else if (a == "--tolerance")
      s.tolerance = std::atof(v.c_str());
    else if (a == "--max-iterations")
      s.max_iterations = std::atoi(v.c_str());
    else if (a == "--repeat")
      s.repeat = std::atoi(v.c_str());
    else if (a == "--threads")
      s.threads = std::atoi(v.c_str());
    else
      return usage();
  }
  try {
    if (s.float64)
      run<double>(s);
    else
      run<float>(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "solve_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
