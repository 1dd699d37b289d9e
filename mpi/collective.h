// The collective steps of keops::mpi: agreeing on errors so that every rank throws, not hangs.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace keops::mpi::detail {

int rank_of(MPI_Comm comm);
int size_of(MPI_Comm comm);

// Every rank's `text`, in rank order.
std::vector<std::string> allgather_text(MPI_Comm comm, const std::string& text);

// Collective: throws the same keops::Error on every rank when `error` (this rank's, empty
// for none) is not empty on some rank, naming the first such rank ("keops::mpi: rank R: ...").
void agree(MPI_Comm comm, const std::string& error);

// Runs step() and agrees on its outcome: a keops::Error (or other exception) on one rank is
// thrown on every rank.
template <class Step>
void collectively(MPI_Comm comm, Step&& step) {
  std::string error;
  try {
    step();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "an exception without a message";
  }
  agree(comm, error);
}

// What a rank tells the others before a run: its error, the fields that must be the same on
// every rank (named), and its counts.
struct Announcement {
  std::string error;
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<int64_t> counts;
};

// Collective: every rank's announcement, after throwing the same keops::Error on every rank
// for an error or for a field that differs from rank 0's ("rank R's formula differs from
// rank 0's: ... against ...").
std::vector<Announcement> announce(MPI_Comm comm, const Announcement& mine);

// Rows of rows_of[r] rows of row_bytes bytes from each rank r, this rank's at `local`, put
// end to end in rank order at `out`.
void allgather_rows(MPI_Comm comm, const void* local, const std::vector<int64_t>& rows_of,
                    int64_t row_bytes, void* out);

}  // namespace keops::mpi::detail
