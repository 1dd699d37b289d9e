// keops::mpi::run and reduce: a Genred over rows sharded across ranks (see keops/mpi.h).
#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>

#include "keops/error.h"
#include "keops/mpi.h"
#include "mpi/collective.h"
#include "mpi/pipeline.h"
#include "mpi/shards.h"

namespace keops::mpi {

namespace {

using detail::Announcement;
using detail::Axes;
using detail::Shards;

template <class T>
constexpr bool is_16_bit = std::is_same_v<T, half> || std::is_same_v<T, bfloat16>;
// What a 16-bit array's sums over both axes add in before they are rounded once.
template <class T>
using Widened = std::conditional_t<is_16_bit<T>, float, T>;

// How one call runs: which categories each rank keeps and gathers, and whether it gathers
// both (a gradient whose steps reduce over the output's own axis: each rank then computes
// every output row and keeps its own).
struct Scheme {
  Axes axes;
  bool whole = false;
};

Scheme scheme_of(const Genred& g) {
  const int reduced = g.reduced_category();
  if (g.axis() == -1 && reduced >= 0) return {{1 - reduced, reduced}, false};
  const Axes axes = detail::axes_of(g);
  return {axes, reduced != axes.gathered};
}

std::string argument_text(const ArgumentInfo& a) {
  return a.name + ":" + std::to_string(a.dim) + ":" + "ijp"[a.category];
}

// This rank's rows of each category (-1 where no argument has the category), after the
// checks Genred::run makes too late or not at all for sharded arrays.
template <class T>
std::array<int64_t, 2> argument_rows(const Genred& g, const std::vector<View<const T>>& args) {
  const std::vector<ArgumentInfo> infos = g.arguments();
  if (args.size() != infos.size())
    throw Error("expected " + std::to_string(infos.size()) + " argument(s), got " +
                std::to_string(args.size()));
  std::array<int64_t, 2> rows = {-1, -1};
  std::array<const ArgumentInfo*, 2> first = {nullptr, nullptr};
  for (size_t k = 0; k < args.size(); ++k) {
    const View<const T>& v = args[k];
    const ArgumentInfo& a = infos[k];
    const std::string what = "argument " + a.name;
    if (v.device != -1) throw Error(what + " is in GPU memory: keops::mpi takes host arrays");
    if (v.batch.count != 0) throw Error(what + " has batch dims, which keops::mpi does not take");
    if (v.rows < 0 || v.cols != a.dim)
      throw Error(what + " is " + std::to_string(v.rows) + " x " + std::to_string(v.cols) +
                  ", expected " + std::to_string(a.dim) + " cols");
    if (v.data == nullptr && v.rows > 0) throw Error(what + " has null data");
    if (a.category == 2) {
      if (v.rows != 1)
        throw Error(what + ", a parameter, has " + std::to_string(v.rows) + " rows, not 1");
      continue;
    }
    int64_t& r = rows[size_t(a.category)];
    if (first[size_t(a.category)] && r != v.rows)
      throw Error(what + " has " + std::to_string(v.rows) + " rows, but argument " +
                  first[size_t(a.category)]->name + ", of the same category, has " +
                  std::to_string(r));
    first[size_t(a.category)] = &a;
    r = v.rows;
  }
  return rows;
}

template <class V>
void check_output(const char* what, const V& view, int64_t rows, int64_t cols) {
  if (view.device != -1)
    throw Error(std::string(what) + " is in GPU memory: keops::mpi takes host arrays");
  if (view.batch.count != 0) throw Error(std::string(what) + " has batch dims");
  if (view.rows != rows || view.cols != cols)
    throw Error(std::string(what) + " is " + std::to_string(view.rows) + " x " +
                std::to_string(view.cols) + ", expected " + std::to_string(rows) + " x " +
                std::to_string(cols) + " (this rank's rows)");
  if (view.data == nullptr && rows * cols > 0) throw Error(std::string(what) + " has null data");
}

// The option that gives a category's rows when no argument has it: nx for i, ny for j.
int64_t option_rows(const Options& o, int category) { return category == 0 ? o.nx : o.ny; }
void set_option_rows(Options& o, int category, int64_t rows) {
  (category == 0 ? o.nx : o.ny) = rows;
}

// A call's outputs: this rank's rows.
template <class T>
struct Outputs {
  View<T> values;
  View<int64_t> indices;
};

// The fields of a call that every rank must share.
template <class T>
std::vector<std::pair<std::string, std::string>> shared_fields(
    const Genred& g, const Scheme& s, const std::vector<View<const T>>& args, mpi::Scheme asked) {
  const Options& o = g.options();
  const std::vector<ArgumentInfo> infos = g.arguments();
  std::string arguments;
  for (const ArgumentInfo& info : infos) arguments += argument_text(info) + " ";
  std::vector<std::pair<std::string, std::string>> fields = {
      {"formula", g.formula()},
      {"reduction", g.reduction()},
      {"axis", std::to_string(g.axis())},
      {"arguments", arguments},
      {"K", std::to_string(o.k)},
      {"formula2", o.formula2},
      {"array type", dtype_name<T>()},
      {"reduced axis's rows option", std::to_string(option_rows(o, s.axes.gathered))},
      {"ranges", o.ranges ? detail::digest(*o.ranges) : "none"},
      {"scheme", std::to_string(int(asked))}};
  for (size_t k = 0; k < infos.size(); ++k)
    if (infos[k].category == 2)
      fields.emplace_back("parameter " + infos[k].name,
                          k < args.size() && args[k].data && args[k].cols == infos[k].dim
                              ? detail::digest(args[k].data, size_t(args[k].cols) * sizeof(T))
                              : "none");
  return fields;
}

// This rank's announcement: its checks' error, the fields every rank must share, and its
// rows of the own and gathered categories, and whether its reduction accumulates.
template <class T>
Announcement announcement(const Genred& g, MPI_Comm comm, const Scheme& s,
                          const std::vector<View<const T>>& args, const Outputs<T>& out,
                          mpi::Scheme asked) {
  Announcement a;
  a.fields = shared_fields(g, s, args, asked);
  try {
    std::array<int64_t, 2> rows = argument_rows(g, args);
    const int own = s.axes.own, gathered = s.axes.gathered;
    const bool first_rank = detail::rank_of(comm) == 0;
    // No argument of a category: the option's rows, global, counted once (by rank 0), but
    // for the outputs' rows of a reduction over one axis, this rank's.
    if (rows[size_t(own)] < 0)
      rows[size_t(own)] = g.axis() != -1 ? out.values.rows
                          : first_rank   ? option_rows(g.options(), own)
                                         : 0;
    if (rows[size_t(gathered)] < 0)
      rows[size_t(gathered)] = first_rank ? option_rows(g.options(), gathered) : 0;
    const int64_t out_rows = g.axis() == -1 ? 1 : rows[size_t(own)];
    check_output("values", out.values, out_rows, g.value_cols());
    if (g.index_cols() > 0)
      check_output("indices", out.indices, out_rows, g.index_cols());
    else if (out.indices.data != nullptr)
      throw Error("indices given, but " + g.reduction() + " yields none");
    a.counts = {rows[size_t(own)], rows[size_t(gathered)], g.accumulates() ? 1 : 0};
  } catch (const Error& e) {
    a.error = e.what();
  }
  return a;
}

// One call, once the ranks agreed on it: the reduction, its scheme and shards, and where
// its time goes.
struct Call {
  const Genred& reduction;
  MPI_Comm comm;
  Scheme scheme;
  Shards shards;
  Stats& stats;
};

// The bytes of arrays of rows of row_bytes (all ranks' rows: rows_of, total rows) this rank
// sends (its rows, once to each other rank) and receives (the other ranks' rows).
void count_bytes(const Call& call, const std::vector<int64_t>& rows_of, int64_t total,
                 int64_t row_bytes) {
  const int64_t mine = rows_of[size_t(call.shards.rank)];
  call.stats.bytes_sent += mine * row_bytes * int64_t(rows_of.size() - 1);
  call.stats.bytes_received += (total - mine) * row_bytes;
}

// The arguments as this rank's run takes them: of the gathered categories, every rank's
// rows (held by `gathered`); of the others, this rank's.
template <class T>
std::vector<View<const T>> run_arguments(const Call& call, const std::vector<View<const T>>& args,
                                         std::vector<std::vector<T>>& gathered) {
  const std::vector<ArgumentInfo> infos = call.reduction.arguments();
  const Shards& shards = call.shards;
  std::vector<View<const T>> out = args;
  gathered.resize(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    const int c = infos[k].category;
    if (c == 2 || (c != call.scheme.axes.gathered && !call.scheme.whole)) continue;
    const bool reduced = c == call.scheme.axes.gathered;
    const std::vector<int64_t>& rows_of = reduced ? shards.gathered : shards.own;
    const int64_t total = reduced ? shards.gathered_total() : shards.own_total();
    const int64_t row_bytes = args[k].cols * int64_t(sizeof(T));
    count_bytes(call, rows_of, total, row_bytes);
    gathered[k].resize(size_t(total * args[k].cols));
    detail::allgather_rows(call.comm, args[k].data, rows_of, row_bytes, gathered[k].data());
    out[k] = {gathered[k].data(), total, args[k].cols};
  }
  return out;
}

// The options of this rank's run: its own category's ranges and row count local, unless
// every row is computed here.
Genred local_genred(const Call& call) {
  const Scheme& s = call.scheme;
  const Shards& shards = call.shards;
  Options o = call.reduction.options();
  if (!s.whole && o.ranges) o.ranges = detail::local_ranges(*o.ranges, s.axes, shards);
  const int own = s.axes.own;
  if (option_rows(o, own) >= 0)
    set_option_rows(o, own, s.whole ? shards.own_total() : shards.own[size_t(shards.rank)]);
  return call.reduction.with_options(o);
}

// Runs compute() on this rank and agrees on its outcome (collectively), timing compute().
template <class Compute>
void compute_collectively(const Call& call, Compute&& compute) {
  detail::collectively(call.comm, [&] {
    const double start = MPI_Wtime();
    compute();
    call.stats.compute_s = MPI_Wtime() - start;
  });
}

// A reduction over both axes: each rank's sum over its own rows, then the ranks' sums added
// in rank order (float64), identical on every rank.
template <class T>
void run_both_axes(const Call& call, const Genred& local, const std::vector<View<const T>>& args,
                   View<T> values) {
  using W = Widened<T>;
  std::vector<W> sum(size_t(values.cols));
  compute_collectively(call, [&] {
    if constexpr (is_16_bit<T>) {
      std::vector<std::vector<float>> widened(args.size());
      std::vector<View<const float>> views;
      for (size_t k = 0; k < args.size(); ++k) {
        const View<const T>& v = args[k];
        widened[k].assign(v.data, v.data + v.rows * v.cols);
        views.push_back({widened[k].data(), v.rows, v.cols});
      }
      local.run(views, View<float>{sum.data(), 1, values.cols});
    } else {
      local.run(args, View<T>{sum.data(), 1, values.cols});
    }
  });
  std::vector<double> mine(sum.begin(), sum.end());
  std::vector<double> all(mine.size() * size_t(detail::size_of(call.comm)));
  MPI_Allgather(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), int(mine.size()), MPI_DOUBLE,
                call.comm);
  for (size_t c = 0; c < mine.size(); ++c) {
    double total = 0;
    for (size_t r = 0; r * mine.size() < all.size(); ++r) total += all[r * mine.size() + c];
    if constexpr (std::is_same_v<T, double>)
      values.data[c] = total;
    else
      values.data[c] = T(float(total));
  }
}

// Every output row computed here, this rank's copied out.
template <class T>
void run_whole(const Call& call, const Genred& local, const std::vector<View<const T>>& args,
               View<T> values, View<int64_t> indices) {
  const bool both = local.axis() == -1;
  const int64_t rows = both ? 1 : call.shards.own_total();
  const int64_t first = both ? 0 : call.shards.own_offset();
  std::vector<T> all_values(size_t(rows * values.cols));
  std::vector<int64_t> all_indices(size_t(rows * indices.cols));
  compute_collectively(call, [&] {
    local.run(args, View<T>{all_values.data(), rows, values.cols},
              View<int64_t>{indices.cols ? all_indices.data() : nullptr, indices.cols ? rows : 0,
                            indices.cols});
    std::copy_n(all_values.begin() + first * values.cols, values.rows * values.cols, values.data);
    std::copy_n(all_indices.begin() + first * indices.cols, indices.rows * indices.cols,
                indices.data);
  });
}

// The bytes of one row of every array of the reduced axis.
template <class T>
int64_t reduced_row_bytes(const Call& call) {
  int64_t row_bytes = 0;
  for (const ArgumentInfo& a : call.reduction.arguments())
    if (a.category == call.scheme.axes.gathered) row_bytes += a.dim * int64_t(sizeof(T));
  return row_bytes;
}

// Whether the call runs Scheme::Pipeline: asked for or, with Auto, for a reduced axis of
// more than kPipelineBytes, where every rank's reduction accumulates.
template <class T>
bool pipelined(const Call& call, const std::vector<Announcement>& all, mpi::Scheme asked) {
  if (asked == mpi::Scheme::AllGather || call.scheme.whole || call.reduction.axis() == -1)
    return false;
  for (const Announcement& a : all)
    if (a.counts.at(2) == 0) return false;
  const int64_t row_bytes = reduced_row_bytes<T>(call);
  // (No array of the reduced axis: nothing to pass around.)
  return row_bytes > 0 && (asked == mpi::Scheme::Pipeline ||
                           call.shards.gathered_total() * row_bytes > kPipelineBytes);
}

template <class T>
void run_sharded(const Genred& g, MPI_Comm comm, const std::vector<View<const T>>& args,
                 const Outputs<T>& out, const Settings& settings, Stats& stats) {
  const View<T> values = out.values;
  const View<int64_t> indices = out.indices;
  stats = {};
  const double start = MPI_Wtime();
  Call call{g, comm, scheme_of(g), {}, stats};
  const std::vector<Announcement> all =
      detail::announce(comm, announcement(g, comm, call.scheme, args, out, settings.scheme));
  call.shards.rank = detail::rank_of(comm);
  for (const Announcement& a : all) {
    call.shards.own.push_back(a.counts.at(0));
    call.shards.gathered.push_back(a.counts.at(1));
  }
  std::optional<Genred> local;
  detail::collectively(comm, [&] { local = local_genred(call); });
  const double checked = MPI_Wtime();
  stats.check_s = checked - start;
  stats.scheme = mpi::Scheme::AllGather;
  if (pipelined<T>(call, all, settings.scheme)) {
    stats.scheme = mpi::Scheme::Pipeline;
    count_bytes(call, call.shards.gathered, call.shards.gathered_total(),
                reduced_row_bytes<T>(call));
    const detail::Pipe pipe{comm, call.shards.gathered, call.scheme.axes.gathered, stats};
    detail::run_pipeline<T>(pipe, *local, args, values, indices);
  }
  if (stats.scheme == mpi::Scheme::AllGather) {
    std::vector<std::vector<T>> gathered;
    const std::vector<View<const T>> run_args = run_arguments(call, args, gathered);
    stats.gather_s = MPI_Wtime() - checked;
    if (call.scheme.whole)
      run_whole(call, *local, run_args, values, indices);
    else if (g.axis() == -1)
      run_both_axes(call, *local, run_args, values);
    else
      compute_collectively(call, [&] { local->run(run_args, values, indices); });
  }
  stats.finish_s = MPI_Wtime() - start - stats.check_s - stats.gather_s - stats.compute_s;
}

// run() with somewhere for the statistics when the caller wants none.
template <class T>
void run_sharded(const Genred& g, MPI_Comm comm, const std::vector<View<const T>>& args,
                 View<T> values, View<int64_t> indices, const Settings& settings) {
  Stats ignored;
  run_sharded(g, comm, args, Outputs<T>{values, indices}, settings,
              settings.stats ? *settings.stats : ignored);
}

template <class T>
Result<T> reduce_sharded(const Genred& g, MPI_Comm comm, const std::vector<View<const T>>& args,
                         const Settings& settings) {
  // The output's rows: this rank's rows of an own-category argument (checked by the run).
  const Scheme s = scheme_of(g);
  const std::vector<ArgumentInfo> infos = g.arguments();
  int64_t rows = g.axis() == -1 ? 1 : std::max<int64_t>(0, option_rows(g.options(), s.axes.own));
  for (size_t k = 0; k < infos.size() && k < args.size() && g.axis() != -1; ++k)
    if (infos[k].category == s.axes.own) rows = args[k].rows;
  Result<T> out;
  out.rows = rows;
  out.cols = g.value_cols();
  out.index_cols = g.index_cols();
  out.values.resize(size_t(std::max<int64_t>(rows, 0) * out.cols));
  out.indices.resize(size_t(std::max<int64_t>(rows, 0) * out.index_cols));
  run_sharded<T>(
      g, comm, args, {out.values.data(), rows, out.cols},
      {out.index_cols ? out.indices.data() : nullptr, out.index_cols ? rows : 0, out.index_cols},
      settings);
  return out;
}

}  // namespace

void run(const Genred& g, MPI_Comm comm, const std::vector<View<const float>>& args,
         View<float> values, View<int64_t> indices, const Settings& settings) {
  run_sharded(g, comm, args, values, indices, settings);
}
void run(const Genred& g, MPI_Comm comm, const std::vector<View<const double>>& args,
         View<double> values, View<int64_t> indices, const Settings& settings) {
  run_sharded(g, comm, args, values, indices, settings);
}
void run(const Genred& g, MPI_Comm comm, const std::vector<View<const half>>& args,
         View<half> values, View<int64_t> indices, const Settings& settings) {
  run_sharded(g, comm, args, values, indices, settings);
}
void run(const Genred& g, MPI_Comm comm, const std::vector<View<const bfloat16>>& args,
         View<bfloat16> values, View<int64_t> indices, const Settings& settings) {
  run_sharded(g, comm, args, values, indices, settings);
}

Result<float> reduce(const Genred& g, MPI_Comm comm, const std::vector<View<const float>>& args,
                     const Settings& settings) {
  return reduce_sharded(g, comm, args, settings);
}
Result<double> reduce(const Genred& g, MPI_Comm comm, const std::vector<View<const double>>& args,
                      const Settings& settings) {
  return reduce_sharded(g, comm, args, settings);
}
Result<half> reduce(const Genred& g, MPI_Comm comm, const std::vector<View<const half>>& args,
                    const Settings& settings) {
  return reduce_sharded(g, comm, args, settings);
}
Result<bfloat16> reduce(const Genred& g, MPI_Comm comm,
                        const std::vector<View<const bfloat16>>& args, const Settings& settings) {
  return reduce_sharded(g, comm, args, settings);
}

}  // namespace keops::mpi
