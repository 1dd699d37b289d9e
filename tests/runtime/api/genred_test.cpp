// Genred's contract: construction and call-time checks, each with its message.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <keops/keops.h>

using keops::Error;
using keops::Genred;
using keops::Options;
using keops::View;

namespace {

const std::vector<std::string> kGauss = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
const char* kGaussFormula = "Exp(-SqDist(x, y)) * b";

struct GaussData {
  std::vector<float> x = std::vector<float>(4 * 3, 0.5f);
  std::vector<float> y = std::vector<float>(5 * 3, 0.25f);
  std::vector<float> b = std::vector<float>(5, 1.0f);
  std::vector<View<const float>> views() const {
    return {{x.data(), 4, 3}, {y.data(), 5, 3}, {b.data(), 5, 1}};
  }
};

}  // namespace

TEST_CASE("Genred runs the Gaussian kernel sum and reports its shape") {
  Genred op(kGaussFormula, kGauss, "Sum", 1);
  GaussData d;
  auto r = op(d.views());
  CHECK(r.rows == 4);
  CHECK(r.cols == 1);
  CHECK(r.index_cols == 0);
  CHECK(r.indices.empty());
  const float expected = 5 * std::exp(-3 * 0.0625f);
  for (float v : r.values) CHECK(v == doctest::Approx(expected).epsilon(1e-6));
  CHECK(op.formula() == "Mult(Exp(Minus(SqDist(Var(0,3,0),Var(1,3,1)))),Var(2,1,1))");
  CHECK(op.arg_count() == 3);
}

TEST_CASE("Genred::run writes into caller memory") {
  Genred op(kGaussFormula, kGauss, "Sum", 0);
  GaussData d;
  std::vector<float> out(5, -1.0f);
  op.run(d.views(), View<float>{out.data(), 5, 1});
  for (float v : out) CHECK(v == doctest::Approx(4 * std::exp(-3 * 0.0625f)).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(op.run(d.views(), View<float>{out.data(), 4, 1}),
                       doctest::Contains("values is 4 x 1, expected 5 x 1"), Error);
  CHECK_THROWS_WITH_AS(op.run(d.views(), View<float>{nullptr, 5, 1}),
                       doctest::Contains("values has null data"), Error);
}

TEST_CASE("Genred construction errors") {
  CHECK_THROWS_WITH_AS(Genred(kGaussFormula, kGauss, "Summ", 1), doctest::Contains("Summ"), Error);
  CHECK_THROWS_WITH_AS(Genred(kGaussFormula, kGauss, "Sum", 2), doctest::Contains("axis must be 0"),
                       Error);
  Options gpu;
  gpu.backend = keops::Backend::GPU;
  if (!keops::gpu_available())
    CHECK_THROWS_WITH_AS(Genred(kGaussFormula, kGauss, "Sum", 1, gpu),
                         doctest::Contains("GPU backend is unavailable"), Error);
  Options threads;
  threads.threads = -1;
  CHECK_THROWS_WITH_AS(Genred(kGaussFormula, kGauss, "Sum", 1, threads),
                       doctest::Contains("Options::threads"), Error);
  Options k;
  k.k = 3;
  CHECK_THROWS_WITH_AS(Genred(kGaussFormula, kGauss, "Sum", 1, k), doctest::Contains("Options::k"),
                       Error);
  Options g;
  g.formula2 = "b";
  CHECK_THROWS_WITH_AS(Genred(kGaussFormula, kGauss, "Sum", 1, g),
                       doctest::Contains("Options::formula2"), Error);
  CHECK_THROWS_WITH_AS(Genred("Exp(-SqDist(x, z))", kGauss, "Sum", 1),
                       doctest::Contains("unknown variable"), Error);
}

TEST_CASE("Genred call-time errors name the argument") {
  Genred op(kGaussFormula, kGauss, "Sum", 1);
  GaussData d;
  auto v = d.views();

  auto missing = v;
  missing.pop_back();
  CHECK_THROWS_WITH_AS(op(missing), doctest::Contains("expected 3 argument(s), got 2"), Error);

  auto wrong_cols = v;
  wrong_cols[1].cols = 2;
  CHECK_THROWS_WITH_AS(op(wrong_cols),
                       doctest::Contains("argument 1 (y) has 2 cols, but its dim is 3"), Error);

  auto wrong_rows = v;
  wrong_rows[2].rows = 4;
  CHECK_THROWS_WITH_AS(op(wrong_rows),
                       doctest::Contains("argument 2 (b) has 4 rows, but argument 1 (y)"), Error);

  auto null_data = v;
  null_data[0].data = nullptr;
  CHECK_THROWS_WITH_AS(op(null_data), doctest::Contains("argument 0 (x) has null data"), Error);

  auto on_gpu = v;
  on_gpu[0].device = 0;
  // A host pointer marked as GPU memory: refused on the CPU, and caught before any kernel
  // runs where a GPU is used.
  CHECK_THROWS_WITH_AS(
      op(on_gpu),
      doctest::Contains(keops::gpu_available() ? "is not device memory"
                                               : "argument 0 (x) is in GPU memory"),
      Error);

  Genred with_param("Exp(-p * SqDist(x, y)) * b",
                    {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "p = Pm(1)"}, "Sum", 1);
  float p[2] = {1.0f, 2.0f};
  auto two_rows = v;
  two_rows.push_back({p, 2, 1});
  CHECK_THROWS_WITH_AS(
      with_param(two_rows),
      doctest::Contains("argument 3 (p) is a parameter and must have 1 row, not 2"), Error);
}

TEST_CASE("a formula without j arguments takes the reduced size from Options::ny") {
  const std::vector<std::string> aliases = {"x = Vi(1)"};
  float x[3] = {1, 2, 3};
  CHECK_THROWS_WITH_AS(Genred("x", aliases, "Sum", 1)({{x, 3, 1}}),
                       doctest::Contains("Options::ny"), Error);
  Options o;
  o.ny = 10;
  auto r = Genred("x", aliases, "Sum", 1, o)({{x, 3, 1}});
  CHECK(r.values == std::vector<float>{10, 20, 30});
}

TEST_CASE("empty inputs give empty or identity outputs") {
  Genred op(kGaussFormula, kGauss, "Sum", 1);
  using Args = std::vector<View<const float>>;
  auto r = op(Args{{nullptr, 0, 3}, {nullptr, 0, 3}, {nullptr, 0, 1}});
  CHECK(r.rows == 0);
  CHECK(r.values.empty());
  GaussData d;
  auto sum_over_nothing = op(Args{{d.x.data(), 4, 3}, {nullptr, 0, 3}, {nullptr, 0, 1}});
  CHECK(sum_over_nothing.values == std::vector<float>(4, 0.0f));
}

TEST_CASE("gpu_available comes with a reason exactly when it is false") {
  CHECK(keops::gpu_unavailable_reason().empty() == keops::gpu_available());
}

TEST_CASE("Genred::arguments lists each argument's name, dim and category by position") {
  Genred op("Exp(-SqDist(x, y)) * b + Var(3, 2, 2)", kGauss, "Sum", 1);
  const std::vector<keops::ArgumentInfo> args = op.arguments();
  REQUIRE(args.size() == 4);
  CHECK(args[0].name == "x");
  CHECK(args[0].dim == 3);
  CHECK(args[0].category == 0);
  CHECK(args[1].name == "y");
  CHECK(args[1].category == 1);
  CHECK(args[2].dim == 1);
  CHECK(args[3].name == "Var(3,2,2)");
  CHECK(args[3].dim == 2);
  CHECK(args[3].category == 2);
  const auto grad_args = op.grad("x").arguments();
  REQUIRE(grad_args.size() == 5);
  CHECK(grad_args[4].dim == 2);  // the cotangent: one value per output col
  CHECK(grad_args[4].category == 0);
}

TEST_CASE("Genred::reduction names the output step's reduction; reduced_category its steps' axis") {
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "s = Pm(1)"};
  auto make = [&](const char* reduction, int axis, int k = 0) {
    Options o;
    o.k = k;
    return Genred("-s * SqDist(x, y)", aliases, reduction, axis, o);
  };
  CHECK(make("Sum", 1).reduction() == "Sum");
  CHECK(make("ArgKMin", 0, 3).reduction() == "ArgKMin");
  CHECK(make("LogSumExp", 1).reduction() == "LogSumExp");
  // Forward reductions reduce over their axis's category: j for axis 1, i for axis 0.
  CHECK(make("Sum", 1).reduced_category() == 1);
  CHECK(make("KMin", 0, 2).reduced_category() == 0);
  // One step: over the same category as the forward; a parameter's too (its rows then added).
  CHECK(make("Sum", 1).grad("y").reduced_category() == 0);
  CHECK(make("LogSumExp", 1).grad("x").reduced_category() == 1);
  const Genred parameter = make("Sum", 1).grad("s");
  CHECK(parameter.axis() == -1);
  CHECK(parameter.reduced_category() == 1);
  // A LogSumExp over j differentiated in y: its values over j first, then a sum over i.
  CHECK(make("LogSumExp", 1).grad("y").reduced_category() == -1);
  // Min over j in y: the picks over j, each added into its y row: over j, yet one row per j.
  const Genred picks = make("Min", 1).grad("y");
  CHECK(picks.axis() == 0);
  CHECK(picks.reduced_category() == 1);
}

TEST_CASE("Genred::with_options changes how a reduction runs, not what it computes") {
  Genred op(kGaussFormula, kGauss, "Sum", 1);
  GaussData d;
  Options one_thread;
  one_thread.threads = 1;
  one_thread.sum_scheme = keops::SumScheme::Kahan;
  const Genred other = op.with_options(one_thread);
  CHECK(other.options().threads == 1);
  CHECK(op.options().threads == 0);
  CHECK(other.formula() == op.formula());
  const auto a = op(d.views()), b = other(d.views());
  for (size_t q = 0; q < a.values.size(); ++q)
    CHECK(b.values[q] == doctest::Approx(a.values[q]).epsilon(1e-6));

  Options k;
  k.k = 2;
  CHECK_THROWS_WITH_AS(op.with_options(k), doctest::Contains("k and formula2 shape the reduction"),
                       Error);
  Options g;
  g.formula2 = "b";
  CHECK_THROWS_WITH_AS(op.with_options(g), doctest::Contains("cannot change"), Error);
  Options bad_threads;
  bad_threads.threads = -2;
  CHECK_THROWS_WITH_AS(op.with_options(bad_threads), doctest::Contains("Options::threads"), Error);
}
