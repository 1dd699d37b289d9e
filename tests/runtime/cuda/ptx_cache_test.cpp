// The PTX disk cache: generated once, then read back (by any process); damage is rebuilt.
#include <doctest/doctest.h>

#include <string>

#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/jit/ptx.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/cuda/ptx_cache.h"
#include "tests/support/scratch.h"

using keops::runtime::DiskCache;
using keops::runtime::DiskCacheSettings;

TEST_CASE("GPU kernels' PTX is stored in the disk cache and read back; damage is rebuilt") {
  keops::test::TempDir dir;
  keops::runtime::set_process_disk_cache(DiskCacheSettings{true, dir.path(), 1 << 30});
  keops::ir::Context ctx;
  const auto aliases = keops::frontend::AliasTable::parse({"x = Vi(3)", "y = Vj(3)"});
  keops::codegen::KernelSpec spec;
  spec.formula = keops::frontend::parse_formula("Exp(-SqDist(x, y) * 3.5)", aliases, ctx,
                                                keops::ir::DType::F32);
  spec.reduction.kind = keops::ir::reduction_by_name("Sum");
  spec.args = {{3, keops::ir::CatI}, {3, keops::ir::CatJ}};
  spec.target = keops::codegen::GpuTarget{90};

  const std::string ptx = keops::runtime::cuda::cached_ptx(keops::lower::lower(spec));
  CHECK(ptx == keops::jit::gpu_kernel_ptx(spec));
  const DiskCache disk(dir.path(), 1 << 30);
  auto entries = disk.list();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].kind == keops::runtime::cuda::kPtxKind);
  CHECK(entries[0].key == keops::runtime::cuda::ptx_cache_key(spec));

  // A hit returns the stored text: a marker put into a valid entry comes back.
  disk.store(keops::runtime::cuda::kPtxKind, entries[0].key, ptx + "// from disk\n");
  CHECK(keops::runtime::cuda::cached_ptx(keops::lower::lower(spec)) == ptx + "// from disk\n");

  // A truncated entry fails its checksum: the PTX is generated again and stored again.
  const std::string path = entries[0].path.string();
  const std::string bytes = keops::test::read_bytes(path);
  keops::test::write_bytes(path, bytes.substr(0, bytes.size() / 2));
  CHECK(keops::runtime::cuda::cached_ptx(keops::lower::lower(spec)) == ptx);
  CHECK(disk.load(keops::runtime::cuda::kPtxKind, entries[0].key) == ptx);

  // Another kernel's PTX under this key (a forged or stale header, a valid checksum) would
  // fail every call at the driver's lookup: it is rebuilt, as is PTX for another sm.
  keops::codegen::KernelSpec other = spec;
  other.reduction.kind = keops::ir::reduction_by_name("Max");
  disk.store(keops::runtime::cuda::kPtxKind, entries[0].key, keops::jit::gpu_kernel_ptx(other));
  CHECK(keops::runtime::cuda::cached_ptx(keops::lower::lower(spec)) == ptx);
  CHECK(disk.load(keops::runtime::cuda::kPtxKind, entries[0].key) == ptx);
  keops::codegen::KernelSpec sm80 = spec;
  sm80.gpu().sm = 80;
  std::string relabelled = keops::jit::gpu_kernel_ptx(sm80);
  const std::string old_name = keops::jit::gpu_kernel_symbol(sm80);
  relabelled.replace(relabelled.find(old_name), old_name.size(),
                     keops::jit::gpu_kernel_symbol(spec));
  disk.store(keops::runtime::cuda::kPtxKind, entries[0].key, relabelled);
  CHECK(keops::runtime::cuda::cached_ptx(keops::lower::lower(spec)) == ptx);
  // The slice sums' and merge kernels' entries are checked alike.
  const std::string f32_sum = keops::runtime::cuda::cached_slice_sum_ptx(keops::ir::DType::F32, 90);
  for (const auto& e : disk.list())
    if (e.key.rfind(keops::jit::gpu_slice_sum_symbol(keops::ir::DType::F32), 0) == 0)
      disk.store(keops::runtime::cuda::kPtxKind, e.key,
                 keops::jit::gpu_slice_sum_ptx(keops::ir::DType::F64, 90));
  CHECK(keops::runtime::cuda::cached_slice_sum_ptx(keops::ir::DType::F32, 90) == f32_sum);
  entries = disk.list();

  // Off: nothing is stored.
  keops::runtime::set_process_disk_cache(DiskCacheSettings{false, dir.path(), 1 << 30});
  spec.target = keops::codegen::GpuTarget{80};
  CHECK(keops::runtime::cuda::cached_ptx(keops::lower::lower(spec)).find(".target sm_80") !=
        std::string::npos);
  CHECK(disk.list().size() == entries.size());
  keops::runtime::set_process_disk_cache(std::nullopt);
}
