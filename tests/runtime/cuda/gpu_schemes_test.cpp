// GPU schemes on a GPU (skipped without one): 2-D vs 1-D vs the reference, chunked runs, memory.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <keops/keops.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/memory.h"
#include "tests/support/backends.h"
#include "tests/support/gpu_spec.h"

namespace {

using keops::ir::DType;
using keops::runtime::cuda::GpuLaunchKnobs;
using keops::runtime::cuda::GpuRunOptions;

// A run's device memory limit (GpuRunOptions::memory_limit) and the launch choices it forces.
struct RunChoices {
  int64_t memory_limit = 0;
  GpuLaunchKnobs knobs{};
};

struct Case {
  const char* formula;
  const char* reduction;
  int k;
  const char* formula2;
};

// x = Vi(3), y = Vj(3), b = Vj(1), v = Vj(e), p = Pm(1); b holds small integers (ties).
template <class T>
struct Problem {
  keops::ir::Context ctx;
  keops::codegen::KernelSpec spec;
  Case c;
  int axis, e;
  int64_t nx, ny;
  std::vector<T> x, y, b, v, p;

  Problem(const Case& c_, int axis_, int64_t nx_, int64_t ny_, int e_ = 1)
      : c(c_), axis(axis_), e(e_), nx(nx_), ny(ny_) {
    const DType dtype = sizeof(T) == 4 ? DType::F32 : DType::F64;
    const auto aliases = keops::frontend::AliasTable::parse(
        {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "v = Vj(" + std::to_string(e) + ")", "p = Pm(1)"});
    spec.formula = keops::frontend::parse_formula(c.formula, aliases, ctx, dtype);
    spec.reduction.kind = keops::ir::reduction_by_name(c.reduction);
    spec.reduction.k = c.k;
    if (*c.formula2)
      spec.reduction.formula2 = keops::frontend::parse_formula(c.formula2, aliases, ctx, dtype);
    spec.axis = axis;
    spec.dtype = dtype;
    spec.args = {{3, keops::ir::CatI},
                 {3, keops::ir::CatJ},
                 {1, keops::ir::CatJ},
                 {e, keops::ir::CatJ},
                 {1, keops::ir::CatP}};
    spec.target = keops::codegen::GpuTarget{keops::runtime::cuda::device_sm(0)};
    std::mt19937_64 rng(uint64_t(nx * 131 + ny * 7 + e));
    std::uniform_real_distribution<double> u(0.1, 1.0);
    auto fill = [&](int64_t n) {
      std::vector<T> out(static_cast<size_t>(n));
      for (T& t : out) t = T(u(rng));
      return out;
    };
    x = fill(nx * 3);
    y = fill(ny * 3);
    b = fill(ny);
    for (T& t : b) t = std::floor(t * 5);
    v = fill(ny * e);
    p = fill(1);
  }
  int64_t out_rows() const { return axis == 1 ? nx : ny; }
  int64_t reduced() const { return axis == 1 ? ny : nx; }

  struct Output {
    std::vector<T> values;
    std::vector<int64_t> indices;
  };
  Output run(const RunChoices& choices) const {
    const int64_t cols = spec.value_cols(), index_cols = spec.index_cols();
    Output out{std::vector<T>(size_t(out_rows() * cols), T(-12345)),
               std::vector<int64_t>(size_t(out_rows() * index_cols), -12345)};
    std::vector<keops::View<const T>> args = {{x.data(), nx, 3},
                                              {y.data(), ny, 3},
                                              {b.data(), ny, 1},
                                              {v.data(), ny, e},
                                              {p.data(), 1, 1}};
    GpuRunOptions options;
    options.memory_limit = choices.memory_limit;
    keops::runtime::cuda::run_gpu_reduction<T>(spec, 0,
                                               {out_rows(),
                                                reduced(),
                                                args,
                                                {out.values.data(), out_rows(), cols},
                                                {out.indices.data(), out_rows(), index_cols}},
                                               options, choices.knobs);
    return out;
  }
  keops::ir::ReferenceOutput reference() const {
    keops::ir::Context ref_ctx;
    const auto aliases = keops::frontend::AliasTable::parse(
        {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "v = Vj(" + std::to_string(e) + ")", "p = Pm(1)"});
    keops::ir::ReductionSpec r;
    r.kind = spec.reduction.kind;
    r.k = c.k;
    if (*c.formula2)
      r.formula2 = keops::frontend::parse_formula(c.formula2, aliases, ref_ctx, DType::F64);
    auto f = keops::frontend::parse_formula(c.formula, aliases, ref_ctx, DType::F64);
    const std::vector<double> xd(x.begin(), x.end()), yd(y.begin(), y.end()),
        bd(b.begin(), b.end()), vd(v.begin(), v.end()), pd(p.begin(), p.end());
    return keops::ir::reference_reduce(
        f, r, axis, {xd.data(), yd.data(), bd.data(), vd.data(), pd.data()}, nx, ny);
  }
};

// Max-norm relative distance between two outputs.
template <class A, class B>
double distance(const std::vector<A>& a, const std::vector<B>& b) {
  double err = 0, norm = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    err = std::max(err, std::fabs(double(a[k]) - double(b[k])));
    norm = std::max(norm, std::fabs(double(b[k])));
  }
  return norm > 0 ? err / norm : err;
}

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

bool is_selection(const Case& c) {
  const std::string r = c.reduction;
  return r.find("Max") == 0 || r.find("Min") == 0 || r.find("Arg") == 0 || r.find("KMin") == 0
             ? r.find("SumShiftExp") == std::string::npos
             : false;
}

const Case kAllKinds[] = {{"Exp(-p * SqDist(x, y)) * b", "Sum", 0, ""},
                          {"SqDist(x, y) + b", "Min", 0, ""},
                          {"x - y", "Max", 0, ""},
                          {"b", "ArgMin", 0, ""},
                          {"x * b", "ArgMax", 0, ""},
                          {"x - y", "Min_ArgMin", 0, ""},
                          {"x * b", "Max_ArgMax", 0, ""},
                          {"SqDist(x, y)", "KMin", 3, ""},
                          {"b + x", "ArgKMin", 5, ""},
                          {"SqDist(x, y)", "KMin_ArgKMin", 2, ""},
                          {"-SqDist(x, y)", "LogSumExp", 0, ""},
                          {"-SqDist(x, y)", "LogSumExpWeight", 0, "y"},
                          {"-SqDist(x, y)", "SumSoftMaxWeight", 0, "y"},
                          {"-SqDist(x, y)", "Max_SumShiftExp", 0, ""},
                          {"-SqDist(x, y)", "Max_SumShiftExpWeight", 0, "y"}};

template <class T>
void check_2d(const Case& c, int axis, int64_t nx, int64_t ny, int64_t splits, int e = 1) {
  CAPTURE(std::string(c.formula));
  CAPTURE(std::string(c.reduction));
  CAPTURE(axis);
  CAPTURE(nx);
  CAPTURE(ny);
  CAPTURE(splits);
  CAPTURE(e);
  const Problem<T> problem(c, axis, nx, ny, e);
  const auto one_d = problem.run({0, {1}});
  const auto two_d = problem.run({0, {splits}});
  const auto ref = problem.reference();
  CHECK(distance(two_d.values, ref.values) <= tolerance<T>());
  CHECK(two_d.indices == ref.indices);
  if (is_selection(c)) {  // exact: the same bits as the 1-D scheme
    CHECK(two_d.values == one_d.values);
    CHECK(two_d.indices == one_d.indices);
  } else {
    CHECK(distance(two_d.values, one_d.values) <= tolerance<T>());
  }
}

// Genred's arguments x = Vi(d), y = Vj(d) and b = Vj(1), uniform in [lo, hi).
struct GaussianArgs {
  std::vector<float> x, y, b;
  std::vector<keops::View<const float>> views;
  GaussianArgs(int64_t nx, int64_t ny, int64_t d, uint64_t seed, float lo, float hi)
      : x(static_cast<size_t>(nx * d)), y(static_cast<size_t>(ny * d)), b(static_cast<size_t>(ny)) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    for (auto* v : {&x, &y, &b})
      for (float& t : *v) t = u(rng);
    views = {{x.data(), nx, d}, {y.data(), ny, d}, {b.data(), ny, 1}};
  }
};

}  // namespace

TEST_CASE_TEMPLATE("the 2-D scheme matches the 1-D scheme and the reference, every kind", T, float,
                   double) {
  if (!keops::test::gpu_usable()) return;
  for (const Case& c : kAllKinds)
    check_2d<T>(c, 1, 100, 3000, 7);  // splits of 429 rows: tiles across split ends
  for (int k : {0, 6, 8, 12}) check_2d<T>(kAllKinds[k], 0, 3000, 300, 2);
  // More splits than reduced rows (empty splits), one row, one reduced row.
  check_2d<T>(kAllKinds[0], 1, 1, 5, 9);
  check_2d<T>(kAllKinds[8], 1, 300, 1, 3);
  // Chosen automatically: 10 rows are one block.
  check_2d<T>(kAllKinds[0], 1, 10, 100'000, 0);
  check_2d<T>(kAllKinds[9], 1, 10, 100'000, 0);
  // Long pair bodies (v = Vj(40): 48 values a pair), whose partial kernels take larger blocks
  // than the layout's: 1000 rows in blocks of up to 384, splits of 429 reduced rows.
  const Case wide[] = {{"Sum(v * Exp(-SqDist(x, y)))", "Sum", 0, ""},
                       {"Sum(v * SqDist(x, y))", "ArgKMin", 3, ""},
                       {"Sum(v * SqDist(x, y))", "LogSumExp", 0, ""}};
  for (const Case& c : wide) {
    check_2d<T>(c, 1, 1000, 3000, 7, 40);
    check_2d<T>(c, 0, 3000, 1000, 3, 40);
  }
}

TEST_CASE_TEMPLATE("selections of many slots (in local memory): both schemes, the reference's bits",
                   T, float, double) {
  if (!keops::test::gpu_usable()) return;
  // Past 32 slots a thread's selection is in its local memory, its partial states a cell per
  // slot's value and index: the 2-D scheme and the 1-D scheme against the float64 reference.
  const Case many[] = {{"SqDist(x, y)", "KMin", 100, ""},
                       {"b + x", "ArgKMin", 300, ""},
                       {"x - y", "KMin_ArgKMin", 40, ""}};
  for (const Case& c : many) {
    check_2d<T>(c, 1, 100, 3000, 7);
    check_2d<T>(c, 0, 3000, 300, 2);
    check_2d<T>(c, 1, 10, 20'000, 0);  // chosen automatically
  }
}

TEST_CASE_TEMPLATE("several rows per thread and other block sizes: the same results", T, float,
                   double) {
  if (!keops::test::gpu_usable()) return;
  // Rows that end mid-block and mid-thread (a thread's later rows past the end), and a
  // reduced axis that ends mid-tile, for every kind: selections give the same bits.
  for (const Case& c : kAllKinds)
    for (int axis : {1, 0}) {
      CAPTURE(std::string(c.formula));
      CAPTURE(std::string(c.reduction));
      CAPTURE(axis);
      const Problem<T> problem(c, axis, 1000, 700);
      const auto one = problem.run({0, {1}});
      const auto ref = problem.reference();
      for (const auto& entry : {std::pair{2, 128}, {4, 128}, {4, 384}, {1, 640}, {3, 96}}) {
        // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
        const auto& rows = std::get<0>(entry);
        const auto& threads = std::get<1>(entry);
        CAPTURE(rows);
        CAPTURE(threads);
        RunChoices options{0, {1}};
        options.knobs.rows_per_thread = rows;
        options.knobs.block_threads = threads;
        const auto out = problem.run(options);
        CHECK(distance(out.values, ref.values) <= tolerance<T>());
        CHECK(out.indices == ref.indices);
        if (is_selection(c)) CHECK(out.values == one.values);
      }
    }
  // A long output (column groups) with four rows per thread.
  const Problem<T> wide(kAllKinds[0], 1, 777, 300, 70);
  RunChoices options{0, {1}};
  options.knobs.rows_per_thread = 4;
  CHECK(distance(wide.run(options).values, wide.reference().values) <= tolerance<T>());
}

TEST_CASE_TEMPLATE("tail splits of dense sums: the same sums as the 1-D scheme and the reference",
                   T, float, double) {
  if (!keops::test::gpu_usable()) return;
  // Waves of 3 blocks (tail_resident): 1000 or 900 output rows are 8 blocks of 128 (two whole
  // waves and a tail of 2 blocks), or 4 blocks of 4 x 64 (a tail of one block that ends
  // mid-thread); 900 or 1000 reduced rows in slices of whole tiles, the last one shorter.
  // Slices of several tiles add up in another order than one pass: some low bits differ,
  // which shows that the split ran (slices of one tile add the same tile sums in the same
  // order).
  const Case sums[] = {{"Exp(-p * SqDist(x, y)) * b", "Sum", 0, ""},
                       {"v * Exp(-SqDist(x, y))", "Sum", 0, ""}};
  for (const Case& c : sums)
    for (int axis : {1, 0}) {
      CAPTURE(std::string(c.formula));
      CAPTURE(axis);
      const Problem<T> problem(c, axis, 1000, 900, 5);
      const auto ref = problem.reference();
      for (const auto& entry : {std::pair{1, 128}, {4, 64}}) {
        // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
        const auto& rows = std::get<0>(entry);
        const auto& threads = std::get<1>(entry);
        RunChoices options{0, {1}};
        options.knobs.rows_per_thread = rows;
        options.knobs.block_threads = threads;
        options.knobs.tail_splits = 1;
        const auto one = problem.run(options);
        for (int64_t splits : {2, 5, 13}) {
          CAPTURE(rows);
          CAPTURE(splits);
          options.knobs.tail_splits = splits;
          options.knobs.tail_resident = 3;
          const auto out = problem.run(options);
          CHECK(distance(out.values, ref.values) <= tolerance<T>());
          CHECK(distance(out.values, one.values) <= tolerance<T>());
          if (splits < 13) CHECK(out.values != one.values);
        }
      }
    }
  // The 1-D scheme of one row per thread in blocks of 128 threads, within memory_limit bytes
  // (0: what the GPU has free), not split first.
  auto blocks_of_128 = [](int64_t memory_limit) {
    RunChoices options{memory_limit, {1}};
    options.knobs.rows_per_thread = 1;
    options.knobs.block_threads = 128;
    options.knobs.tail_splits = 1;
    return options;
  };
  // Chosen automatically (tail_splits = 0): after a wave of 8 blocks, a tail of one, cut in 8
  // slices of 5000 reduced rows.
  const Problem<T> problem(sums[0], 1, 9 * 128 - 5, 40'000);
  RunChoices options = blocks_of_128(0);
  const auto one = problem.run(options);
  options.knobs.tail_splits = 0;
  options.knobs.tail_resident = 8;
  const auto out = problem.run(options);
  CHECK(distance(out.values, problem.reference().values) <= tolerance<T>());
  CHECK(out.values != one.values);
  // In row slices, each slice's tail split: a memory limit that holds 997 output rows besides
  // the reduced arrays (5 values a reduced row, 4 an output row), which the plan takes as
  // slices of 768 rows (whole blocks of the layout's 256 threads), 6 blocks of 128 here.
  const Problem<T> sliced(sums[0], 1, 3000, 20'000);
  RunChoices limited =
      blocks_of_128(20'000 * 5 * int64_t(sizeof(T)) + 1000 * 4 * int64_t(sizeof(T)));
  const auto unsplit = sliced.run(limited);
  limited.knobs.tail_splits = 4;  // waves of 4 blocks, a tail of 2
  limited.knobs.tail_resident = 4;
  const auto split = sliced.run(limited);
  CHECK(distance(split.values, sliced.reference().values) <= tolerance<T>());
  CHECK(split.values != unsplit.values);
  // Not split, whatever tail_splits says: other reductions, Kahan sums and long outputs
  // (the same bits as without a split).
  auto check_not_split = [&](const Problem<T>& other) {
    RunChoices forced = blocks_of_128(0);
    const auto base = other.run(forced);
    forced.knobs.tail_splits = 5;
    forced.knobs.tail_resident = 3;
    const auto out = other.run(forced);
    CHECK(out.values == base.values);
    CHECK(out.indices == base.indices);
  };
  for (const Case& c : {kAllKinds[1], kAllKinds[8], kAllKinds[10], kAllKinds[12]}) {
    CAPTURE(std::string(c.reduction));
    check_not_split(Problem<T>(c, 1, 1000, 900));
  }
  Problem<T> kahan(sums[0], 1, 1000, 900);
  kahan.spec.sum_scheme = keops::codegen::SumScheme::Kahan;
  check_not_split(kahan);
  check_not_split(Problem<T>(sums[1], 1, 1000, 900, 70));
}

TEST_CASE_TEMPLATE("long outputs on the GPU: column groups, 1-D and 2-D, against the reference", T,
                   float, double) {
  if (!keops::test::gpu_usable()) return;
  const Case cases[] = {{"Exp(-SqDist(x, y)) * v", "Sum", 0, ""},
                        {"v - SqDist(x, y)", "Max_ArgMax", 0, ""},
                        {"v * b", "ArgMin", 0, ""},
                        {"-SqDist(x, y)", "SumSoftMaxWeight", 0, "v"}};
  for (const Case& c : cases)
    for (int e : {65, 100}) {
      check_2d<T>(c, 1, 300, 700, 3, e);
      check_2d<T>(c, 0, 700, 300, 1, e);
    }
}

TEST_CASE_TEMPLATE("wide states merged 8 columns at a time: 2-D and sliced runs, the reference", T,
                   float, double) {
  if (!keops::test::gpu_usable()) return;
  // 17 and 20 columns: the last chunk overlaps the one before; 64: eight whole chunks.
  const std::pair<Case, int> cases[] = {{{"Exp(-SqDist(x, y)) * v", "Sum", 0, ""}, 17},
                                        {{"Exp(-SqDist(x, y)) * v", "Sum", 0, ""}, 64},
                                        {{"-SqDist(x, y)", "SumSoftMaxWeight", 0, "v"}, 20},
                                        {{"-SqDist(x, y)", "SumSoftMaxWeight", 0, "v"}, 64},
                                        {{"-SqDist(x, y)", "LogSumExpWeight", 0, "v"}, 17}};
  for (const auto& entry : cases) {
    // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
    const auto& c = std::get<0>(entry);
    const auto& e = std::get<1>(entry);
    check_2d<T>(c, 1, 300, 700, 3, e);
    check_2d<T>(c, 0, 700, 300, 5, e);
    // The reduced axis cut in slices: each slice's merge writes the merged state to slot 0
    // (chunk by chunk, the header last), which the next slice's merge reads.
    CAPTURE(std::string(c.reduction));
    CAPTURE(e);
    const Problem<T> problem(c, 1, 500, 3000, e);
    const auto whole = problem.run({0, {1}});
    const auto ref = problem.reference();
    const int64_t inner = 3000 * (5 + e) * int64_t(sizeof(T));
    for (int64_t splits : {0, 3}) {
      CAPTURE(splits);
      const auto sliced = problem.run({inner / 3, {splits}});
      CHECK(distance(sliced.values, ref.values) <= tolerance<T>());
      CHECK(distance(sliced.values, whole.values) <= (sizeof(T) == 4 ? 2e-6 : 1e-12));
    }
  }
}

// Products of long rows (SqDist and Scalprod of Vi(d) and Vj(d)) in dimension tiles
// (nvptx_dim_tiles.h): x, w = Vi(d), y, z = Vj(d), b = Vj(1).
template <class T>
void check_dim_tiled(const Case& c, int64_t d, int axis, int64_t nx, int64_t ny, int64_t splits) {
  CAPTURE(std::string(c.formula));
  CAPTURE(std::string(c.reduction));
  CAPTURE(d);
  CAPTURE(axis);
  CAPTURE(splits);
  const DType dtype = sizeof(T) == 4 ? DType::F32 : DType::F64;
  const std::string n = std::to_string(d);
  const std::vector<std::string> names = {"x = Vi(" + n + ")", "y = Vj(" + n + ")",
                                          "z = Vj(" + n + ")", "w = Vi(" + n + ")", "b = Vj(1)"};
  keops::test::GpuSpec g(names, c.formula, c.reduction, dtype, c.k, c.formula2, axis);
  keops::codegen::KernelSpec& spec = g.spec;
  spec.target = keops::codegen::GpuTarget{keops::runtime::cuda::device_sm(0)};
  // Points in [0, 1) scaled by 1/sqrt(d): distances and products of order 1.
  std::mt19937_64 rng(uint64_t(d * 31 + nx + ny));
  std::uniform_real_distribution<double> u(0.0, 1.0 / std::sqrt(double(d)));
  auto fill = [&](int64_t count) {
    std::vector<double> out(static_cast<size_t>(count));
    for (double& t : out) t = u(rng);
    return out;
  };
  const std::vector<std::vector<double>> data = {fill(nx * d), fill(ny * d), fill(ny * d),
                                                 fill(nx * d), fill(ny)};
  std::vector<std::vector<T>> typed;
  for (const auto& a : data) typed.emplace_back(a.begin(), a.end());
  const int64_t rows = axis == 1 ? nx : ny, reduced = axis == 1 ? ny : nx;
  std::vector<keops::View<const T>> args = {{typed[0].data(), nx, d},
                                            {typed[1].data(), ny, d},
                                            {typed[2].data(), ny, d},
                                            {typed[3].data(), nx, d},
                                            {typed[4].data(), ny, 1}};
  std::vector<T> values(size_t(rows * spec.value_cols()));
  std::vector<int64_t> indices(size_t(rows * spec.index_cols()));
  keops::runtime::cuda::run_gpu_reduction<T>(spec, 0,
                                             {rows,
                                              reduced,
                                              args,
                                              {values.data(), rows, spec.value_cols()},
                                              {indices.data(), rows, spec.index_cols()}},
                                             {}, {splits});
  const keops::test::GpuSpec ref_spec(names, c.formula, c.reduction, DType::F64, c.k, c.formula2);
  const auto ref = keops::ir::reference_reduce(
      ref_spec.spec.formula, ref_spec.spec.reduction, axis,
      {data[0].data(), data[1].data(), data[2].data(), data[3].data(), data[4].data()}, nx, ny);
  CHECK(distance(values, ref.values) <= tolerance<T>());
  CHECK(indices == ref.indices);
}

TEST_CASE_TEMPLATE("long rows in dimension tiles, 1-D and 2-D, both axes, against the reference", T,
                   float, double) {
  if (!keops::test::gpu_usable()) return;
  const Case cases[] = {{"Exp(-SqDist(x, y)) * b", "Sum", 0, ""},
                        {"SqDist(y, x)", "ArgKMin", 3, ""},
                        {"(x | y) - SqDist(w, z)", "LogSumExp", 0, ""},
                        {"(x | y)", "SumSoftMaxWeight", 0, "b"},
                        {"Sum(Square(y - x)) + Sum(w * z)", "Min_ArgMin", 0, ""}};
  // 1001 reduced rows: the last tile of 32 is partial; 300 dimensions: the last chunk of 8 too.
  for (const Case& c : cases)
    for (int64_t d : sizeof(T) == 4 ? std::vector<int64_t>{300, 1000} : std::vector<int64_t>{300}) {
      check_dim_tiled<T>(c, d, 1, 300, 1001, 1);
      check_dim_tiled<T>(c, d, 1, 40, 1001, 5);
      check_dim_tiled<T>(c, d, 0, 1001, 300, 1);
    }
}

TEST_CASE_TEMPLATE("long rows read otherwise too: products in tiles, the rest in the pair loop", T,
                   float, double) {
  if (!keops::test::gpu_usable()) return;
  // A gradient's long output (column groups), a row summed alone, G a long row itself.
  const Case cases[] = {{"(x - y) * Exp(-SqDist(x, y)) * b", "Sum", 0, ""},
                        {"SqDist(x, y) * Sum(w)", "Sum", 0, ""},
                        {"(x | y)", "SumSoftMaxWeight", 0, "y"}};
  for (const Case& c : cases) {
    check_dim_tiled<T>(c, 300, 1, 300, 1001, 1);
    check_dim_tiled<T>(c, 300, 1, 40, 1001, 5);
    check_dim_tiled<T>(c, 300, 0, 1001, 300, 1);
  }
}

TEST_CASE("long rows in dimension tiles over block-sparse ranges: the CPU's results") {
  if (!keops::test::gpu_usable()) return;
  const std::vector<std::string> aliases = {"x = Vi(300)", "y = Vj(300)", "b = Vj(1)"};
  const GaussianArgs data(700, 900, 300, 11, 0.0f, 0.06f);
  const auto& args = data.views;
  keops::Ranges ranges;  // ranges of 33 and 100 reduced rows: tiles of 32 cut by range ends
  ranges.ranges_i = {{0, 300}, {300, 700}};
  ranges.slices_i = {2, 3};
  ranges.redranges_j = {{0, 33}, {500, 600}, {40, 900}};
  for (const char* reduction : {"Sum", "ArgKMin"}) {
    CAPTURE(reduction);
    keops::Options gpu;
    gpu.backend = keops::Backend::GPU;
    gpu.ranges = ranges;
    gpu.k = std::string(reduction) == "ArgKMin" ? 3 : 0;
    keops::Options cpu = gpu;
    cpu.backend = keops::Backend::CPU;
    const std::string f =
        std::string(reduction) == "Sum" ? "Exp(-SqDist(x, y)) * b" : "SqDist(x, y)";
    const auto want = keops::Genred(f, aliases, reduction, 1, cpu)(args);
    const auto got = keops::Genred(f, aliases, reduction, 1, gpu)(args);
    CHECK(distance(got.values, want.values) <= 1e-5);
    CHECK(got.indices == want.indices);
  }
}

TEST_CASE_TEMPLATE("a small memory limit: the same results in many chunks, both axes cut", T, float,
                   double) {
  if (!keops::test::gpu_usable()) return;
  // Host arrays: the reduced ones take 3000 * 5 values, the output rows 3 values and the
  // outputs; the limits run it whole, in row slices, and with both axes cut.
  const Case cases[] = {{"Exp(-p * SqDist(x, y)) * b", "Sum", 0, ""},
                        {"SqDist(x, y) + b", "ArgKMin", 4, ""},
                        {"x - y", "Min_ArgMin", 0, ""},
                        {"-SqDist(x, y)", "SumSoftMaxWeight", 0, "y"}};
  const int64_t inner = 3000 * 5 * int64_t(sizeof(T));
  for (const Case& c : cases) {
    const Problem<T> problem(c, 1, 2000, 3000);
    const auto whole = problem.run({0, {1}});
    const auto ref = problem.reference();
    // (limit, splits): 4000 bytes take some 1000 chunks.
    const std::pair<int64_t, int64_t> runs[] = {{int64_t(1) << 20, 0},
                                                {inner + 20'000, 0},
                                                {inner + 20'000, 3},
                                                {inner / 3, 0},
                                                {inner / 3, 1},
                                                {inner / 3, 3},
                                                {4000, 0}};
    for (const auto& run : runs) {
      CAPTURE(std::string(c.reduction));
      CAPTURE(run.first);
      CAPTURE(run.second);
      const auto chunked = problem.run({run.first, {run.second}});
      CHECK(chunked.indices == ref.indices);
      CHECK(distance(chunked.values, ref.values) <= tolerance<T>());
      if (is_selection(c)) {
        CHECK(chunked.values == whole.values);
        CHECK(chunked.indices == whole.indices);
      } else {
        CHECK(distance(chunked.values, whole.values) <= (sizeof(T) == 4 ? 2e-6 : 1e-12));
      }
    }
  }
}

TEST_CASE("a memory limit through Genred: block-sparse runs in row slices, errors") {
  if (!keops::test::gpu_usable()) return;
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
  const int64_t ny = 2000;
  const GaussianArgs data(3000, ny, 3, 5, 0.1f, 1.0f);
  const auto& args = data.views;
  keops::Options options;
  options.backend = keops::Backend::GPU;
  keops::Ranges ranges;
  ranges.ranges_i = {{0, 1000}, {1500, 3000}};
  ranges.slices_i = {2, 3};
  ranges.redranges_j = {{0, 500}, {1000, 2000}, {200, 1800}};
  options.ranges = ranges;
  for (const char* reduction : {"Sum", "ArgKMin"}) {
    CAPTURE(reduction);
    options.k = std::string(reduction) == "ArgKMin" ? 3 : 0;
    const auto whole =
        keops::Genred("Exp(-SqDist(x, y)) * b", aliases, reduction, 1, options)(args);
    // The reduced arrays (32 kB) whole, and 256 or 100 output rows at a time.
    for (int64_t rows : {256, 100}) {
      keops::Options limited = options;
      limited.gpu_memory_limit = ny * 16 + 2000 + rows * 16 + 40;
      const auto sliced =
          keops::Genred("Exp(-SqDist(x, y)) * b", aliases, reduction, 1, limited)(args);
      CHECK(sliced.values == whole.values);
      CHECK(sliced.indices == whole.indices);
    }
    // Too little for the reduced arrays, which a block-sparse run keeps whole.
    keops::Options tiny = options;
    tiny.gpu_memory_limit = 10'000;
    CHECK_THROWS_WITH(keops::Genred("Exp(-SqDist(x, y)) * b", aliases, reduction, 1, tiny)(args),
                      doctest::Contains("a block-sparse reduction keeps them whole"));
  }
  // The runtime checks the limit too.
  const Problem<float> problem({"x - y", "Min", 0, ""}, 1, 10, 10);
  CHECK_THROWS_WITH(problem.run({-1, {0}}),
                    "running on GPU 0: Options::gpu_memory_limit must be >= 0 (0: what the GPU "
                    "has free), not -1");
  keops::Options tiny;
  tiny.backend = keops::Backend::GPU;
  tiny.gpu_memory_limit = 50;
  CHECK_THROWS_WITH(keops::Genred("Exp(-SqDist(x, y)) * b", aliases, "Sum", 1, tiny)(args),
                    doctest::Contains("running on the GPU: Options::gpu_memory_limit (50 B) "
                                      "cannot hold even one output row of this reduction with "
                                      "one reduced row"));
}

TEST_CASE("Options::gpu_memory_limit must be >= 0") {
  keops::Options options;
  options.gpu_memory_limit = -1;
  CHECK_THROWS_WITH(keops::Genred("x * y", {"x = Vi(1)", "y = Vj(1)"}, "Sum", 1, options),
                    "Genred: Options::gpu_memory_limit must be >= 0 (0: what the GPU has free), "
                    "not -1");
}

TEST_CASE("arrays in device memory are used in place, whatever the memory limit") {
  if (!keops::test::gpu_usable()) return;
  using keops::runtime::cuda::DeviceBuffer;
  const Problem<float> problem({"SqDist(x, y) + b", "ArgKMin", 3, ""}, 1, 1000, 5000);
  const auto host = problem.run({0, {0}});
  auto to_device = [](const std::vector<float>& v) {
    DeviceBuffer d(0, v.size() * sizeof(float));
    d.upload(v.data(), d.bytes());
    return d;
  };
  const DeviceBuffer x = to_device(problem.x), y = to_device(problem.y), b = to_device(problem.b),
                     v = to_device(problem.v), p = to_device(problem.p);
  DeviceBuffer indices(0, 1000 * 3 * sizeof(int64_t));
  const std::vector<keops::View<const float>> args = {{x.as<const float>(), 1000, 3, 0},
                                                      {y.as<const float>(), 5000, 3, 0},
                                                      {b.as<const float>(), 5000, 1, 0},
                                                      {v.as<const float>(), 5000, 1, 0},
                                                      {p.as<const float>(), 1, 1, 0}};
  // Only the argument table (5 pointers) takes device memory.
  GpuRunOptions tight;
  tight.memory_limit = 64;
  keops::runtime::cuda::run_gpu_reduction<float>(
      problem.spec, 0,
      {1000, 5000, args, {nullptr, 1000, 0, 0}, {indices.as<int64_t>(), 1000, 3, 0}}, tight);
  std::vector<int64_t> back(1000 * 3);
  indices.download(back.data(), back.size() * sizeof(int64_t));
  CHECK(back == host.indices);
}

TEST_CASE("an out-of-memory run throws and leaves nothing allocated") {
  if (!keops::test::gpu_usable()) return;
  using keops::runtime::cuda::memory_info;
  Problem<float> problem({"Exp(-p * SqDist(x, y)) * b", "Sum", 0, ""}, 1, 1000, 1000);
  problem.run({0, {0}});  // the module and the context, loaded once
  // 2^40 rows of x and of the output: terabytes, which a limit of 2^60 does not slice.
  const int64_t rows = int64_t(1) << 40;
  std::vector<float> none(3);
  const std::vector<keops::View<const float>> args = {{none.data(), rows, 3},
                                                      {problem.y.data(), 1000, 3},
                                                      {problem.b.data(), 1000, 1},
                                                      {problem.v.data(), 1000, 1},
                                                      {problem.p.data(), 1, 1}};
  const size_t free_before = memory_info(0).free;
  GpuRunOptions huge;
  huge.memory_limit = int64_t(1) << 60;
  CHECK_THROWS_WITH(
      keops::runtime::cuda::run_gpu_reduction<float>(
          problem.spec, 0, {rows, 1000, args, {none.data(), rows, 1}, {nullptr, rows, 0}}, huge),
      doctest::Contains("could not allocate"));
  CHECK(memory_info(0).free == free_before);
  // The default limit (the free memory) slices it instead: no attempt here, it would run
  // for hours; the plan is tested in gpu_plan_test.cpp.
}
