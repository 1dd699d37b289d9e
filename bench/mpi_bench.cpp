// keops::mpi benchmark: gauss_sum_D3 and knn_D3 over the ranks of MPI_COMM_WORLD (JSON lines
// from rank 0: the median time of a call, and its slowest rank's compute, gather and wait).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "keops/mpi.h"

namespace {

struct Args {
  std::vector<std::string> cases = {"gauss_sum_D3", "knn_D3"};
  int64_t n = 200000, m = 200000;
  int repeat = 5, threads = 0;
  keops::mpi::Scheme scheme = keops::mpi::Scheme::Auto;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int k = 1; k + 1 < argc; k += 2) {
    const std::string flag = argv[k], value = argv[k + 1];
    if (flag == "--cases") {
      a.cases.clear();
      for (size_t at = 0; at <= value.size();) {
        const size_t end = std::min(value.find(',', at), value.size());
        a.cases.push_back(value.substr(at, end - at));
        at = end + 1;
      }
    } else if (flag == "--nx") {
      a.n = std::atoll(value.c_str());
    } else if (flag == "--ny") {
      a.m = std::atoll(value.c_str());
    } else if (flag == "--repeat") {
      a.repeat = std::atoi(value.c_str());
    } else if (flag == "--threads") {
      a.threads = std::atoi(value.c_str());
    } else if (flag == "--scheme" && (value == "allgather" || value == "pipeline")) {
      a.scheme =
          value == "allgather" ? keops::mpi::Scheme::AllGather : keops::mpi::Scheme::Pipeline;
    } else {
      std::fprintf(stderr,
                   "usage: mpi_bench [--cases gauss_sum_D3,knn_D3] [--nx N] [--ny M] "
                   "[--repeat R] [--threads T] [--scheme allgather|pipeline]\n");
      std::exit(2);
    }
  }
  return a;
}

// This rank's rows [begin, end) of n, in equal shares.
std::pair<int64_t, int64_t> share(int64_t n, int rank, int ranks) {
  return {n * rank / ranks, n * (rank + 1) / ranks};
}

// Rows [begin, end) of a pseudo-random array of `cols` columns, the same whoever makes them.
std::vector<float> rows(int64_t begin, int64_t end, int cols, unsigned seed) {
  std::vector<float> v;
  for (int64_t r = begin; r < end; ++r) {
    std::mt19937 rng(seed * 1000003u + unsigned(r));
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int c = 0; c < cols; ++c) v.push_back(u(rng));
  }
  return v;
}

double max_over_ranks(double v) {
  double m = 0;
  MPI_Allreduce(&v, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return m;
}

void bench(const std::string& name, const Args& a, int rank, int ranks) {
  keops::Options o;
  o.backend = keops::Backend::CPU;
  o.threads = a.threads;
  const bool knn = name == "knn_D3";
  if (knn) o.k = 10;
  const keops::Genred g(knn ? "SqDist(x,y)" : "Exp(-SqDist(x,y))*b",
                        knn ? std::vector<std::string>{"x=Vi(3)", "y=Vj(3)"}
                            : std::vector<std::string>{"x=Vi(3)", "y=Vj(3)", "b=Vj(1)"},
                        knn ? "ArgKMin" : "Sum", 1, o);
  const auto [i0, i1] = share(a.n, rank, ranks);
  const auto [j0, j1] = share(a.m, rank, ranks);
  const std::vector<float> x = rows(i0, i1, 3, 1), y = rows(j0, j1, 3, 2), b = rows(j0, j1, 1, 3);
  std::vector<keops::View<const float>> args = {{x.data(), i1 - i0, 3}, {y.data(), j1 - j0, 3}};
  if (!knn) args.push_back({b.data(), j1 - j0, 1});
  keops::mpi::reduce(g, MPI_COMM_WORLD, args, {a.scheme, nullptr});  // compiles the kernel
  std::vector<double> times;
  std::vector<keops::mpi::Stats> stats(size_t(a.repeat));
  for (int r = 0; r < a.repeat; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    keops::mpi::reduce(g, MPI_COMM_WORLD, args, {a.scheme, &stats[size_t(r)]});
    times.push_back(max_over_ranks(MPI_Wtime() - start));
  }
  const size_t median = times.size() / 2;
  std::vector<size_t> order(times.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t p, size_t q) { return times[p] < times[q]; });
  const keops::mpi::Stats& s = stats[order[median]];
  const double compute = max_over_ranks(s.compute_s), gather = max_over_ranks(s.gather_s),
               wait = max_over_ranks(s.check_s + s.gather_s + s.finish_s),
               sent = max_over_ranks(double(s.bytes_sent));
  if (rank == 0)
    std::printf(
        "{\"case\": \"%s\", \"scheme\": \"%s\", \"ranks\": %d, \"threads\": %d, "
        "\"nx\": %lld, \"ny\": %lld, "
        "\"median_s\": %.6g, \"compute_s\": %.6g, \"gather_s\": %.6g, \"not_computing_s\": %.6g, "
        "\"bytes_sent_per_rank\": %.0f}\n",
        name.c_str(), s.scheme == keops::mpi::Scheme::Pipeline ? "pipeline" : "allgather", ranks,
        a.threads, static_cast<long long>(a.n), static_cast<long long>(a.m), times[order[median]],
        compute, gather, wait, sent);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const Args a = parse(argc, argv);
  for (const std::string& name : a.cases) bench(name, a, rank, ranks);
  MPI_Finalize();
}
