// Reductions: names, output shapes, and reference_reduce on tiny hand-checked data.
#include <doctest/doctest.h>

#include <cmath>
#include <iterator>
#include <limits>
#include <set>
#include <string>

#include "compiler/ir/evaluator.h"
#include "compiler/ir/reduction.h"
#include "keops/error.h"
#include "tests/compiler/ir/test_util.h"

namespace keops::ir {
namespace {

using testing::check_values;
using testing::Ir;
using V = std::vector<double>;
using I = std::vector<int64_t>;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const ReductionKind kAllKinds[] = {
    ReductionKind::Sum,
    ReductionKind::Max,
    ReductionKind::Min,
    ReductionKind::ArgMax,
    ReductionKind::ArgMin,
    ReductionKind::Max_ArgMax,
    ReductionKind::Min_ArgMin,
    ReductionKind::KMin,
    ReductionKind::ArgKMin,
    ReductionKind::KMin_ArgKMin,
    ReductionKind::LogSumExp,
    ReductionKind::LogSumExpWeight,
    ReductionKind::Max_SumShiftExp,
    ReductionKind::Max_SumShiftExpWeight,
    ReductionKind::SumSoftMaxWeight,
};

TEST_CASE("reduction names round-trip") {
  for (ReductionKind kind : kAllKinds) {
    const std::string_view name = reduction_name(kind);
    CAPTURE(name);
    CHECK(reduction_by_name(name) == kind);
  }
  CHECK(reduction_name(ReductionKind::KMin_ArgKMin) == "KMin_ArgKMin");
  CHECK_THROWS_WITH_AS(reduction_by_name("Mean"), doctest::Contains("unknown reduction 'Mean'"),
                       keops::Error);
  CHECK_THROWS_WITH_AS(reduction_by_name("sum"),
                       doctest::Contains("Sum, Max, Min, ArgMax, ArgMin, Max_ArgMax"),
                       keops::Error);
  CHECK_THROWS_WITH_AS(reduction_by_name(""), doctest::Contains("SumSoftMaxWeight"), keops::Error);
  // KeOps's old name of SumSoftMaxWeight reads as it; the kind keeps its own name.
  CHECK(reduction_by_name("SoftMax") == ReductionKind::SumSoftMaxWeight);
  CHECK(reduction_name(ReductionKind::SumSoftMaxWeight) == "SumSoftMaxWeight");
}

TEST_CASE("LogSumExp takes an optional G, and is then LogSumExpWeight") {
  Ir ir;
  ReductionSpec s;
  s.kind = ReductionKind::LogSumExp;
  CHECK_FALSE(s.needs_formula2());
  CHECK(s.takes_formula2());
  CHECK(s.value_cols(1) == 1);
  CHECK_NOTHROW(s.check(1));
  s.formula2 = ir.vj(1, 3);
  CHECK(s.value_cols(1) == 3);
  CHECK_NOTHROW(s.check(1));
  CHECK_THROWS_WITH_AS(s.check(2), doctest::Contains("LogSumExp needs a scalar formula"),
                       keops::Error);
  for (ReductionKind kind : {ReductionKind::Sum, ReductionKind::Max_SumShiftExp}) {
    s.kind = kind;
    CAPTURE(reduction_name(kind));
    CHECK_FALSE(s.takes_formula2());
    const std::string message =
        "formula2 (Options::formula2) is only used by the weighted "
        "reductions and LogSumExp, not by " +
        std::string(reduction_name(kind));
    CHECK_THROWS_WITH_AS(s.check(1), doctest::Contains(message.c_str()), keops::Error);
  }
}

TEST_CASE("what each reduction needs and yields") {
  Ir ir;
  const Expr g = ir.vj(1, 3);
  auto spec = [&](ReductionKind kind) {
    ReductionSpec s;
    s.kind = kind;
    s.k = 4;
    s.formula2 = g;
    return s;
  };
  for (ReductionKind kind : kAllKinds) {
    const ReductionSpec s = spec(kind);
    const bool weighted = kind == ReductionKind::LogSumExpWeight ||
                          kind == ReductionKind::Max_SumShiftExpWeight ||
                          kind == ReductionKind::SumSoftMaxWeight;
    const bool with_k = kind == ReductionKind::KMin || kind == ReductionKind::ArgKMin ||
                        kind == ReductionKind::KMin_ArgKMin;
    CAPTURE(reduction_name(kind));
    CHECK(s.needs_formula2() == weighted);
    CHECK(s.needs_k() == with_k);
  }
  struct Cols {
    ReductionKind kind;
    int values, indices;
  };
  // For a formula of dim 2, K = 4 and G of dim 3.
  const Cols expected[] = {
      {ReductionKind::Sum, 2, 0},
      {ReductionKind::Max, 2, 0},
      {ReductionKind::Min, 2, 0},
      {ReductionKind::ArgMax, 0, 2},
      {ReductionKind::ArgMin, 0, 2},
      {ReductionKind::Max_ArgMax, 2, 2},
      {ReductionKind::Min_ArgMin, 2, 2},
      {ReductionKind::KMin, 8, 0},
      {ReductionKind::ArgKMin, 0, 8},
      {ReductionKind::KMin_ArgKMin, 8, 8},
      {ReductionKind::LogSumExp, 3, 0},  // with a G: LogSumExpWeight
      {ReductionKind::LogSumExpWeight, 3, 0},
      {ReductionKind::Max_SumShiftExp, 2, 0},
      {ReductionKind::Max_SumShiftExpWeight, 4, 0},
      {ReductionKind::SumSoftMaxWeight, 3, 0},
  };
  for (const Cols& c : expected) {
    CAPTURE(reduction_name(c.kind));
    CHECK(spec(c.kind).value_cols(2) == c.values);
    CHECK(spec(c.kind).index_cols(2) == c.indices);
  }
}

// x = Vi(0, 1) = [0, 1] (nx = 2), y = Vj(1, 1) = [0, 2, 1] (ny = 3), F = y - x:
//   F = [[0, 2, 1], [-1, 1, 0]]   (row i, column j).
struct Pairs {
  Ir ir;
  const V x{0, 1}, y{0, 2, 1};
  const Expr xv = ir.vi(0, 1), yv = ir.vj(1, 1);
  const Expr f = ir.op(Op::Subtract, {yv, xv});

  ReferenceOutput run(ReductionKind kind, int axis, Expr formula = nullptr, int k = 0,
                      Expr g = nullptr, std::vector<const double*> extra = {}) {
    ReductionSpec spec;
    spec.kind = kind;
    spec.k = k;
    spec.formula2 = g;
    std::vector<const double*> args{x.data(), y.data()};
    args.insert(args.end(), extra.begin(), extra.end());
    return reference_reduce(formula ? formula : f, spec, axis, args, 2, 3);
  }
};

void check_shape(const ReferenceOutput& out, int64_t rows, int64_t cols, int64_t index_cols) {
  CHECK(out.rows == rows);
  CHECK(out.cols == cols);
  CHECK(out.index_cols == index_cols);
  CHECK(out.values.size() == size_t(rows * cols));
  CHECK(out.indices.size() == size_t(rows * index_cols));
}

TEST_CASE("reference_reduce: Sum over j and over i") {
  Pairs p;
  const ReferenceOutput a = p.run(ReductionKind::Sum, 1);
  check_shape(a, 2, 1, 0);
  check_values(a.values, {3, 0});
  const ReferenceOutput b = p.run(ReductionKind::Sum, 0);
  check_shape(b, 3, 1, 0);
  check_values(b.values, {-1, 3, 1});
  SUBCASE("a vector formula sums component-wise") {
    const Expr f2 = p.ir.op(Op::Concat, {p.f, p.ir.op(Op::Square, {p.f})});
    check_values(p.run(ReductionKind::Sum, 1, f2).values, {3, 5, 0, 2});
  }
  SUBCASE("a parameter is shared by every pair") {
    const V scale{10};
    const Expr f = p.ir.op(Op::Mult, {p.ir.pm(2, 1), p.f});
    check_values(p.run(ReductionKind::Sum, 1, f, 0, nullptr, {scale.data()}).values, {30, 0});
  }
  SUBCASE("a formula without j sums ny copies") {
    check_values(p.run(ReductionKind::Sum, 1, p.ir.op(Op::Exp, {p.xv})).values,
                 {3, 3 * std::exp(1.0)});
  }
}

TEST_CASE("reference_reduce: Max, Min and their Arg forms") {
  Pairs p;
  SUBCASE("over j") {
    check_values(p.run(ReductionKind::Max, 1).values, {2, 1});
    check_values(p.run(ReductionKind::Min, 1).values, {0, -1});
    const ReferenceOutput am = p.run(ReductionKind::ArgMax, 1);
    check_shape(am, 2, 0, 1);
    CHECK(am.indices == I{1, 1});
    CHECK(p.run(ReductionKind::ArgMin, 1).indices == I{0, 0});
    const ReferenceOutput mam = p.run(ReductionKind::Max_ArgMax, 1);
    check_shape(mam, 2, 1, 1);
    check_values(mam.values, {2, 1});
    CHECK(mam.indices == I{1, 1});
    const ReferenceOutput mim = p.run(ReductionKind::Min_ArgMin, 1);
    check_values(mim.values, {0, -1});
    CHECK(mim.indices == I{0, 0});
  }
  SUBCASE("over i") {
    check_values(p.run(ReductionKind::Max, 0).values, {0, 2, 1});
    check_values(p.run(ReductionKind::Min, 0).values, {-1, 1, 0});
    CHECK(p.run(ReductionKind::ArgMax, 0).indices == I{0, 0, 0});
    CHECK(p.run(ReductionKind::ArgMin, 0).indices == I{1, 1, 1});
  }
  SUBCASE("component-wise for a vector formula") {
    const Expr f2 = p.ir.op(Op::Concat, {p.f, p.ir.op(Op::Minus, {p.f})});
    const ReferenceOutput m = p.run(ReductionKind::Max_ArgMax, 1, f2);
    check_shape(m, 2, 2, 2);
    check_values(m.values, {2, 0, 1, 1});
    CHECK(m.indices == I{1, 0, 1, 0});
  }
  SUBCASE("ties keep the lowest index") {
    const V t{2, 0, 2, 0};
    const Expr tv = p.ir.vj(2, 1);
    ReductionSpec spec;
    spec.kind = ReductionKind::ArgMax;
    std::vector<const double*> args{p.x.data(), p.y.data(), t.data()};
    CHECK(reference_reduce(tv, spec, 1, args, 1, 4).indices == I{0});
    spec.kind = ReductionKind::ArgMin;
    CHECK(reference_reduce(tv, spec, 1, args, 1, 4).indices == I{1});
  }
}

TEST_CASE("reference_reduce: KMin forms, rank-major rows") {
  Pairs p;
  const ReferenceOutput k2 = p.run(ReductionKind::KMin_ArgKMin, 1, nullptr, 2);
  check_shape(k2, 2, 2, 2);
  check_values(k2.values, {0, 1, -1, 0});
  CHECK(k2.indices == I{0, 2, 0, 2});
  check_values(p.run(ReductionKind::KMin, 1, nullptr, 2).values, {0, 1, -1, 0});
  const ReferenceOutput ak = p.run(ReductionKind::ArgKMin, 1, nullptr, 2);
  check_shape(ak, 2, 0, 2);
  CHECK(ak.indices == I{0, 2, 0, 2});
  SUBCASE("over i") {
    const ReferenceOutput k = p.run(ReductionKind::KMin_ArgKMin, 0, nullptr, 2);
    check_values(k.values, {-1, 0, 1, 2, 0, 1});
    CHECK(k.indices == I{1, 0, 1, 0, 1, 0});
  }
  SUBCASE("K larger than the reduced size: +inf and index -1") {
    const ReferenceOutput k = p.run(ReductionKind::KMin_ArgKMin, 1, nullptr, 4);
    check_values(k.values, {0, 1, 2, kInf, -1, 0, 1, kInf});
    CHECK(k.indices == I{0, 2, 1, -1, 0, 2, 1, -1});
  }
  SUBCASE("a vector formula: rank 0 of every component, then rank 1") {
    // Row i = 0: component 0 is [0, 2, 1], component 1 is [0, -2, -1].
    const Expr f2 = p.ir.op(Op::Concat, {p.f, p.ir.op(Op::Minus, {p.f})});
    const ReferenceOutput k = p.run(ReductionKind::KMin_ArgKMin, 1, f2, 2);
    check_shape(k, 2, 4, 4);
    check_values(V(k.values.begin(), k.values.begin() + 4), {0, -2, 1, -1});
    CHECK(I(k.indices.begin(), k.indices.begin() + 4) == I{0, 1, 2, 2});
  }
  SUBCASE("ties in order of index") {
    const V t{2, 0, 2, 0};
    ReductionSpec spec;
    spec.kind = ReductionKind::KMin_ArgKMin;
    spec.k = 3;
    const ReferenceOutput k =
        reference_reduce(p.ir.vj(2, 1), spec, 1, {nullptr, nullptr, t.data()}, 1, 4);
    check_values(k.values, {0, 0, 2});
    CHECK(k.indices == I{1, 3, 0});
  }
}

TEST_CASE("reference_reduce: LogSumExp and the shifted-exponential forms") {
  Pairs p;
  const double s0 = std::exp(0) + std::exp(2) + std::exp(1);
  const double s1 = std::exp(-1) + std::exp(1) + std::exp(0);
  check_values(p.run(ReductionKind::LogSumExp, 1).values, {std::log(s0), std::log(s1)});
  check_values(p.run(ReductionKind::LogSumExp, 0).values,
               {std::log(std::exp(0) + std::exp(-1)), std::log(std::exp(2) + std::exp(1)),
                std::log(std::exp(1) + std::exp(0))});
  SUBCASE("stable for large values") {
    const Expr big = p.ir.op(Op::Add, {p.f, p.ir.k({1000})});
    check_values(p.run(ReductionKind::LogSumExp, 1, big).values,
                 {1000 + std::log(s0), 1000 + std::log(s1)});
    const Expr small = p.ir.op(Op::Subtract, {p.f, p.ir.k({1000})});
    check_values(p.run(ReductionKind::LogSumExp, 1, small).values,
                 {std::log(s0) - 1000, std::log(s1) - 1000});
  }
  // G = Vj(2, 2) = [[1, 2], [3, 4], [5, 6]].
  const V gdata{1, 2, 3, 4, 5, 6};
  const Expr g = p.ir.vj(2, 2);
  auto weighted = [&](ReductionKind kind) { return p.run(kind, 1, nullptr, 0, g, {gdata.data()}); };
  SUBCASE("LogSumExpWeight, and LogSumExp with a G") {
    for (ReductionKind kind : {ReductionKind::LogSumExpWeight, ReductionKind::LogSumExp}) {
      CAPTURE(reduction_name(kind));
      const ReferenceOutput out = weighted(kind);
      check_shape(out, 2, 2, 0);
      check_values(out.values, {std::log(1 + 3 * std::exp(2) + 5 * std::exp(1)),
                                std::log(2 + 4 * std::exp(2) + 6 * std::exp(1)),
                                std::log(1 * std::exp(-1) + 3 * std::exp(1) + 5),
                                std::log(2 * std::exp(-1) + 4 * std::exp(1) + 6)});
    }
  }
  SUBCASE("Max_SumShiftExp") {
    const ReferenceOutput out = p.run(ReductionKind::Max_SumShiftExp, 1);
    check_shape(out, 2, 2, 0);
    check_values(out.values, {2, s0 / std::exp(2), 1, s1 / std::exp(1)});
  }
  SUBCASE("Max_SumShiftExpWeight") {
    const ReferenceOutput out = weighted(ReductionKind::Max_SumShiftExpWeight);
    check_shape(out, 2, 3, 0);
    const double e = std::exp(1);
    check_values(out.values, {2, 1 / (e * e) + 3 + 5 / e, 2 / (e * e) + 4 + 6 / e,  //
                              1, 1 / (e * e) + 3 + 5 / e, 2 / (e * e) + 4 + 6 / e});
  }
  SUBCASE("SumSoftMaxWeight") {
    const ReferenceOutput out = weighted(ReductionKind::SumSoftMaxWeight);
    check_shape(out, 2, 2, 0);
    check_values(out.values, {(1 + 3 * std::exp(2) + 5 * std::exp(1)) / s0,
                              (2 + 4 * std::exp(2) + 6 * std::exp(1)) / s0,
                              (1 * std::exp(-1) + 3 * std::exp(1) + 5) / s1,
                              (2 * std::exp(-1) + 4 * std::exp(1) + 6) / s1});
  }
  SUBCASE("infinite maxima give no inf - inf") {
    const V t{-kInf, -kInf, kInf, 0};
    ReductionSpec spec;
    spec.kind = ReductionKind::LogSumExp;
    const Expr tv = p.ir.vj(2, 1);
    check_values(reference_reduce(tv, spec, 1, {nullptr, nullptr, t.data()}, 1, 2).values, {-kInf});
    check_values(reference_reduce(tv, spec, 1, {nullptr, nullptr, t.data()}, 1, 4).values, {kInf});
    spec.kind = ReductionKind::Max_SumShiftExp;
    check_values(reference_reduce(tv, spec, 1, {nullptr, nullptr, t.data()}, 1, 4).values,
                 {kInf, 1});
  }
}

TEST_CASE("reference_reduce: empty ranges give identities") {
  Ir ir;
  const Expr x = ir.vi(0, 2), y = ir.vj(1, 2), g = ir.vj(2, 3);
  const Expr f = ir.op(Op::SqDist, {x, y});
  const Expr f2 = ir.op(Op::Subtract, {x, y});
  const V xd{1, 2, 3, 4};
  const V unused{0};  // rows of y and G, never read when their range is empty
  auto run = [&](ReductionKind kind, Expr formula, int64_t nx, int64_t ny, int axis,
                 bool with_g = false) {
    ReductionSpec spec;
    spec.kind = kind;
    spec.k = 2;
    spec.formula2 = spec.needs_formula2() || with_g ? g : nullptr;
    return reference_reduce(formula, spec, axis, {xd.data(), unused.data(), unused.data()}, nx, ny);
  };
  SUBCASE("no output rows") {
    for (ReductionKind kind : kAllKinds) {
      const ReferenceOutput out = run(kind, f, 0, 3, 1);
      CHECK(out.rows == 0);
      CHECK(out.values.empty());
      CHECK(out.indices.empty());
    }
  }
  SUBCASE("nothing to reduce") {
    const ReferenceOutput sum = run(ReductionKind::Sum, f2, 2, 0, 1);
    check_shape(sum, 2, 2, 0);
    check_values(sum.values, {0, 0, 0, 0});
    check_values(run(ReductionKind::Max, f2, 2, 0, 1).values, {-kInf, -kInf, -kInf, -kInf});
    check_values(run(ReductionKind::Min, f2, 1, 0, 1).values, {kInf, kInf});
    CHECK(run(ReductionKind::ArgMax, f2, 1, 0, 1).indices == I{-1, -1});
    CHECK(run(ReductionKind::ArgMin, f2, 1, 0, 1).indices == I{-1, -1});
    const ReferenceOutput mam = run(ReductionKind::Max_ArgMax, f2, 1, 0, 1);
    check_values(mam.values, {-kInf, -kInf});
    CHECK(mam.indices == I{-1, -1});
    const ReferenceOutput mim = run(ReductionKind::Min_ArgMin, f2, 1, 0, 1);
    check_values(mim.values, {kInf, kInf});
    CHECK(mim.indices == I{-1, -1});
    const ReferenceOutput k = run(ReductionKind::KMin_ArgKMin, f2, 1, 0, 1);
    check_values(k.values, {kInf, kInf, kInf, kInf});
    CHECK(k.indices == I{-1, -1, -1, -1});
    check_values(run(ReductionKind::KMin, f2, 1, 0, 1).values, {kInf, kInf, kInf, kInf});
    CHECK(run(ReductionKind::ArgKMin, f2, 1, 0, 1).indices == I{-1, -1, -1, -1});
    check_values(run(ReductionKind::LogSumExp, f, 2, 0, 1).values, {-kInf, -kInf});
    check_values(run(ReductionKind::LogSumExp, f, 1, 0, 1, true).values, {-kInf, -kInf, -kInf});
    check_values(run(ReductionKind::LogSumExpWeight, f, 1, 0, 1).values, {-kInf, -kInf, -kInf});
    check_values(run(ReductionKind::Max_SumShiftExp, f, 1, 0, 1).values, {-kInf, 0});
    check_values(run(ReductionKind::Max_SumShiftExpWeight, f, 1, 0, 1).values, {-kInf, 0, 0, 0});
    check_values(run(ReductionKind::SumSoftMaxWeight, f, 1, 0, 1).values, {0, 0, 0});
  }
  SUBCASE("over i with nx = 0") {
    const ReferenceOutput out = run(ReductionKind::Min_ArgMin, f, 0, 3, 0);
    check_shape(out, 3, 1, 1);
    check_values(out.values, {kInf, kInf, kInf});
    CHECK(out.indices == I{-1, -1, -1});
  }
}

TEST_CASE("reference_reduce: NaN and infinite values") {
  Ir ir;
  const Expr t = ir.vj(0, 1);
  auto run = [&](ReductionKind kind, const V& data, int k = 1) {
    ReductionSpec spec;
    spec.kind = kind;
    spec.k = k;
    return reference_reduce(t, spec, 1, {data.data()}, 1, int64_t(data.size()));
  };
  check_values(run(ReductionKind::Sum, {1, kNaN, 2}).values, {kNaN});
  check_values(run(ReductionKind::LogSumExp, {1, kNaN, 2}).values, {kNaN});
  SUBCASE("Min and Max skip NaN") {
    const ReferenceOutput m = run(ReductionKind::Min_ArgMin, {kNaN, 3, kNaN, 2});
    check_values(m.values, {2});
    CHECK(m.indices == I{3});
    const ReferenceOutput all_nan = run(ReductionKind::Max_ArgMax, {kNaN, kNaN});
    check_values(all_nan.values, {-kInf});
    CHECK(all_nan.indices == I{-1});
    const ReferenceOutput k = run(ReductionKind::KMin_ArgKMin, {kNaN, 3, 1}, 3);
    check_values(k.values, {1, 3, kInf});
    CHECK(k.indices == I{2, 1, -1});
  }
  SUBCASE("an infinite value is selected over an empty slot") {
    const ReferenceOutput m = run(ReductionKind::Min_ArgMin, {kInf, kInf});
    check_values(m.values, {kInf});
    CHECK(m.indices == I{0});
    CHECK(run(ReductionKind::ArgMax, {-kInf}).indices == I{0});
  }
}

TEST_CASE("reference_reduce: errors") {
  Ir ir;
  const Expr x = ir.vi(0, 2), y = ir.vj(1, 2);
  const Expr f = ir.op(Op::Subtract, {x, y});
  const V d{1, 2};
  const std::vector<const double*> args{d.data(), d.data()};
  ReductionSpec spec;
  CHECK_THROWS_WITH_AS(reference_reduce(f, spec, 2, args, 1, 1),
                       doctest::Contains("axis must be 0 or 1"), keops::Error);
  CHECK_THROWS_WITH_AS(reference_reduce(f, spec, 1, args, -1, 1), doctest::Contains("must be >= 0"),
                       keops::Error);
  CHECK_THROWS_WITH_AS(reference_reduce(f, spec, 1, {d.data()}, 1, 1),
                       doctest::Contains("no data for argument 1"), keops::Error);
  spec.kind = ReductionKind::LogSumExp;
  CHECK_THROWS_WITH_AS(reference_reduce(f, spec, 1, args, 1, 1),
                       doctest::Contains("LogSumExp needs a formula of dim 1, not 2"),
                       keops::Error);
  spec.kind = ReductionKind::SumSoftMaxWeight;
  CHECK_THROWS_WITH_AS(reference_reduce(ir.op(Op::Sum, {f}), spec, 1, args, 1, 1),
                       doctest::Contains("needs a second formula"), keops::Error);
  spec.kind = ReductionKind::ArgKMin;
  CHECK_THROWS_WITH_AS(reference_reduce(f, spec, 1, args, 1, 1),
                       doctest::Contains("ArgKMin needs K >= 1, not 0"), keops::Error);
}


TEST_CASE("the reduction table: every kind once, in enum order, with unique names") {
  const auto& table = keops::ir::all_reductions();
  REQUIRE(table.size() == std::size(kAllKinds));  // this file's list covers the table
  std::set<std::string_view> names;
  for (size_t k = 0; k < table.size(); ++k) {
    CAPTURE(table[k].name);
    CHECK(size_t(table[k].kind) == k);
    CHECK(&keops::ir::reduction_traits(table[k].kind) == &table[k]);
    CHECK(names.insert(table[k].name).second);
  }
}

TEST_CASE("a selection's indices-only form, and whose columns an output follows") {
  using keops::ir::indices_reduction;
  using keops::ir::ReductionColumns;
  CHECK(indices_reduction(ReductionKind::Min) == ReductionKind::ArgMin);
  CHECK(indices_reduction(ReductionKind::Min_ArgMin) == ReductionKind::ArgMin);
  CHECK(indices_reduction(ReductionKind::Max) == ReductionKind::ArgMax);
  CHECK(indices_reduction(ReductionKind::Max_ArgMax) == ReductionKind::ArgMax);
  CHECK(indices_reduction(ReductionKind::KMin) == ReductionKind::ArgKMin);
  CHECK(indices_reduction(ReductionKind::KMin_ArgKMin) == ReductionKind::ArgKMin);
  CHECK_THROWS_WITH_AS(indices_reduction(ReductionKind::Sum), doctest::Contains("selects none"),
                       std::logic_error);
  auto columns = [](ReductionKind k) {
    return keops::ir::reduction_traits(k).independent_columns();
  };
  for (ReductionKind k :
       {ReductionKind::Sum, ReductionKind::Max, ReductionKind::ArgMin, ReductionKind::Min_ArgMin})
    CHECK(columns(k) == ReductionColumns::OfF);
  CHECK(columns(ReductionKind::SumSoftMaxWeight) == ReductionColumns::OfG);
  for (ReductionKind k : {ReductionKind::KMin, ReductionKind::ArgKMin, ReductionKind::LogSumExp,
                          ReductionKind::LogSumExpWeight, ReductionKind::Max_SumShiftExpWeight})
    CHECK(columns(k) == ReductionColumns::None);
}

}  // namespace
}  // namespace keops::ir
