// Batch dims (see batch.h): numpy broadcasting over leading dims, as KeOps's batched calls.
#include "runtime/api/batch.h"

#include "keops/error.h"

namespace keops::detail {

namespace {

std::string describe(const std::vector<frontend::ArgInfo>& infos, size_t k) {
  return "argument " + std::to_string(k) + (k < infos.size() ? " (" + infos[k].name + ")" : "");
}

}  // namespace

std::string batch_text(const BatchShape& shape) {
  std::string text = "(";
  for (int d = 0; d < shape.count; ++d) text += (d ? ", " : "") + std::to_string(shape.dims[d]);
  return text + ")";
}

template <class T>
bool has_batch(const std::vector<View<const T>>& args, const View<T>& values,
               const View<int64_t>& indices) {
  for (const auto& v : args)
    if (v.batch.count != 0) return true;
  return values.batch.count != 0 || indices.batch.count != 0;
}

template <class T>
BatchShape broadcast_batch(const std::vector<View<const T>>& args,
                           const std::vector<frontend::ArgInfo>& infos, const std::string& who) {
  BatchShape shape;
  size_t first[kMaxBatchDims] = {};  // the argument that set each dim of `shape` (right-aligned)
  for (size_t k = 0; k < args.size(); ++k) {
    const BatchShape& b = args[k].batch;
    if (b.count < 0 || b.count > kMaxBatchDims)
      throw Error(who + ": " + describe(infos, k) + " has " + std::to_string(b.count) +
                  " batch dims; 0 to " + std::to_string(kMaxBatchDims) + " are supported");
    for (int d = 0; d < b.count; ++d)
      if (b.dims[d] < 0)
        throw Error(who + ": " + describe(infos, k) + " has the negative batch dim " +
                    std::to_string(b.dims[d]) + " in its batch shape " + batch_text(b));
    // Align on the right: grow `shape` to b's count with leading 1s, then broadcast.
    if (b.count > shape.count) {
      const int grow = b.count - shape.count;
      for (int d = shape.count - 1; d >= 0; --d) {
        shape.dims[d + grow] = shape.dims[d];
        first[d + grow] = first[d];
      }
      for (int d = 0; d < grow; ++d) {
        shape.dims[d] = 1;
        first[d] = k;
      }
      shape.count = b.count;
    }
    const int offset = shape.count - b.count;
    for (int d = 0; d < b.count; ++d) {
      int64_t& s = shape.dims[offset + d];
      if (b.dims[d] == s || b.dims[d] == 1) continue;
      if (s != 1)
        throw Error(who + ": " + describe(infos, k) + " has batch shape " + batch_text(b) +
                    ", which does not broadcast with " + describe(infos, first[offset + d]) +
                    ": batch dims " + std::to_string(b.dims[d]) + " and " + std::to_string(s) +
                    " (aligned on the right) must be equal or 1");
      s = b.dims[d];
      first[offset + d] = k;
    }
  }
  return shape;
}

template <class T>
std::vector<View<const T>> batch_element(const std::vector<View<const T>>& args,
                                         const BatchShape& shape, int64_t element) {
  // The multi-index of the element in `shape`.
  int64_t index[kMaxBatchDims] = {};
  for (int d = shape.count - 1; d >= 0; --d) {
    index[d] = shape.dims[d] > 0 ? element % shape.dims[d] : 0;
    element = shape.dims[d] > 0 ? element / shape.dims[d] : 0;
  }
  std::vector<View<const T>> out;
  out.reserve(args.size());
  for (const View<const T>& v : args) {
    const BatchShape& b = v.batch;
    const int offset = shape.count - b.count;
    int64_t position = 0;  // the element's index in v's own batch, size-1 dims at 0
    for (int d = 0; d < b.count; ++d)
      position = position * b.dims[d] + (b.dims[d] == 1 ? 0 : index[offset + d]);
    out.push_back({v.data == nullptr ? nullptr : v.data + position * v.rows * v.cols, v.rows,
                   v.cols, v.device});
  }
  return out;
}

template <class T>
View<T> output_element(const std::string& who, const char* what, const View<T>& view,
                       const BatchShape& shape, int64_t element) {
  if (view.cols == 0) return {view.data, view.rows, view.cols, view.device};
  bool same = view.batch.count == shape.count;
  for (int d = 0; same && d < shape.count; ++d) same = view.batch.dims[d] == shape.dims[d];
  if (!same)
    throw Error(who + ": " + what + " has batch shape " + batch_text(view.batch) +
                ", but the arguments' batch shape is " + batch_text(shape));
  const int64_t step = view.rows * view.cols;
  return {view.data == nullptr ? nullptr : view.data + element * step, view.rows, view.cols,
          view.device};
}

template bool has_batch(const std::vector<View<const float>>&, const View<float>&,
                        const View<int64_t>&);
template bool has_batch(const std::vector<View<const double>>&, const View<double>&,
                        const View<int64_t>&);
template BatchShape broadcast_batch(const std::vector<View<const float>>&,
                                    const std::vector<frontend::ArgInfo>&, const std::string&);
template BatchShape broadcast_batch(const std::vector<View<const double>>&,
                                    const std::vector<frontend::ArgInfo>&, const std::string&);
template std::vector<View<const float>> batch_element(const std::vector<View<const float>>&,
                                                      const BatchShape&, int64_t);
template std::vector<View<const double>> batch_element(const std::vector<View<const double>>&,
                                                       const BatchShape&, int64_t);
template View<float> output_element(const std::string&, const char*, const View<float>&,
                                    const BatchShape&, int64_t);
template View<double> output_element(const std::string&, const char*, const View<double>&,
                                     const BatchShape&, int64_t);
template View<int64_t> output_element(const std::string&, const char*, const View<int64_t>&,
                                      const BatchShape&, int64_t);

}  // namespace keops::detail
