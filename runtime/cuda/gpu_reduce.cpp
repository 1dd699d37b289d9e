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

// Threads per block of the 2-D scheme's partial kernels where wide tiles pay (H100, 1e4 x 1e6:
// knn_D64 88.6 -> 76.7 ms, gauss_D64_E16 93.6 -> 82.3 with 384 instead of 256; attention_D64
// at 2e4: 8.2 -> 7.0 ms with 256 or 384 instead of 192). Their splits are planned for the
// layout's blocks.
constexpr int kWidePartialThreads = 384;

// The most threads per block that `kernel`'s registers allow and whose tiles, of
// shared_bytes_per_thread each, fit the shared memory a block may opt into beside its static
// shared memory.
int opt_in_block_threads(const KernelFunction& kernel, int64_t shared_bytes_per_thread) {
  const int64_t dynamic_shared = device_info(kernel.device).max_shared_per_block_optin -
                                 function_attribute(kernel, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
  return std::min(int(std::min<int64_t>(dynamic_shared / shared_bytes_per_thread, 1024)) / 32 * 32,
                  register_limited_threads(kernel));
}

// The merge kernel over `rows` output rows (codegen/nvptx_kernel.h): slots [0, n_slots) of
// `states` folded, into the outputs with finalize != 0, else into slot 0; on the partial
// kernel's stream, as many column groups along grid.z.
void launch_merge(const KernelFunction& merge, int64_t rows, CUdeviceptr states, int64_t n_slots,
                  CUdeviceptr values, CUdeviceptr indices, int64_t finalize,
                  const LaunchConfig& partial_config) {
  lower::KernelArgs params;
  params.out_rows = rows;
  params.states = states;
  params.n_slots = n_slots;
  params.values = values;
  params.indices = indices;
  params.finalize = finalize;
  LaunchConfig config;
  config.block.x = kMergeThreads;
  config.grid.x = unsigned(ceil_div(rows, kMergeThreads));
  config.grid.z = partial_config.grid.z;
  config.stream = partial_config.stream;
  launch(merge, config, lower::merge_kernel_abi(), params);
}

// A dense launch over `rows` output rows and `reduced` reduced rows, its tail split.
struct SplitLaunch {
  int64_t rows, reduced;
  TailSplit tail;
  int64_t rows_per_block;
};

// Runs a dense sum with its tail split (gpu_plan.h) on concurrent streams: the whole blocks,
// and for each slice of the reduced axis, the tail's rows into its own output in `slices`
// (tail rows x value_cols values each, slice after slice). The run's stream (config.stream)
// then sums the slices into the tail's output rows, after all of them. Slices are whole tiles
// (a tile is a block's threads' reduced rows), the last one shorter; `table` takes the
// arguments' addresses for each launch.
template <class T>
void launch_split_tail(const KernelFunction& kernel, const KernelFunction& slice_sum,
                       LaunchConfig config, const SplitLaunch& split,
                       const std::vector<CUdeviceptr>& addresses, const codegen::KernelSpec& spec,
                       const std::vector<View<const T>>& args, DeviceBuffer& table,
                       CUdeviceptr values, int64_t value_cols, CUdeviceptr slices) {
  const int64_t tile = config.block.x;
  int64_t whole_rows = std::min(split.rows, split.tail.whole_blocks * split.rows_per_block);
  int64_t tail_rows = split.rows - whole_rows;
  const int64_t slice_len =
      std::max<int64_t>(1, ceil_div(ceil_div(split.reduced, split.tail.splits), tile) * tile);
  int64_t n_slices = ceil_div(split.reduced, slice_len);
  const size_t n = addresses.size();
  std::vector<CUdeviceptr> tables(addresses);
  for (int64_t s = 0; s < n_slices; ++s)
    for (size_t k = 0; k < n; ++k) {
      const ir::Cat cat = spec.args[k].cat;
      const int64_t first_row = cat == spec.outer_cat()   ? whole_rows
                                : cat == spec.inner_cat() ? s * slice_len
                                                          : 0;
      tables.push_back(addresses[k] + CUdeviceptr(first_row * args[k].cols * int64_t(sizeof(T))));
    }
  const CUstream run_stream = config.stream;
  if (!tables.empty())
    table.upload_async(tables.data(), tables.size() * sizeof(CUdeviceptr), run_stream);
  const std::vector<CUstream> streams = concurrent_streams(kernel.device, int(n_slices) + 1);
  // (Blocking streams keep the legacy stream's order by themselves; a caller's stream needs
  // waits both ways.)
  if (run_stream != nullptr)
    for (const CUstream concurrent : streams) stream_wait(kernel.device, concurrent, run_stream);
  const lower::KernelAbi dense_abi = lower::reduction_kernel_abi(false, false);
  // The whole blocks first: blocks start in launch order, and the slices' fill the last wave.
  if (whole_rows > 0) {
    lower::KernelArgs params;
    params.out_rows = whole_rows;
    params.n_reduced = split.reduced;
    params.arg_table = table.address();
    params.values = values;
    config.grid.x = unsigned(split.tail.whole_blocks);
    config.stream = streams[0];
    launch(kernel, config, dense_abi, params);
  }
  config.grid.x = unsigned(ceil_div(tail_rows, split.rows_per_block));
  for (int64_t s = 0; s < n_slices; ++s) {
    lower::KernelArgs params;
    params.out_rows = tail_rows;
    params.n_reduced = std::min(slice_len, split.reduced - s * slice_len);
    params.arg_table = table.address() + CUdeviceptr(size_t(s + 1) * n * sizeof(CUdeviceptr));
    params.values = slices + CUdeviceptr(s * tail_rows * value_cols * int64_t(sizeof(T)));
    config.stream = streams[size_t(s + 1)];
    launch(kernel, config, dense_abi, params);
  }
  lower::KernelArgs params;
  params.count = tail_rows * value_cols;
  params.slices = slices;
  params.n_slices = n_slices;
  params.values = values + CUdeviceptr(whole_rows * value_cols * int64_t(sizeof(T)));
  if (run_stream != nullptr)
    for (const CUstream concurrent : streams) stream_wait(kernel.device, run_stream, concurrent);
  LaunchConfig sum_config;
  sum_config.block.x = kMergeThreads;
  sum_config.grid.x = unsigned(ceil_div(params.count, kMergeThreads));
  sum_config.stream = run_stream;
  launch(slice_sum, sum_config, lower::slice_sum_kernel_abi(), params);
}

}  // namespace

int device_sm(int device) {
  const DeviceInfo info = device_info(device);
  return info.compute_major * 10 + info.compute_minor;
}

int register_limited_threads(const KernelFunction& kernel) {
  return function_attribute(kernel, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK) / 32 * 32;
}

int dense_block_threads(const KernelFunction& kernel, int64_t rows, int column_groups,
                        int max_block_threads, int64_t shared_bytes_per_thread, int rows_per_thread,
                        bool wide_tiles_pay) {
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
  const int register_limit = register_limited_threads(kernel);
  const DeviceInfo info = device_info(kernel.device);
  // Where wide tiles pay, a block may take the shared memory a second one would have had:
  // long pair bodies' registers hold few blocks anyway (attention_D64 at 1e5 on an H100: 142 ms
  // with the 192 threads that half the opt-in memory holds, 118 with 384).
  if (wide_tiles_pay && shared_bytes_per_thread > 0)
    max_block_threads =
        std::max(max_block_threads, opt_in_block_threads(kernel, shared_bytes_per_thread));
  return plan_dense_launch(rows, info.multiprocessors, column_groups,
                           std::min(max_block_threads, register_limit), false, resident,
                           rows_per_thread, wide_tiles_pay)
      .block_threads;
}

template <class T>
void run_gpu_reduction(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                       int64_t n_reduced, const std::vector<View<const T>>& args, View<T> values,
                       View<int64_t> indices, const SparseAxis* sparse,
                       const GpuRunOptions& options) {
  if (out_rows == 0) return;
  if (options.memory_limit < 0)
    throw Error("running on GPU " + std::to_string(device) +
                ": Options::gpu_memory_limit must be >= 0 (0: what the GPU has free), not " +
                std::to_string(options.memory_limit));
  ContextGuard guard(device);
  const std::string key = spec.key();
  const std::shared_ptr<const lower::KernelPlan> spec_plan = cached_plan(spec, key);
  const lower::GpuLayout& layout = spec_plan->gpu;
  const int64_t bt = layout.block_threads;

  // Where each array is: in place on the device, or on the host (copied a slice at a time).
  GpuRunShape shape;
  shape.out_rows = out_rows;
  shape.n_reduced = n_reduced;
  shape.block_threads = layout.block_threads;
  shape.multiprocessors = device_info(device).multiprocessors;
  shape.column_groups = layout.column_groups;
  shape.sparse = sparse != nullptr;
  shape.splits = options.splits;
  shape.fixed = int64_t(args.size() * sizeof(CUdeviceptr));
  shape.state_row = layout.state_bytes();
  shape.keep_states = options.states_out != nullptr;
  std::vector<char> in_place(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    const View<const T>& a = args[k];
    in_place[k] = in_device_memory(a.data, a.device, device);
    if (in_place[k]) continue;
    const int64_t row_bytes = a.cols * int64_t(sizeof(T));
    const ir::Cat cat = spec.args[k].cat;
    if (cat == ir::CatP)
      shape.fixed += a.rows * row_bytes;
    else if (cat == spec.outer_cat())
      shape.outer_row += row_bytes;
    else
      shape.inner_row += row_bytes;
  }
  const bool values_in_place = in_device_memory(values.data, values.device, device);
  const bool indices_in_place = in_device_memory(indices.data, indices.device, device);
  // On a caller's stream with every array in place, the run is queued there and returns at
  // once; otherwise it runs on the legacy stream after the caller's stream and waits.
  const bool queued = options.stream != nullptr && (values_in_place || values.cols == 0) &&
                      (indices_in_place || indices.cols == 0) && !options.states_out &&
                      std::all_of(in_place.begin(), in_place.end(), [](bool b) { return b; });
  if (!queued) wait_for_stream(device, options.stream);
  const CUstream stream = queued ? options.stream : nullptr;
  auto buffer = [&](size_t bytes) {
    return queued ? DeviceBuffer(device, bytes, stream) : DeviceBuffer(device, bytes);
  };
  if (!values_in_place) shape.outer_row += values.cols * int64_t(sizeof(T));
  if (!indices_in_place) shape.outer_row += indices.cols * int64_t(sizeof(int64_t));
  SparsePlan items_plan;
  if (sparse) {
    // One block per item: items of at most block_threads rows, each within one cluster.
    // (Narrower blocks for small clusters measured slower on an H100: more tiles staged.)
    items_plan = plan_sparse(*sparse, out_rows, bt, 0);
    shape.fixed += int64_t(items_plan.items.size() * sizeof(SparseItem) +
                           items_plan.ranges.size() * sizeof(int64_t));
  }
  const int64_t budget = options.memory_limit > 0 ? options.memory_limit : default_budget(device);
  const GpuRunPlan plan =
      plan_gpu_run(shape, budget,
                   options.memory_limit > 0
                       ? "Options::gpu_memory_limit"
                       : "the free memory of GPU " + std::to_string(device) + " less a margin");
  // Row slices narrower than a block cut the items to their width.
  if (sparse && plan.rows < bt) items_plan = plan_sparse(*sparse, out_rows, plan.rows, 0);

  codegen::KernelSpec run_spec = spec;
  run_spec.gpu_block_sparse = sparse != nullptr;
  run_spec.gpu_partial = plan.partial;
  DenseLaunch dense{1, layout.block_threads};
  if (!sparse && !plan.partial)
    dense = plan_dense_launch(plan.rows, shape.multiprocessors, layout.column_groups,
                              layout.max_block_threads, lower::several_rows_per_thread_pay(spec));
  if (options.rows_per_thread > 0) dense.rows_per_thread = options.rows_per_thread;
  run_spec.gpu_rows_per_thread = dense.rows_per_thread;
  // The 2-D scheme's merge kernel compiles on another thread meanwhile: a first call waits
  // for the longer of the two, not for both. Later calls find it loaded and start no thread
  // (a thread took 0.3 ms, gauss_sum_D3 at 1e4 0.2 ms).
  const bool spec_runs = run_spec.gpu_block_sparse == spec.gpu_block_sparse &&
                         run_spec.gpu_partial == spec.gpu_partial &&
                         run_spec.gpu_rows_per_thread == spec.gpu_rows_per_thread;
  const std::string run_key = spec_runs ? key : run_spec.key();
  const std::shared_ptr<const lower::KernelPlan> run_plan =
      spec_runs ? spec_plan : cached_plan(run_spec, run_key);
  std::future<std::shared_ptr<const Module>> merge_module;
  if (plan.partial)
    merge_module =
        std::async(module_cached(merge_module_key(run_key), device) ? std::launch::deferred
                                                                    : std::launch::async,
                   [&] { return merge_module_of(*run_plan, run_key, device); });
  const auto module = cached_module(run_key, device, [&] { return cached_ptx(*run_plan); });
  const std::string symbol = jit::gpu_kernel_symbol(run_spec);
  const KernelFunction kernel = module->function(symbol);
  const KernelFunction merge = plan.partial
                                   ? merge_module.get()->function(lower::merge_kernel_name(symbol))
                                   : KernelFunction{};

  LaunchConfig config;
  // The block size, now that the kernel's registers are known.
  int launch_threads = layout.block_threads;
  if (!sparse && !plan.partial)
    launch_threads = options.block_threads > 0
                         ? std::min(options.block_threads, register_limited_threads(kernel))
                         : dense_block_threads(kernel, plan.rows, layout.column_groups,
                                               layout.max_block_threads, layout.shared_bytes(1),
                                               dense.rows_per_thread, layout.wide_tiles_pay);
  else if (plan.partial && layout.wide_tiles_pay && layout.shared_bytes(1) > 0)
    launch_threads = std::max(
        launch_threads,
        std::min(kWidePartialThreads, opt_in_block_threads(kernel, layout.shared_bytes(1))));
  const int64_t rows_per_block = int64_t(launch_threads) * dense.rows_per_thread;

  // Dense sums split their tail (gpu_plan.h) where the slices' outputs fit the budget. Not
  // sums asked for more accuracy (Kahan, float64 accumulators), whose slices would be rounded
  // to T and summed without compensation; nor long outputs, whose column groups are blocks of
  // their own.
  const bool tail_may_split = !sparse && !plan.partial && layout.column_groups == 1 &&
                              spec.reduction.traits().family == ir::ReductionFamily::Sum &&
                              spec.sum_scheme != codegen::SumScheme::Kahan &&
                              !spec.float64_accumulator && options.tail_splits != 1;
  // (A split needs a whole wave first: smaller launches skip the occupancy query.)
  const int64_t resident =
      !tail_may_split             ? 0
      : options.tail_resident > 0 ? options.tail_resident
      : ceil_div(plan.rows, rows_per_block) <= shape.multiprocessors
          ? 0
          : int64_t(resident_blocks(kernel, launch_threads, layout.shared_bytes(launch_threads))) *
                shape.multiprocessors;
  auto tail_split_of = [&](int64_t rows) {
    const int64_t blocks = ceil_div(rows, rows_per_block);
    if (resident > 0 && options.tail_splits > 1 && blocks % resident > 0)
      return TailSplit{blocks - blocks % resident, options.tail_splits};
    return plan_tail_split(blocks, resident, plan.reduced);
  };
  // Slices of plan.rows output rows, the last one shorter: the buffers hold either's.
  int64_t most_splits = 1, slice_values = 0;
  for (const int64_t rows : {plan.rows, out_rows % plan.rows})
    if (const TailSplit tail = tail_split_of(rows); rows > 0 && tail.splits > 1) {
      most_splits = std::max(most_splits, tail.splits);
      slice_values = std::max(
          slice_values, tail.splits * (rows - tail.whole_blocks * rows_per_block) * values.cols);
    }
  // (Forced splits, for tests, take what they need.)
  const int64_t split_bytes =
      slice_values * int64_t(sizeof(T)) + most_splits * int64_t(args.size() * sizeof(CUdeviceptr));
  if (plan.device_bytes + split_bytes > budget && options.tail_splits <= 1) most_splits = 1;
  const KernelFunction slice_sum =
      most_splits > 1
          ? cached_module(
                jit::gpu_slice_sum_symbol(spec.dtype), device,
                [&] { return cached_slice_sum_ptx(spec.dtype, spec.gpu_sm); }, JitEffort::Quick)
                ->function(jit::gpu_slice_sum_symbol(spec.dtype))
          : KernelFunction{};

  // Every buffer is allocated before the first copy: a failed allocation leaves nothing.
  auto bytes_of = [](int64_t rows, int64_t cols, size_t size) {
    return size_t(rows * cols) * size;
  };
  // The arguments' addresses: one table, or one more per slice of a split tail.
  DeviceBuffer table =
      buffer(size_t(most_splits > 1 ? most_splits + 1 : 1) * args.size() * sizeof(CUdeviceptr));
  DeviceBuffer tail_slices = buffer(most_splits > 1 ? size_t(slice_values) * sizeof(T) : 0);
  std::vector<DeviceBuffer> copies(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    if (in_place[k]) continue;
    const ir::Cat cat = spec.args[k].cat;
    const int64_t rows = cat == ir::CatP           ? args[k].rows
                         : cat == spec.outer_cat() ? plan.rows
                                                   : std::min(plan.reduced, args[k].rows);
    copies[k] = DeviceBuffer(device, bytes_of(rows, args[k].cols, sizeof(T)));
  }
  DeviceBuffer value_copy(device,
                          values_in_place ? 0 : bytes_of(plan.rows, values.cols, sizeof(T)));
  DeviceBuffer index_copy(
      device, indices_in_place ? 0 : bytes_of(plan.rows, indices.cols, sizeof(int64_t)));
  DeviceBuffer states =
      buffer(plan.partial ? size_t(plan.rows * plan.slot_stride * layout.state_bytes()) : 0);
  DeviceBuffer items = buffer(items_plan.items.size() * sizeof(SparseItem));
  DeviceBuffer ranges = buffer(items_plan.ranges.size() * sizeof(int64_t));
  if (!items_plan.ranges.empty())
    ranges.upload_async(items_plan.ranges.data(), ranges.bytes(), stream);

  // The address of argument k's rows [first, first + rows) on the device, copied if need be.
  std::vector<CUdeviceptr> addresses(args.size());
  auto place = [&](size_t k, int64_t first, int64_t rows) {
    const size_t row_bytes = size_t(args[k].cols) * sizeof(T);
    if (in_place[k]) {
      addresses[k] = address_of(args[k].data) + CUdeviceptr(size_t(first) * row_bytes);
      return;
    }
    if (rows > 0) copies[k].upload(args[k].data + first * args[k].cols, size_t(rows) * row_bytes);
    addresses[k] = copies[k].address();
  };
  for (size_t k = 0; k < args.size(); ++k)
    if (spec.args[k].cat == ir::CatP) place(k, 0, args[k].rows);

  config.block.x = unsigned(launch_threads);
  config.grid.z = unsigned(std::min(layout.column_groups, kMaxGridZ));
  config.dynamic_shared_bytes = unsigned(layout.shared_bytes(launch_threads));
  config.stream = stream;
  size_t next_item = 0;
  for (int64_t r0 = 0; r0 < out_rows;) {
    // This slice's rows: plan.rows, or whole items up to that many.
    int64_t rows = std::min(plan.rows, out_rows - r0);
    size_t first_item = next_item;
    if (sparse) {
      std::vector<SparseItem> slice;
      while (next_item < items_plan.items.size() &&
             items_plan.items[next_item].end - r0 <= plan.rows) {
        SparseItem item = items_plan.items[next_item++];
        item.begin -= r0;
        item.end -= r0;
        slice.push_back(item);
      }
      KEOPS_CHECK(!slice.empty(), "a row slice narrower than its first work item");
      rows = slice.back().end;
      items.upload_async(slice.data(), slice.size() * sizeof(SparseItem), stream);
    }
    for (size_t k = 0; k < args.size(); ++k)
      if (spec.args[k].cat == spec.outer_cat()) place(k, r0, rows);
    CUdeviceptr values_at = values_in_place ? address_of(values.data) +
                                                  CUdeviceptr(bytes_of(r0, values.cols, sizeof(T)))
                                            : value_copy.address();
    CUdeviceptr indices_at =
        indices_in_place
            ? address_of(indices.data) + CUdeviceptr(bytes_of(r0, indices.cols, sizeof(int64_t)))
            : index_copy.address();
    config.grid.x =
        unsigned(sparse ? next_item - first_item : size_t(ceil_div(rows, rows_per_block)));
    for (int64_t j0 = 0;;) {
      int64_t reduced = std::min(plan.reduced, n_reduced - j0);
      for (size_t k = 0; k < args.size(); ++k)
        if (spec.args[k].cat == spec.inner_cat()) place(k, j0, std::min(reduced, args[k].rows));
      CUdeviceptr table_at = table.address();
      const TailSplit tail = most_splits > 1 ? tail_split_of(rows) : TailSplit{};
      if (tail.splits == 1 && !addresses.empty())
        table.upload_async(addresses.data(), addresses.size() * sizeof(CUdeviceptr), stream);
      lower::KernelArgs params;
      params.out_rows = rows;
      params.n_reduced = reduced;
      params.arg_table = table_at;
      if (tail.splits > 1) {
        launch_split_tail(kernel, slice_sum, config, {rows, reduced, tail, rows_per_block},
                          addresses, spec, args, table, values_at, values.cols,
                          tail_slices.address());
      } else if (!plan.partial) {
        params.values = values_at;
        params.indices = indices_at;
        params.items = items.address();
        params.ranges = ranges.address();
        config.grid.y = 1;
        launch(kernel, config, run_plan->abi, params);
      } else {
        // The splits of these reduced rows into their slots, then the slots merged: into
        // slot 0 while more reduced rows follow, into the outputs after the last.
        params.states = states.address();
        params.split_len = std::max<int64_t>(1, ceil_div(reduced, plan.splits));
        params.first_slot = j0 == 0 ? 0 : 1;
        params.index_base = options.index_offset + j0;
        config.grid.y = unsigned(plan.splits);
        launch(kernel, config, run_plan->abi, params);
        const int64_t finalize = j0 + reduced >= n_reduced && !options.states_out ? 1 : 0;
        launch_merge(merge, rows, params.states, params.first_slot + plan.splits, values_at,
                     indices_at, finalize, config);
      }
      j0 += reduced;
      if (j0 >= n_reduced) break;
    }
    if (queued) {
      r0 += rows;
      continue;
    }
    synchronize(device);
    if (options.states_out) {
      states.download(static_cast<char*>(options.states_out) + r0 * layout.state_bytes(),
                      size_t(rows * layout.state_bytes()));
      r0 += rows;
      continue;
    }
    if (!values_in_place)
      value_copy.download(values.data + r0 * values.cols, bytes_of(rows, values.cols, sizeof(T)));
    if (!indices_in_place)
      index_copy.download(indices.data + r0 * indices.cols,
                          bytes_of(rows, indices.cols, sizeof(int64_t)));
    r0 += rows;
  }
}

template <class T>
void merge_gpu_states(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                      const std::vector<std::vector<char>>& slots, View<T> values,
                      View<int64_t> indices) {
  if (out_rows == 0) return;
  ContextGuard guard(device);
  codegen::KernelSpec run_spec = spec;  // the partial runs' spec, whose merge kernel this is
  run_spec.gpu_block_sparse = false;
  run_spec.gpu_partial = true;
  run_spec.gpu_rows_per_thread = 1;
  const std::string run_key = run_spec.key();
  const std::shared_ptr<const lower::KernelPlan> run_plan = cached_plan(run_spec, run_key);
  const lower::GpuLayout& layout = run_plan->gpu;
  const size_t slot_bytes = size_t(out_rows * layout.state_bytes());
  const KernelFunction merge =
      merge_module_of(*run_plan, run_key, device)
          ->function(lower::merge_kernel_name(jit::gpu_kernel_symbol(run_spec)));
  const bool values_in_place = in_device_memory(values.data, values.device, device);
  const bool indices_in_place = in_device_memory(indices.data, indices.device, device);
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
  launch_merge(merge, out_rows, states.address(), int64_t(slots.size()),
               values_in_place ? address_of(values.data) : value_copy.address(),
               indices_in_place ? address_of(indices.data) : index_copy.address(), 1,
               partial_config);
  synchronize(device);
  if (!values_in_place) value_copy.download(values.data, value_copy.bytes());
  if (!indices_in_place) index_copy.download(indices.data, index_copy.bytes());
}

template void merge_gpu_states<float>(const codegen::KernelSpec&, int, int64_t,
                                      const std::vector<std::vector<char>>&, View<float>,
                                      View<int64_t>);
template void merge_gpu_states<double>(const codegen::KernelSpec&, int, int64_t,
                                       const std::vector<std::vector<char>>&, View<double>,
                                       View<int64_t>);

template void run_gpu_reduction<float>(const codegen::KernelSpec&, int, int64_t, int64_t,
                                       const std::vector<View<const float>>&, View<float>,
                                       View<int64_t>, const SparseAxis*, const GpuRunOptions&);
template void run_gpu_reduction<double>(const codegen::KernelSpec&, int, int64_t, int64_t,
                                        const std::vector<View<const double>>&, View<double>,
                                        View<int64_t>, const SparseAxis*, const GpuRunOptions&);

}  // namespace keops::runtime::cuda
