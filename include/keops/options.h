// keops::Options: everything that tunes how a reduction is compiled and run.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keops {

enum class Backend { Auto, CPU, GPU };
enum class SumScheme { Auto, Direct, Block, Kahan };

// Whether float32 products of an output row and a reduced row (SqDist(x, y), (x | y) and
// their sums of squares or products) run on the GPU's matrix units (tensor cores, sm_80 and
// later): Auto where the rows are long enough for them to pay (more than 256 values), On
// wherever a kernel has one such product, Off never. Float64 and older GPUs use the CUDA
// cores.
enum class TensorCores { Auto, On, Off };
// How the matrix units multiply float32 values. Float32: each value split into a high and a
// low TF32 part, three products whose sum keeps float32's accuracy. TF32: each value rounded
// to TF32 (10 mantissa bits) once, one product, faster, about 1e-3 relative error per product.
// SqDist(x, y) there is |x|^2 + |y|^2 - 2 (x | y), clamped at 0: its error grows with the
// norms, not with the distance.
enum class MatmulPrecision { Float32, TF32 };

// Rows [start, end) of one category's arguments.
using RowRange = std::array<int64_t, 2>;

// A block-sparse reduction (KeOps "ranges"; keops/ranges.h builds them from clusters). For a
// reduction over j (axis 1), i-cluster c, rows ranges_i[c], reduces only over the j-ranges
// redranges_j[slices_i[c-1] .. slices_i[c]) (slices_i[-1] = 0): slices_i holds, per cluster,
// the cumulative end of its list. A reduction over i (axis 0) reads (ranges_j, slices_j,
// redranges_i) the same way. Output rows in no cluster, and clusters with no range, get the
// reduction's identity, as in KeOps (what it yields over no term: 0 for Sum, +inf and index
// -1 for Min/ArgMin, -inf for LogSumExp, ...).
// Checked at each call against nx and ny (keops::Error naming the array and the entry):
// ranges within bounds with start <= end; clusters of one axis disjoint (in any order);
// slices one per cluster, non-decreasing, the last equal to the reduced ranges' count; the
// ranges of one cluster disjoint (in any order: they run in increasing order).
// A reduction needs the triple of its axis. The other may be left empty (all three
// vectors): then a gradient that reduces over the other axis throws when it runs; give
// both (from_matrix does) so that every gradient works, each stage with its axis's triple.
// With batch dims the same ranges apply to each batch element's rows.
struct Ranges {
  std::vector<RowRange> ranges_i;
  std::vector<int64_t> slices_i;
  std::vector<RowRange> redranges_j;
  std::vector<RowRange> ranges_j;
  std::vector<int64_t> slices_j;
  std::vector<RowRange> redranges_i;
};

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
  // The GPU's matrix units for long products (TensorCores), and their precision.
  TensorCores tensor_cores = TensorCores::Auto;
  MatmulPrecision matmul_precision = MatmulPrecision::Float32;
  // CPU threads; 0: OpenMP's default (OMP_NUM_THREADS or the core count).
  int threads = 0;
  // Rows of the output axis when the formula has no argument of that category
  // (nx for axis 1, ny for axis 0); likewise the reduced axis. -1: none given.
  int64_t nx = -1;
  int64_t ny = -1;
  // Block-sparse reductions (see Ranges); none: dense, every (i, j) pair.
  std::optional<Ranges> ranges;
  // Several GPUs for one reduction (GPU runs, host arrays): its output rows are split across
  // these GPU ids in proportion to their multiprocessor counts, each GPU getting the reduced
  // axis's arrays whole. An id may repeat (several slices on one GPU). {-1}: every GPU.
  // Empty: one GPU (device). Not with ranges.
  std::vector<int> devices;
  // Device memory one GPU reduction may take, in bytes; 0: what the GPU has free, less a
  // margin. Host arrays beyond it are copied in slices (output rows, then reduced rows too);
  // arrays already in GPU memory are used in place and do not count. Must be >= 0.
  int64_t gpu_memory_limit = 0;
  // A CUDA stream (a CUstream of the device the call runs on, such as PyTorch's current
  // stream, torch.cuda.current_stream().cuda_stream; (void*)1, CUDA's CU_STREAM_LEGACY, for
  // the legacy default stream): the call's GPU work starts after the work queued on it so
  // far. A one-kernel reduction on one GPU whose arguments and outputs are all in that GPU's
  // memory is queued on the stream, as CUDA's own calls are: it returns at once, the stream's
  // later work sees its results, and the host reads them after synchronizing the stream (a
  // fault inside the kernel is reported by a later call). Other calls (host arrays, several
  // kernels or GPUs, KernelSolve) return once their results are written. nullptr: none (the
  // legacy default stream's order alone; every call returns once its results are written).
  void* stream = nullptr;
};

}  // namespace keops
