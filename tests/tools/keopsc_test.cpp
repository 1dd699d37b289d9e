// keopsc: objects linked into a C program agree with the JIT (GPU objects through libkeops),
// .npy round trips, usage errors, and the disk cache shared by concurrent processes and
// rebuilt when damaged.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include <sys/stat.h>

#include <keops/aot_gpu.h>
#include <keops/keops.h>

#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/jit/ptx.h"
#include "runtime/api/kernel_request.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/memory.h"
#include "tests/support/ptxas.h"
#include "tests/support/scratch.h"

using keops::test::quoted;
using keops::test::read_bytes;
using keops::test::run_shell;
using keops::test::TempDir;
namespace fs = std::filesystem;

#ifdef KEOPS_KEOPSC_PATH

namespace {

const std::vector<std::string> kGaussAliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
const char* kGauss = "Exp(-SqDist(x, y)) * b";
constexpr int64_t kNx = 300, kNy = 200;
// A long output (200 columns): GPU kernels compute it a group of columns at a time.
const std::vector<std::string> kWideAliases = {"x = Vi(3)", "y = Vj(3)", "v = Vj(200)"};
const char* kWide = "Exp(-SqDist(x, y)) * v";

std::string keopsc(const std::string& args) { return quoted(KEOPS_KEOPSC_PATH) + " " + args; }

std::string alias_args(const std::vector<std::string>& aliases) {
  std::string a;
  for (const auto& alias : aliases) a += " -a " + quoted(alias);
  return a;
}

// Data the C program and the test both make, exactly: small multiples of powers of two.
template <class T>
std::vector<T> points(int64_t rows, int cols, int mul, int mod, double scale) {
  std::vector<T> v(size_t(rows * cols));
  for (size_t k = 0; k < v.size(); ++k) v[k] = T(double(int64_t(k) * mul % mod) * scale - 0.75);
  return v;
}
const char* kPointsC =
    "static void points(float* f, double* d, long rows, int cols, int mul, int mod, double scale) "
    "{\n"
    "  for (long k = 0; k < rows * cols; ++k) {\n"
    "    double v = (double)(k * mul % mod) * scale - 0.75;\n"
    "    if (f) f[k] = (float)v;\n"
    "    if (d) d[k] = v;\n"
    "  }\n"
    "}\n";

// The start of a C program's main that calls the objects gauss.o (a float32 Sum over j) and
// nearest.o (a float64 Min_ArgMin over i) on the tests' points: arrays set, arguments ready.
std::string gauss_and_nearest_main() {
  return std::string("#include <stdio.h>\n#include \"gauss.h\"\n#include \"nearest.h\"\n") +
         kPointsC + "enum { NX = " + std::to_string(kNx) + ", NY = " + std::to_string(kNy) +
         " };\n"
         "static float xf[NX * 3], yf[NY * 3], bf[NY], gauss_out[NX];\n"
         "static double xd[NX * 3], yd[NY * 3], nearest_out[NY];\n"
         "static int64_t nearest_index[NY];\n"
         "int main(void) {\n"
         "  points(xf, xd, NX, 3, 7, 23, 1.0 / 16);\n"
         "  points(yf, yd, NY, 3, 11, 19, 1.0 / 8);\n"
         "  points(bf, 0, NY, 1, 3, 5, 1.0 / 4);\n"
         "  const float* gauss_args[GAUSS_ARGS] = {xf, yf, bf};\n"
         "  const double* nearest_args[NEAREST_ARGS] = {xd, yd};\n";
}

template <class T>
std::vector<T> bytes_as(const std::string& bytes, size_t offset, size_t count) {
  std::vector<T> v(count);
  REQUIRE(bytes.size() >= offset + count * sizeof(T));
  std::memcpy(v.data(), bytes.data() + offset, count * sizeof(T));
  return v;
}

// A minimal .npy writer and reader, independent of keopsc's.
template <class T>
void save_npy(const std::string& path, const std::vector<T>& data, int64_t rows, int64_t cols,
              bool one_d = false) {
  const char* descr = sizeof(T) == 2          ? "<f2"
                      : sizeof(T) == 4        ? "<f4"
                      : std::is_integral_v<T> ? "<i8"
                                              : "<f8";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(rows) +
                       (one_d ? "," : ", " + std::to_string(cols)) + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ') += '\n';
  std::string file("\x93NUMPY\x01\x00", 8);
  file += char(header.size() & 0xff);
  file += char(header.size() >> 8);
  file += header;
  file.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T));
  keops::test::write_bytes(path, file);
}

template <class T>
std::vector<T> load_npy(const std::string& path, int64_t rows, int64_t cols, const char* descr) {
  const std::string file = read_bytes(path);
  REQUIRE(file.size() > 10);
  const size_t header_size = size_t(uint8_t(file[8])) | size_t(uint8_t(file[9])) << 8;
  const std::string header = file.substr(10, header_size);
  CHECK(header.find(descr) != std::string::npos);
  CHECK(header.find("(" + std::to_string(rows) + ", " + std::to_string(cols) + ")") !=
        std::string::npos);
  return bytes_as<T>(file, 10 + header_size, size_t(rows * cols));
}

// The GpuLayout of the kernel keopsc compiles for a float32 Sum over j on sm_90.
keops::lower::GpuLayout sm90_layout(const char* formula, const std::vector<std::string>& aliases,
                                    int64_t* grouped_dim = nullptr) {
  const keops::runtime::KernelRequest request{formula, aliases, "Sum", 1, {}};
  keops::runtime::OwnedKernelSpec owned = keops::runtime::make_kernel_spec(
      request, keops::ir::DType::F32, keops::codegen::GpuTarget{90});
  if (grouped_dim) *grouped_dim = keops::codegen::grouped_dim(owned.spec);
  return keops::lower::lower(owned.spec).gpu;
}

std::set<std::string> undefined_symbols(const std::string& object, const TempDir& scratch) {
  const auto r = run_shell("nm -u " + quoted(object), scratch);
  REQUIRE(r.status == 0);
  std::set<std::string> names;
  std::istringstream lines(r.out);
  for (std::string kind, name; lines >> kind >> name;) names.insert(name);
  return names;
}

}  // namespace

TEST_CASE("keopsc compile: objects linked into a C program with -fopenmp give the JIT's results") {
  TempDir dir;
  const auto compile = [&](const std::string& formula, const std::vector<std::string>& aliases,
                           const std::string& options, const std::string& object) {
    const auto r = run_shell(keopsc("compile " + quoted(formula) + alias_args(aliases) + " " +
                                    options + " -o " + quoted(dir / object)),
                             dir);
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(fs::exists(dir / fs::path(object).replace_extension(".h").string()));
    CHECK(undefined_symbols(dir / object, dir) <=
          std::set<std::string>{"GOMP_parallel", "omp_get_num_threads"});
  };
  compile(kGauss, kGaussAliases, "--axis 1", "gauss.o");
  compile("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "-r Min_ArgMin --axis 0 --dtype float64",
          "nearest.o");

  const std::string program =
      gauss_and_nearest_main() +
      "  if (gauss(NX, NY, gauss_args, gauss_out, 0) != 0) return 10;\n"
      "  if (nearest(NX, NY, nearest_args, nearest_out, nearest_index) != 0) return 11;\n"
      "  FILE* f = fopen(\"results.bin\", \"wb\");\n"
      "  fwrite(gauss_out, sizeof gauss_out, 1, f);\n"
      "  fwrite(nearest_out, sizeof nearest_out, 1, f);\n"
      "  fwrite(nearest_index, sizeof nearest_index, 1, f);\n"
      "  fclose(f);\n"
      "  printf(\"%d %d %d %d %d %d\\n\", gauss(-1, NY, gauss_args, gauss_out, 0),\n"
      "         gauss(NX, NY, 0, gauss_out, 0), gauss(NX, NY, gauss_args, 0, 0),\n"
      "         nearest(NX, NY, nearest_args, nearest_out, 0), gauss(0, 0, 0, 0, 0),\n"
      "         nearest(NX, 0, nearest_args, 0, 0));\n"
      "  return 0;\n"
      "}\n";
  keops::test::write_bytes(dir / "prog.c", program);
  const auto build = run_shell("cd " + quoted(dir.path().string()) + " && " + KEOPS_C_COMPILER +
                                   " prog.c gauss.o nearest.o -fopenmp -lm -o prog",
                               dir);
  INFO(build.err);
  REQUIRE(build.status == 0);
  const auto ran =
      run_shell("cd " + quoted(dir.path().string()) + " && OMP_NUM_THREADS=2 ./prog", dir);
  REQUIRE(ran.status == 0);
  // Negative size, NULL args, NULL values, NULL indices; nothing to do; zero output rows.
  CHECK(ran.out == "1 2 3 4 0 0\n");

  const auto xf = points<float>(kNx, 3, 7, 23, 1.0 / 16),
             yf = points<float>(kNy, 3, 11, 19, 1.0 / 8), bf = points<float>(kNy, 1, 3, 5, 1.0 / 4);
  const auto xd = points<double>(kNx, 3, 7, 23, 1.0 / 16),
             yd = points<double>(kNy, 3, 11, 19, 1.0 / 8);
  keops::Options cpu;  // the JIT's kernels, not the GPU's where there is one
  cpu.backend = keops::Backend::CPU;
  const auto gauss = keops::Genred(kGauss, kGaussAliases, "Sum", 1, cpu)(
      {{xf.data(), kNx, 3}, {yf.data(), kNy, 3}, {bf.data(), kNy, 1}});
  const auto nearest = keops::Genred("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Min_ArgMin", 0,
                                     cpu)({{xd.data(), kNx, 3}, {yd.data(), kNy, 3}});
  const std::string results = read_bytes(dir / "results.bin");
  CHECK(bytes_as<float>(results, 0, kNx) == gauss.values);
  CHECK(bytes_as<double>(results, kNx * 4, kNy) == nearest.values);
  CHECK(bytes_as<int64_t>(results, kNx * 4 + kNy * 8, kNy) == nearest.indices);
}

namespace {

// The 16-bit bits of v's values, and Genred's 16-bit result on such bits, in either format.
std::vector<uint16_t> bits16(const std::vector<float>& v, bool f16) {
  std::vector<uint16_t> out;
  for (float f : v) out.push_back(f16 ? keops::half(f).bits : keops::bfloat16(f).bits);
  return out;
}
template <class H>
keops::Result<H> genred16(const keops::Genred& g, const std::vector<std::vector<uint16_t>*>& args,
                          const std::vector<int64_t>& rows) {
  std::vector<keops::View<const H>> views;
  const std::vector<keops::ArgumentInfo> infos = g.arguments();
  for (size_t k = 0; k < args.size(); ++k)
    views.push_back({reinterpret_cast<const H*>(args[k]->data()), rows[k], infos[k].dim});
  return g(views);
}

}  // namespace

TEST_CASE("keopsc compile --dtype float16|bfloat16: uint16_t arrays, Genred's 16-bit results") {
  TempDir dir;
  for (const char* dtype : {"float16", "bfloat16"}) {
    CAPTURE(dtype);
    const bool f16 = std::string(dtype) == "float16";
    const std::string gauss = std::string("gauss_") + dtype, nearest = std::string("near_") + dtype;
    for (const auto& [name, options] :
         {std::pair{gauss, quoted(kGauss) + alias_args(kGaussAliases) + " --axis 1"},
          std::pair{nearest, std::string("'SqDist(x, y)' -a 'x = Vi(3)' -a 'y = Vj(3)' "
                                         "-r Min_ArgMin --axis 0")}}) {
      const auto r = run_shell(
          keopsc("compile " + options + " --dtype " + dtype + " -o " + quoted(dir / (name + ".o"))),
          dir);
      INFO(r.err);
      REQUIRE(r.status == 0);
      // The entry widens the arrays into copies it allocates: malloc and free besides OpenMP.
      CHECK(undefined_symbols(dir / (name + ".o"), dir) <=
            std::set<std::string>{"GOMP_parallel", "omp_get_num_threads", "malloc", "free"});
    }
    const std::string header = read_bytes(dir / (gauss + ".h"));
    CHECK(header.find(std::string(dtype) + " (as uint16_t bits; computed on in float32)") !=
          std::string::npos);
    CHECK(header.find("const uint16_t* const* args, uint16_t* values") != std::string::npos);
    CHECK(header.find("5: the float32 copies of the arrays could not be allocated") !=
          std::string::npos);
    // The same bits in, through the objects and through Genred.
    auto x = bits16(points<float>(kNx, 3, 7, 23, 1.0 / 16), f16),
         y = bits16(points<float>(kNy, 3, 11, 19, 1.0 / 8), f16),
         b = bits16(points<float>(kNy, 1, 3, 5, 1.0 / 4), f16);
    std::string input;
    for (const auto* v : {&x, &y, &b})
      input.append(reinterpret_cast<const char*>(v->data()), v->size() * 2);
    keops::test::write_bytes(dir / "in.bin", input);
    const std::string program =
        "#include <stdio.h>\n#include \"" + gauss + ".h\"\n#include \"" + nearest +
        ".h\"\nenum { NX = " + std::to_string(kNx) + ", NY = " + std::to_string(kNy) +
        " };\n"
        "int main(void) {\n"
        "  static uint16_t x[NX * 3], y[NY * 3], b[NY], out[NX], near[NY];\n"
        "  static int64_t near_index[NY];\n"
        "  FILE* f = fopen(\"in.bin\", \"rb\");\n"
        "  if (fread(x, 2, NX * 3, f) + fread(y, 2, NY * 3, f) + fread(b, 2, NY, f) != 4 * NY + "
        "3 * NX) return 9;\n"
        "  fclose(f);\n"
        "  const uint16_t* args[3] = {x, y, b};\n"
        "  if (" +
        gauss + "(NX, NY, args, out, 0) != 0) return 10;\n  if (" + nearest +
        "(NX, NY, args, near, near_index) != 0) return 11;\n"
        "  f = fopen(\"out.bin\", \"wb\");\n"
        "  fwrite(out, 2, NX, f);\n"
        "  fwrite(near, 2, NY, f);\n"
        "  fwrite(near_index, 8, NY, f);\n"
        "  fclose(f);\n"
        // Copies whose size overflows, before any array is read; nothing to do, args NULL.
        "  printf(\"%d %d\\n\", " +
        gauss + "(INT64_MAX / 2, NY, args, out, 0), " + gauss +
        "(0, 0, 0, 0, 0));\n"
        "  return 0;\n"
        "}\n";
    keops::test::write_bytes(dir / "prog16.c", program);
    const auto build =
        run_shell("cd " + quoted(dir.path().string()) + " && " + KEOPS_C_COMPILER + " prog16.c " +
                      gauss + ".o " + nearest + ".o -fopenmp -lm -o prog16",
                  dir);
    INFO(build.err);
    REQUIRE(build.status == 0);
    const auto ran =
        run_shell("cd " + quoted(dir.path().string()) + " && OMP_NUM_THREADS=2 ./prog16", dir);
    REQUIRE(ran.status == 0);
    CHECK(ran.out == "5 0\n");
    const std::string out = read_bytes(dir / "out.bin");
    keops::Options cpu;
    cpu.backend = keops::Backend::CPU;
    const keops::Genred g(kGauss, kGaussAliases, "Sum", 1, cpu);
    const keops::Genred near("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Min_ArgMin", 0, cpu);
    std::vector<uint16_t> gauss_bits, near_bits;
    std::vector<int64_t> near_indices;
    auto collect = [&](const auto& gauss_result, const auto& near_result) {
      for (auto h : gauss_result.values) gauss_bits.push_back(h.bits);
      for (auto h : near_result.values) near_bits.push_back(h.bits);
      near_indices = near_result.indices;
    };
    if (f16)
      collect(genred16<keops::half>(g, {&x, &y, &b}, {kNx, kNy, kNy}),
              genred16<keops::half>(near, {&x, &y}, {kNx, kNy}));
    else
      collect(genred16<keops::bfloat16>(g, {&x, &y, &b}, {kNx, kNy, kNy}),
              genred16<keops::bfloat16>(near, {&x, &y}, {kNx, kNy}));
    CHECK(bytes_as<uint16_t>(out, 0, kNx) == gauss_bits);
    CHECK(bytes_as<uint16_t>(out, kNx * 2, kNy) == near_bits);
    CHECK(bytes_as<int64_t>(out, (kNx + kNy) * 2, kNy) == near_indices);
  }
}

TEST_CASE("keopsc run: .npy arguments in, the Genred result out") {
  TempDir dir;
  const auto x = points<double>(kNx, 3, 7, 23, 1.0 / 16),
             y = points<double>(kNy, 3, 11, 19, 1.0 / 8), b = points<double>(kNy, 1, 3, 5, 1.0 / 4);
  save_npy(dir / "x.npy", x, kNx, 3);
  save_npy(dir / "y.npy", y, kNy, 3);
  save_npy(dir / "b.npy", b, kNy, 1, /*one_d=*/true);
  const std::string args = " --arg " + quoted(dir / "x.npy") + " --arg " + quoted(dir / "y.npy");

  auto r =
      run_shell(keopsc("run " + quoted(kGauss) + alias_args(kGaussAliases) + " --axis 1" + args +
                       " --arg " + quoted(dir / "b.npy") + " -o " + quoted(dir / "gauss.npy")),
                dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto gauss = keops::Genred(kGauss, kGaussAliases, "Sum",
                                   1)({{x.data(), kNx, 3}, {y.data(), kNy, 3}, {b.data(), kNy, 1}});
  CHECK(load_npy<double>(dir / "gauss.npy", kNx, 1, "<f8") == gauss.values);
  // float16 files: computed in float32, written as float16, Genred's bits.
  std::vector<keops::half> x16, y16, b16;
  for (double v : x) x16.push_back(keops::half(float(v)));
  for (double v : y) y16.push_back(keops::half(float(v)));
  for (double v : b) b16.push_back(keops::half(float(v)));
  save_npy(dir / "x16.npy", x16, kNx, 3);
  save_npy(dir / "y16.npy", y16, kNy, 3);
  save_npy(dir / "b16.npy", b16, kNy, 1);
  r = run_shell(keopsc("run " + quoted(kGauss) + alias_args(kGaussAliases) + " --axis 1 --arg " +
                       quoted(dir / "x16.npy") + " --arg " + quoted(dir / "y16.npy") + " --arg " +
                       quoted(dir / "b16.npy") + " -o " + quoted(dir / "gauss16.npy")),
                dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto gauss16 = keops::Genred(kGauss, kGaussAliases, "Sum", 1)(
      {{x16.data(), kNx, 3}, {y16.data(), kNy, 3}, {b16.data(), kNy, 1}});
  std::vector<uint16_t> want16;
  for (keops::half h : gauss16.values) want16.push_back(h.bits);
  CHECK(load_npy<uint16_t>(dir / "gauss16.npy", kNx, 1, "<f2") == want16);

  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)"};
  const auto nearest = keops::Genred("SqDist(x, y)", aliases, "Min_ArgMin",
                                     0)({{x.data(), kNx, 3}, {y.data(), kNy, 3}});
  r = run_shell(keopsc("run 'SqDist(x, y)'" + alias_args(aliases) + " -r Min_ArgMin" + args +
                       " -o " + quoted(dir / "nearest.npy")),
                dir);
  REQUIRE(r.status == 0);
  CHECK(load_npy<double>(dir / "nearest.npy", kNy, 1, "<f8") == nearest.values);
  CHECK(load_npy<int64_t>(dir / "nearest.indices.npy", kNy, 1, "<i8") == nearest.indices);
  r = run_shell(keopsc("run 'SqDist(x, y)'" + alias_args(aliases) + " -r ArgMin" + args + " -o " +
                       quoted(dir / "argmin.npy")),
                dir);
  REQUIRE(r.status == 0);
  CHECK(load_npy<int64_t>(dir / "argmin.npy", kNy, 1, "<i8") == nearest.indices);
}

TEST_CASE("keopsc run: 1-D parameters and columns, --nx and --ny, indices where asked") {
  TempDir dir;
  const auto x = points<double>(kNx, 3, 7, 23, 1.0 / 16), y = points<double>(kNy, 3, 11, 19, 0.125),
             b = points<double>(kNy, 1, 3, 5, 0.25), p = std::vector<double>{0.5, -1, 2};
  save_npy(dir / "x.npy", x, kNx, 3);
  save_npy(dir / "y.npy", y, kNy, 3);
  save_npy(dir / "b.npy", b, kNy, 1, /*one_d=*/true);
  save_npy(dir / "p.npy", p, 3, 1, /*one_d=*/true);  // a parameter of dim 3, as (3,)
  save_npy(dir / "x1.npy", x, kNx * 3, 1, /*one_d=*/true);
  const std::string x_arg = " --arg " + quoted(dir / "x.npy"),
                    y_arg = " --arg " + quoted(dir / "y.npy");
  auto run = [&](const std::string& args) { return run_shell(keopsc("run " + args), dir); };

  // A 1-D parameter is its row of values; a 1-D j argument of dim 1 its column.
  const std::vector<std::string> aliases = {"x = Vi(3)", "p = Pm(3)", "b = Vj(1)"};
  auto r = run("'SqDist(x, p) * b'" + alias_args(aliases) + " --axis 1" + x_arg + " --arg " +
               quoted(dir / "p.npy") + " --arg " + quoted(dir / "b.npy") + " -o " +
               quoted(dir / "out.npy"));
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(load_npy<double>(dir / "out.npy", kNx, 1, "<f8") ==
        keops::Genred("SqDist(x, p) * b", aliases, "Sum",
                      1)({{x.data(), kNx, 3}, {p.data(), 1, 3}, {b.data(), kNy, 1}})
            .values);

  // No j argument: --ny gives the reduced axis's size.
  const std::string no_j = "'Sum(x * p)' -a 'x = Vi(3)' -a 'p = Pm(3)' --axis 1" + x_arg +
                           " --arg " + quoted(dir / "p.npy");
  r = run(no_j + " --ny 4 -o " + quoted(dir / "no_j.npy"));
  REQUIRE(r.status == 0);
  keops::Options four;
  four.ny = 4;
  CHECK(load_npy<double>(dir / "no_j.npy", kNx, 1, "<f8") ==
        keops::Genred("Sum(x * p)", {"x = Vi(3)", "p = Pm(3)"}, "Sum", 1,
                      four)({{x.data(), kNx, 3}, {p.data(), 1, 3}})
            .values);

  // Indices: to --indices-out, wherever the reduction yields them.
  const std::vector<std::string> two = {"x = Vi(3)", "y = Vj(3)"};
  const std::string sq = "'SqDist(x, y)'" + alias_args(two) + x_arg + y_arg;
  const auto nearest = keops::Genred("SqDist(x, y)", two, "KMin_ArgKMin", 0, [] {
    keops::Options o;
    o.k = 3;
    return o;
  }())({{x.data(), kNx, 3}, {y.data(), kNy, 3}});
  r = run(sq + " -r ArgKMin -k 3 --indices-out " + quoted(dir / "argk.npy"));
  REQUIRE(r.status == 0);
  CHECK(load_npy<int64_t>(dir / "argk.npy", kNy, 3, "<i8") == nearest.indices);
  r = run(sq + " -r KMin_ArgKMin -k 3 -o " + quoted(dir / "k.npy") + " --indices-out " +
          quoted(dir / "k_idx.npy"));
  REQUIRE(r.status == 0);
  CHECK(load_npy<double>(dir / "k.npy", kNy, 3, "<f8") == nearest.values);
  CHECK(load_npy<int64_t>(dir / "k_idx.npy", kNy, 3, "<i8") == nearest.indices);

  const std::pair<std::string, std::string> errors[] = {
      {no_j + " -o " + quoted(dir / "e.npy"),
       "the formula has no j argument (Vj), so the number of j rows must be given with --ny"},
      {no_j + " --ny 4 --nx 5 -o " + quoted(dir / "e.npy"),
       "--nx 5 disagrees with " + (dir / "x.npy") + ", an i argument of 300 rows"},
      {no_j + " --ny -2 -o e.npy", "--ny"},
      {"'Sum(x)' -a 'x = Vi(3)' --ny 2 --arg " + quoted(dir / "x1.npy") + " -o e.npy",
       "x1.npy (argument 0, x) is 1-D, a column of 900 values, but its dim is 3: save it as a 2-D "
       "(rows, 3) array"},
      {"'Sum(x) * Sum(p)' -a 'x = Vi(3)' -a 'p = Pm(2)' --ny 1" + x_arg + " --arg " +
           quoted(dir / "p.npy") + " -o e.npy",
       "p.npy (argument 1, p) has 3 column(s), but its dim is 2"},
      {sq + " -r ArgMin -o a.npy --indices-out b.npy",
       "ArgMin yields only indices: give -o or --indices-out for them, not both"},
      {sq + " -r ArgMin", "--output is required: where ArgMin's indices go"},
      {sq + " --indices-out b.npy -o a.npy", "--indices-out: Sum yields no indices"},
      {sq + " -r Min", "--output is required: where Min's values go"},
  };
  for (const auto& entry : errors) {
    // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
    const auto& args = std::get<0>(entry);
    const auto& message = std::get<1>(entry);
    r = run(args);
    CAPTURE(args);
    CAPTURE(r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(message) != std::string::npos);
  }
}

TEST_CASE("keopsc emit: the canonical IR, the LLVM IR, the assembly of a CPU, the PTX of a GPU") {
  TempDir dir;
  const std::string formula = " '-SqDist(x, y) * p' -a 'x = Vi(3)' -a 'y = Vj(3)' -a 'p = Pm(1)'";
  auto r = run_shell(keopsc("emit --emit ir" + formula), dir);  // a formula starting with '-'
  CHECK(r.status == 0);
  CHECK(r.out == "Mult(Minus(SqDist(Var(0,3,0),Var(1,3,1))),Var(2,1,2))\n");
  r = run_shell(keopsc("emit --emit llvm --axis 1" + formula), dir);
  CHECK(r.status == 0);
  CHECK(r.out.find("define void @keops_cpu_") != std::string::npos);
  r = run_shell(keopsc("emit --emit asm --target cpu:skylake-avx512 --axis 1" + formula), dir);
  CHECK(r.status == 0);
  CHECK(r.out.find("zmm") != std::string::npos);
  // A 16-bit CPU object's kernel is the float32 one (its entry widens the arrays once).
  const std::string float32_llvm =
      run_shell(keopsc("emit --emit llvm --axis 1" + formula), dir).out;
  r = run_shell(keopsc("emit --emit llvm --axis 1 --dtype bfloat16" + formula), dir);
  CHECK(r.status == 0);
  CHECK(r.out == float32_llvm);
  r = run_shell(keopsc("emit --emit ptx --target sm_90 --axis 1" + formula), dir);
  CHECK(r.status == 0);
  CHECK(r.out.find(".target sm_90") != std::string::npos);
  CHECK(r.out.find("cvt.f32.f16") == std::string::npos);
  // float16 arrays: widened as loaded, the output rounded (cvt.rn.f16.f32).
  r = run_shell(keopsc("emit --emit ptx --target sm_90 --axis 1 --dtype float16" + formula), dir);
  CHECK(r.status == 0);
  CHECK(r.out.find("cvt.f32.f16") != std::string::npos);
  CHECK(r.out.find("cvt.rn.f16.f32") != std::string::npos);
  r = run_shell(keopsc("emit --emit ptx --target sm_90 --dtype float8" + formula), dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("--dtype") != std::string::npos);
}

TEST_CASE("keopsc emit: --tensor-cores and --matmul-precision choose the GPU's products") {
  TempDir dir;
  const std::string gauss =
      " 'Exp(-SqDist(x, y)) * b' -a 'x = Vi(64)' -a 'y = Vj(64)' -a 'b = Vj(1)' --axis 1"
      " --target sm_90 --emit ptx";
  const std::string mma = "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32";
  auto r = run_shell(keopsc("emit" + gauss), dir);  // auto: rows of 64 stay on the CUDA cores
  CHECK(r.status == 0);
  CHECK(keops::test::occurrences(r.out, mma) == 0);
  r = run_shell(keopsc("emit --tensor-cores on" + gauss), dir);
  CHECK(r.status == 0);
  CHECK(keops::test::occurrences(r.out, mma) == 24);
  r = run_shell(keopsc("emit --tensor-cores on --matmul-precision tf32" + gauss), dir);
  CHECK(r.status == 0);
  CHECK(keops::test::occurrences(r.out, mma) == 8);
  r = run_shell(keopsc("emit --tensor-cores maybe" + gauss), dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("--tensor-cores") != std::string::npos);
  r = run_shell(keopsc("emit --matmul-precision bf16" + gauss), dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("--matmul-precision") != std::string::npos);
}

TEST_CASE("keopsc compile --target sm_90: descriptions record column groups and wide tiles") {
  TempDir dir;
  // Besides: a long pair body (129 values: 64 + 64 + 1), whose blocks Genred sizes otherwise.
  const std::vector<std::string> long_aliases = {"x = Vi(64)", "y = Vj(64)", "b = Vj(1)"};
  for (const auto& [formula, aliases, object] : {std::tuple{kGauss, kGaussAliases, "gauss.o"},
                                                 {kWide, kWideAliases, "wide.o"},
                                                 {kGauss, long_aliases, "long_body.o"}}) {
    const auto r = run_shell(keopsc("compile " + quoted(formula) + alias_args(aliases) +
                                    " --axis 1 --target sm_90 -o " + quoted(dir / object)),
                             dir);
    INFO(r.err);
    REQUIRE(r.status == 0);
  }
  // A stand-in for libkeops's launcher saves the descriptions the entries pass it: no GPU,
  // no libkeops needed.
  const std::string program =
      "#include <stdio.h>\n#include \"gauss.h\"\n#include \"wide.h\"\n#include \"long_body.h\"\n"
      "int keops_aot_gpu_launch(const void* k, int64_t nx, int64_t ny, const void* const* args,\n"
      "                         void* values, int64_t* indices) {\n"
      "  FILE* f = fopen(\"descriptions.bin\", \"ab\");\n"
      "  fwrite(k, " +
      std::to_string(sizeof(keops_aot_gpu_kernel)) +
      ", 1, f);\n"
      "  return fclose(f);\n"
      "}\n"
      "int main(void) {\n"
      "  return gauss(1, 1, 0, 0, 0) || wide(1, 1, 0, 0, 0) || long_body(1, 1, 0, 0, 0);\n"
      "}\n";
  keops::test::write_bytes(dir / "prog.c", program);
  const std::string in_dir = "cd " + quoted(dir.path().string()) + " && ";
  const auto build =
      run_shell(in_dir + KEOPS_C_COMPILER + " prog.c gauss.o wide.o long_body.o -o prog", dir);
  INFO(build.err);
  REQUIRE(build.status == 0);
  REQUIRE(run_shell(in_dir + "./prog", dir).status == 0);
  const std::string bytes = read_bytes(dir / "descriptions.bin");
  REQUIRE(bytes.size() == 3 * sizeof(keops_aot_gpu_kernel));
  keops_aot_gpu_kernel gauss, wide, long_body;  // their pointers are the program's: not read
  std::memcpy(&gauss, bytes.data(), sizeof gauss);
  std::memcpy(&wide, bytes.data() + sizeof gauss, sizeof wide);
  std::memcpy(&long_body, bytes.data() + 2 * sizeof gauss, sizeof long_body);

  const keops::lower::GpuLayout gauss_layout = sm90_layout(kGauss, kGaussAliases);
  CHECK(gauss.abi_version == KEOPS_AOT_GPU_ABI_VERSION);
  CHECK(gauss.column_groups == 1);
  CHECK(gauss.column_groups == gauss_layout.column_groups);
  CHECK(gauss.block_threads == gauss_layout.block_threads);
  CHECK(gauss.shared_bytes == gauss_layout.shared_bytes());
  CHECK(gauss.value_cols == 1);
  CHECK(gauss.wide_tiles_pay == 0);  // a short pair body

  int64_t grouped_dim = 0;
  const keops::lower::GpuLayout wide_layout = sm90_layout(kWide, kWideAliases, &grouped_dim);
  CHECK(grouped_dim > 0);
  CHECK(wide_layout.column_groups > 1);
  CHECK(wide.abi_version == KEOPS_AOT_GPU_ABI_VERSION);
  CHECK(wide.column_groups == wide_layout.column_groups);
  CHECK(wide.block_threads == wide_layout.block_threads);
  CHECK(wide.shared_bytes == wide_layout.shared_bytes());
  CHECK(wide.value_cols == 200);
  CHECK(wide.arg_count == 3);
  CHECK(wide.wide_tiles_pay == (wide_layout.wide_tiles_pay ? 1 : 0));

  // Wide tiles pay for the long pair body: its launches may take larger blocks.
  CHECK(sm90_layout(kGauss, long_aliases).wide_tiles_pay);
  CHECK(long_body.abi_version == KEOPS_AOT_GPU_ABI_VERSION);
  CHECK(long_body.wide_tiles_pay == 1);
  CHECK(long_body.column_groups == 1);
  // Rows of 300 go to the matrix units, which keep their blocks.
  const keops::lower::GpuLayout matrix_layout =
      sm90_layout(kGauss, {"x = Vi(300)", "y = Vj(300)", "b = Vj(1)"});
  CHECK(matrix_layout.matrix_units);
  CHECK_FALSE(matrix_layout.wide_tiles_pay);
}

TEST_CASE("keopsc: bad input is a message on stderr and exit status 2") {
  TempDir dir;
  const auto x = points<float>(10, 3, 7, 23, 1.0 / 16);
  save_npy(dir / "x.npy", x, 10, 3);
  save_npy(dir / "x64.npy", points<double>(10, 3, 7, 23, 1.0 / 16), 10, 3);
  std::string file = read_bytes(dir / "x.npy");
  keops::test::write_bytes(dir / "truncated.npy", file.substr(0, file.size() - 5));
  keops::test::write_bytes(dir / "fortran.npy",
                           std::regex_replace(file, std::regex("False"), "True "));
  keops::test::write_bytes(dir / "big.npy", std::regex_replace(file, std::regex("<f4"), ">f4"));
  keops::test::write_bytes(dir / "garbage.npy", "not an array");
  // A header holding a 26,000-character string (a backtracking regex overflowed the stack),
  // and a version 2.0 header longer than the reader takes.
  const std::string long_dict =
      "{'descr': '" + std::string(26000, 'a') + "', 'fortran_order': False, 'shape': (10, 3), }\n";
  std::string long_string("\x93NUMPY\x01\x00", 8);
  long_string += char(long_dict.size() & 0xff);
  long_string += char(long_dict.size() >> 8);
  keops::test::write_bytes(dir / "long_string.npy", long_string + long_dict);
  std::string huge_header("\x93NUMPY\x02\x00", 8);
  huge_header += std::string("\x00\x00\x02\x00", 4);  // 128 KiB
  huge_header += "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }";
  huge_header.append(size_t(1) << 17, ' ');
  keops::test::write_bytes(dir / "huge_header.npy", huge_header);
  REQUIRE(::mkfifo((dir / "fifo.npy").c_str(), 0600) == 0);
  std::filesystem::create_directory(dir / "folder.npy");
  const std::string two = " -a 'x = Vi(3)' -a 'y = Vj(3)' ";
  const std::string run = "run 'SqDist(x, y)'" + two + "-o " + quoted(dir / "out.npy") + " --arg ";
  const std::string object = " -o " + quoted(dir / "k.o");
  const std::pair<std::string, std::string> cases[] = {
      {"", "subcommand is required"},
      {"frobnicate", "frobnicate"},
      {"compile 'x'", "--alias is required"},
      {"compile 'x' -a 'x = Vi(3)'", "--output is required"},
      {"compile 'x +' -a 'x = Vi(3)'" + object, "column"},
      {"compile 'x' -a 'x = Wi(3)'" + object, "Wi"},
      {"compile 'x' -a 'x = Vi(3)' -r Median" + object, "Median"},
      {"compile 'x' -a 'x = Vi(3)' --axis 2" + object, "axis"},
      {"compile 'x' -a 'x = Vi(3)' --dtype float8" + object, "dtype"},
      {"compile 'x' -a 'x = Vi(3)' --target sm_12" + object,
       "--target sm_12: not an architecture LLVM's NVPTX backend knows (sm_20, "},
      {"compile 'x' -a 'x = Vi(3)' --target sm_100" + object, "PTX for sm_90 runs on later GPUs"},
      {"emit 'x' -a 'x = Vi(3)' --emit ptx --target sm_12", "sm_12: not an architecture"},
      {"compile 'x' -a 'x = Vi(3)' --target cpu:pentium9" + object, "pentium9"},
      {"compile 'x' -a 'x = Vi(3)' --target gpu" + object, "--target"},
      {"compile 'x' -a 'x = Vi(3)' -o " + quoted(dir / "9lives.o"), "C identifier"},
      {"compile 'x' -a 'x = Vi(3)' --name int" + object,
       "--name int is not a C identifier (or is a C keyword)"},
      {"compile 'x' -a 'x = Vi(3)' -o " + quoted(dir / "while.o"), "(while) is not a C identifier"},
      {"emit 'x' -a 'x = Vi(3)' --emit ptx", "needs --target sm_XX"},
      {"emit 'x' -a 'x = Vi(3)' --emit asm --target sm_90", "--emit ptx"},
      {"emit 'x' -a 'x = Vi(3)' --emit obj", "--emit"},
      {run + quoted(dir / "x.npy"), "2 argument"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "x64.npy"), "x64.npy"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "truncated.npy"),
       "truncated.npy: truncated"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "fortran.npy"),
       "fortran.npy: Fortran"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "big.npy"), "big.npy: big-endian"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "garbage.npy"),
       "garbage.npy: not a .npy"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "missing.npy"), "missing.npy"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "long_string.npy"),
       "long_string.npy: dtype 'aaaaaaaaaaaaaaaa...' is not float16 ('<f2'), float32"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "huge_header.npy"),
       "huge_header.npy: a .npy header of 131072 bytes: at most 65535 are read"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "fifo.npy"),
       "fifo.npy: is not a regular file (a FIFO, socket or device?)"},
      {run + quoted(dir / "x.npy") + " --arg /dev/zero", "/dev/zero: is not a regular file"},
      {run + quoted(dir / "x.npy") + " --arg " + quoted(dir / "folder.npy"),
       "folder.npy: is a directory, not a .npy file"},
      {"run 'x' -a 'x = Vi(2)' -o out.npy --arg " + quoted(dir / "x.npy"),
       "x.npy (argument 0, x) has 3 column"},
      {"cache", "subcommand is required"},
      {"cache prune", "prune"},
  };
  for (const auto& entry : cases) {
    // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
    const auto& args = std::get<0>(entry);
    const auto& message = std::get<1>(entry);
    const auto r = run_shell(keopsc(args), dir);
    CAPTURE(args);
    CAPTURE(r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(message) != std::string::npos);
  }
  for (const char* bytes : {"-5", "5MB", " 5", "99999999999999999999999"}) {
    const auto r = run_shell(
        "KEOPS_CACHE_MAX_BYTES='" + std::string(bytes) + "' " + keopsc("cache list"), dir);
    CAPTURE(bytes);
    CHECK(r.status == 2);
    CHECK(r.err.find("KEOPS_CACHE_MAX_BYTES=" + std::string(bytes) + " is not a number of bytes") !=
          std::string::npos);
  }
  for (const char* help : {"--help", "compile --help", "emit --help", "run --help", "cache --help",
                           "cache list --help"}) {
    const auto r = run_shell(keopsc(help), dir);
    CAPTURE(help);
    CHECK(r.status == 0);
    CHECK(r.out.find("Usage") != std::string::npos);
  }
}

TEST_CASE(
    "keopsc: 8 processes compiling one kernel at once on an empty cache leave one valid entry") {
  TempDir dir;
  const auto x = points<float>(kNx, 3, 7, 23, 1.0 / 16), y = points<float>(kNy, 3, 11, 19, 1.0 / 8),
             b = points<float>(kNy, 1, 3, 5, 1.0 / 4);
  save_npy(dir / "x.npy", x, kNx, 3);
  save_npy(dir / "y.npy", y, kNy, 3);
  save_npy(dir / "b.npy", b, kNy, 1);
  const std::string cache = dir / "cache";
  // On the CPU: the disk cache holds CPU kernels.
  const std::string run = "KEOPS_DISABLE_GPU=1 KEOPS_CACHE_DIR=" + quoted(cache) +
                          " OMP_NUM_THREADS=1 " +
                          keopsc("run 'Exp(-SqDist(x, y) * 2.5) * b'" + alias_args(kGaussAliases) +
                                 " --axis 1 --arg " + quoted(dir / "x.npy") + " --arg " +
                                 quoted(dir / "y.npy") + " --arg " + quoted(dir / "b.npy"));
  std::string all;
  for (int p = 0; p < 8; ++p)
    all += "(" + run + " -o " + quoted(dir / ("out" + std::to_string(p) + ".npy")) +
           "; echo $? > " + quoted(dir / ("status" + std::to_string(p))) + ") & ";
  REQUIRE(run_shell(all + "wait", dir).status == 0);
  for (int p = 0; p < 8; ++p) {
    CAPTURE(p);
    CHECK(read_bytes(dir / ("status" + std::to_string(p))) == "0\n");
    CHECK(read_bytes(dir / ("out" + std::to_string(p) + ".npy")) == read_bytes(dir / "out0.npy"));
  }
  size_t files = 0;
  for (const auto& f : fs::directory_iterator(cache)) {
    CAPTURE(f.path());
    CHECK(f.path().extension() == ".keops");  // no temporary file left
    ++files;
  }
  CHECK(files == 1);
  const keops::runtime::DiskCache disk(cache, 1 << 30);
  const auto entries = disk.list();
  REQUIRE(entries.size() == 1);
  CHECK(disk.load(entries[0].kind, entries[0].key).has_value());  // checksum and all
}

TEST_CASE("keopsc: a damaged cache entry is detected, logged at debug level and rebuilt") {
  TempDir dir;
  const auto x = points<float>(50, 3, 7, 23, 1.0 / 16);
  save_npy(dir / "x.npy", x, 50, 3);
  const std::string cache = dir / "cache";
  const std::string run =
      "KEOPS_DISABLE_GPU=1 KEOPS_LOG=debug KEOPS_CACHE_DIR=" + quoted(cache) + " " +
      keopsc("run 'Exp(-SqDist(x, y) * 1.5)' -a 'x = Vi(3)' -a 'y = Vj(3)' --axis 1 --arg " +
             quoted(dir / "x.npy") + " --arg " + quoted(dir / "x.npy") + " -o " +
             quoted(dir / "out.npy"));
  auto r = run_shell(run, dir);
  REQUIRE(r.status == 0);
  CHECK(r.err.find("stored") != std::string::npos);
  const auto entries = keops::runtime::DiskCache(cache, 1 << 30).list();
  REQUIRE(entries.size() == 1);
  const std::string path = entries[0].path.string(), good = read_bytes(path),
                    out = read_bytes(dir / "out.npy");
  r = run_shell(run, dir);
  CHECK(r.err.find("hit") != std::string::npos);
  CHECK(read_bytes(dir / "out.npy") == out);

  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x5a;
  const std::pair<std::string, std::string> damages[] = {
      {flipped, "checksum"}, {good.substr(0, good.size() - 7), "truncated"}, {"", "truncated"}};
  for (const auto& entry : damages) {
    // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
    const auto& bytes = std::get<0>(entry);
    const auto& problem = std::get<1>(entry);
    keops::test::write_bytes(path, bytes);
    r = run_shell(run, dir);
    CAPTURE(problem);
    CHECK(r.status == 0);
    CHECK(r.err.find(problem) != std::string::npos);
    CHECK(r.err.find("stored") != std::string::npos);
    CHECK(read_bytes(path) == good);
    CHECK(read_bytes(dir / "out.npy") == out);
  }
  // Off: nothing read or written.
  fs::remove(path);
  r = run_shell("KEOPS_CACHE=0 " + run, dir);
  CHECK(r.status == 0);
  CHECK_FALSE(fs::exists(path));
}

#ifdef KEOPS_LIBRARY_PATH

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Equal when the kernel is the one Genred runs on this GPU (sm_90), else close.
template <class T>
void check_gpu_values(const std::vector<T>& got, const std::vector<T>& expected, bool same_kernel) {
  REQUIRE(got.size() == expected.size());
  if (same_kernel) {
    CHECK(got == expected);
    return;
  }
  for (size_t k = 0; k < got.size(); ++k)
    CHECK(double(got[k]) == doctest::Approx(double(expected[k])).epsilon(1e-5));
}

}  // namespace

TEST_CASE("keopsc compile --target sm_90: embedded PTX and an entry running it through libkeops") {
  TempDir dir;
  const std::string libdir = fs::path(KEOPS_LIBRARY_PATH).parent_path().string();
  const std::string gauss_args = quoted(kGauss) + alias_args(kGaussAliases) + " --axis 1";
  const std::string nearest_args =
      "'SqDist(x, y)' -a 'x = Vi(3)' -a 'y = Vj(3)' -r Min_ArgMin "
      "--axis 0 --dtype float64";
  for (const auto& [args, object] :
       {std::pair{gauss_args, "gauss.o"}, {nearest_args, "nearest.o"}}) {
    const auto r =
        run_shell(keopsc("compile " + args + " --target sm_90 -o " + quoted(dir / object)), dir);
    INFO(r.err);
    REQUIRE(r.status == 0);
    // The entry's only outside reference is libkeops's launcher.
    CHECK(undefined_symbols(dir / object, dir) == std::set<std::string>{"keops_aot_gpu_launch"});
    const std::string header = read_bytes(dir / fs::path(object).replace_extension(".h").string());
    CHECK(header.find("-L" + libdir + " -lkeops -Wl,-rpath," + libdir) != std::string::npos);
    CHECK(header.find("const char* keops_aot_last_error(void);") != std::string::npos);
    CHECK(header.find("target:    sm_90") != std::string::npos);
  }

  // The object holds the kernel's PTX as keopsc emit prints it, and ptxas assembles it.
  const auto emitted = run_shell(keopsc("emit --emit ptx --target sm_90 " + gauss_args), dir);
  REQUIRE(emitted.status == 0);
  CHECK(emitted.out.find(".target sm_90") != std::string::npos);
  CHECK(read_bytes(dir / "gauss.o").find(emitted.out + '\0') != std::string::npos);
  const auto ptxas = run_shell("command -v ptxas || command -v /usr/local/cuda/bin/ptxas", dir);
  if (ptxas.status != 0) {
    MESSAGE("no ptxas here: the embedded PTX is not assembled");
  } else {
    keops::test::write_bytes(dir / "gauss.ptx", emitted.out);
    const auto assembled =
        run_shell(lines_of(ptxas.out).at(0) + " -arch=sm_90 " + quoted(dir / "gauss.ptx") + " -o " +
                      quoted(dir / "gauss.cubin"),
                  dir);
    INFO(assembled.err);
    CHECK(assembled.status == 0);
  }

  const std::string program =
      gauss_and_nearest_main() +
      "  printf(\"%d \", gauss(-1, NY, gauss_args, gauss_out, 0));\n"
      "  printf(\"%s\\n\", keops_aot_last_error());\n"
      "  printf(\"%d \", gauss(NX, NY, 0, gauss_out, 0));\n"
      "  printf(\"%s\\n\", keops_aot_last_error());\n"
      "  printf(\"%d \", gauss(NX, NY, gauss_args, 0, 0));\n"
      "  printf(\"%s\\n\", keops_aot_last_error());\n"
      "  printf(\"%d \", nearest(NX, NY, nearest_args, nearest_out, 0));\n"
      "  printf(\"%s\\n\", keops_aot_last_error());\n"
      "  printf(\"%d \", nearest(NX, 0, nearest_args, 0, 0));\n"  // no output rows: no GPU needed
      "  printf(\"[%s]\\n\", keops_aot_last_error());\n"
      "  int g = gauss(NX, NY, gauss_args, gauss_out, 0);\n"
      "  printf(\"%d %s\\n\", g, keops_aot_last_error());\n"
      "  int n = nearest(NX, NY, nearest_args, nearest_out, nearest_index);\n"
      "  printf(\"%d %s\\n\", n, keops_aot_last_error());\n"
      "  FILE* f = fopen(\"results.bin\", \"wb\");\n"
      "  fwrite(gauss_out, sizeof gauss_out, 1, f);\n"
      "  fwrite(nearest_out, sizeof nearest_out, 1, f);\n"
      "  fwrite(nearest_index, sizeof nearest_index, 1, f);\n"
      "  fclose(f);\n"
      "  return 0;\n"
      "}\n";
  keops::test::write_bytes(dir / "prog.c", program);
  const std::string in_dir = "cd " + quoted(dir.path().string()) + " && ";
  const auto build =
      run_shell(in_dir + KEOPS_C_COMPILER + " prog.c gauss.o nearest.o -L" + quoted(libdir) +
                    " -lkeops -Wl,-rpath," + quoted(libdir) + " -o prog",
                dir);
  INFO(build.err);
  REQUIRE(build.status == 0);
  const auto run = [&](const std::string& environment) {
    const auto r = run_shell(in_dir + environment + " ./prog", dir);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 7);
    // Bad arguments are found before any GPU is looked for.
    CHECK(lines[0] == "1 running gauss: nx = -1, ny = 200: sizes must be >= 0");
    CHECK(lines[1] == "2 running gauss: args is NULL");
    CHECK(lines[2] == "3 running gauss: values is NULL and has 300 rows");
    CHECK(lines[3] == "4 running nearest: indices is NULL and has 200 rows");
    CHECK(lines[4] == "0 []");
    return std::vector<std::string>(lines.begin() + 5, lines.end());
  };

  const auto disabled = run("KEOPS_DISABLE_GPU=1");
  const std::string why =
      "no usable GPU: the GPU backend is disabled by the environment "
      "variable KEOPS_DISABLE_GPU";
  CHECK(disabled[0] == "5 running gauss: " + why);
  CHECK(disabled[1] == "5 running nearest: " + why);

  const auto ran = run("");
  if (!keops::gpu_available()) {
    MESSAGE("no GPU here (" << keops::gpu_unavailable_reason()
                            << "): the sm_90 objects must say so, not run");
    CHECK(ran[0] == "5 running gauss: no usable GPU: " + keops::gpu_unavailable_reason());
    CHECK(ran[1] == "5 running nearest: no usable GPU: " + keops::gpu_unavailable_reason());
    return;
  }
  const int sm = keops::runtime::cuda::device_sm(0);
  if (sm < 90) {
    MESSAGE("GPU 0 is sm_" << sm << ": the sm_90 objects must refuse it");
    CHECK(ran[0].find("6 running gauss: its kernel was compiled for sm_90, but GPU 0") == 0);
    CHECK(ran[0].find("is sm_" + std::to_string(sm) + ": compile it with --target sm_" +
                      std::to_string(sm)) != std::string::npos);
    return;
  }
  CHECK(ran[0] == "0 ");
  CHECK(ran[1] == "0 ");
  keops::Options gpu;
  gpu.backend = keops::Backend::GPU;
  const auto xf = points<float>(kNx, 3, 7, 23, 1.0 / 16),
             yf = points<float>(kNy, 3, 11, 19, 1.0 / 8), bf = points<float>(kNy, 1, 3, 5, 1.0 / 4);
  const auto xd = points<double>(kNx, 3, 7, 23, 1.0 / 16),
             yd = points<double>(kNy, 3, 11, 19, 1.0 / 8);
  const auto gauss = keops::Genred(kGauss, kGaussAliases, "Sum", 1, gpu)(
      {{xf.data(), kNx, 3}, {yf.data(), kNy, 3}, {bf.data(), kNy, 1}});
  const auto nearest = keops::Genred("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Min_ArgMin", 0,
                                     gpu)({{xd.data(), kNx, 3}, {yd.data(), kNy, 3}});
  const std::string results = read_bytes(dir / "results.bin");
  check_gpu_values(bytes_as<float>(results, 0, kNx), gauss.values, sm == 90);
  check_gpu_values(bytes_as<double>(results, kNx * 4, kNy), nearest.values, sm == 90);
  CHECK(bytes_as<int64_t>(results, kNx * 4 + kNy * 8, kNy) == nearest.indices);
}

TEST_CASE("keopsc compile --target sm_90: a long output runs in column groups as Genred's does") {
  TempDir dir;
  const std::string libdir = fs::path(KEOPS_LIBRARY_PATH).parent_path().string();
  const auto r = run_shell(keopsc("compile " + quoted(kWide) + alias_args(kWideAliases) +
                                  " --axis 1 --target sm_90 -o " + quoted(dir / "wide.o")),
                           dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string program =
      std::string("#include <stdio.h>\n#include \"wide.h\"\n") + kPointsC +
      "enum { NX = " + std::to_string(kNx) + ", NY = " + std::to_string(kNy) +
      " };\n"
      "static float x[NX * 3], y[NY * 3], v[NY * WIDE_VALUE_COLS], out[NX * WIDE_VALUE_COLS];\n"
      "int main(void) {\n"
      "  points(x, 0, NX, 3, 7, 23, 1.0 / 16);\n"
      "  points(y, 0, NY, 3, 11, 19, 1.0 / 8);\n"
      "  points(v, 0, NY, WIDE_VALUE_COLS, 13, 29, 1.0 / 32);\n"
      "  const float* args[WIDE_ARGS] = {x, y, v};\n"
      "  int status = wide(NX, NY, args, out, 0);\n"
      "  printf(\"%d %s\\n\", status, keops_aot_last_error());\n"
      "  FILE* f = fopen(\"wide.bin\", \"wb\");\n"
      "  fwrite(out, sizeof out, 1, f);\n"
      "  return fclose(f);\n"
      "}\n";
  keops::test::write_bytes(dir / "prog.c", program);
  const std::string in_dir = "cd " + quoted(dir.path().string()) + " && ";
  const auto build = run_shell(in_dir + KEOPS_C_COMPILER + " prog.c wide.o -L" + quoted(libdir) +
                                   " -lkeops -Wl,-rpath," + quoted(libdir) + " -o prog",
                               dir);
  INFO(build.err);
  REQUIRE(build.status == 0);
  const auto ran = run_shell(in_dir + "./prog", dir);
  INFO(ran.err);
  REQUIRE(ran.status == 0);
  if (!keops::gpu_available()) {
    MESSAGE("no GPU here (" << keops::gpu_unavailable_reason() << "): the long output is not run");
    CHECK(ran.out == "5 running wide: no usable GPU: " + keops::gpu_unavailable_reason() + "\n");
    return;
  }
  const int sm = keops::runtime::cuda::device_sm(0);
  if (sm < 90) {
    MESSAGE("GPU 0 is sm_" << sm << ": the sm_90 object is not run");
    CHECK(ran.out.find("6 running wide: its kernel was compiled for sm_90") == 0);
    return;
  }
  CHECK(ran.out == "0 \n");
  keops::Options gpu;
  gpu.backend = keops::Backend::GPU;
  const auto x = points<float>(kNx, 3, 7, 23, 1.0 / 16), y = points<float>(kNy, 3, 11, 19, 1.0 / 8),
             v = points<float>(kNy, 200, 13, 29, 1.0 / 32);
  const auto expected = keops::Genred(kWide, kWideAliases, "Sum", 1, gpu)(
      {{x.data(), kNx, 3}, {y.data(), kNy, 3}, {v.data(), kNy, 200}});
  check_gpu_values(bytes_as<float>(read_bytes(dir / "wide.bin"), 0, size_t(kNx * 200)),
                   expected.values, sm == 90);
}

TEST_CASE("keops_aot_gpu_launch: bad descriptions and sizes, device arrays used in place") {
  // The description keopsc would embed for a float32 Gaussian sum over j on sm_<sm>.
  keops::runtime::KernelRequest request{kGauss, kGaussAliases, "Sum", 1, {}};
  const bool gpu = keops::gpu_available();
  keops::runtime::OwnedKernelSpec owned = keops::runtime::make_kernel_spec(
      request, keops::ir::DType::F32,
      keops::codegen::GpuTarget{gpu ? keops::runtime::cuda::device_sm(0) : 90});
  const std::string ptx = keops::jit::gpu_kernel_ptx(owned.spec);
  const std::string kernel_name = keops::jit::gpu_kernel_symbol(owned.spec);
  const keops::lower::GpuLayout layout = keops::lower::lower(owned.spec).gpu;
  const int64_t dims[] = {3, 3, 1}, cats[] = {KEOPS_AOT_CAT_I, KEOPS_AOT_CAT_J, KEOPS_AOT_CAT_J};
  const keops_aot_gpu_kernel kernel{KEOPS_AOT_GPU_ABI_VERSION,
                                    "gauss",
                                    ptx.c_str(),
                                    0x1234,  // any digest: this test loads no other PTX with it
                                    kernel_name.c_str(),
                                    owned.spec.gpu().sm,
                                    4,
                                    1,
                                    layout.block_threads,
                                    layout.shared_bytes(),
                                    layout.column_groups,
                                    1,
                                    0,
                                    3,
                                    dims,
                                    cats,
                                    layout.wide_tiles_pay ? 1 : 0};
  const auto xf = points<float>(kNx, 3, 7, 23, 1.0 / 16),
             yf = points<float>(kNy, 3, 11, 19, 1.0 / 8), bf = points<float>(kNy, 1, 3, 5, 1.0 / 4);
  std::vector<float> out(kNx);
  const void* args[] = {xf.data(), yf.data(), bf.data()};

  CHECK(keops_aot_gpu_launch(nullptr, kNx, kNy, args, out.data(), nullptr) == KEOPS_AOT_BAD_KERNEL);
  CHECK(std::string(keops_aot_last_error()) ==
        "keops_aot_gpu_launch: the kernel description is NULL");
  const std::string abi = std::to_string(KEOPS_AOT_GPU_ABI_VERSION);
  keops_aot_gpu_kernel other = kernel;
  other.abi_version = 99;
  CHECK(keops_aot_gpu_launch(&other, kNx, kNy, args, out.data(), nullptr) == KEOPS_AOT_BAD_KERNEL);
  CHECK(std::string(keops_aot_last_error()) ==
        "running gauss: its object was compiled for the keops GPU ABI 99, this libkeops runs ABI " +
            abi + ": recompile it with the keopsc of this libkeops");
  // An object of ABI 1, whose description has no column_groups (15 fields): only its version
  // and symbol are read (an allocation of its exact size lets a sanitizer see any more).
  struct AbiOneDescription {
    int64_t abi_version;
    const char* symbol;
    int64_t rest[13];
  };
  static_assert(sizeof(AbiOneDescription) == 15 * 8 && KEOPS_AOT_GPU_ABI_VERSION > 1);
  const auto abi_one = std::make_unique<AbiOneDescription>(AbiOneDescription{1, "old_gauss", {}});
  CHECK(keops_aot_gpu_launch(reinterpret_cast<const keops_aot_gpu_kernel*>(abi_one.get()), kNx, kNy,
                             args, out.data(), nullptr) == KEOPS_AOT_BAD_KERNEL);
  CHECK(std::string(keops_aot_last_error()) ==
        "running old_gauss: its object was compiled for the keops GPU ABI 1, this libkeops runs "
        "ABI " +
            abi + ": recompile it with the keopsc of this libkeops");
  CHECK(keops_aot_gpu_launch(&kernel, int64_t(1) << 61, kNy, args, out.data(), nullptr) ==
        KEOPS_AOT_BAD_SIZE);
  CHECK(
      std::string(keops_aot_last_error()) ==
      "running gauss: nx = 2305843009213693952, ny = 200: args[0] would hold more than 2^63 bytes");
  const void* null_y[] = {xf.data(), nullptr, bf.data()};
  CHECK(keops_aot_gpu_launch(&kernel, kNx, kNy, null_y, out.data(), nullptr) ==
        KEOPS_AOT_NULL_ARGUMENT);
  CHECK(std::string(keops_aot_last_error()) == "running gauss: args[1] is NULL and has 200 rows");
  CHECK(keops_aot_gpu_launch(&kernel, kNx, 0, null_y, out.data(), nullptr) !=
        KEOPS_AOT_NULL_ARGUMENT);  // y has no rows then
  if (!gpu) {
    CHECK(std::string(keops_aot_last_error()) ==
          "running gauss: no usable GPU: " + keops::gpu_unavailable_reason());
    MESSAGE("no GPU here (" << keops::gpu_unavailable_reason()
                            << "): the launches on a GPU are not tested");
    return;
  }
  // A kernel for a GPU newer than this one is refused before its PTX is loaded.
  other = kernel;
  other.sm = 999;
  CHECK(keops_aot_gpu_launch(&other, kNx, kNy, args, out.data(), nullptr) == KEOPS_AOT_GPU_FAILURE);
  CHECK(std::string(keops_aot_last_error())
            .find("running gauss: its kernel was compiled for "
                  "sm_999, but GPU 0") == 0);

  // x and the values in device memory, y and b on the host: the result of Genred on the GPU.
  keops::Options options;
  options.backend = keops::Backend::GPU;
  const auto expected = keops::Genred(kGauss, kGaussAliases, "Sum", 1, options)(
      {{xf.data(), kNx, 3}, {yf.data(), kNy, 3}, {bf.data(), kNy, 1}});
  keops::runtime::cuda::DeviceBuffer x_device(0, xf.size() * sizeof(float)),
      out_device(0, out.size() * sizeof(float));
  x_device.upload(xf.data(), x_device.bytes());
  const void* mixed[] = {x_device.as<float>(), yf.data(), bf.data()};
  REQUIRE(keops_aot_gpu_launch(&kernel, kNx, kNy, mixed, out_device.as<float>(), nullptr) ==
          KEOPS_AOT_OK);
  CHECK(std::string(keops_aot_last_error()).empty());
  out_device.download(out.data(), out_device.bytes());
  CHECK(out == expected.values);
  // All on the host.
  std::fill(out.begin(), out.end(), 0.f);
  REQUIRE(keops_aot_gpu_launch(&kernel, kNx, kNy, args, out.data(), nullptr) == KEOPS_AOT_OK);
  CHECK(out == expected.values);
}

#endif

#else

TEST_CASE("keopsc tests") { MESSAGE("skipped: keopsc is not built (KEOPS_BUILD_TOOLS=OFF)"); }

#endif
