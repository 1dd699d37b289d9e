// Batch dims (see batch.h): numpy broadcasting over leading dims, as KeOps's batched calls.
#include "runtime/api/batch.h"

#include "keops/error.h"
#include "runtime/api/sizes.h"

namespace keops::detail {

namespace {

std::string describe(const std::vector<frontend::ArgInfo>& infos, size_t k) {
  return "argument " + std::to_string(k) + (k < infos.size() ? " (" + infos[k].name + ")" : "");
}

}  // namespace

std::string batch_text(const BatchShape& shape) {
  std::string text = "(";
  for (int d = 0; d < shape.count; ++d)
    text += (d ? ", " : "") + std::to_string(shape.dims[size_t(d)]);
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
  // The broadcast dims and, for each, the argument that set it, aligned on the right:
  // position p counts from the last dim.
  std::vector<int64_t> from_right;
  std::vector<size_t> first;
  for (size_t k = 0; k < args.size(); ++k) {
    const BatchShape& b = args[k].batch;
    if (b.count < 0)
      throw Error(who + ": " + describe(infos, k) + " has " + std::to_string(b.count) +
                  " batch dims; the count must be >= 0");
    for (int d = 0; d < b.count; ++d)
      if (b.dims[size_t(d)] < 0)
        throw Error(who + ": " + describe(infos, k) + " has the negative batch dim " +
                    std::to_string(b.dims[size_t(d)]) + " in its batch shape " + batch_text(b));
    if (size_t(b.count) > from_right.size()) {
      from_right.resize(size_t(b.count), 1);
      first.resize(size_t(b.count), k);
    }
    for (int d = 0; d < b.count; ++d) {
      const int64_t dim = b.dims[size_t(d)];
      const size_t p = size_t(b.count - 1 - d);
      int64_t& s = from_right[p];
      if (dim == s || dim == 1) continue;
      if (s != 1)
        throw Error(who + ": " + describe(infos, k) + " has batch shape " + batch_text(b) +
                    ", which does not broadcast with " + describe(infos, first[p]) +
                    ": batch dims " + std::to_string(dim) + " and " + std::to_string(s) +
                    " (aligned on the right) must be equal or 1");
      s = dim;
      first[p] = k;
    }
  }
  BatchShape shape;
  shape.count = int(from_right.size());
  for (size_t p = 0; p < from_right.size(); ++p)
    shape.dims[from_right.size() - 1 - p] = from_right[p];
  checked_product(who, "the batch shape " + batch_text(shape), from_right);
  return shape;
}

template <class T>
std::vector<View<const T>> batch_element(const std::vector<View<const T>>& args,
                                         const BatchShape& shape, int64_t element) {
  // The multi-index of the element in `shape`.
  std::vector<int64_t> index(size_t(shape.count), 0);
  for (int d = shape.count - 1; d >= 0; --d) {
    const int64_t dim = shape.dims[size_t(d)];
    index[size_t(d)] = dim > 0 ? element % dim : 0;
    element = dim > 0 ? element / dim : 0;
  }
  std::vector<View<const T>> out;
  out.reserve(args.size());
  for (const View<const T>& v : args) {
    const BatchShape& b = v.batch;
    const int offset = shape.count - b.count;
    int64_t position = 0;  // the element's index in v's own batch, size-1 dims at 0
    for (int d = 0; d < b.count; ++d) {
      const int64_t dim = b.dims[size_t(d)];
      position = position * dim + (dim == 1 ? 0 : index[size_t(offset + d)]);
    }
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
  for (int d = 0; same && d < shape.count; ++d)
    same = view.batch.dims[size_t(d)] == shape.dims[size_t(d)];
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
template bool has_batch(const std::vector<View<const keops::half>>&, const View<keops::half>&,
                        const View<int64_t>&);
template bool has_batch(const std::vector<View<const keops::bfloat16>>&,
                        const View<keops::bfloat16>&, const View<int64_t>&);
template BatchShape broadcast_batch(const std::vector<View<const float>>&,
                                    const std::vector<frontend::ArgInfo>&, const std::string&);
template BatchShape broadcast_batch(const std::vector<View<const double>>&,
                                    const std::vector<frontend::ArgInfo>&, const std::string&);
template BatchShape broadcast_batch(const std::vector<View<const keops::half>>&,
                                    const std::vector<frontend::ArgInfo>&, const std::string&);
template BatchShape broadcast_batch(const std::vector<View<const keops::bfloat16>>&,
                                    const std::vector<frontend::ArgInfo>&, const std::string&);
template std::vector<View<const float>> batch_element(const std::vector<View<const float>>&,
                                                      const BatchShape&, int64_t);
template std::vector<View<const double>> batch_element(const std::vector<View<const double>>&,
                                                       const BatchShape&, int64_t);
template std::vector<View<const keops::half>> batch_element(
    const std::vector<View<const keops::half>>&, const BatchShape&, int64_t);
template std::vector<View<const keops::bfloat16>> batch_element(
    const std::vector<View<const keops::bfloat16>>&, const BatchShape&, int64_t);
template View<float> output_element(const std::string&, const char*, const View<float>&,
                                    const BatchShape&, int64_t);
template View<double> output_element(const std::string&, const char*, const View<double>&,
                                     const BatchShape&, int64_t);
template View<keops::half> output_element(const std::string&, const char*, const View<keops::half>&,
                                          const BatchShape&, int64_t);
template View<keops::bfloat16> output_element(const std::string&, const char*,
                                              const View<keops::bfloat16>&, const BatchShape&,
                                              int64_t);
template View<int64_t> output_element(const std::string&, const char*, const View<int64_t>&,
                                      const BatchShape&, int64_t);

}  // namespace keops::detail
