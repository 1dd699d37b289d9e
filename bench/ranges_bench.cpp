// ranges_bench: a Gaussian on clustered points, block-sparse (Options::ranges) against dense.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>
#include <keops/ranges.h>

#include "runtime/cuda/memory.h"

namespace {

struct Settings {
  bool gpu = false;
  int64_t n = -1;  // points of each cloud; default 1e5 on the CPU, 1e6 on the GPU
  int repeat = 3;
  int threads = 0;
  double sigma = 0.02;  // the Gaussian's width, in a unit cube
  // grid_cluster's voxel side; default 0.1 at N = 1e5 (about 100 points per voxel), the
  // same points per voxel at other N.
  double voxel = -1;
  // Blocks are kept when their centroids are under cutoff * sigma + a voxel diagonal apart.
  double cutoff = 5.0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// n points around 200 centres spread over the unit cube (a cloud that clusters).
std::vector<float> clustered(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> g(0, 0.03);
  std::vector<double> centres(200 * 3);
  for (double& c : centres) c = u(rng);
  std::vector<float> p(size_t(n) * 3);
  for (int64_t r = 0; r < n; ++r) {
    const size_t k = size_t(rng() % 200);
    for (int d = 0; d < 3; ++d) p[size_t(r * 3 + d)] = float(centres[k * 3 + size_t(d)] + g(rng));
  }
  return p;
}

// Median and minimum seconds of `repeat` calls of run, after one untimed call.
template <class F>
std::pair<double, double> time_it(int repeat, F&& run) {
  run();
  std::vector<double> t;
  for (int k = 0; k < repeat; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front()};
}

int run(const Settings& s) {
  const int64_t n = s.n > 0 ? s.n : s.gpu ? 1000000 : 100000;
  const double voxel = s.voxel > 0 ? s.voxel : 0.1 * std::cbrt(1e5 / double(n));
  const std::vector<float> x0 = clustered(n, 1), y0 = clustered(n, 2);
  std::vector<float> b0(static_cast<size_t>(n));
  std::mt19937_64 rng(3);
  for (float& v : b0) v = float(std::uniform_real_distribution<double>(0.5, 1.5)(rng));

  // The recipe of keops/ranges.h: voxels, sorted clouds, centroids, a kept-block matrix.
  const auto t_prep = std::chrono::steady_clock::now();
  const keops::View<const float> xv{x0.data(), n, 3}, yv{y0.data(), n, 3};
  const auto xs = keops::sort_clusters(xv, keops::grid_cluster(xv, voxel));
  const auto ys = keops::sort_clusters(yv, keops::grid_cluster(yv, voxel));
  const std::vector<float> b = keops::permute_rows({b0.data(), n, 1}, ys.permutation);
  const auto cx = keops::cluster_ranges_centroids({xs.points.data(), n, 3}, xs.labels);
  const auto cy = keops::cluster_ranges_centroids({ys.points.data(), n, 3}, ys.labels);
  const size_t mi = cx.ranges.size(), mj = cy.ranges.size();
  const double reach = s.cutoff * s.sigma + std::sqrt(3.0) * voxel;
  std::vector<bool> keep(mi * mj);
  double kept = 0;
  for (size_t k = 0; k < mi; ++k)
    for (size_t l = 0; l < mj; ++l) {
      double d2 = 0;
      for (int c = 0; c < 3; ++c) {
        const double t = double(cx.centroids[k * 3 + size_t(c)]) - cy.centroids[l * 3 + size_t(c)];
        d2 += t * t;
      }
      if (d2 < reach * reach) {
        keep[k * mj + l] = true;
        kept += double(cx.weights[k]) * double(cy.weights[l]);
      }
    }
  keops::Options sparse;
  sparse.ranges = keops::from_matrix(cx.ranges, cy.ranges, keep);
  const double prep_s = seconds_since(t_prep);

  keops::Options dense;
  for (keops::Options* o : {&dense, &sparse}) {
    o->backend = s.gpu ? keops::Backend::GPU : keops::Backend::CPU;
    o->threads = s.threads;
  }
  const std::string formula =
      "Exp(-SqDist(x, y) * " + std::to_string(1 / (2 * s.sigma * s.sigma)) + ") * b";
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
  const keops::Genred dense_op(formula, aliases, "Sum", 1, dense);
  const keops::Genred sparse_op(formula, aliases, "Sum", 1, sparse);

  // On the GPU the arrays live there, as torch tensors would for KeOps.
  std::vector<keops::runtime::cuda::DeviceBuffer> buffers;
  auto place = [&](const std::vector<float>& host, int64_t rows, int64_t cols) {
    if (!s.gpu) return keops::View<const float>{host.data(), rows, cols};
    buffers.emplace_back(0, host.size() * sizeof(float));
    buffers.back().upload(host.data(), host.size() * sizeof(float));
    return keops::View<const float>{buffers.back().as<float>(), rows, cols, 0};
  };
  buffers.reserve(4);
  const std::vector<keops::View<const float>> args = {place(xs.points, n, 3),
                                                      place(ys.points, n, 3), place(b, n, 1)};
  if (s.gpu) buffers.emplace_back(0, size_t(n) * sizeof(float));
  // Times op writing its output to the GPU or to `host`, then leaves the output in `host`.
  auto time_into = [&](const keops::Genred& op, std::vector<float>& host) {
    const keops::View<float> out = s.gpu ? keops::View<float>{buffers.back().as<float>(), n, 1, 0}
                                         : keops::View<float>{host.data(), n, 1};
    const auto times = time_it(s.repeat, [&] { op.run(args, out); });
    if (s.gpu) buffers.back().download(host.data(), host.size() * sizeof(float));
    return times;
  };
  std::vector<float> out_dense(static_cast<size_t>(n)), out_sparse(static_cast<size_t>(n));
  const auto [dense_median, dense_min] = time_into(dense_op, out_dense);
  const auto [sparse_median, sparse_min] = time_into(sparse_op, out_sparse);
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff += std::fabs(double(out_sparse[size_t(i)]) - double(out_dense[size_t(i)]));
    norm += std::fabs(double(out_dense[size_t(i)]));
  }
  std::printf(
      "{\"case\": \"ranges_gauss_D3\", \"backend\": \"%s\", \"dtype\": \"float32\", \"n\": %lld, "
      "\"threads\": %d, \"voxel\": %.3g, \"clusters_i\": %zu, \"clusters_j\": %zu, "
      "\"block_density\": %.4g, "
      "\"prep_s\": %.4g, \"dense_median_s\": %.6g, \"dense_min_s\": %.6g, "
      "\"sparse_median_s\": %.6g, \"sparse_min_s\": %.6g, \"speedup\": %.4g, "
      "\"rel_l1_err\": %.3g}\n",
      s.gpu ? "gpu" : "cpu", static_cast<long long>(n), s.threads, voxel, mi, mj,
      kept / (double(n) * double(n)), prep_s, dense_median, dense_min, sparse_median, sparse_min,
      dense_median / sparse_median, norm > 0 ? diff / norm : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  Settings s;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    auto value = [&]() -> std::string {
      if (a + 1 >= argc) {
        std::fprintf(stderr, "ranges_bench: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++a];
    };
    if (arg == "--backend") {
      const std::string b = value();
      if (b != "cpu" && b != "gpu") {
        std::fprintf(stderr, "ranges_bench: --backend is cpu or gpu, not '%s'\n", b.c_str());
        return 2;
      }
      s.gpu = b == "gpu";
    } else if (arg == "--n") {
      s.n = std::stoll(value());
    } else if (arg == "--repeat") {
      s.repeat = std::max(1, std::stoi(value()));
    } else if (arg == "--threads") {
      s.threads = std::stoi(value());
    } else if (arg == "--sigma") {
      s.sigma = std::stod(value());
    } else if (arg == "--voxel") {
      s.voxel = std::stod(value());
    } else if (arg == "--cutoff") {
      s.cutoff = std::stod(value());
    } else {
      std::fprintf(stderr,
                   "usage: ranges_bench [--backend cpu|gpu] [--n N] [--repeat R] [--threads T]\n"
                   "                    [--sigma S] [--voxel V] [--cutoff C]\n"
                   "A Gaussian sum over N x N clustered points in the unit cube, dense and\n"
                   "block-sparse (blocks whose centroids are within C*S plus a voxel diagonal);\n"
                   "one JSON line: block density, both times, the truncation's relative L1 "
                   "error.\n");
      return arg == "--help" ? 0 : 2;
    }
  }
  return run(s);
} catch (const std::exception& e) {
  std::fprintf(stderr, "ranges_bench: %s\n", e.what());
  return 1;
}
