// keops::Options: everything that tunes how a reduction is compiled and run.
#pragma once

#include <cstdint>
#include <string>

namespace keops {

enum class Backend { Auto, CPU, GPU };
enum class SumScheme { Auto, Direct, Block, Kahan };

struct Options {
  Backend backend = Backend::Auto;  // Auto: the GPU when one is usable, else the CPU
  int device = -1;                  // GPU id; -1: the inputs' device, else 0
  int k = 0;                        // K of KMin / ArgKMin / KMin_ArgKMin
  std::string formula2;             // G of SumSoftMaxWeight / LogSumExpWeight / ..Weight
  SumScheme sum_scheme = SumScheme::Auto;
  bool float64_accumulator = false;  // accumulate float32 sums in float64

  // float32 exp, log, sin, cos and sqrt on the GPU's hardware approximations (as KeOps);
  // false: the accurate polynomials of the CPU (float64 always uses those).
  bool gpu_fast_math = true;
  // CPU threads; 0: OpenMP's default (OMP_NUM_THREADS or the core count).
  int threads = 0;
  // Rows of the output axis when the formula has no argument of that category
  // (nx for axis 1, ny for axis 0); likewise the reduced axis. -1: none given.
  int64_t nx = -1;
  int64_t ny = -1;
};

}  // namespace keops
