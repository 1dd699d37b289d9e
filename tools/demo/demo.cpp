// The quick-start demo: a Gaussian kernel sum over 1e5 points in 3-D, checked against the reference.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <keops/keops.h>

#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"

int main() {
  const int64_t n = 100000, m = 100000;
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n * 3), y(m * 3), b(m);
  for (float& v : x) v = normal(rng);
  for (float& v : y) v = normal(rng);
  for (float& v : b) v = normal(rng);

  const char* formula = "Exp(-SqDist(x, y)) * b";
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
  try {
    keops::Genred gauss(formula, aliases, "Sum", /*axis=*/1);
    const auto t0 = std::chrono::steady_clock::now();
    auto a = gauss({{x.data(), n, 3}, {y.data(), m, 3}, {b.data(), m, 1}});
    const double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto t1 = std::chrono::steady_clock::now();
    a = gauss({{x.data(), n, 3}, {y.data(), m, 3}, {b.data(), m, 1}});
    const double again = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

    const char* backend = keops::gpu_available() ? "gpu" : "cpu";
    std::printf("a_i = Sum_j %s, x=Vi(3), y=Vj(3), b=Vj(1), N = M = %lld, float32\n", formula,
                static_cast<long long>(n));
    std::printf("backend: %s%s%s\n", backend, keops::gpu_available() ? "" : " (GPU: ",
                keops::gpu_available() ? "" : (keops::gpu_unavailable_reason() + ")").c_str());
    std::printf("first call (compile + run): %.1f ms; second call: %.1f ms (%.2e pairs/s)\n",
                first * 1e3, again * 1e3, double(n) * double(m) / again);

    // Check rows 0..9 against the float64 reference evaluator.
    const int64_t rows = 10;
    keops::ir::Context ctx;
    const auto table = keops::frontend::AliasTable::parse(aliases);
    auto f = keops::frontend::parse_formula(formula, table, ctx, keops::ir::DType::F64);
    std::vector<double> xd(x.begin(), x.begin() + rows * 3), yd(y.begin(), y.end()), bd(b.begin(), b.end());
    auto ref = keops::ir::reference_reduce(f, {}, 1, {xd.data(), yd.data(), bd.data()}, rows, m);
    double err = 0, norm = 0;
    for (int64_t i = 0; i < rows; ++i) {
      std::printf("  a[%lld] = %+.7e   reference %+.7e\n", static_cast<long long>(i), a.values[size_t(i)],
                  ref.values[size_t(i)]);
      err = std::max(err, std::fabs(double(a.values[size_t(i)]) - ref.values[size_t(i)]));
      norm = std::max(norm, std::fabs(ref.values[size_t(i)]));
    }
    const double rel = err / norm;
    std::printf("max-norm relative error on rows 0-9: %.2e (%s)\n", rel, rel <= 1e-5 ? "ok" : "TOO LARGE");
    return rel <= 1e-5 ? 0 : 1;
  } catch (const keops::Error& e) {
    std::fprintf(stderr, "demo failed: %s\n", e.what());
    return 1;
  }
}
