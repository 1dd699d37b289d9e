// The fuzz harnesses' bodies: libFuzzer drives them (tests/fuzz/*_fuzz.cpp), and the suite
// replays their corpora (tests/fuzz/corpus, crash reproducers included) through them. Every
// failure must be a keops::Error; anything else escapes, or traps, and is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "tools/keopsc/npy.h"

namespace keops::fuzz {

// The formula harnesses' input: alias lines, a line "%%", then the formula; without "%%",
// the whole input is the formula, with the aliases x = Vi(3), y = Vj(3), b = Vj(1).
struct FormulaInput {
  std::vector<std::string> aliases;
  std::string formula;
  std::string bytes;  // the whole input, for argument values

  // Value number k of the arguments: a small number from the input's bytes.
  double value(size_t k) const {
    if (bytes.empty()) return 0.5;
    return double(static_cast<unsigned char>(bytes[k % bytes.size()])) / 32.0 - 4.0;
  }
};

inline FormulaInput split_formula_input(const uint8_t* data, size_t size) {
  FormulaInput in;
  in.bytes.assign(reinterpret_cast<const char*>(data), size);
  const size_t mark = in.bytes.find("%%");
  if (mark == std::string::npos) {
    in.aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
    in.formula = in.bytes;
    return in;
  }
  in.formula = in.bytes.substr(mark + 2);
  const std::string head = in.bytes.substr(0, mark);
  for (size_t start = 0; start < head.size();) {
    const size_t end = std::min(head.find('\n', start), head.size());
    if (end > start) in.aliases.push_back(head.substr(start, end - start));
    start = end + 1;
  }
  return in;
}

// The parser and Genred's construction.
inline void formula_harness(const uint8_t* data, size_t size) {
  const FormulaInput input = split_formula_input(data, size);
  Options options;
  options.backend = Backend::CPU;
  try {
    const Genred op(input.formula, input.aliases, "Sum", 1, options);
    (void)op.formula();
    (void)op.arguments();
  } catch (const Error&) {
  }
}

// A View for each argument: rows of its category (3 i, 2 j, 1 parameter) of input bytes.
inline std::vector<View<const double>> tiny_views(const Genred& op, const FormulaInput& input,
                                                  std::vector<std::vector<double>>& storage) {
  std::vector<View<const double>> views;
  size_t next = 0;
  for (const ArgumentInfo& a : op.arguments()) {
    const int64_t rows = a.category == 0 ? 3 : a.category == 1 ? 2 : 1;
    if (a.dim > 1024) throw Error("fuzz: an argument too long for a tiny run");
    std::vector<double>& v = storage.emplace_back(size_t(rows * a.dim));
    for (double& x : v) x = input.value(next++);
    views.push_back({v.data(), rows, a.dim});
  }
  if (op.value_cols() > 1024 || op.index_cols() > 1024)
    throw Error("fuzz: an output too long for a tiny run");
  return views;
}

// A selection reduced a part at a time (Genred::accumulate, then finish) gives run's
// values and indices bit for bit: checked over the tiny run's two reduced rows in two parts.
inline void check_parts(const Genred& op, const std::vector<View<const double>>& views,
                        const Result<double>& whole) {
  const std::string reduction = op.reduction();
  if ((reduction != "Min_ArgMin" && reduction != "KMin_ArgKMin") || !op.accumulates()) return;
  const std::vector<ArgumentInfo> infos = op.arguments();
  auto part = [&](int64_t first) {  // reduced row `first` alone
    std::vector<View<const double>> out = views;
    for (size_t k = 0; k < infos.size(); ++k)
      if (infos[k].category == 1)
        out[k] = {views[k].data + first * views[k].cols, 1, views[k].cols};
    return out;
  };
  std::vector<double> values(whole.values.size());
  std::vector<int64_t> indices(whole.indices.size());
  ReductionStates states;
  op.accumulate(part(0), 0, states);
  op.finish(part(1), 1, states, {values.data(), whole.rows, whole.cols},
            {indices.data(), whole.rows, whole.index_cols});
  if ((!values.empty() &&
       std::memcmp(values.data(), whole.values.data(), values.size() * sizeof(double)) != 0) ||
      indices != whole.indices)
    __builtin_trap();  // parts that disagree with the whole reduction
}

// A tiny run on the CPU of what the formula builds, for the reduction the first byte picks
// (a selection's also by parts), and of its gradient with respect to its first argument.
inline void run_harness(const uint8_t* data, size_t size) {
  if (size == 0) return;
  static const char* const kReductions[] = {"Sum", "Min_ArgMin", "LogSumExp", "KMin_ArgKMin"};
  const std::string reduction = kReductions[data[0] % 4];
  const FormulaInput input = split_formula_input(data + 1, size - 1);
  Options options;
  options.backend = Backend::CPU;
  options.threads = 1;
  options.k = reduction == "KMin_ArgKMin" ? 2 : 0;
  try {
    const Genred op(input.formula, input.aliases, reduction, 1, options);
    std::vector<std::vector<double>> storage;
    const std::vector<View<const double>> views = tiny_views(op, input, storage);
    check_parts(op, views, op(views));
    if (op.arguments().empty()) return;
    const Genred grad = op.grad(op.arguments().front().name);
    std::vector<std::vector<double>> grad_storage;
    (void)grad(tiny_views(grad, input, grad_storage));
  } catch (const Error&) {
  }
}

// keopsc's .npy reader on arbitrary file contents.
inline void npy_harness(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/keops_npy_fuzz_" + std::to_string(::getpid()) + ".npy";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const keopsc::NpyArray a = keopsc::read_npy(path);
    const size_t item = a.type == keopsc::NpyType::F16 ? 2 : a.type == keopsc::NpyType::F32 ? 4 : 8;
    if (a.bytes.size() != size_t(a.rows * a.cols) * item)
      __builtin_trap();  // a reader that returned the wrong amount of data
  } catch (const Error&) {
  }
}

}  // namespace keops::fuzz
