// What Genred does with Options::ranges (see ranges_run.h): checks and the triple of a stage.
#include "runtime/api/ranges_run.h"

#include <algorithm>
#include <string>
#include <vector>

#include "keops/error.h"

namespace keops::detail {
namespace {

// The arrays of one axis: output clusters of `out` rows, reduced ranges of `reduced` rows.
struct Triple {
  const char* clusters_name;
  const std::vector<RowRange>& clusters;
  const char* slices_name;
  const std::vector<int64_t>& slices;
  const char* reduced_name;
  const std::vector<RowRange>& reduced;
  const char* out_size;  // "nx" or "ny"
  const char* reduced_size;

  bool given() const { return !clusters.empty() || !slices.empty() || !reduced.empty(); }
};

Triple triple_of(const Ranges& r, int axis) {
  if (axis == 1)
    return {"ranges_i",    r.ranges_i,    "slices_i", r.slices_i,
            "redranges_j", r.redranges_j, "nx",       "ny"};
  return {"ranges_j", r.ranges_j, "slices_j", r.slices_j, "redranges_i", r.redranges_i, "ny", "nx"};
}

[[noreturn]] void fail(const std::string& what) { throw Error("Genred: Options::ranges: " + what); }

std::string entry(const char* name, size_t k) {
  return std::string(name) + "[" + std::to_string(k) + "]";
}

std::string text(const RowRange& r) {
  std::string s(1, '[');  // not "[" + ...: GCC 12 warns wrongly there (-Wrestrict)
  return s.append(std::to_string(r[0])).append(", ").append(std::to_string(r[1])).append(")");
}

void check_bounds(const char* name, const std::vector<RowRange>& ranges, const char* size_name,
                  int64_t size) {
  for (size_t k = 0; k < ranges.size(); ++k) {
    const RowRange& r = ranges[k];
    if (r[0] > r[1]) fail(entry(name, k) + " = " + text(r) + " has start > end");
    if (r[0] < 0 || r[1] > size)
      fail(entry(name, k) + " = " + text(r) + " is out of bounds: " + size_name + " = " +
           std::to_string(size));
  }
}

// Throws unless the non-empty ranges[at[k]] are disjoint; `what` ends the message.
void check_disjoint(const char* name, const std::vector<RowRange>& ranges, std::vector<size_t> at,
                    const std::string& what) {
  std::erase_if(at, [&](size_t k) { return ranges[k][0] == ranges[k][1]; });
  std::sort(at.begin(), at.end(), [&](size_t a, size_t b) {
    return ranges[a][0] != ranges[b][0] ? ranges[a][0] < ranges[b][0] : a < b;
  });
  for (size_t k = 1; k < at.size(); ++k)
    if (ranges[at[k]][0] < ranges[at[k - 1]][1]) {
      const size_t a = std::min(at[k], at[k - 1]), b = std::max(at[k], at[k - 1]);
      fail(entry(name, b) + " = " + text(ranges[b]) + " overlaps " + entry(name, a) + " = " +
           text(ranges[a]) + what);
    }
}

void check_triple(const Triple& t, int64_t out_rows, int64_t reduced_rows) {
  check_bounds(t.clusters_name, t.clusters, t.out_size, out_rows);
  if (t.slices.size() != t.clusters.size())
    fail(std::string(t.slices_name) + " has " + std::to_string(t.slices.size()) + " entries, but " +
         t.clusters_name + " has " + std::to_string(t.clusters.size()) +
         " clusters (one entry each)");
  for (size_t k = 0; k < t.slices.size(); ++k) {
    const int64_t before = k == 0 ? 0 : t.slices[k - 1];
    if (t.slices[k] < before)
      fail(entry(t.slices_name, k) + " = " + std::to_string(t.slices[k]) + " is less than " +
           (k == 0 ? std::string("0")
                   : entry(t.slices_name, k - 1) + " = " + std::to_string(before)) +
           ": slices must not decrease");
  }
  const int64_t last = t.slices.empty() ? 0 : t.slices.back();
  if (last != int64_t(t.reduced.size()))
    fail(std::string(t.slices_name) + " ends at " + std::to_string(last) + ", but " +
         t.reduced_name + " has " + std::to_string(t.reduced.size()) +
         " ranges: the last slice must be their count");
  check_bounds(t.reduced_name, t.reduced, t.reduced_size, reduced_rows);
  std::vector<size_t> all(t.clusters.size());
  for (size_t k = 0; k < all.size(); ++k) all[k] = k;
  check_disjoint(t.clusters_name, t.clusters, all, ": clusters must be disjoint");
  for (size_t c = 0; c < t.clusters.size(); ++c) {
    std::vector<size_t> own;
    for (int64_t k = c == 0 ? 0 : t.slices[c - 1]; k < t.slices[c]; ++k) own.push_back(size_t(k));
    check_disjoint(
        t.reduced_name, t.reduced, std::move(own),
        ", both ranges of " + entry(t.clusters_name, c) + ": a cluster's ranges must be disjoint");
  }
}

}  // namespace

void check_ranges(const Ranges& ranges, int64_t nx, int64_t ny) {
  if (const Triple t = triple_of(ranges, 1); t.given()) check_triple(t, nx, ny);
  if (const Triple t = triple_of(ranges, 0); t.given()) check_triple(t, ny, nx);
}

std::optional<runtime::SparseAxis> sparse_axis(const Options& o, const ReductionStage& s) {
  if (!o.ranges || s.single_pair) return std::nullopt;
  const Triple t = triple_of(*o.ranges, s.axis);
  if (!t.given())
    fail(std::string("a reduction over ") + (s.axis == 1 ? "j (axis 1)" : "i (axis 0)") +
         " needs " + t.clusters_name + ", " + t.slices_name + " and " + t.reduced_name +
         ", which are empty (keops::from_matrix gives both axes' arrays)");
  return runtime::SparseAxis{t.clusters, t.slices, t.reduced};
}

}  // namespace keops::detail
