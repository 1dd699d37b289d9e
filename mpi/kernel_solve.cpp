// keops::mpi::solve: conjugate gradient over rows sharded across ranks (see keops/mpi.h).
#include <climits>
#include <cmath>
#include <sstream>
#include <string>

#include "keops/error.h"
#include "keops/mpi.h"
#include "mpi/collective.h"

namespace keops::mpi {

namespace {

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// One solve's settings (keops::mpi::solve's arguments).
struct SolveSettings {
  double alpha;
  double tolerance;
  int max_iterations;
  SolveInfo* info;
};

// This rank's b as float64, after the checks of KernelSolve's call on its rows.
template <class T>
std::vector<double> checked_b(const KernelSolve& s, const std::vector<View<const T>>& args,
                              const SolveSettings& settings) {
  const double alpha = settings.alpha, tolerance = settings.tolerance;
  const int max_iterations = settings.max_iterations;
  const Genred& k = s.kernel();
  if (args.size() != size_t(k.arg_count()))
    throw Error("solve: expected " + std::to_string(k.arg_count()) + " argument(s), got " +
                std::to_string(args.size()));
  if (!std::isfinite(alpha) || alpha < 0)
    throw Error("solve: alpha must be finite and >= 0, not " + number(alpha));
  if (!std::isfinite(tolerance) || tolerance < 0)
    throw Error("solve: tolerance must be finite and >= 0, not " + number(tolerance));
  if (max_iterations < 0)
    throw Error("solve: max_iterations must be >= 0 (0: b's rows), not " +
                std::to_string(max_iterations));
  const std::vector<ArgumentInfo> infos = k.arguments();
  const size_t var = size_t(s.var_position());
  const View<const T>& b = args[var];
  const std::string which = "b (argument " + infos[var].name + ")";
  if (b.device != -1 || b.batch.count != 0)
    throw Error("solve: " + which + " must be in host memory, without batch dims");
  if (b.rows < 0 || b.cols != infos[var].dim || (b.data == nullptr && b.rows > 0))
    throw Error("solve: " + which + " is " + std::to_string(b.rows) + " x " +
                std::to_string(b.cols) + ", expected " + std::to_string(infos[var].dim) +
                " cols and data");
  // K maps b onto the output axis's rows: this rank's must be as many as its rows of b.
  const int outer = k.axis() == 1 ? 0 : 1;
  for (size_t a = 0; a < args.size(); ++a)
    if (infos[a].category == outer && args[a].rows != b.rows)
      throw Error("solve: argument " + infos[a].name + " has " + std::to_string(args[a].rows) +
                  " rows on this rank, but " + which + " has " + std::to_string(b.rows) +
                  ": K must map b onto as many rows as it has (pass each rank the same points "
                  "as i and j arguments)");
  std::vector<double> values(b.data, b.data + b.rows * b.cols);
  for (double v : values)
    if (!std::isfinite(v)) throw Error("solve: " + which + " holds a non-finite value");
  return values;
}

// sum over ranks of sum_k u_k v_k, added in rank order: the same on every rank.
double global_dot(MPI_Comm comm, const std::vector<double>& u, const std::vector<double>& v) {
  double mine = 0;
  for (size_t k = 0; k < u.size(); ++k) mine += u[k] * v[k];
  std::vector<double> all(size_t(detail::size_of(comm)));
  MPI_Allgather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, comm);
  double total = 0;
  for (double d : all) total += d;
  return total;
}

// Conjugate gradient on (alpha I + K) a = b from a = 0, each product apply(p, kp), each dot
// product global: the same steps on every rank. Returns a; `done` says what it did.
// When CG stops: after `limit` steps, or once ||r|| <= threshold.
struct Stopping {
  int limit;
  double threshold;
};

template <class Apply>
std::vector<double> conjugate_gradient(MPI_Comm comm, const std::vector<double>& b, double alpha,
                                       Stopping stop, Apply&& apply, SolveInfo& done) {
  const size_t n = b.size();
  std::vector<double> a(n, 0.0), r = b, p = r, kp(n), mp(n);
  double rr = global_dot(comm, r, r);
  while (true) {
    if (std::sqrt(rr) <= stop.threshold) {
      done.converged = true;
      return a;
    }
    if (done.iterations == stop.limit) return a;
    apply(p, kp);
    for (size_t q = 0; q < n; ++q) mp[q] = alpha * p[q] + kp[q];
    const double p_mp = global_dot(comm, p, mp);
    if (!(p_mp > 0) || !std::isfinite(p_mp))
      throw Error("keops::mpi::solve: conjugate gradient broke down at step " +
                  std::to_string(done.iterations + 1) + ": p^T (alpha I + K) p = " + number(p_mp) +
                  "; alpha I + K must be symmetric positive definite with finite values");
    const double step = rr / p_mp;
    for (size_t q = 0; q < n; ++q) {
      a[q] += step * p[q];
      r[q] -= step * mp[q];
    }
    const double rr_next = global_dot(comm, r, r);
    for (size_t q = 0; q < n; ++q) p[q] = r[q] + (rr_next / rr) * p[q];
    rr = rr_next;
    ++done.iterations;
  }
}

// The ranks' rows of b in total, once every rank's checks and settings agree.
template <class T>
int64_t agreed_rows(const KernelSolve& s, MPI_Comm comm, const std::vector<View<const T>>& args,
                    const SolveSettings& settings, std::vector<double>& b) {
  detail::Announcement mine;
  mine.fields = {{"alpha", number(settings.alpha)},
                 {"tolerance", number(settings.tolerance)},
                 {"max_iterations", std::to_string(settings.max_iterations)}};
  try {
    b = checked_b(s, args, settings);
  } catch (const Error& e) {
    mine.error = e.what();
  }
  mine.counts = {mine.error.empty() ? args[size_t(s.var_position())].rows : 0};
  int64_t total = 0;
  for (const detail::Announcement& a : detail::announce(comm, mine)) total += a.counts.at(0);
  return total;
}

template <class T>
Result<T> solve_sharded(const KernelSolve& s, MPI_Comm comm, const std::vector<View<const T>>& args,
                        const SolveSettings& settings) {
  std::vector<double> b;
  const int64_t total_rows = agreed_rows(s, comm, args, settings, b);
  const size_t var = size_t(s.var_position());
  const int64_t rows = args[var].rows, cols = args[var].cols;
  std::vector<View<const T>> with_p = args;
  std::vector<T> p_values(b.size()), kp_values(b.size());
  with_p[var] = {p_values.data(), rows, cols};
  auto apply = [&](const std::vector<double>& p, std::vector<double>& kp) {
    for (size_t q = 0; q < p.size(); ++q) p_values[q] = T(p[q]);
    run(s.kernel(), comm, with_p, {kp_values.data(), rows, cols});
    kp.assign(kp_values.begin(), kp_values.end());
  };
  const int limit = settings.max_iterations > 0 ? settings.max_iterations
                                                : int(std::min<int64_t>(total_rows, INT32_MAX));
  const double b_norm = std::sqrt(global_dot(comm, b, b));
  SolveInfo done;
  const std::vector<double> a = conjugate_gradient(
      comm, b, settings.alpha, {limit, settings.tolerance * b_norm}, apply, done);
  // The true residual of the returned a.
  std::vector<double> kp(b.size()), residual(b.size());
  apply(a, kp);
  for (size_t q = 0; q < b.size(); ++q) residual[q] = b[q] - settings.alpha * a[q] - kp[q];
  done.residual = b_norm > 0 ? std::sqrt(global_dot(comm, residual, residual)) / b_norm : 0.0;
  if (settings.info) *settings.info = done;
  Result<T> out;
  out.rows = rows;
  out.cols = cols;
  out.values.assign(a.begin(), a.end());
  return out;
}

}  // namespace

Result<float> solve(const KernelSolve& s, MPI_Comm comm, const std::vector<View<const float>>& args,
                    double alpha, double tolerance, int max_iterations, SolveInfo* info) {
  return solve_sharded(s, comm, args, SolveSettings{alpha, tolerance, max_iterations, info});
}
Result<double> solve(const KernelSolve& s, MPI_Comm comm,
                     const std::vector<View<const double>>& args, double alpha, double tolerance,
                     int max_iterations, SolveInfo* info) {
  return solve_sharded(s, comm, args, SolveSettings{alpha, tolerance, max_iterations, info});
}

}  // namespace keops::mpi
