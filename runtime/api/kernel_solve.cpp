// KernelSolve: conjugate gradient over a Genred's linear map, and the gradient through the solve.
#include "keops/kernel_solve.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/program/linearity.h"
#include "keops/error.h"
#include "keops/gpu.h"
#include "runtime/api/genred_impl.h"
#include "runtime/api/host_copies.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/stream.h"

namespace keops {

struct detail::KernelSolveImpl {
  Genred kernel;
  std::vector<frontend::ArgInfo> args;
  size_t position = 0;  // b's
  int axis = 0;
  Options options;
};

namespace {

using Impl = detail::KernelSolveImpl;

// Errors of the Genred underneath, told as the solver's own.
Error renamed(const Error& e, const std::string& who) {
  std::string message = e.what();
  if (message.rfind(who + ": ", 0) == 0) return e;
  for (const char* prefix : {"Genred::run: ", "Genred::grad: ", "Genred: "})
    if (message.rfind(prefix, 0) == 0) return Error(who + ": " + message.substr(strlen(prefix)));
  return Error(who + ": " + message);
}

// The position of the argument named `name`, or of the one its Var(position,dim,cat) text
// (spaces allowed) describes.
size_t find_argument(const std::vector<frontend::ArgInfo>& args, const std::string& name,
                     const std::string& who) {
  std::string spaceless = name;
  std::erase_if(spaceless, [](char c) { return c == ' ' || c == '\t'; });
  std::string list;
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string text = "Var(" + std::to_string(k) + "," + std::to_string(args[k].dim) + "," +
                             std::to_string(int(args[k].cat)) + ")";
    if (args[k].name == name || text == spaceless) return k;
    list += (k ? ", " : "") + args[k].name + " = " + text;
  }
  throw Error(who + ": no argument is named '" + name + "'; the arguments are " + list);
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

std::string describe(const Impl& s, size_t k) {
  return "argument " + std::to_string(k) + " (" + s.args[k].name + ")";
}

// A view's values on the host (copied from GPU memory when they are there).
template <class T>
std::vector<T> host_values(const View<const T>& v) {
  std::vector<T> copy;
  const T* data = detail::on_host(v, copy);
  return data == copy.data() ? copy : std::vector<T>(data, data + v.rows * v.cols);
}

// K applied to float64 host vectors of b's shape through the compiled Genred. On the GPU the
// arguments other than b are uploaded once, and each product moves only p and K p.
template <class T>
class LinearMap {
 public:
  LinearMap(const Impl& s, const std::vector<View<const T>>& args, int device)
      : kernel_(s.kernel),
        views_(args),
        position_(s.position),
        rows_(args[s.position].rows),
        cols_(args[s.position].cols),
        device_(device),
        p_(size_t(rows_ * cols_)),
        out_(p_.size()) {
    if (device_ < 0) return;
    const size_t bytes = p_.size() * sizeof(T);
    for (size_t k = 0; k < views_.size(); ++k) {
      View<const T>& v = views_[k];
      if (k == position_ || v.device >= 0 || v.rows * v.cols == 0) continue;
      uploaded_.emplace_back(device_, size_t(v.rows * v.cols) * sizeof(T));
      uploaded_.back().upload(v.data, uploaded_.back().bytes());
      v = {uploaded_.back().template as<const T>(), v.rows, v.cols, device_};
    }
    p_device_ = {device_, bytes};
    out_device_ = {device_, bytes};
  }

  // out = K p.
  void apply(const std::vector<double>& p, std::vector<double>& out) {
    for (size_t k = 0; k < p.size(); ++k) p_[k] = T(p[k]);
    if (device_ >= 0) {
      p_device_.upload(p_.data(), p_device_.bytes());
      views_[position_] = {p_device_.as<const T>(), rows_, cols_, device_};
      kernel_.run(views_, View<T>{out_device_.as<T>(), rows_, cols_, device_});
      out_device_.download(out_.data(), out_device_.bytes());
    } else {
      views_[position_] = {p_.data(), rows_, cols_};
      kernel_.run(views_, View<T>{out_.data(), rows_, cols_});
    }
    out.assign(out_.begin(), out_.end());
  }

 private:
  const Genred& kernel_;
  std::vector<View<const T>> views_;
  size_t position_;
  int64_t rows_, cols_;
  int device_;
  std::vector<runtime::cuda::DeviceBuffer> uploaded_;
  runtime::cuda::DeviceBuffer p_device_, out_device_;
  std::vector<T> p_, out_;
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t k = 0; k < a.size(); ++k) s += a[k] * b[k];
  return s;
}

// The GPU a solve runs on (-1: the CPU): Options::device, else that of an array already
// on a GPU, else 0; arrays on other GPUs are left for the Genred to reject.
template <class T>
int solve_device(const Impl& s, const std::vector<View<const T>>& args, const std::string& who) {
  if (!detail::uses_gpu(s.options)) {
    for (size_t k = 0; k < args.size(); ++k)
      if (args[k].device >= 0)
        throw Error(who + ": " + describe(s, k) +
                    " is in GPU memory, but this KernelSolve runs on the CPU" +
                    (gpu_available() ? std::string(" (Options::backend)")
                                     : ": " + gpu_unavailable_reason()));
    return -1;
  }
  if (s.options.device >= 0) return s.options.device;
  for (const auto& v : args)
    if (v.device >= 0) return v.device;
  return 0;
}

// One solve of (alpha I + K) a = b: to `tolerance` (relative to |b|) within max_iterations
// (0: b's rows); `info`, when given, receives what it did; `who` names the call in messages.
struct Settings {
  double alpha;
  double tolerance;
  int max_iterations;
  SolveInfo* info;
  std::string who;
};

// The checks of one call that the Genred does not make (or makes too late: b = 0 returns
// before any product).
template <class T>
void check_call(const Impl& s, const std::vector<View<const T>>& args, const Settings& settings) {
  const std::string& who = settings.who;
  const double alpha = settings.alpha, tolerance = settings.tolerance;
  const int max_iterations = settings.max_iterations;
  if (args.size() != s.args.size())
    throw Error(who + ": expected " + std::to_string(s.args.size()) + " argument(s), got " +
                std::to_string(args.size()));
  if (!std::isfinite(alpha) || alpha < 0)
    throw Error(who + ": alpha must be finite and >= 0, not " + number(alpha) +
                " (K is positive semi-definite at best: with alpha < 0, alpha I + K may be "
                "indefinite and conjugate gradient break down)");
  if (!std::isfinite(tolerance) || tolerance < 0)
    throw Error(who + ": tolerance must be finite and >= 0, not " + number(tolerance));
  if (max_iterations < 0)
    throw Error(who + ": max_iterations must be >= 0 (0: b's rows), not " +
                std::to_string(max_iterations));
  for (size_t k = 0; k < args.size(); ++k)
    if (args[k].batch.count != 0)
      throw Error(who + ": " + describe(s, k) +
                  " has batch dims, which KernelSolve does not take: solve each batch element "
                  "on its own");
  const View<const T>& b = args[s.position];
  const std::string which = describe(s, s.position) + ", b";
  if (b.rows < 0 || b.cols < 0) throw Error(who + ": " + which + ", has a negative shape");
  if (b.cols != s.args[s.position].dim)
    throw Error(who + ": " + which + ", has " + std::to_string(b.cols) + " cols, but its dim is " +
                std::to_string(s.args[s.position].dim));
  if (b.data == nullptr && b.rows > 0)
    throw Error(who + ": " + which + ", has null data and " + std::to_string(b.rows) + " rows");
  // (alpha I + K) must be square: as many output rows as b has.
  const ir::Cat outer = s.axis == 1 ? ir::CatI : ir::CatJ;
  for (size_t k = 0; k < args.size(); ++k)
    if (s.args[k].cat == outer && args[k].rows != b.rows)
      throw Error(who + ": " + describe(s, k) + " has " + std::to_string(args[k].rows) +
                  " rows, but " + which + ", has " + std::to_string(b.rows) +
                  ": K must map b onto as many rows as it has (pass the same points as the " +
                  "i and j arguments)");
}

template <class T>
Result<T> solve(const Impl& s, const std::vector<View<const T>>& args, const Settings& settings) {
  check_call(s, args, settings);
  const std::string& who = settings.who;
  const double alpha = settings.alpha;
  const View<const T>& b_view = args[s.position];
  const int device = solve_device(s, args, who);
  if (device >= 0)
    runtime::cuda::wait_for_stream(device, static_cast<runtime::cuda::CUstream>(s.options.stream));
  const std::vector<T> b_values = host_values(b_view);
  const std::vector<double> b(b_values.begin(), b_values.end());
  for (double v : b)
    if (!std::isfinite(v))
      throw Error(who + ": " + describe(s, s.position) + ", b, holds a non-finite value");
  const size_t n = b.size();
  const int limit = settings.max_iterations > 0 ? settings.max_iterations : int(b_view.rows);
  const double b_norm = std::sqrt(dot(b, b));
  const double threshold = settings.tolerance * b_norm;

  SolveInfo done;
  std::vector<double> a(n, 0.0), r = b, p = r, kp(n), mp(n);
  double rr = dot(r, r);
  try {
    LinearMap<T> k(s, args, device);
    while (true) {
      if (std::sqrt(rr) <= threshold) {
        done.converged = true;
        break;
      }
      if (done.iterations == limit) break;
      k.apply(p, kp);
      for (size_t q = 0; q < n; ++q) mp[q] = alpha * p[q] + kp[q];
      const double p_mp = dot(p, mp);
      if (!(p_mp > 0) || !std::isfinite(p_mp))
        throw Error(who + ": conjugate gradient broke down at step " +
                    std::to_string(done.iterations + 1) +
                    ": p^T (alpha I + K) p = " + number(p_mp) +
                    "; alpha I + K must be symmetric positive definite with finite values (a "
                    "positive kernel on the same points as i and j, alpha > 0 when K is "
                    "singular)");
      const double step = rr / p_mp;
      for (size_t q = 0; q < n; ++q) {
        a[q] += step * p[q];
        r[q] -= step * mp[q];
      }
      const double rr_next = dot(r, r);
      for (size_t q = 0; q < n; ++q) p[q] = r[q] + (rr_next / rr) * p[q];
      rr = rr_next;
      ++done.iterations;
    }
    // The true residual of the returned a (this product also checks the other arguments
    // when b = 0 took no step).
    k.apply(a, kp);
  } catch (const Error& e) {
    throw renamed(e, who);
  }
  double res2 = 0;
  for (size_t q = 0; q < n; ++q) {
    const double d = b[q] - alpha * a[q] - kp[q];
    res2 += d * d;
  }
  done.residual = b_norm > 0 ? std::sqrt(res2) / b_norm : 0.0;
  if (settings.info) *settings.info = done;
  Result<T> out;
  out.rows = b_view.rows;
  out.cols = b_view.cols;
  out.values.assign(a.begin(), a.end());
  return out;
}

// The gradient of <a, e> with respect to `wrt` (KernelSolve::gradient).
template <class T>
Result<T> gradient(const Impl& s, const std::vector<View<const T>>& args, const Settings& settings,
                   View<const T> solution, View<const T> cotangent, const std::string& wrt) {
  const std::string& who = settings.who;
  const size_t w = find_argument(s.args, wrt, who);
  if (args.size() != s.args.size())
    throw Error(who + ": expected " + std::to_string(s.args.size()) + " argument(s), got " +
                std::to_string(args.size()));
  const View<const T>& b = args[s.position];
  for (const auto& [what, v] : {std::pair{"solution", solution}, {"cotangent", cotangent}}) {
    if (v.rows != b.rows || v.cols != b.cols)
      throw Error(who + ": " + what + " is " + std::to_string(v.rows) + " x " +
                  std::to_string(v.cols) + ", but b, " + describe(s, s.position) + ", is " +
                  std::to_string(b.rows) + " x " + std::to_string(b.cols));
    if (v.data == nullptr && v.rows * v.cols > 0) throw Error(who + ": " + what + " has null data");
  }
  // e' = (alpha I + K)^-1 e: the gradient with respect to b, as K is symmetric.
  std::vector<View<const T>> with_e = args;
  with_e[s.position] = cotangent;
  Result<T> e_solved = solve(s, with_e, settings);
  if (w == s.position) return e_solved;
  // -d<K(a), e'>/dv: the Genred gradient of K's formula, a in b's place and e' its cotangent.
  std::vector<View<const T>> grad_args = args;
  grad_args[s.position] = solution;
  grad_args.push_back({e_solved.values.data(), e_solved.rows, e_solved.cols});
  try {
    Result<T> g = s.kernel.grad(s.args[w].name)(grad_args);
    for (T& x : g.values) x = -x;
    return g;
  } catch (const Error& e) {
    throw renamed(e, who);
  }
}

}  // namespace

KernelSolve::KernelSolve(std::string formula, std::vector<std::string> aliases, std::string var,
                         int axis, Options options) {
  const std::string who = "KernelSolve";
  try {
    Genred kernel(formula, aliases, "Sum", axis, options);
    ir::Context ctx;
    const auto table = frontend::AliasTable::parse(aliases);
    const ir::Expr f = frontend::parse_formula(formula, table, ctx, ir::DType::F64);
    auto impl = std::make_shared<Impl>(
        Impl{std::move(kernel), frontend::collect_arguments(table, {f}), 0, axis, options});
    impl->position = find_argument(impl->args, var, who);
    program::check_linear(ctx, f, impl->args, impl->position, axis);
    impl_ = std::move(impl);
  } catch (const Error& e) {
    throw renamed(e, who);
  }
}

Result<float> KernelSolve::operator()(const std::vector<View<const float>>& args, double alpha,
                                      double tolerance, int max_iterations, SolveInfo* info) const {
  return solve<float>(*impl_, args, {alpha, tolerance, max_iterations, info, "KernelSolve"});
}
Result<double> KernelSolve::operator()(const std::vector<View<const double>>& args, double alpha,
                                       double tolerance, int max_iterations,
                                       SolveInfo* info) const {
  return solve<double>(*impl_, args, {alpha, tolerance, max_iterations, info, "KernelSolve"});
}

Result<float> KernelSolve::gradient(const std::vector<View<const float>>& args, double alpha,
                                    View<const float> solution, View<const float> cotangent,
                                    const std::string& wrt, double tolerance, int max_iterations,
                                    SolveInfo* info) const {
  return keops::gradient<float>(*impl_, args,
                                {alpha, tolerance, max_iterations, info, "KernelSolve::gradient"},
                                solution, cotangent, wrt);
}
Result<double> KernelSolve::gradient(const std::vector<View<const double>>& args, double alpha,
                                     View<const double> solution, View<const double> cotangent,
                                     const std::string& wrt, double tolerance, int max_iterations,
                                     SolveInfo* info) const {
  return keops::gradient<double>(*impl_, args,
                                 {alpha, tolerance, max_iterations, info, "KernelSolve::gradient"},
                                 solution, cotangent, wrt);
}

KernelSolve KernelSolve::with_options(Options options) const {
  try {
    auto impl = std::make_shared<Impl>(*impl_);
    impl->kernel = impl_->kernel.with_options(options);
    impl->options = std::move(options);
    KernelSolve solve = *this;
    solve.impl_ = std::move(impl);
    return solve;
  } catch (const Error& e) {
    throw renamed(e, "KernelSolve");
  }
}

const Genred& KernelSolve::kernel() const { return impl_->kernel; }
int KernelSolve::var_position() const { return int(impl_->position); }

}  // namespace keops
