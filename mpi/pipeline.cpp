// Scheme::Pipeline (see pipeline.h).
#include "mpi/pipeline.h"

#include <algorithm>
#include <climits>
#include <string>

#include "keops/error.h"
#include "mpi/collective.h"

namespace keops::mpi::detail {

namespace {

// Rows folded by one accumulate between two tests of the pending broadcast: slices of a
// part let MPI progress it while the part is reduced (most MPIs progress only in their calls).
constexpr int64_t kMinSliceRows = 4096;
constexpr int64_t kMaxSlices = 8;

// The broadcasts of one rank's rows of the reduced axis's arrays: its own arrays on that
// rank, `buffers` on the others.
template <class T>
class Broadcasts {
 public:
  Broadcasts(const Pipe& pipe, const std::vector<int>& positions,
             const std::vector<View<const T>>& args)
      : pipe_(pipe), positions_(positions), args_(args) {
    int64_t most = 0;
    for (int64_t rows : pipe.rows_of) most = std::max(most, rows);
    for (int slot = 0; slot < 2; ++slot)
      for (int k : positions) buffers_[slot].emplace_back(size_t(most * args[size_t(k)].cols));
    for (int k : positions) {
      MPI_Datatype row;
      MPI_Type_contiguous(int(args[size_t(k)].cols * int64_t(sizeof(T))), MPI_BYTE, &row);
      MPI_Type_commit(&row);
      types_.push_back(row);
    }
  }
  ~Broadcasts() {
    for (MPI_Datatype& t : types_) MPI_Type_free(&t);
  }
  Broadcasts(const Broadcasts&) = delete;
  Broadcasts& operator=(const Broadcasts&) = delete;

  // Starts the broadcasts of rank s's rows (into slot s % 2).
  void post(int s) {
    const int count = int(pipe_.rows_of[size_t(s)]);
    for (size_t p = 0; p < positions_.size(); ++p) {
      void* at = s == rank_of(pipe_.comm) ? const_cast<T*>(args_[size_t(positions_[p])].data)
                                          : static_cast<void*>(buffers_[s % 2][p].data());
      requests_.emplace_back();
      MPI_Ibcast(at, count, types_[p], s, pipe_.comm, &requests_.back());
    }
  }
  // Lets the pending broadcasts progress.
  void test() {
    int done = 0;
    if (!requests_.empty())
      MPI_Testall(int(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE);
  }
  void wait() {
    const double start = MPI_Wtime();
    MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    requests_.clear();
    pipe_.stats.gather_s += MPI_Wtime() - start;
  }
  // args with rank s's rows (received) of the reduced axis's arrays.
  std::vector<View<const T>> part(int s) const {
    std::vector<View<const T>> out = args_;
    if (s == rank_of(pipe_.comm)) return out;
    for (size_t p = 0; p < positions_.size(); ++p) {
      View<const T>& v = out[size_t(positions_[p])];
      v = {buffers_[s % 2][p].data(), pipe_.rows_of[size_t(s)], v.cols};
    }
    return out;
  }

 private:
  const Pipe& pipe_;
  const std::vector<int>& positions_;
  const std::vector<View<const T>>& args_;
  std::vector<std::vector<T>> buffers_[2];
  std::vector<MPI_Datatype> types_;
  std::vector<MPI_Request> requests_;
};

// One rank's reduction over the parts in turn: its states, and where the last part ends.
template <class T>
struct Folding {
  const Genred& reduction;
  const std::vector<int>& positions;  // the reduced axis's arrays
  Broadcasts<T>& broadcasts;
  View<T> values;
  View<int64_t> indices;
  ReductionStates states;

  // Folds `part` (rows [first, first + rows) of the reduced axis) into the states in
  // slices, letting the broadcasts progress between them; the last part's last slice
  // finishes into the outputs.
  void fold(const std::vector<View<const T>>& part, int64_t first, int64_t rows, bool last) {
    const int64_t slices = std::clamp<int64_t>(rows / kMinSliceRows, 1, kMaxSlices);
    for (int64_t q = 0; q < slices; ++q) {
      const int64_t begin = rows * q / slices, end = rows * (q + 1) / slices;
      std::vector<View<const T>> slice = part;
      for (int k : positions) {
        View<const T>& v = slice[size_t(k)];
        v = {v.data + begin * v.cols, end - begin, v.cols};
      }
      if (last && q == slices - 1)
        reduction.finish(slice, first + begin, states, values, indices);
      else
        reduction.accumulate(slice, first + begin, states);
      broadcasts.test();
    }
  }
};

}  // namespace

template <class T>
void run_pipeline(const Pipe& pipe, const Genred& reduction, const std::vector<View<const T>>& args,
                  View<T> values, View<int64_t> indices) {
  std::vector<int> positions;
  const std::vector<ArgumentInfo> infos = reduction.arguments();
  for (size_t k = 0; k < infos.size(); ++k)
    if (infos[k].category == pipe.reduced) positions.push_back(int(k));
  for (int64_t rows : pipe.rows_of)  // (the same on every rank: all throw, before any transfer)
    if (rows > INT_MAX)
      throw Error("keops::mpi: a rank's " + std::to_string(rows) +
                  " rows, more than MPI's counts hold (2^31 - 1)");
  Broadcasts<T> broadcasts(pipe, positions, args);
  Folding<T> folding{reduction, positions, broadcasts, values, indices, {}};
  const int ranks = int(pipe.rows_of.size());
  std::string error;
  int64_t first = 0;
  broadcasts.post(0);
  broadcasts.wait();
  for (int s = 0; s < ranks; ++s) {
    if (s + 1 < ranks) broadcasts.post(s + 1);
    if (error.empty()) {
      const double start = MPI_Wtime();
      try {
        folding.fold(broadcasts.part(s), first, pipe.rows_of[size_t(s)], s + 1 == ranks);
      } catch (const std::exception& e) {
        error = e.what();
      }
      pipe.stats.compute_s += MPI_Wtime() - start;
    }
    first += pipe.rows_of[size_t(s)];
    broadcasts.wait();
  }
  agree(pipe.comm, error);
}

template void run_pipeline<float>(const Pipe&, const Genred&, const std::vector<View<const float>>&,
                                  View<float>, View<int64_t>);
template void run_pipeline<double>(const Pipe&, const Genred&,
                                   const std::vector<View<const double>>&, View<double>,
                                   View<int64_t>);
template void run_pipeline<half>(const Pipe&, const Genred&, const std::vector<View<const half>>&,
                                 View<half>, View<int64_t>);
template void run_pipeline<bfloat16>(const Pipe&, const Genred&,
                                     const std::vector<View<const bfloat16>>&, View<bfloat16>,
                                     View<int64_t>);

}  // namespace keops::mpi::detail
