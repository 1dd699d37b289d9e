// keops::KernelSolve: conjugate gradient on (alpha I + K) a = b, K a Genred linear in b.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keops/genred.h"
#include "keops/options.h"
#include "keops/result.h"
#include "keops/view.h"

namespace keops {

namespace detail {
struct KernelSolveImpl;
}

// What one solve did.
struct SolveInfo {
  int iterations = 0;  // CG steps: products with (alpha I + K), the final check excluded
  // ||b - (alpha I + K) a|| / ||b|| of the returned a, recomputed with one more product
  // (not CG's recurrence, which drifts from it in float32); Frobenius norms over all of b's
  // cols; 0 when b = 0.
  double residual = 0;
  // CG's recurrence residual met the stopping rule ||r|| <= tolerance ||b||.
  bool converged = false;
};

// Solves (alpha I + K) a = b, where K is the linear map the formula defines in the argument
// named `var` (as KeOps's KernelSolve: the argument at var's position is b, and the solution
// has b's shape). K a is a Sum reduction of the formula over `axis` with a in var's place,
// compiled once and run by every CG step on the backend Options choose (CPU or GPU; on the
// GPU the other host arguments are uploaded once per solve). As in KeOps, K must be
// symmetric positive semi-definite (a Gaussian kernel on the same points as i and j) and
// alpha >= 0; a step that finds p^T (alpha I + K) p <= 0 or not finite throws keops::Error.
//
// One CG runs over all rows x cols values of b (KeOps's ConjugateGradientSolver), which is
// right for any linear K, also one that mixes b's cols (a matrix-valued kernel). It stops
// when the residual r of CG's recurrence has ||r|| <= tolerance ||b|| (Frobenius norms),
// or after max_iterations steps (0: b's rows). The CG vectors and dot products are kept
// in float64, also for float32 arguments (only the products with K run in float32).
class KernelSolve {
 public:
  // Throws keops::Error when var names no argument (an alias, or Var(position,dim,cat)
  // text), when var is not a variable of the reduced axis (Vj for axis 1, Vi for axis 0)
  // with the formula's dim, when the formula is not linear in var (checked symbolically:
  // its derivative in var must not depend on var, it must simplify to 0 at var = 0, and var
  // must not pass through a piecewise-constant op such as Sign or Step), or for anything
  // Genred(formula, aliases, "Sum", axis, options) rejects.
  KernelSolve(std::string formula, std::vector<std::string> aliases, std::string var, int axis = 0,
              Options options = {});

  // args as for the Genred, b at var's position. The output rows (the other axis) must
  // equal b's rows. keops::Error for alpha < 0 or not finite, a tolerance < 0 or not
  // finite, max_iterations < 0, a b with non-finite values, and the Genred's argument
  // errors. `info`, when given, receives what the solve did.
  Result<float> operator()(const std::vector<View<const float>>& args, double alpha,
                           double tolerance = 1e-6, int max_iterations = 0,
                           SolveInfo* info = nullptr) const;
  Result<double> operator()(const std::vector<View<const double>>& args, double alpha,
                            double tolerance = 1e-6, int max_iterations = 0,
                            SolveInfo* info = nullptr) const;

  // The gradient of <a, e> with respect to the argument named `wrt`, where a = solution is
  // this solve of args (b at var's position) and e = cotangent (both of b's shape), as
  // KeOps's KernelSolveAutograd: with e' = (alpha I + K)^-1 e (solved here with tolerance
  // and max_iterations; `info` gets that solve's), the gradient is e' for wrt = var, and
  // -d<K(a), e'>/d wrt (a Genred gradient of the formula, a in var's place) for any other
  // argument, with that argument's shape (one row for a parameter). Exact when K is
  // symmetric.
  Result<float> gradient(const std::vector<View<const float>>& args, double alpha,
                         View<const float> solution, View<const float> cotangent,
                         const std::string& wrt, double tolerance = 1e-6, int max_iterations = 0,
                         SolveInfo* info = nullptr) const;
  Result<double> gradient(const std::vector<View<const double>>& args, double alpha,
                          View<const double> solution, View<const double> cotangent,
                          const std::string& wrt, double tolerance = 1e-6, int max_iterations = 0,
                          SolveInfo* info = nullptr) const;

  // This solve with other options (backend, device, threads, stream, ...; k and formula2
  // stay), sharing the parsed formula and the compiled kernels (Genred::with_options).
  KernelSolve with_options(Options options) const;

  const Genred& kernel() const;  // K: the Sum reduction each CG step runs
  int var_position() const;      // b's argument position

 private:
  std::shared_ptr<const detail::KernelSolveImpl> impl_;
};

}  // namespace keops
