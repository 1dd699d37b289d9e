// The collective steps of keops::mpi (see collective.h).
#include "mpi/collective.h"

#include <climits>

#include "keops/error.h"

namespace keops::mpi::detail {

namespace {

constexpr char kEntry = '\x1e';  // between an announcement's entries
constexpr char kPart = '\x1f';   // between a field's name and value, and between counts

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == separator)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

// text without the separators (a message could hold them).
std::string plain(std::string text) {
  for (char& c : text)
    if (c == kEntry || c == kPart) c = '?';
  return text;
}

std::string serialize(const Announcement& a) {
  std::string text = plain(a.error);
  text += kEntry;
  text += std::to_string(a.fields.size());
  for (const auto& field : a.fields)
    ((text += kEntry) += plain(field.first)) += kPart + plain(field.second);
  text += kEntry;
  for (size_t k = 0; k < a.counts.size(); ++k)
    (text += k ? std::string(1, kPart) : std::string()) += std::to_string(a.counts[k]);
  return text;
}

Announcement deserialize(const std::string& text) {
  const std::vector<std::string> entries = split(text, kEntry);
  Announcement a;
  a.error = entries.at(0);
  const size_t fields = std::stoul(entries.at(1));
  for (size_t k = 0; k < fields; ++k) {
    const std::string& entry = entries.at(2 + k);
    const size_t at = entry.find(kPart);
    a.fields.emplace_back(entry.substr(0, at), entry.substr(at + 1));
  }
  if (!entries.at(2 + fields).empty())
    for (const std::string& count : split(entries.at(2 + fields), kPart))
      a.counts.push_back(std::stoll(count));
  return a;
}

// A value as a message quotes it: at most 160 characters.
std::string quoted(const std::string& value) {
  return "'" + (value.size() <= 160 ? value : value.substr(0, 157) + "...") + "'";
}

}  // namespace

int rank_of(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

int size_of(MPI_Comm comm) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  return size;
}

std::vector<std::string> allgather_text(MPI_Comm comm, const std::string& text) {
  const int ranks = size_of(comm);
  // (Texts are short: a formula, a message.)
  const int length = int(std::min<size_t>(text.size(), INT_MAX / size_t(ranks)));
  std::vector<int> lengths(static_cast<size_t>(ranks)), starts(static_cast<size_t>(ranks));
  MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm);
  int total = 0;
  for (int r = 0; r < ranks; ++r) {
    starts[size_t(r)] = total;
    total += lengths[size_t(r)];
  }
  std::string all(size_t(total), '\0');
  MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), starts.data(), MPI_CHAR,
                 comm);
  std::vector<std::string> texts;
  for (int r = 0; r < ranks; ++r)
    texts.push_back(all.substr(size_t(starts[size_t(r)]), size_t(lengths[size_t(r)])));
  return texts;
}

void agree(MPI_Comm comm, const std::string& error) {
  const int failed = error.empty() ? 0 : 1;
  int failures = 0;
  MPI_Allreduce(&failed, &failures, 1, MPI_INT, MPI_SUM, comm);
  if (failures == 0) return;
  const std::vector<std::string> errors = allgather_text(comm, error);
  for (size_t r = 0; r < errors.size(); ++r)
    if (!errors[r].empty()) {
      std::string message = "keops::mpi: rank " + std::to_string(r) + ": " + errors[r];
      if (failures > 1)
        message += " (and " + std::to_string(failures - 1) + " other rank(s) failed too)";
      throw Error(message);
    }
}

std::vector<Announcement> announce(MPI_Comm comm, const Announcement& mine) {
  std::vector<Announcement> all;
  for (const std::string& text : allgather_text(comm, serialize(mine)))
    all.push_back(deserialize(text));
  std::string first_error;
  for (size_t r = 0; r < all.size() && first_error.empty(); ++r)
    if (!all[r].error.empty())
      first_error = "keops::mpi: rank " + std::to_string(r) + ": " + all[r].error;
  if (!first_error.empty()) throw Error(first_error);
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r].fields.size() != all[0].fields.size())
      throw Error("keops::mpi: rank " + std::to_string(r) +
                  " runs another version of keops::mpi than rank 0");
    for (size_t f = 0; f < all[0].fields.size(); ++f)
      if (all[r].fields[f] != all[0].fields[f])
        throw Error("keops::mpi: rank " + std::to_string(r) + "'s " + all[r].fields[f].first +
                    " differs from rank 0's: " + quoted(all[r].fields[f].second) + " against " +
                    quoted(all[0].fields[f].second) +
                    " (every rank must run the same reduction on the same parameters)");
  }
  return all;
}

void allgather_rows(MPI_Comm comm, const void* local, const std::vector<int64_t>& rows_of,
                    int64_t row_bytes, void* out) {
  std::vector<int> counts, starts;
  int64_t total = 0;
  for (int64_t rows : rows_of) {
    starts.push_back(int(total));
    counts.push_back(int(rows));
    total += rows;
  }
  if (total > INT_MAX)
    throw Error("keops::mpi: " + std::to_string(total) +
                " rows to gather, more than MPI's counts hold (2^31 - 1)");
  MPI_Datatype row;
  MPI_Type_contiguous(int(row_bytes), MPI_BYTE, &row);
  MPI_Type_commit(&row);
  MPI_Allgatherv(local, counts[size_t(rank_of(comm))], row, out, counts.data(), starts.data(), row,
                 comm);
  MPI_Type_free(&row);
}

}  // namespace keops::mpi::detail
