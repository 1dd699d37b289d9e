// codegen_snapshot: writes the PTX and x86 assembly of a corpus of kernels, one file each.
//
// Usage: keops_codegen_snapshot CORPUS OUT_DIR
// For each case of CORPUS (corpus.txt says its format), in float32 and float64: the kernel
// on two x86-64 CPUs and on sm_80 and sm_90 in its dense, several-rows, partial (with its
// merge kernel) and block-sparse variants, both axes. Gradient cases write every kernel of
// the gradient's stages. Kernel symbols, which hash the compiler's sources, are written as
// KERNEL: two revisions that generate the same code write the same files
// (tools/check_codegen_unchanged.sh compares them).
#include <atomic>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "compiler/jit/cpu_compile.h"
#include "compiler/jit/ptx.h"
#include "compiler/lower/kernel_plan.h"
#include "keops/error.h"
#include "runtime/api/genred_impl.h"
#include "runtime/api/kernel_dispatch.h"

namespace {

using keops::codegen::KernelSpec;
namespace ir = keops::ir;

struct Case {
  std::vector<std::string> aliases;
  std::string reduction, formula, formula2, grad_var;
  int k = 0;
  keops::Options options;
};

std::string trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(trim(part));
  if (!s.empty() && s.back() == sep) parts.push_back("");
  return parts;
}

void apply_flag(Case& c, const std::string& flag) {
  if (flag.rfind("grad=", 0) == 0)
    c.grad_var = flag.substr(5);
  else if (flag == "kahan")
    c.options.sum_scheme = keops::SumScheme::Kahan;
  else if (flag == "direct")
    c.options.sum_scheme = keops::SumScheme::Direct;
  else if (flag == "acc64")
    c.options.float64_accumulator = true;
  else if (flag == "accurate")
    c.options.gpu_fast_math = false;
  else
    throw keops::Error("unknown flag '" + flag + "'");
}

std::vector<Case> read_corpus(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw keops::Error("cannot read " + path);
  std::vector<Case> cases;
  std::vector<std::string> aliases;
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("aliases:", 0) == 0) {
      aliases = split(line.substr(8), ';');
      continue;
    }
    const std::vector<std::string> fields = split(line, ';');
    if (fields.size() != 5) throw keops::Error("a case needs 5 fields: " + line);
    Case c;
    c.aliases = aliases;
    c.reduction = fields[0];
    c.k = std::stoi(fields[1]);
    c.formula = fields[2];
    c.formula2 = fields[3];
    for (const std::string& flag : split(fields[4], ' '))
      if (!flag.empty()) apply_flag(c, flag);
    c.options.k = c.k;
    c.options.formula2 = c.formula2;
    cases.push_back(c);
  }
  return cases;
}

// Every reduction stage of a Genred's program: hidden steps first, then the output's.
std::vector<const keops::detail::ReductionStage*> stages_of(const keops::detail::GenredImpl& g) {
  std::vector<const keops::detail::ReductionStage*> out;
  auto add_step = [&](const keops::detail::Step& s) {
    out.push_back(&s.main);
    for (const auto& m : s.more) out.push_back(&m);
    for (const auto& sel : s.selections) {
      out.push_back(&sel.arg_reduction);
      out.push_back(&sel.pair);
    }
  };
  for (const keops::detail::Step& h : g.hidden) add_step(h);
  add_step(g);
  return out;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

// A file to write: its name and how to make its text.
struct Job {
  std::string name;
  std::function<std::string()> make;
};

// The jobs of one kernel spec (a CPU one; GPU variants are derived from it).
void add_spec_jobs(std::vector<Job>& jobs, const std::string& prefix, const KernelSpec& base,
                   bool all_variants, const keops::Options& o) {
  const std::string dt = base.dtype == ir::DType::F32 ? "f32" : "f64";
  for (const char* cpu : {"skylake-avx512", "x86-64-v3"}) {
    KernelSpec s = base;
    s.target = keops::codegen::CpuTarget::named(cpu);
    jobs.push_back({prefix + dt + "-" + cpu + ".s", [s] {
                      std::string text = keops::jit::cpu_kernel_assembly(s);
                      replace_all(text, keops::jit::cpu_kernel_symbol(s), "KERNEL");
                      return text;
                    }});
    if (!all_variants) break;
  }
  auto gpu = [&](int sm, const char* variant, auto&& adjust) {
    KernelSpec s = base;
    s.target = keops::codegen::GpuTarget{sm, o.gpu_fast_math};
    adjust(s);
    const std::string name = prefix + dt + "-sm" + std::to_string(sm) + "-" + variant;
    jobs.push_back({name + ".ptx", [s] {
                      std::string text = keops::jit::gpu_kernel_ptx(s);
                      replace_all(text, keops::jit::gpu_kernel_symbol(s), "KERNEL");
                      return text;
                    }});
    if (s.gpu().scheme == keops::codegen::GpuScheme::Partial)
      jobs.push_back({name + "-merge.ptx", [s] {
                        std::string text = keops::jit::gpu_merge_kernel_ptx(s);
                        replace_all(text, keops::jit::gpu_kernel_symbol(s), "KERNEL");
                        return text;
                      }});
  };
  gpu(90, "dense", [](KernelSpec&) {});
  if (!all_variants) return;
  gpu(80, "dense", [](KernelSpec&) {});
  gpu(90, "partial", [](KernelSpec& s) { s.gpu().scheme = keops::codegen::GpuScheme::Partial; });
  gpu(90, "sparse", [](KernelSpec& s) { s.gpu().scheme = keops::codegen::GpuScheme::BlockSparse; });
  if (keops::lower::several_rows_per_thread_pay(base))
    gpu(90, "rows4", [](KernelSpec& s) { s.gpu().rows_per_thread = 4; });
}

// The jobs of corpus case `index`: float32 with every variant, float64 with fewer, each
// axis; a gradient's stages in float32. The Genreds whose formulas the jobs read join `owners`.
std::vector<Job> case_jobs(const Case& c, size_t index,
                           std::vector<std::shared_ptr<const keops::detail::GenredImpl>>& owners) {
  std::vector<Job> jobs;
  char number[16];
  std::snprintf(number, sizeof number, "%03zu", index);
  for (int axis : {1, 0}) {
    auto impl = keops::detail::make_genred_impl(c.formula, c.aliases, c.reduction, axis, c.options);
    if (!c.grad_var.empty()) impl = keops::detail::gradient(*impl, c.grad_var);
    owners.push_back(impl);
    const auto stages = stages_of(*impl);
    for (const ir::DType dtype : {ir::DType::F32, ir::DType::F64}) {
      if (!c.grad_var.empty() && dtype == ir::DType::F64) continue;
      for (size_t s = 0; s < stages.size(); ++s) {
        if (stages[s]->is_zero()) continue;
        const std::string prefix = std::string(number) + "-axis" + std::to_string(axis) + "-stage" +
                                   std::to_string(s) + "-";
        add_spec_jobs(jobs, prefix, keops::detail::kernel_spec(*stages[s], dtype, c.options, -1),
                      dtype == ir::DType::F32 && axis == 1, c.options);
      }
    }
  }
  return jobs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " CORPUS OUT_DIR\n";
    return 2;
  }
  try {
    const std::vector<Case> cases = read_corpus(argv[1]);
    std::vector<Job> jobs;
    std::vector<std::shared_ptr<const keops::detail::GenredImpl>> owners;
    for (size_t i = 0; i < cases.size(); ++i) {
      std::vector<Job> more = case_jobs(cases[i], i, owners);
      jobs.insert(jobs.end(), more.begin(), more.end());
    }
    const std::string out_dir = argv[2];
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&] {
      for (size_t j = next++; j < jobs.size(); j = next++) {
        try {
          std::ofstream(out_dir + "/" + jobs[j].name) << jobs[j].make();
        } catch (const std::exception& e) {
          std::cerr << jobs[j].name << ": " << e.what() << "\n";
          failed = true;
        }
      }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t)
      threads.emplace_back(work);
    for (std::thread& t : threads) t.join();
    std::cout << jobs.size() << " kernels written to " << out_dir << "\n";
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "codegen_snapshot: " << e.what() << "\n";
    return 1;
  }
}
