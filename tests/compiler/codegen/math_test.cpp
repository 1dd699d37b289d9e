// Accuracy of the IR math library against long-double references, with and without FMA.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/InstIterator.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include "compiler/codegen/math.h"
#include "compiler/jit/optimize.h"

// Every emitter, for float (1, 4 and 16 lanes) and double (1 and 8 lanes), in kernels
// void f(const T* in, T* out, int64 n) JIT-compiled after O2 twice: for the host (FMA on
// every x86-64-v3 machine) and for the x86-64 baseline (SSE2, no FMA: llvm.fmuladd splits
// into a multiply and an add).

namespace {

using keops::codegen::emit_cos;
using keops::codegen::emit_exp;
using keops::codegen::emit_log;
using keops::codegen::emit_sin;
using keops::codegen::emit_sqrt;

enum class Fn { Exp, Log, Sin, Cos, Sqrt };
constexpr Fn kAllFns[] = {Fn::Exp, Fn::Log, Fn::Sin, Fn::Cos, Fn::Sqrt};

std::string fn_name(Fn fn) {
  const char* names[] = {"exp", "log", "sin", "cos", "sqrt"};
  return names[static_cast<int>(fn)];
}

llvm::Value* emit(Fn fn, llvm::IRBuilderBase& b, llvm::Value* x) {
  switch (fn) {
    case Fn::Exp:
      return emit_exp(b, x);
    case Fn::Log:
      return emit_log(b, x);
    case Fn::Sin:
      return emit_sin(b, x);
    case Fn::Cos:
      return emit_cos(b, x);
    case Fn::Sqrt:
      return emit_sqrt(b, x);
  }
  return nullptr;
}

long double reference(Fn fn, long double x) {
  switch (fn) {
    case Fn::Exp:
      return expl(x);
    case Fn::Log:
      return logl(x);
    case Fn::Sin:
      return sinl(x);
    case Fn::Cos:
      return cosl(x);
    case Fn::Sqrt:
      return sqrtl(x);
  }
  return 0;
}

template <class T>
std::string type_name() {
  return sizeof(T) == 4 ? "float" : "double";
}

template <class T>
std::vector<int> widths() {
  if (sizeof(T) == 4) return {1, 4, 16};
  return {1, 8};
}

template <class T>
std::string kernel_name(Fn fn, int width) {
  return fn_name(fn) + "_" + type_name<T>() + "_w" + std::to_string(width);
}

// void name(const T* in, T* out, i64 n): out[i] = fn(in[i]), `width` lanes at a time
// (n a positive multiple of width).
template <class T>
void add_kernel(llvm::Module& m, Fn fn, int width) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* scalar = sizeof(T) == 4 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
  llvm::Type* lanes = width == 1 ? scalar : llvm::FixedVectorType::get(scalar, width);
  llvm::Type* ptr = llvm::PointerType::get(ctx, 0);
  llvm::Type* i64 = llvm::Type::getInt64Ty(ctx);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, ptr, i64}, false);
  auto* f =
      llvm::Function::Create(type, llvm::Function::ExternalLinkage, kernel_name<T>(fn, width), m);
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", f);
  auto* loop = llvm::BasicBlock::Create(ctx, "loop", f);
  auto* exit = llvm::BasicBlock::Create(ctx, "exit", f);
  llvm::IRBuilder<> b(entry);
  b.CreateBr(loop);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(i64, 2);
  i->addIncoming(b.getInt64(0), entry);
  const llvm::Align align(sizeof(T));
  llvm::Value* x = b.CreateAlignedLoad(lanes, b.CreateGEP(scalar, f->getArg(0), i), align);
  b.CreateAlignedStore(emit(fn, b, x), b.CreateGEP(scalar, f->getArg(1), i), align);
  llvm::Value* next = b.CreateAdd(i, b.getInt64(width));
  i->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpULT(next, f->getArg(2)), loop, exit);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

std::unique_ptr<llvm::Module> all_kernels(llvm::LLVMContext& ctx) {
  auto m = std::make_unique<llvm::Module>("math_test", ctx);
  for (Fn fn : kAllFns) {
    for (int w : widths<float>()) add_kernel<float>(*m, fn, w);
    for (int w : widths<double>()) add_kernel<double>(*m, fn, w);
  }
  return m;
}

void initialize_llvm() {
  static const bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    return true;
  }();
  (void)done;
}

std::unique_ptr<llvm::TargetMachine> target_machine(const std::string& triple,
                                                    const std::string& cpu,
                                                    const std::string& features = "") {
  initialize_llvm();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  REQUIRE_MESSAGE(target, error);
  return std::unique_ptr<llvm::TargetMachine>(
      target->createTargetMachine(triple, cpu, features, llvm::TargetOptions(), llvm::Reloc::PIC_,
                                  std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

// The kernels' pipeline: checks that no pass undoes the tricks the emitters rely on.
void optimize(llvm::Module& m, llvm::TargetMachine& tm) {
  m.setDataLayout(tm.createDataLayout());
  m.setTargetTriple(tm.getTargetTriple().str());
  keops::jit::run_module_pipeline(m, tm, llvm::OptimizationLevel::O3);
}

std::string assembly(llvm::Module& m, llvm::TargetMachine& tm) {
  m.setDataLayout(tm.createDataLayout());
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  REQUIRE_FALSE(tm.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile));
  pm.run(m);
  return std::string(buffer.str());
}

// Fma: the host, when it has FMA; NoFma: the x86-64 baseline.
enum class Mode { Fma, NoFma };
std::string mode_name(Mode mode) { return mode == Mode::Fma ? "FMA" : "no FMA"; }

bool available(Mode mode) {
  return mode == Mode::NoFma || llvm::sys::getHostCPUFeatures().lookup("fma");
}

// Every kernel of all_kernels(), JIT-compiled once per mode.
class MathJit {
 public:
  static MathJit& get(Mode mode) {
    static std::map<Mode, std::unique_ptr<MathJit>> jits;
    auto& jit = jits[mode];
    if (!jit) jit.reset(new MathJit(mode));
    return *jit;
  }

  template <class T>
  void run(Fn fn, int width, const std::vector<T>& in, std::vector<T>& out) {
    using Kernel = void (*)(const T*, T*, int64_t);
    auto kernel = llvm::cantFail(jit_->lookup(kernel_name<T>(fn, width))).template toPtr<Kernel>();
    REQUIRE(in.size() % 16 == 0);
    out.resize(in.size());
    kernel(in.data(), out.data(), static_cast<int64_t>(in.size()));
  }

 private:
  explicit MathJit(Mode mode) {
    initialize_llvm();
    auto jtmb = llvm::cantFail(llvm::orc::JITTargetMachineBuilder::detectHost());
    if (mode == Mode::NoFma) {
      jtmb = llvm::orc::JITTargetMachineBuilder(llvm::Triple(llvm::sys::getProcessTriple()));
      jtmb.setCPU("x86-64");
    }
    auto tm = llvm::cantFail(jtmb.createTargetMachine());
    jit_ = llvm::cantFail(
        llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create());
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto m = all_kernels(*ctx);
    REQUIRE_FALSE(llvm::verifyModule(*m, &llvm::errs()));
    optimize(*m, *tm);
    llvm::cantFail(jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))));
  }

  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

bool same_bits_or_nan(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

// fn on the inputs in one mode, by the scalar kernel, after checking that every vector
// width gives the same bits. The inputs are padded to a multiple of 16 lanes.
template <class T>
std::vector<T> outputs(Fn fn, Mode mode, std::vector<T> in) {
  const size_t n = in.size();
  in.resize((n + 15) / 16 * 16, T(1));
  std::vector<T> scalar_out, out;
  MathJit::get(mode).run(fn, 1, in, scalar_out);
  for (int w : widths<T>()) {
    if (w == 1) continue;
    MathJit::get(mode).run(fn, w, in, out);
    size_t mismatches = 0;
    for (size_t k = 0; k < in.size(); ++k) mismatches += !same_bits_or_nan(out[k], scalar_out[k]);
    CHECK_MESSAGE(mismatches == 0, fn_name(fn), " ", type_name<T>(), " (", mode_name(mode),
                  "): width ", w, " differs from scalar code");
  }
  scalar_out.resize(n);
  return scalar_out;
}

// |y - f(x)| in ulps of T at the exact result: the distance between T's neighbours around
// it, 2^(e - p + 1) for a result in [2^e, 2^(e+1)), the subnormal spacing below the normal
// range. 0 when y equals the exact result rounded to T (infinities included), +inf when
// one is NaN or infinite and the other not.
template <class T>
double ulp_error(T y, long double exact) {
  constexpr double kFail = std::numeric_limits<double>::infinity();
  if (std::isnan(exact) || std::isnan(y)) return std::isnan(exact) && std::isnan(y) ? 0 : kFail;
  if (y == static_cast<T>(exact)) return 0;
  if (std::isinf(y) || std::isinf(static_cast<T>(exact))) return kFail;
  const long double magnitude = fabsl(exact);
  const long double ulp =
      magnitude < std::numeric_limits<T>::min()
          ? std::numeric_limits<T>::denorm_min()
          : ldexpl(1.0L, ilogbl(magnitude) - (std::numeric_limits<T>::digits - 1));
  return static_cast<double>(fabsl(static_cast<long double>(y) - exact) / ulp);
}

// A list of test inputs.
template <class T>
struct Inputs {
  std::vector<T> x;
  void add(T v) { x.push_back(v); }
  // n points evenly spaced over [lo, hi].
  void linear(long double lo, long double hi, int n) {
    for (int k = 0; k < n; ++k) add(static_cast<T>(lo + (hi - lo) * k / (n - 1)));
  }
  // n points with logarithms evenly spaced over [log lo, log hi], lo > 0, with both signs
  // when `both_signs`.
  void log_spaced(long double lo, long double hi, int n, bool both_signs) {
    for (int k = 0; k < n; ++k) {
      const T v = static_cast<T>(expl(logl(lo) + (logl(hi) - logl(lo)) * k / (n - 1)));
      add(v);
      if (both_signs) add(-v);
    }
  }
  void uniform(long double lo, long double hi, int n, std::mt19937_64& rng) {
    std::uniform_real_distribution<long double> d(lo, hi);
    for (int k = 0; k < n; ++k) add(static_cast<T>(d(rng)));
  }
};

// The worst ulp error of fn in `mode` over the inputs that `counts` accepts (by x and
// exact result), reported with `what` describing the inputs.
template <class T>
double max_ulp(Fn fn, Mode mode, const Inputs<T>& inputs, const std::string& what,
               const std::function<bool(T, long double)>& counts) {
  if (!available(mode)) {
    MESSAGE("skipped: the host has no FMA");
    return 0;
  }
  const std::vector<T> out = outputs(fn, mode, inputs.x);
  double worst = 0;
  T worst_x = 0;
  size_t counted = 0;
  for (size_t k = 0; k < inputs.x.size(); ++k) {
    const long double exact = reference(fn, inputs.x[k]);
    if (!counts(inputs.x[k], exact)) continue;
    ++counted;
    const double e = ulp_error<T>(out[k], exact);
    if (e > worst) worst = e, worst_x = inputs.x[k];
  }
  MESSAGE(fn_name(fn), " ", type_name<T>(), " (", mode_name(mode), "), ", what, ": max ", worst,
          " ulp over ", counted, " inputs, worst at x = ", static_cast<double>(worst_x));
  return worst;
}

template <class T>
double max_ulp(Fn fn, Mode mode, const Inputs<T>& inputs, const std::string& what) {
  return max_ulp<T>(fn, mode, inputs, what, [](T, long double) { return true; });
}

// fn at one point (FMA mode, or the baseline on a host without FMA).
template <class T>
T eval(Fn fn, T x) {
  return outputs<T>(fn, available(Mode::Fma) ? Mode::Fma : Mode::NoFma, {x})[0];
}

template <class T>
bool is_pos_zero(T v) {
  return v == 0 && !std::signbit(v);
}

template <class T>
bool is_neg_zero(T v) {
  return v == 0 && std::signbit(v);
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

// The bounds checked below are those documented in compiler/codegen/math.h.

TEST_CASE_TEMPLATE("math: exp over the whole range", T, float, double) {
  using L = std::numeric_limits<T>;
  const bool is_float = sizeof(T) == 4;
  std::mt19937_64 rng(1);
  Inputs<T> in;
  in.linear(-0.7L, 0.7L, 20000);  // the reduced interval and its neighbours
  const long double lowest = logl(L::denorm_min()) - 1, highest = logl(L::max()) + 1;
  in.linear(lowest, highest, 40000);
  in.log_spaced(L::denorm_min(), highest, 20000, true);
  in.uniform(lowest, highest, 20000, rng);
  in.uniform(-2, 2, 10000, rng);
  // The worst float inputs an exhaustive search found (with and without FMA).
  for (T x : {-0x1.e49b2p-6f, -0x1.5a84ap-6f, -0x1.14522p-6f, -0x1.4a8edp-5f}) in.add(x);
  // Results in the normal range (float flushes the rest; its threshold is checked below).
  const long double normal_min = is_float ? L::min() * (1 + 0x1p-15L) : 0;
  auto normal = [&](T, long double e) { return e >= normal_min; };
  CHECK(max_ulp<T>(Fn::Exp, Mode::Fma, in, "whole range", normal) <= (is_float ? 1.5 : 1.0));
  CHECK(max_ulp<T>(Fn::Exp, Mode::NoFma, in, "whole range", normal) <= (is_float ? 2.0 : 1.5));

  if (is_float && available(Mode::Fma)) {
    // Below the normal range: +0 (the flush), or the right value just above it.
    Inputs<T> low;
    low.linear(-110, -87.3, 20000);
    const std::vector<T> out = outputs(Fn::Exp, Mode::Fma, low.x);
    for (size_t k = 0; k < low.x.size(); ++k) {
      const long double e = expl(low.x[k]);
      CAPTURE(low.x[k]);
      if (e < L::min())
        CHECK(is_pos_zero(out[k]));
      else if (e >= normal_min)
        CHECK(ulp_error(out[k], e) <= 1.5);
    }
  }
}

TEST_CASE_TEMPLATE("math: exp special values", T, float, double) {
  using L = std::numeric_limits<T>;
  CHECK(eval<T>(Fn::Exp, 0) == 1);
  CHECK(eval<T>(Fn::Exp, -T(0)) == 1);
  CHECK(eval<T>(Fn::Exp, L::denorm_min()) == 1);
  CHECK(eval<T>(Fn::Exp, -L::denorm_min()) == 1);
  CHECK(eval<T>(Fn::Exp, T(kInf)) == T(kInf));
  CHECK(is_pos_zero(eval<T>(Fn::Exp, -T(kInf))));
  CHECK(std::isnan(eval<T>(Fn::Exp, T(kNaN))));
  CHECK(std::isnan(eval<T>(Fn::Exp, -T(kNaN))));
  CHECK(eval<T>(Fn::Exp, L::max()) == T(kInf));
  CHECK(is_pos_zero(eval<T>(Fn::Exp, L::lowest())));
  // Around the overflow threshold: finite and accurate below it, +inf above.
  const T threshold = static_cast<T>(logl(L::max()));
  T x = std::nextafter(threshold, T(0));
  for (int k = 0; k < 4; ++k, x = std::nextafter(x, T(kInf))) {
    CAPTURE(x);
    CHECK(ulp_error(eval<T>(Fn::Exp, x), expl(x)) <= 1.0);
  }
  CHECK(eval<T>(Fn::Exp, std::nextafter(std::nextafter(threshold, T(kInf)), T(kInf))) == T(kInf));
  if (sizeof(T) == 8) {
    // Gradual underflow down to the smallest subnormal.
    const T log_denorm_min = static_cast<T>(logl(L::denorm_min()));
    CHECK(eval<T>(Fn::Exp, log_denorm_min) == L::denorm_min());
    CHECK(is_pos_zero(eval<T>(Fn::Exp, T(-745.2))));
    CHECK(ulp_error(eval<T>(Fn::Exp, T(-740)), expl(-740.0L)) <= 1.0);
  }
}

TEST_CASE_TEMPLATE("math: log for every magnitude", T, float, double) {
  using L = std::numeric_limits<T>;
  std::mt19937_64 rng(2);
  Inputs<T> in;
  in.linear(0.70710678L, 1.41421357L, 20000);  // the reduced interval
  in.linear(0.99L, 1.01L, 5000);
  in.log_spaced(L::denorm_min(), L::max(), 40000, false);
  // Random bit patterns of positive finite numbers: uniform over exponents, subnormals included.
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  Bits max_bits;
  const T max = L::max();
  std::memcpy(&max_bits, &max, sizeof max);
  std::uniform_int_distribution<Bits> bits(1, max_bits);
  for (int k = 0; k < 30000; ++k) {
    const Bits v = bits(rng);
    T x;
    std::memcpy(&x, &v, sizeof x);
    in.add(x);
  }
  CHECK(max_ulp<T>(Fn::Log, Mode::Fma, in, "all magnitudes") <= 1.0);
  CHECK(max_ulp<T>(Fn::Log, Mode::NoFma, in, "all magnitudes") <= 1.0);
}

TEST_CASE_TEMPLATE("math: log special values", T, float, double) {
  using L = std::numeric_limits<T>;
  CHECK(eval<T>(Fn::Log, 1) == 0);
  CHECK(eval<T>(Fn::Log, 0) == -T(kInf));
  CHECK(eval<T>(Fn::Log, -T(0)) == -T(kInf));
  CHECK(eval<T>(Fn::Log, T(kInf)) == T(kInf));
  CHECK(std::isnan(eval<T>(Fn::Log, -T(kInf))));
  CHECK(std::isnan(eval<T>(Fn::Log, T(-1))));
  CHECK(std::isnan(eval<T>(Fn::Log, -L::denorm_min())));
  CHECK(std::isnan(eval<T>(Fn::Log, T(kNaN))));
  CHECK(ulp_error(eval<T>(Fn::Log, L::denorm_min()), logl(L::denorm_min())) <= 1.0);
  CHECK(ulp_error(eval<T>(Fn::Log, L::min()), logl(L::min())) <= 1.0);
  CHECK(ulp_error(eval<T>(Fn::Log, L::max()), logl(L::max())) <= 1.0);
}

// sin and cos: ulp error relative to the exact result everywhere, next to the zeros too,
// where it measures the reduction's absolute error against a tiny result; the numbers
// nearest to multiples of pi/2 are the hardest inputs.
template <class T>
void check_sin_cos_accuracy(Fn fn) {
  const bool is_float = sizeof(T) == 4;
  const long double half_pi = 1.57079632679489661923132169163975144L;
  std::mt19937_64 rng(3);
  const long double range = is_float ? 1e6L : 1e9L;
  Inputs<T> in;
  in.linear(-3.2L, 3.2L, 20000);
  in.log_spaced(std::numeric_limits<T>::denorm_min(), range, 20000, true);
  in.uniform(-range, range, 20000, rng);
  in.uniform(-100, 100, 10000, rng);
  // k pi/2 rounded to float for every k up to 1e5 and every 7th up to 1e6; a random
  // sample of them for double.
  if (is_float) {
    for (int64_t k = 1; k <= static_cast<int64_t>(range / half_pi); k += k < 63662 ? 1 : 7)
      in.add(static_cast<T>(k * half_pi));
    // The worst inputs an exhaustive search found (|x| < 4 every float, up to 1e6 one in 64).
    for (T x : {0x1.d4f8e8p+1f, 0x1.51a568p+0f, 0x1.600dp+14f, 0x1.b8e48p+15f, 0x1.51e512p+0f})
      in.add(x);
  } else {
    std::uniform_int_distribution<int64_t> k(1, static_cast<int64_t>(range / half_pi));
    for (int n = 0; n < 50000; ++n) {
      const T x = static_cast<T>(k(rng) * half_pi);
      in.add(x);
      in.add(std::nextafter(x, T(0)));
    }
  }
  const std::string where = is_float ? "|x| <= 1e6" : "|x| <= 1e9";
  CHECK(max_ulp<T>(fn, Mode::Fma, in, where) <= (is_float ? 1.7 : 1.5));

  if (!is_float) {
    Inputs<T> far;
    far.log_spaced(1e9L, 1e14L, 20000, true);
    CHECK(max_ulp<T>(fn, Mode::Fma, far, "1e9 <= |x| <= 1e14") <= 1.5);
  }

  // Without FMA: the same polynomials on [-pi/2, pi/2]; beyond, x - n p1 rounds and the
  // absolute error grows like |x| 2^-p.
  Inputs<T> small;
  small.linear(-half_pi, half_pi, 20000);
  small.log_spaced(std::numeric_limits<T>::denorm_min(), half_pi, 10000, true);
  CHECK(max_ulp<T>(fn, Mode::NoFma, small, "|x| <= pi/2") <= (is_float ? 1.7 : 1.5));
  const std::vector<T>& big = in.x;
  const std::vector<T> out = outputs(fn, Mode::NoFma, big);
  long double worst = 0;
  for (size_t k = 0; k < big.size(); ++k) {
    const long double scale = std::max(1.0L, fabsl(big[k])) * std::numeric_limits<T>::epsilon();
    worst = std::max(worst, fabsl(out[k] - reference(fn, big[k])) / scale);
  }
  MESSAGE(fn_name(fn), " ", type_name<T>(), " (no FMA), ", where,
          ": abs error <= ", static_cast<double>(worst), " * epsilon * max(1, |x|)");
  CHECK(worst <= 1.0);

  // Beyond the range, up to the largest finite input: finite values in [-1, 1].
  Inputs<T> huge;
  huge.log_spaced(range, std::numeric_limits<T>::max(), 10000, true);
  for (Mode mode : {Mode::Fma, Mode::NoFma}) {
    if (!available(mode)) continue;
    size_t out_of_range = 0;
    for (T y : outputs(fn, mode, huge.x)) out_of_range += !(std::fabs(y) <= 1);
    CHECK(out_of_range == 0);
  }
}

TEST_CASE_TEMPLATE("math: sin, next to its zeros too", T, float, double) {
  check_sin_cos_accuracy<T>(Fn::Sin);
}

TEST_CASE_TEMPLATE("math: cos, next to its zeros too", T, float, double) {
  check_sin_cos_accuracy<T>(Fn::Cos);
}

TEST_CASE_TEMPLATE("math: sin and cos special values", T, float, double) {
  using L = std::numeric_limits<T>;
  CHECK(is_pos_zero(eval<T>(Fn::Sin, 0)));
  CHECK(is_neg_zero(eval<T>(Fn::Sin, -T(0))));
  CHECK(eval<T>(Fn::Sin, L::denorm_min()) == L::denorm_min());
  CHECK(eval<T>(Fn::Sin, -L::min()) == -L::min());
  CHECK(eval<T>(Fn::Cos, 0) == 1);
  CHECK(eval<T>(Fn::Cos, -T(0)) == 1);
  CHECK(eval<T>(Fn::Cos, L::denorm_min()) == 1);
  for (Fn fn : {Fn::Sin, Fn::Cos}) {
    CHECK(std::isnan(eval<T>(fn, T(kInf))));
    CHECK(std::isnan(eval<T>(fn, -T(kInf))));
    CHECK(std::isnan(eval<T>(fn, T(kNaN))));
    CHECK(std::fabs(eval<T>(fn, L::max())) <= 1);
    CHECK(std::fabs(eval<T>(fn, L::lowest())) <= 1);
  }
}

TEST_CASE_TEMPLATE("math: sqrt correctly rounded", T, float, double) {
  using L = std::numeric_limits<T>;
  std::mt19937_64 rng(4);
  Inputs<T> in;
  in.log_spaced(L::denorm_min(), L::max(), 20000, false);
  in.uniform(0, 4, 10000, rng);
  CHECK(max_ulp<T>(Fn::Sqrt, Mode::Fma, in, "all magnitudes") <= 0.5);
  CHECK(max_ulp<T>(Fn::Sqrt, Mode::NoFma, in, "all magnitudes") <= 0.5);
  CHECK(is_neg_zero(eval<T>(Fn::Sqrt, -T(0))));
  CHECK(eval<T>(Fn::Sqrt, T(kInf)) == T(kInf));
  CHECK(std::isnan(eval<T>(Fn::Sqrt, T(-1))));
  CHECK(std::isnan(eval<T>(Fn::Sqrt, T(kNaN))));
}

TEST_CASE("math: no calls, in the IR and in the x86 code with and without FMA, and in PTX") {
  initialize_llvm();
  llvm::LLVMContext ctx;
  auto m = all_kernels(ctx);
  for (llvm::Function& f : *m) {
    for (llvm::Instruction& inst : llvm::instructions(f)) {
      auto* call = llvm::dyn_cast<llvm::CallBase>(&inst);
      if (!call) continue;
      // Intrinsics that are instructions on every target: multiply-add and sqrt.
      auto* intrinsic = llvm::dyn_cast<llvm::IntrinsicInst>(call);
      CHECK_MESSAGE((intrinsic && (intrinsic->getIntrinsicID() == llvm::Intrinsic::fmuladd ||
                                   intrinsic->getIntrinsicID() == llvm::Intrinsic::sqrt)),
                    f.getName().str(), " calls ", call->getCalledOperand()->getName().str());
    }
  }
  struct Target {
    std::string triple, cpu, features;
  };
  const std::string host = llvm::sys::getProcessTriple();
  for (const Target& target : {Target{host, "x86-64", ""}, Target{host, "skylake-avx512", ""},
                               Target{"nvptx64-nvidia-cuda", "sm_90", "+ptx80"}}) {
    auto tm = target_machine(target.triple, target.cpu, target.features);
    llvm::LLVMContext target_ctx;
    auto module = all_kernels(target_ctx);
    optimize(*module, *tm);
    const std::string text = assembly(*module, *tm);
    CAPTURE(target.cpu);
    CHECK(text.find("exp_float_w16") != std::string::npos);
    CHECK_FALSE(std::regex_search(text, std::regex("\\bcall")));
    CHECK_FALSE(std::regex_search(text, std::regex("\\bjmp\\s+[a-z_]")));
  }
}

TEST_CASE("math: the AVX-512 float32 exp is a short straight line") {
  // <16 x float> f(<16 x float>): argument and result in zmm0. Constants come as broadcast
  // memory operands or broadcast loads; in a kernel loop the loads are hoisted, so they
  // are counted apart.
  llvm::LLVMContext ctx;
  llvm::Module m("exp16", ctx);
  auto* v16 = llvm::FixedVectorType::get(llvm::Type::getFloatTy(ctx), 16);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(v16, {v16}, false),
                                   llvm::Function::ExternalLinkage, "exp16", m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  b.CreateRet(emit_exp(b, f->getArg(0)));
  auto tm = target_machine(llvm::sys::getProcessTriple(), "znver4");
  optimize(m, *tm);
  const std::string text = assembly(m, *tm);
  int count = 0, constant_loads = 0;
  std::string mnemonics;
  bool in_body = false;
  for (size_t start = 0, end; start < text.size(); start = end + 1) {
    end = std::min(text.find('\n', start), text.size());
    const std::string line = text.substr(start, end - start);
    if (line.rfind("exp16:", 0) == 0) in_body = true;
    if (!in_body || line.size() < 2 || line[0] != '\t' || line[1] == '.' || line[1] == '#')
      continue;
    const std::string mnemonic = line.substr(1, line.find_first_of("\t ", 1) - 1);
    if (mnemonic == "retq" || mnemonic == "ret") break;
    if (mnemonic.rfind("vbroadcast", 0) == 0) {
      ++constant_loads;
      continue;
    }
    ++count;
    mnemonics += " " + mnemonic;
  }
  MESSAGE("AVX-512 (znver4) <16 x float> exp: ", count, " instructions (+", constant_loads,
          " constant broadcasts, hoisted in loops):", mnemonics);
  CHECK(count <= 15);
}
