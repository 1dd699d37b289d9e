// How a reduction's arrays are sharded across ranks (see shards.h).
#include "mpi/shards.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>

#include "keops/error.h"

namespace keops::mpi::detail {

Axes axes_of(const Genred& reduction) {
  // axis 1 reduces over j (rows of i out), axis 0 over i, axis -1 over both (one row out).
  return reduction.axis() == 0 ? Axes{1, 0} : Axes{0, 1};
}

int64_t Shards::own_offset() const {
  return std::accumulate(own.begin(), own.begin() + rank, int64_t(0));
}
int64_t Shards::own_total() const { return std::accumulate(own.begin(), own.end(), int64_t(0)); }
int64_t Shards::gathered_total() const {
  return std::accumulate(gathered.begin(), gathered.end(), int64_t(0));
}

std::string digest(const void* data, size_t bytes, uint64_t seed) {
  uint64_t h = seed;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t k = 0; k < bytes; ++k) h = (h ^ p[k]) * 0x100000001b3ull;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

std::string digest(const Ranges& ranges) {
  std::string text;
  auto add = [&](const auto& v) {
    text += digest(v.data(), v.size() * sizeof(v[0])) + ":" + std::to_string(v.size()) + " ";
  };
  add(ranges.ranges_i);
  add(ranges.slices_i);
  add(ranges.redranges_j);
  add(ranges.ranges_j);
  add(ranges.slices_j);
  add(ranges.redranges_i);
  return text;
}

namespace {

// ranges (global rows of the own category) as this rank's rows [offset, offset + rows).
std::vector<RowRange> shifted(const std::vector<RowRange>& ranges, const char* name, int64_t total,
                              int64_t offset, int64_t rows) {
  std::vector<RowRange> local;
  for (size_t k = 0; k < ranges.size(); ++k) {
    const RowRange& r = ranges[k];
    if (r[0] < 0 || r[0] > r[1] || r[1] > total)
      throw Error(std::string("Options::ranges: ") + name + "[" + std::to_string(k) + "] = [" +
                  std::to_string(r[0]) + ", " + std::to_string(r[1]) +
                  ") is not within the global rows [0, " + std::to_string(total) +
                  ") of the ranks' arrays");
    const int64_t start = std::clamp<int64_t>(r[0] - offset, 0, rows);
    const int64_t end = std::clamp<int64_t>(r[1] - offset, 0, rows);
    local.push_back({start, std::max(start, end)});
  }
  return local;
}

}  // namespace

Ranges local_ranges(const Ranges& global, const Axes& axes, const Shards& shards) {
  Ranges local = global;
  const int64_t total = shards.own_total(), offset = shards.own_offset();
  const int64_t rows = shards.own[size_t(shards.rank)];
  if (axes.own == 0) {
    local.ranges_i = shifted(global.ranges_i, "ranges_i", total, offset, rows);
    local.redranges_i = shifted(global.redranges_i, "redranges_i", total, offset, rows);
  } else {
    local.ranges_j = shifted(global.ranges_j, "ranges_j", total, offset, rows);
    local.redranges_j = shifted(global.redranges_j, "redranges_j", total, offset, rows);
  }
  return local;
}

}  // namespace keops::mpi::detail
