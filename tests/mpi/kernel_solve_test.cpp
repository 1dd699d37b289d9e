// keops::mpi::solve against one process's KernelSolve, on every rank.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "keops/error.h"
#include "keops/mpi.h"
#include "tests/mpi/mpi_support.h"

namespace {

using keops::KernelSolve;
using keops::View;
using keops::test::contains;
using keops::test::rank;
using keops::test::ranks;
using keops::test::shard;

std::vector<double> uniform(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(count);
  for (double& x : v) x = u(rng);
  return v;
}

constexpr int64_t kN = 41;

struct Problem {
  KernelSolve solve{"Exp(-SqDist(x, y) * g) * b",
                    {"x = Vi(3)", "y = Vj(3)", "b = Vj(2)", "g = Pm(1)"},
                    "b",
                    1,
                    [] {
                      keops::Options o;
                      o.backend = keops::Backend::CPU;
                      return o;
                    }()};
  std::vector<double> points = uniform(3 * kN, 3), b = uniform(2 * kN, 4), g = {2.0};
  std::array<int64_t, 2> mine = shard(kN);

  std::vector<View<const double>> all() const {
    return {{points.data(), kN, 3}, {points.data(), kN, 3}, {b.data(), kN, 2}, {g.data(), 1, 1}};
  }
  std::vector<View<const double>> local() const {
    const int64_t rows = mine[1] - mine[0];
    return {{points.data() + 3 * mine[0], rows, 3},
            {points.data() + 3 * mine[0], rows, 3},
            {b.data() + 2 * mine[0], rows, 2},
            {g.data(), 1, 1}};
  }
};

}  // namespace

TEST_CASE("solve: one process's solution, its steps and residual, on ragged shards") {
  const Problem p;
  keops::SolveInfo whole_info, info;
  const auto whole = p.solve(p.all(), 0.5, 1e-10, 0, &whole_info);
  const auto mine = keops::mpi::solve(p.solve, MPI_COMM_WORLD, p.local(), 0.5, 1e-10, 0, &info);
  CHECK(whole_info.converged);
  CHECK(mine.rows == p.mine[1] - p.mine[0]);
  CHECK(mine.cols == 2);
  double error = 0;
  for (size_t v = 0; v < mine.values.size() && mine.rows == p.mine[1] - p.mine[0]; ++v)
    error = std::max(error, std::abs(mine.values[v] - whole.values[size_t(2 * p.mine[0]) + v]));
  CHECK(error < 1e-8);
  CHECK(info.converged);
  CHECK(std::abs(info.iterations - whole_info.iterations) <= 1);
  CHECK(info.residual < 1e-9);
  // float32 arrays: the products in float32, the rest in float64.
  std::vector<float> points(p.points.begin(), p.points.end()), b(p.b.begin(), p.b.end()), g = {2};
  const int64_t rows = p.mine[1] - p.mine[0];
  const std::vector<View<const float>> local = {{points.data() + 3 * p.mine[0], rows, 3},
                                                {points.data() + 3 * p.mine[0], rows, 3},
                                                {b.data() + 2 * p.mine[0], rows, 2},
                                                {g.data(), 1, 1}};
  keops::mpi::solve(p.solve, MPI_COMM_WORLD, local, 0.5, 1e-5, 0, &info);
  CHECK(info.converged);
  CHECK(info.residual < 1e-4);
}

TEST_CASE("solve: errors on every rank, naming the rank") {
  const Problem p;
  const int last = ranks() - 1;
  const std::string who = "keops::mpi: rank " + std::to_string(last) + ": solve: ";
  CHECK_THROWS_WITH_AS(
      keops::mpi::solve(p.solve, MPI_COMM_WORLD, p.local(), rank() == last ? -1.0 : 0.1),
      contains(who + "alpha must be finite and >= 0, not -1"), keops::Error);
  std::vector<View<const double>> args = p.local();
  std::vector<double> nan_b(p.b);
  if (rank() == last) {
    nan_b[size_t(2 * p.mine[0])] = NAN;
    args[2].data = nan_b.data() + 2 * p.mine[0];
  }
  if (p.mine[1] > p.mine[0] || rank() != last)
    CHECK_THROWS_WITH_AS(keops::mpi::solve(p.solve, MPI_COMM_WORLD, args, 0.1),
                         contains(who + "b (argument b) holds a non-finite value"), keops::Error);
  args = p.local();
  if (rank() == last) args[0].rows += 1;
  CHECK_THROWS_WITH_AS(keops::mpi::solve(p.solve, MPI_COMM_WORLD, args, 0.1),
                       contains(who + "argument x has "), keops::Error);
  if (ranks() == 1) return;
  CHECK_THROWS_WITH_AS(
      keops::mpi::solve(p.solve, MPI_COMM_WORLD, p.local(), 0.1, rank() == last ? 1e-3 : 1e-6),
      contains("keops::mpi: rank " + std::to_string(last) +
               "'s tolerance differs from rank 0's: '0.001' against '9.9999999999999995e-07'"),
      keops::Error);
}
