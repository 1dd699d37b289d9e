// The GPU driver of a reduction (see gpu_reduce.h).
#include "runtime/cuda/gpu_reduce.h"

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "compiler/jit/ptx.h"
#include "compiler/support/check.h"
#include "keops/error.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/gpu_launch_plan.h"
#include "runtime/cuda/gpu_plan.h"
#include "runtime/cuda/launch.h"
#include "runtime/cuda/launch_args.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/module_cache.h"
#include "runtime/cuda/plan_cache.h"
#include "runtime/cuda/ptx_cache.h"
#include "runtime/cuda/stream.h"

namespace keops::runtime::cuda {
namespace {

// Threads per block of the merge kernel.
constexpr unsigned kMergeThreads = 256;

// The module cache's key of the merge kernel of the partial kernel whose key is run_key.
std::string merge_module_key(const std::string& run_key) { return run_key + "|merge"; }

// Its module on `device`, loaded on the first request. The merge reads each partial state
// once, so the driver's quickest JIT serves: the driver compiles one module at a time, and
// the partial kernel's first call waited for the merge's (attention_D64 at 2e4 on an H100:
// the merge module's JIT took 60-92 ms).
std::shared_ptr<const Module> merge_module_of(const lower::KernelPlan& run_plan,
                                              const std::string& run_key, int device) {
  return cached_module(
      merge_module_key(run_key), device, [&] { return cached_merge_ptx(run_plan); },
      JitEffort::Quick);
}

// What a run may take when Options::gpu_memory_limit is 0: the free memory less a margin
// for the driver and whoever else allocates meanwhile (a 16th of it, 256 MiB at least, but
// half of it at most: a GPU that a framework's cache nearly fills still runs, in chunks).
int64_t default_budget(int device) {
  const int64_t free = int64_t(memory_info(device).free);
  return free - std::min(std::max<int64_t>(free / 16, int64_t(256) << 20), free / 2);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The most threads per block that `kernel`'s registers allow and whose tiles, of
// shared_bytes_per_thread each, fit the shared memory a block may opt into beside its static
// shared memory.
int opt_in_block_threads(const KernelFunction& kernel, int64_t shared_bytes_per_thread) {
  const int64_t dynamic_shared = device_info(kernel.device).max_shared_per_block_optin -
                                 function_attribute(kernel, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
  return std::min(int(std::min<int64_t>(dynamic_shared / shared_bytes_per_thread, 1024)) / 32 * 32,
                  register_limited_threads(kernel));
}

// The merge kernel over params.out_rows output rows (codegen/nvptx_kernel.h): slots
// [0, n_slots) of the states folded, into the outputs with finalize != 0, else into slot 0;
// on the partial kernel's stream, as many column groups along grid.z.
void launch_merge(const KernelFunction& merge, const lower::KernelArgs& params,
                  const LaunchConfig& partial_config) {
  LaunchConfig config;
  config.block.x = kMergeThreads;
  config.grid.x = unsigned(ceil_div(params.out_rows, kMergeThreads));
  config.grid.z = partial_config.grid.z;
  config.stream = partial_config.stream;
  launch(merge, config, lower::merge_kernel_abi(), params);
}

}  // namespace

int device_sm(int device) {
  const DeviceInfo info = device_info(device);
  return info.compute_major * 10 + info.compute_minor;
}

int register_limited_threads(const KernelFunction& kernel) {
  return function_attribute(kernel, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK) / 32 * 32;
}

int dense_block_threads(const KernelFunction& kernel, DenseLaunchShape shape,
                        int64_t shared_bytes_per_thread) {
  // Sizes the registers allow, and that hold about as many threads per SM as the best. The
  // driver is asked once per kernel and size (a kernel's tile per thread never changes):
  // small reductions run in a fraction of a millisecond.
  static std::mutex mutex;
  static auto* asked = new std::map<std::pair<CUfunction, int>, int64_t>();
  auto resident = [&](int threads) -> int64_t {
    const std::lock_guard<std::mutex> lock(mutex);
    auto [at, fresh] = asked->try_emplace({kernel.handle, threads}, 0);
    if (fresh) {  // sizes stay within the register limit passed below
      // The occupancy of tiles past the default limit counts them once the kernel opts in.
      allow_dynamic_shared(kernel, shared_bytes_per_thread * threads);
      at->second =
          int64_t(resident_blocks(kernel, threads, shared_bytes_per_thread * threads)) * threads;
    }
    return at->second;
  };
  // Where wide tiles pay, a block may take the shared memory a second one would have had:
  // long pair bodies' registers hold few blocks anyway (attention_D64 at 1e5 on an H100: 142 ms
  // with the 192 threads that half the opt-in memory holds, 118 with 384).
  if (shape.wide_tiles_pay && shared_bytes_per_thread > 0)
    shape.max_block_threads =
        std::max(shape.max_block_threads, opt_in_block_threads(kernel, shared_bytes_per_thread));
  shape.max_block_threads = std::min(shape.max_block_threads, register_limited_threads(kernel));
  shape.multiprocessors = device_info(kernel.device).multiprocessors;
  shape.four_rows_pay = false;
  return plan_dense_launch(shape, resident).block_threads;
}

namespace {

// Where a run's arrays are and how its kernel varies: the request of gpu_launch_plan.h, with
// which arrays are used in place on the device.
struct RunPlacement {
  GpuRunRequest request;
  std::vector<char> in_place;  // per argument
  bool values_in_place = false, indices_in_place = false;
  bool queued = false;  // on the caller's stream, returning at once
};

template <class T>
RunPlacement place_run(const codegen::KernelSpec& spec, const lower::GpuLayout& layout, int device,
                       const ReductionArrays<T>& arrays, const GpuRunOptions& options) {
  const std::vector<View<const T>>& args = arrays.args;
  const View<T>& values = arrays.values;
  const View<int64_t>& indices = arrays.indices;
  RunPlacement p;
  GpuRunRequest& r = p.request;
  GpuRunShape& shape = r.shape;
  shape.out_rows = arrays.out_rows;
  shape.n_reduced = arrays.n_reduced;
  shape.block_threads = layout.block_threads;
  shape.multiprocessors = device_info(device).multiprocessors;
  shape.column_groups = layout.column_groups;
  shape.sparse = arrays.sparse != nullptr;
  shape.fixed = int64_t(args.size() * sizeof(CUdeviceptr));
  shape.state_row = layout.state_bytes();
  shape.keep_states = options.states_out != nullptr;
  // Where each array is: in place on the device, or on the host (copied a slice at a time).
  p.in_place.resize(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    const View<const T>& a = args[k];
    p.in_place[k] = in_device_memory(a.data, a.device, device);
    if (p.in_place[k]) continue;
    const int64_t row_bytes = a.cols * int64_t(sizeof(T));
    const ir::Cat cat = spec.args[k].cat;
    if (cat == ir::CatP)
      shape.fixed += a.rows * row_bytes;
    else if (cat == spec.outer_cat())
      shape.outer_row += row_bytes;
    else
      shape.inner_row += row_bytes;
  }
  p.values_in_place = in_device_memory(values.data, values.device, device);
  p.indices_in_place = in_device_memory(indices.data, indices.device, device);
  // On a caller's stream with every array in place, the run is queued there and returns at
  // once; otherwise it runs on the legacy stream after the caller's stream and waits.
  p.queued = options.stream != nullptr && (p.values_in_place || values.cols == 0) &&
             (p.indices_in_place || indices.cols == 0) && !options.states_out &&
             std::all_of(p.in_place.begin(), p.in_place.end(), [](char b) { return b != 0; });
  if (!p.values_in_place) shape.outer_row += values.cols * int64_t(sizeof(T));
  if (!p.indices_in_place) shape.outer_row += indices.cols * int64_t(sizeof(int64_t));
  r.layout = layout;
  r.sparse = arrays.sparse;
  r.budget = options.memory_limit > 0 ? options.memory_limit : default_budget(device);
  r.budget_source = options.memory_limit > 0
                        ? "Options::gpu_memory_limit"
                        : "the free memory of GPU " + std::to_string(device) + " less a margin";
  r.several_rows_pay = lower::several_rows_per_thread_pay(spec);
  // A split tail's slices are outputs: 16-bit ones would round each slice's sum.
  r.sum_may_split = spec.reduction.traits().family == ir::ReductionFamily::Sum &&
                    spec.sum_scheme != codegen::SumScheme::Kahan && !spec.float64_accumulator &&
                    spec.storage == codegen::Storage::Native;
  r.value_cols = values.cols;
  r.element_bytes = int(sizeof(T));
  r.arg_count = int64_t(args.size());
  return p;
}

// What the compiled kernel allows, asked of the driver.
KernelLimits kernel_limits(const KernelFunction& kernel, const lower::GpuLayout& layout,
                           int rows_per_thread) {
  KernelLimits limits;
  limits.register_limited_threads = register_limited_threads(kernel);
  limits.opt_in_threads = [&kernel](int64_t shared_bytes_per_thread) {
    return opt_in_block_threads(kernel, shared_bytes_per_thread);
  };
  limits.dense_threads = [&kernel, layout, rows_per_thread](int64_t rows) {
    return dense_block_threads(kernel,
                               {.rows = rows,
                                .column_groups = layout.column_groups,
                                .max_block_threads = layout.max_block_threads,
                                .wide_tiles_pay = layout.wide_tiles_pay,
                                .rows_per_thread = rows_per_thread},
                               layout.shared_bytes(1));
  };
  limits.resident_blocks = [&kernel, layout](int threads) {
    return int64_t(resident_blocks(kernel, threads, layout.shared_bytes(threads)));
  };
  return limits;
}

// The kernels a run launches: the reduction's, the 2-D scheme's merge, the tail's slice sum.
struct RunKernels {
  std::shared_ptr<const lower::KernelPlan> plan;  // the reduction kernel's
  KernelFunction kernel, merge, slice_sum;
};

// Everything planned and loaded before a run starts.
struct RunSchedule {
  RunPlacement placement;
  GpuVariant variant;
  GpuLaunch launch;
  RunKernels kernels;
};

// Runs one planned reduction: buffers first (a failed allocation leaves nothing), then each
// slice of output rows, each slice of reduced rows within it, then the results back.
template <class T>
class GpuRunExecutor {
 public:
  GpuRunExecutor(const codegen::KernelSpec& spec, int device, const ReductionArrays<T>& arrays,
                 const GpuRunOptions& options, const RunSchedule& schedule)
      : spec_(spec),
        device_(device),
        args_(arrays.args),
        values_(arrays.values),
        indices_(arrays.indices),
        options_(options),
        p_(schedule.placement),
        variant_(schedule.variant),
        launch_(schedule.launch),
        kernels_(schedule.kernels),
        stream_(schedule.placement.queued ? options.stream : nullptr),
        addresses_(arrays.args.size()) {}

  void run();

 private:
  DeviceBuffer buffer(size_t bytes) const {
    return p_.queued ? DeviceBuffer(device_, bytes, stream_) : DeviceBuffer(device_, bytes);
  }
  void allocate();
  void place(size_t k, int64_t first, int64_t rows);
  int64_t upload_items(int64_t r0, size_t& next_item);
  void run_reduced_slices(LaunchConfig& config, int64_t rows, CUdeviceptr values_at,
                          CUdeviceptr indices_at);
  void launch_split_tail(LaunchConfig config, int64_t rows, int64_t reduced, const TailSplit& tail,
                         CUdeviceptr values_at);
  void finish_rows(int64_t r0, int64_t rows);

  const codegen::KernelSpec& spec_;
  const int device_;
  const std::vector<View<const T>>& args_;
  View<T> values_;
  View<int64_t> indices_;
  const GpuRunOptions& options_;
  const RunPlacement& p_;
  const GpuVariant& variant_;
  const GpuLaunch& launch_;
  const RunKernels& kernels_;
  const CUstream stream_;
  DeviceBuffer table_, tail_slices_, value_copy_, index_copy_, states_, items_, ranges_;
  std::vector<DeviceBuffer> copies_;
  std::vector<CUdeviceptr> addresses_;  // of argument k's rows now placed
};

template <class T>
void GpuRunExecutor<T>::allocate() {
  const GpuRunPlan& plan = variant_.slices;
  const int64_t most_splits = launch_.most_splits;
  auto bytes_of = [](int64_t rows, int64_t cols, size_t size) {
    return size_t(rows * cols) * size;
  };
  // The arguments' addresses: one table, or one more per slice of a split tail.
  table_ =
      buffer(size_t(most_splits > 1 ? most_splits + 1 : 1) * args_.size() * sizeof(CUdeviceptr));
  tail_slices_ = buffer(most_splits > 1 ? size_t(launch_.slice_values) * sizeof(T) : 0);
  copies_.resize(args_.size());
  for (size_t k = 0; k < args_.size(); ++k) {
    if (p_.in_place[k]) continue;
    const ir::Cat cat = spec_.args[k].cat;
    const int64_t rows = cat == ir::CatP            ? args_[k].rows
                         : cat == spec_.outer_cat() ? plan.rows
                                                    : std::min(plan.reduced, args_[k].rows);
    copies_[k] = DeviceBuffer(device_, bytes_of(rows, args_[k].cols, sizeof(T)));
  }
  value_copy_ =
      DeviceBuffer(device_, p_.values_in_place ? 0 : bytes_of(plan.rows, values_.cols, sizeof(T)));
  index_copy_ = DeviceBuffer(
      device_, p_.indices_in_place ? 0 : bytes_of(plan.rows, indices_.cols, sizeof(int64_t)));
  states_ = buffer(
      plan.partial ? size_t(plan.rows * plan.slot_stride * p_.request.layout.state_bytes()) : 0);
  items_ = buffer(variant_.items.items.size() * sizeof(SparseItem));
  ranges_ = buffer(variant_.items.ranges.size() * sizeof(int64_t));
  if (!variant_.items.ranges.empty())
    ranges_.upload_async(variant_.items.ranges.data(), ranges_.bytes(), stream_);
}

// The address of argument k's rows [first, first + rows) on the device, copied if need be.
template <class T>
void GpuRunExecutor<T>::place(size_t k, int64_t first, int64_t rows) {
  const size_t row_bytes = size_t(args_[k].cols) * sizeof(T);
  if (p_.in_place[k]) {
    addresses_[k] = address_of(args_[k].data) + CUdeviceptr(size_t(first) * row_bytes);
    return;
  }
  if (rows > 0) copies_[k].upload(args_[k].data + first * args_[k].cols, size_t(rows) * row_bytes);
  addresses_[k] = copies_[k].address();
}

// A block-sparse slice's work items from next_item on, whole items up to the slice's rows;
// returns the rows they cover.
template <class T>
int64_t GpuRunExecutor<T>::upload_items(int64_t r0, size_t& next_item) {
  std::vector<SparseItem> slice;
  const std::vector<SparseItem>& items = variant_.items.items;
  while (next_item < items.size() && items[next_item].end - r0 <= variant_.slices.rows) {
    SparseItem item = items[next_item++];
    item.begin -= r0;
    item.end -= r0;
    slice.push_back(item);
  }
  KEOPS_CHECK(!slice.empty(), "a row slice narrower than its first work item");
  items_.upload_async(slice.data(), slice.size() * sizeof(SparseItem), stream_);
  return slice.back().end;
}

template <class T>
void GpuRunExecutor<T>::run() {
  allocate();
  const GpuRunPlan& plan = variant_.slices;
  for (size_t k = 0; k < args_.size(); ++k)
    if (spec_.args[k].cat == ir::CatP) place(k, 0, args_[k].rows);
  LaunchConfig config;
  config.block.x = unsigned(launch_.block_threads);
  config.grid.z = unsigned(std::min(p_.request.layout.column_groups, kMaxGridZ));
  config.dynamic_shared_bytes = unsigned(p_.request.layout.shared_bytes(launch_.block_threads));
  config.stream = stream_;
  size_t next_item = 0;
  for (int64_t r0 = 0; r0 < p_.request.shape.out_rows;) {
    // This slice's rows: plan.rows, or whole items up to that many.
    int64_t rows = std::min(plan.rows, p_.request.shape.out_rows - r0);
    const size_t first_item = next_item;
    if (variant_.sparse) rows = upload_items(r0, next_item);
    for (size_t k = 0; k < args_.size(); ++k)
      if (spec_.args[k].cat == spec_.outer_cat()) place(k, r0, rows);
    const CUdeviceptr values_at =
        p_.values_in_place
            ? address_of(values_.data) + CUdeviceptr(size_t(r0 * values_.cols) * sizeof(T))
            : value_copy_.address();
    const CUdeviceptr indices_at =
        p_.indices_in_place
            ? address_of(indices_.data) + CUdeviceptr(size_t(r0 * indices_.cols) * sizeof(int64_t))
            : index_copy_.address();
    config.grid.x = unsigned(
        variant_.sparse ? next_item - first_item
                        : size_t((rows + launch_.rows_per_block - 1) / launch_.rows_per_block));
    run_reduced_slices(config, rows, values_at, indices_at);
    if (!p_.queued) finish_rows(r0, rows);
    r0 += rows;
  }
}

// The reduced rows of one slice of output rows, a slice at a time: a split tail, a whole
// kernel, or the 2-D scheme's splits into their slots then the slots merged (into slot 0
// while more reduced rows follow, into the outputs after the last).
template <class T>
void GpuRunExecutor<T>::run_reduced_slices(LaunchConfig& config, int64_t rows,
                                           CUdeviceptr values_at, CUdeviceptr indices_at) {
  const GpuRunPlan& plan = variant_.slices;
  const int64_t n_reduced = p_.request.shape.n_reduced;
  const lower::KernelAbi& abi = kernels_.plan->abi;
  for (int64_t j0 = 0;;) {
    const int64_t reduced = std::min(plan.reduced, n_reduced - j0);
    for (size_t k = 0; k < args_.size(); ++k)
      if (spec_.args[k].cat == spec_.inner_cat()) place(k, j0, std::min(reduced, args_[k].rows));
    const TailSplit tail =
        launch_.most_splits > 1 ? launch_.tail_split(p_.request, variant_, rows) : TailSplit{};
    if (tail.splits == 1 && !addresses_.empty())
      table_.upload_async(addresses_.data(), addresses_.size() * sizeof(CUdeviceptr), stream_);
    lower::KernelArgs params;
    params.out_rows = rows;
    params.n_reduced = reduced;
    params.arg_table = table_.address();
    if (tail.splits > 1) {
      launch_split_tail(config, rows, reduced, tail, values_at);
    } else if (!plan.partial) {
      params.values = values_at;
      params.indices = indices_at;
      params.items = items_.address();
      params.ranges = ranges_.address();
      config.grid.y = 1;
      launch(kernels_.kernel, config, abi, params);
    } else {
      params.states = states_.address();
      params.split_len = std::max<int64_t>(1, (reduced + plan.splits - 1) / plan.splits);
      params.first_slot = j0 == 0 ? 0 : 1;
      params.index_base = options_.index_offset + j0;
      config.grid.y = unsigned(plan.splits);
      launch(kernels_.kernel, config, abi, params);
      lower::KernelArgs merge;
      merge.out_rows = rows;
      merge.states = params.states;
      merge.n_slots = params.first_slot + plan.splits;
      merge.values = values_at;
      merge.indices = indices_at;
      merge.finalize = j0 + reduced >= n_reduced && !options_.states_out ? 1 : 0;
      launch_merge(kernels_.merge, merge, config);
    }
    j0 += reduced;
    if (j0 >= n_reduced) break;
  }
}

// A dense sum with its tail split (gpu_plan.h) on concurrent streams: the whole blocks, and
// for each slice of the reduced axis, the tail's rows into its own output in the tail slices
// buffer (tail rows x value_cols values each, slice after slice). The run's stream
// (config.stream) then sums the slices into the tail's output rows, after all of them.
// Slices are whole tiles (a tile is a block's threads' reduced rows), the last one shorter.
template <class T>
void GpuRunExecutor<T>::launch_split_tail(LaunchConfig config, int64_t rows, int64_t reduced,
                                          const TailSplit& tail, CUdeviceptr values_at) {
  const int64_t tile = config.block.x;
  const int64_t whole_rows = std::min(rows, tail.whole_blocks * launch_.rows_per_block);
  const int64_t tail_rows = rows - whole_rows;
  const int64_t slice_len =
      std::max<int64_t>(1, ((reduced + tail.splits - 1) / tail.splits + tile - 1) / tile * tile);
  const int64_t n_slices = (reduced + slice_len - 1) / slice_len;
  const int64_t value_cols = values_.cols;
  const size_t n = addresses_.size();
  std::vector<CUdeviceptr> tables(addresses_);
  for (int64_t s = 0; s < n_slices; ++s)
    for (size_t k = 0; k < n; ++k) {
      const ir::Cat cat = spec_.args[k].cat;
      const int64_t first_row = cat == spec_.outer_cat()   ? whole_rows
                                : cat == spec_.inner_cat() ? s * slice_len
                                                           : 0;
      tables.push_back(addresses_[k] + CUdeviceptr(first_row * args_[k].cols * int64_t(sizeof(T))));
    }
  const CUstream run_stream = config.stream;
  if (!tables.empty())
    table_.upload_async(tables.data(), tables.size() * sizeof(CUdeviceptr), run_stream);
  const int device = kernels_.kernel.device;
  const std::vector<CUstream> streams = concurrent_streams(device, int(n_slices) + 1);
  // (Blocking streams keep the legacy stream's order by themselves; a caller's stream needs
  // waits both ways.)
  if (run_stream != nullptr)
    for (const CUstream concurrent : streams) stream_wait(device, concurrent, run_stream);
  const lower::KernelAbi dense_abi = lower::reduction_kernel_abi(codegen::GpuScheme::Dense);
  // The whole blocks first: blocks start in launch order, and the slices' fill the last wave.
  if (whole_rows > 0) {
    lower::KernelArgs params;
    params.out_rows = whole_rows;
    params.n_reduced = reduced;
    params.arg_table = table_.address();
    params.values = values_at;
    config.grid.x = unsigned(tail.whole_blocks);
    config.stream = streams[0];
    launch(kernels_.kernel, config, dense_abi, params);
  }
  config.grid.x = unsigned((tail_rows + launch_.rows_per_block - 1) / launch_.rows_per_block);
  const CUdeviceptr slices = tail_slices_.address();
  for (int64_t s = 0; s < n_slices; ++s) {
    lower::KernelArgs params;
    params.out_rows = tail_rows;
    params.n_reduced = std::min(slice_len, reduced - s * slice_len);
    params.arg_table = table_.address() + CUdeviceptr(size_t(s + 1) * n * sizeof(CUdeviceptr));
    params.values = slices + CUdeviceptr(s * tail_rows * value_cols * int64_t(sizeof(T)));
    config.stream = streams[size_t(s + 1)];
    launch(kernels_.kernel, config, dense_abi, params);
  }
  lower::KernelArgs params;
  params.count = tail_rows * value_cols;
  params.slices = slices;
  params.n_slices = n_slices;
  params.values = values_at + CUdeviceptr(whole_rows * value_cols * int64_t(sizeof(T)));
  if (run_stream != nullptr)
    for (const CUstream concurrent : streams) stream_wait(device, run_stream, concurrent);
  LaunchConfig sum_config;
  sum_config.block.x = kMergeThreads;
  sum_config.grid.x = unsigned(ceil_div(params.count, kMergeThreads));
  sum_config.stream = run_stream;
  launch(kernels_.slice_sum, sum_config, lower::slice_sum_kernel_abi(), params);
}

// A waited-for run's slice of output rows: its results (or states) back to the host.
template <class T>
void GpuRunExecutor<T>::finish_rows(int64_t r0, int64_t rows) {
  synchronize(device_);
  const int64_t state_bytes = p_.request.layout.state_bytes();
  if (options_.states_out) {
    states_.download(static_cast<char*>(options_.states_out) + r0 * state_bytes,
                     size_t(rows * state_bytes));
    return;
  }
  if (!p_.values_in_place)
    value_copy_.download(values_.data + r0 * values_.cols, size_t(rows * values_.cols) * sizeof(T));
  if (!p_.indices_in_place)
    index_copy_.download(indices_.data + r0 * indices_.cols,
                         size_t(rows * indices_.cols) * sizeof(int64_t));
}

// The run's kernels for its variant, compiled (or found) and loaded on `device`. The 2-D
// scheme's merge kernel compiles on another thread meanwhile: a first call waits for the
// longer of the two, not for both. Later calls find it loaded and start no thread (a thread
// took 0.3 ms, gauss_sum_D3 at 1e4 0.2 ms).
RunKernels load_kernels(const codegen::KernelSpec& spec, const std::string& key,
                        const std::shared_ptr<const lower::KernelPlan>& spec_plan, int device,
                        const GpuVariant& variant) {
  codegen::KernelSpec run_spec = spec;
  codegen::GpuTarget& target = run_spec.gpu();
  target.scheme = variant.sparse           ? codegen::GpuScheme::BlockSparse
                  : variant.slices.partial ? codegen::GpuScheme::Partial
                                           : codegen::GpuScheme::Dense;
  target.rows_per_thread = variant.dense.rows_per_thread;
  const bool spec_runs =
      target.scheme == spec.gpu().scheme && target.rows_per_thread == spec.gpu().rows_per_thread;
  const std::string run_key = spec_runs ? key : run_spec.key();
  RunKernels k;
  k.plan = spec_runs ? spec_plan : cached_plan(run_spec, run_key);
  std::future<std::shared_ptr<const Module>> merge_module;
  if (variant.slices.partial)
    merge_module =
        std::async(module_cached(merge_module_key(run_key), device) ? std::launch::deferred
                                                                    : std::launch::async,
                   [&] { return merge_module_of(*k.plan, run_key, device); });
  const auto module = cached_module(run_key, device, [&] { return cached_ptx(*k.plan); });
  const std::string symbol = jit::gpu_kernel_symbol(run_spec);
  k.kernel = module->function(symbol);
  if (variant.slices.partial)
    k.merge = merge_module.get()->function(lower::merge_kernel_name(symbol));
  return k;
}

// The slice sum of a split tail's outputs.
KernelFunction slice_sum_kernel(const codegen::KernelSpec& spec, int device) {
  return cached_module(
             jit::gpu_slice_sum_symbol(spec.dtype), device,
             [&] { return cached_slice_sum_ptx(spec.dtype, spec.gpu().sm); }, JitEffort::Quick)
      ->function(jit::gpu_slice_sum_symbol(spec.dtype));
}

}  // namespace

template <class T>
void run_gpu_reduction(const codegen::KernelSpec& spec, int device,
                       const ReductionArrays<T>& arrays, const GpuRunOptions& options,
                       const GpuLaunchKnobs& forced) {
  if (arrays.out_rows == 0) return;
  if (options.memory_limit < 0)
    throw Error("running on GPU " + std::to_string(device) +
                ": Options::gpu_memory_limit must be >= 0 (0: what the GPU has free), not " +
                std::to_string(options.memory_limit));
  ContextGuard guard(device);
  const std::string key = spec.key();
  const std::shared_ptr<const lower::KernelPlan> spec_plan = cached_plan(spec, key);
  RunSchedule s;
  s.placement = place_run(spec, spec_plan->gpu, device, arrays, options);
  s.placement.request.knobs = forced;
  s.placement.request.shape.splits = forced.splits;
  if (!s.placement.queued) wait_for_stream(device, options.stream);
  s.variant = plan_variant(s.placement.request);
  s.kernels = load_kernels(spec, key, spec_plan, device, s.variant);
  s.launch =
      plan_launch(s.placement.request, s.variant,
                  kernel_limits(s.kernels.kernel, spec_plan->gpu, s.variant.dense.rows_per_thread));
  if (s.launch.most_splits > 1) s.kernels.slice_sum = slice_sum_kernel(spec, device);
  GpuRunExecutor<T>(spec, device, arrays, options, s).run();
}

namespace {

// Where a merge of partial states goes: the outputs (finalized), or, where merged_state is
// given, into it, the merged states (as one slot).
template <class T>
struct MergedInto {
  View<T> values;
  View<int64_t> indices;
  std::vector<char>* merged_state = nullptr;
};

// The merge kernel of spec's partial runs over `slots` (host blocks of out_rows states, folded
// in order) on `device`, into `into`.
template <class T>
void launch_state_merge(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                        const std::vector<std::vector<char>>& slots, const MergedInto<T>& into) {
  const View<T>& values = into.values;
  const View<int64_t>& indices = into.indices;
  std::vector<char>* merged_state = into.merged_state;
  ContextGuard guard(device);
  codegen::KernelSpec run_spec = spec;  // the partial runs' spec, whose merge kernel this is
  run_spec.gpu().scheme = codegen::GpuScheme::Partial;
  run_spec.gpu().rows_per_thread = 1;
  const std::string run_key = run_spec.key();
  const std::shared_ptr<const lower::KernelPlan> run_plan = cached_plan(run_spec, run_key);
  const lower::GpuLayout& layout = run_plan->gpu;
  const size_t slot_bytes = size_t(out_rows * layout.state_bytes());
  const KernelFunction merge =
      merge_module_of(*run_plan, run_key, device)
          ->function(lower::merge_kernel_name(jit::gpu_kernel_symbol(run_spec)));
  const bool finalize = merged_state == nullptr;
  const bool values_in_place = !finalize || in_device_memory(values.data, values.device, device);
  const bool indices_in_place = !finalize || in_device_memory(indices.data, indices.device, device);
  DeviceBuffer states(device, slots.size() * slot_bytes);
  DeviceBuffer value_copy(device, values_in_place ? 0 : size_t(out_rows * values.cols) * sizeof(T));
  DeviceBuffer index_copy(device,
                          indices_in_place ? 0 : size_t(out_rows * indices.cols) * sizeof(int64_t));
  for (size_t s = 0; s < slots.size(); ++s) {
    KEOPS_CHECK(slots[s].size() == slot_bytes, "a slot of partial states of another size");
    states.upload(slots[s].data(), slot_bytes, s * slot_bytes);
  }
  LaunchConfig partial_config;
  partial_config.grid.z = unsigned(std::min(layout.column_groups, kMaxGridZ));
  lower::KernelArgs params;
  params.out_rows = out_rows;
  params.states = states.address();
  params.n_slots = int64_t(slots.size());
  params.values = !finalize ? 0 : values_in_place ? address_of(values.data) : value_copy.address();
  params.indices = !finalize          ? 0
                   : indices_in_place ? address_of(indices.data)
                                      : index_copy.address();
  params.finalize = finalize ? 1 : 0;
  launch_merge(merge, params, partial_config);
  synchronize(device);
  if (!finalize) {
    merged_state->resize(slot_bytes);
    states.download(merged_state->data(), slot_bytes);  // slot 0
    return;
  }
  if (!values_in_place) value_copy.download(values.data, value_copy.bytes());
  if (!indices_in_place) index_copy.download(indices.data, index_copy.bytes());
}

}  // namespace

template <class T>
void merge_gpu_states(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                      const std::vector<std::vector<char>>& slots, View<T> values,
                      View<int64_t> indices) {
  if (out_rows == 0) return;
  launch_state_merge<T>(spec, device, out_rows, slots, {values, indices});
}

std::vector<char> merge_gpu_states(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                                   const std::vector<std::vector<char>>& slots) {
  std::vector<char> merged;
  if (out_rows == 0) return merged;
  // The merge kernel's values are of spec's dtype; with no outputs, any such T.
  if (spec.dtype == ir::DType::F32)
    launch_state_merge<float>(spec, device, out_rows, slots, {{}, {}, &merged});
  else
    launch_state_merge<double>(spec, device, out_rows, slots, {{}, {}, &merged});
  return merged;
}

size_t partial_state_bytes(const codegen::KernelSpec& spec) {
  return size_t(cached_plan(spec)->gpu.state_bytes());
}

template void merge_gpu_states<float>(const codegen::KernelSpec&, int, int64_t,
                                      const std::vector<std::vector<char>>&, View<float>,
                                      View<int64_t>);
template void merge_gpu_states<double>(const codegen::KernelSpec&, int, int64_t,
                                       const std::vector<std::vector<char>>&, View<double>,
                                       View<int64_t>);
template void merge_gpu_states<keops::half>(const codegen::KernelSpec&, int, int64_t,
                                            const std::vector<std::vector<char>>&,
                                            View<keops::half>, View<int64_t>);
template void merge_gpu_states<keops::bfloat16>(const codegen::KernelSpec&, int, int64_t,
                                                const std::vector<std::vector<char>>&,
                                                View<keops::bfloat16>, View<int64_t>);

template void run_gpu_reduction<float>(const codegen::KernelSpec&, int,
                                       const ReductionArrays<float>&, const GpuRunOptions&,
                                       const GpuLaunchKnobs&);
template void run_gpu_reduction<double>(const codegen::KernelSpec&, int,
                                        const ReductionArrays<double>&, const GpuRunOptions&,
                                        const GpuLaunchKnobs&);
template void run_gpu_reduction<keops::half>(const codegen::KernelSpec&, int,
                                             const ReductionArrays<keops::half>&,
                                             const GpuRunOptions&, const GpuLaunchKnobs&);
template void run_gpu_reduction<keops::bfloat16>(const codegen::KernelSpec&, int,
                                                 const ReductionArrays<keops::bfloat16>&,
                                                 const GpuRunOptions&, const GpuLaunchKnobs&);

}  // namespace keops::runtime::cuda
