// keops::mpi: reductions over arrays whose rows are sharded across the ranks of an MPI
// communicator.
#pragma once

#include <mpi.h>

#include <vector>

#include "keops/genred.h"
#include "keops/half.h"
#include "keops/kernel_solve.h"
#include "keops/result.h"
#include "keops/view.h"

namespace keops::mpi {

// How a call brings every rank's rows of the reduced axis to the others.
enum class Scheme {
  // Pipeline where the reduced axis's arrays pass kPipelineBytes and the reduction allows
  // it on every rank (Genred::accumulates), else AllGather.
  Auto,
  // Every rank gathers them all (MPI_Allgatherv), then reduces: memory for the whole axis.
  AllGather,
  // One rank's rows at a time (a broadcast by their rank), reduced in rank order while the
  // next rank's arrive (Genred::accumulate): memory for two ranks' rows. Where a
  // reduction does not allow it, AllGather.
  Pipeline,
};
inline constexpr int64_t kPipelineBytes = int64_t(64) << 20;

// Where one call's time went on this rank, and what it sent (optional: benchmarks, tuning).
struct Stats {
  Scheme scheme = Scheme::Auto;  // the scheme it ran: AllGather or Pipeline
  double check_s = 0;            // the checks, and agreeing on them with every rank
  double gather_s = 0;     // receiving the reduced axis's rows (waiting for them, with Pipeline)
  double compute_s = 0;    // this rank's reduction
  double finish_s = 0;     // agreeing on the outcome (waiting for the slowest rank), and the rest
  int64_t bytes_sent = 0;  // this rank's rows of the reduced axis, once to each other rank
  int64_t bytes_received = 0;  // the other ranks' rows of it
};

// How a call runs (optional).
struct Settings {
  Scheme scheme = Scheme::Auto;  // the same on every rank
  Stats* stats = nullptr;        // when not null, receives the call's statistics
};

// Runs `reduction` over the rows of every rank put end to end in rank order, as one process
// would over those arrays, and writes this rank's rows of the output. Collective: every rank
// of comm calls it, with
// - the same reduction: formula, reduction, axis, arguments' dims, K and formula2, ranges
//   and the reduced axis's row count where no argument gives it (Options::nx / ny);
// - the same array type, parameters (Pm arguments, one row) of the same values, and the
//   same Settings::scheme;
// - its own rows of every i- and j-argument: any number of rows, zero included, the same
//   for the arguments of one category on one rank; values (and indices for the reductions
//   that yield them) with as many rows as this rank's arguments of the output axis (for a
//   reduction over both axes, a parameter's gradient: one row, the same on every rank).
// Indices are global row numbers; Options::ranges are in global row numbers too. Each rank
// runs on the backend its Options choose (CPU threads or its GPU, under either scheme). The
// output rows are those one process computes: bit for bit with AllGather, and with
// Pipeline for selections (ties to the lowest index), within rounding for its sums (each
// rank's terms added apart). Gradients with a step that reduces over the output's own axis
// gather both axes, each rank computing every row (correct, not faster); a reduction over
// both axes adds the ranks' sums in rank order, in float64, rounded once.
//
// Arrays must be in host memory and without batch dims. A rank's bad input, a mismatch
// between ranks, or a failure of the run on any rank (a kernel's error, GPU memory) throws
// the same keops::Error on every rank, naming the rank and the reason, never a deadlock
// (provided every rank makes the call).
void run(const Genred& reduction, MPI_Comm comm, const std::vector<View<const float>>& args,
         View<float> values, View<int64_t> indices = {}, const Settings& settings = {});
void run(const Genred& reduction, MPI_Comm comm, const std::vector<View<const double>>& args,
         View<double> values, View<int64_t> indices = {}, const Settings& settings = {});
void run(const Genred& reduction, MPI_Comm comm, const std::vector<View<const half>>& args,
         View<half> values, View<int64_t> indices = {}, const Settings& settings = {});
void run(const Genred& reduction, MPI_Comm comm, const std::vector<View<const bfloat16>>& args,
         View<bfloat16> values, View<int64_t> indices = {}, const Settings& settings = {});

// The same, into this rank's rows of a new output.
Result<float> reduce(const Genred& reduction, MPI_Comm comm,
                     const std::vector<View<const float>>& args, const Settings& settings = {});
Result<double> reduce(const Genred& reduction, MPI_Comm comm,
                      const std::vector<View<const double>>& args, const Settings& settings = {});
Result<half> reduce(const Genred& reduction, MPI_Comm comm,
                    const std::vector<View<const half>>& args, const Settings& settings = {});
Result<bfloat16> reduce(const Genred& reduction, MPI_Comm comm,
                        const std::vector<View<const bfloat16>>& args,
                        const Settings& settings = {});

// Solves (alpha I + K) a = b (KernelSolve) over rows sharded across the ranks of comm:
// collective, each rank passing its rows of b (at the solve's var position) and of every
// other i and j argument, the same rows of the points as i and of the points as j (K maps
// b onto as many rows as it has). Conjugate gradient runs on each rank's rows, its products
// with K through run() (so every rank's backend), its dot products added across ranks in
// rank order (float64); every rank takes the same steps and stops together. alpha,
// tolerance and max_iterations (0: b's global rows) must be the same on every rank. Returns
// this rank's rows of a; `info` (each rank's the same) what the solve did. Errors as run()'s,
// and KernelSolve's (alpha < 0, a non-finite b, a breakdown), on every rank.
Result<float> solve(const KernelSolve& solve, MPI_Comm comm,
                    const std::vector<View<const float>>& args, double alpha,
                    double tolerance = 1e-6, int max_iterations = 0, SolveInfo* info = nullptr);
Result<double> solve(const KernelSolve& solve, MPI_Comm comm,
                     const std::vector<View<const double>>& args, double alpha,
                     double tolerance = 1e-6, int max_iterations = 0, SolveInfo* info = nullptr);

}  // namespace keops::mpi
