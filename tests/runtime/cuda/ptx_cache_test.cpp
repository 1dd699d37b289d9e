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

  // Off: nothing is stored.
  keops::runtime::set_process_disk_cache(DiskCacheSettings{false, dir.path(), 1 << 30});
  spec.target = keops::codegen::GpuTarget{80};
  CHECK(keops::runtime::cuda::cached_ptx(keops::lower::lower(spec)).find(".target sm_80") !=
        std::string::npos);
  CHECK(disk.list().size() == 1);
  keops::runtime::set_process_disk_cache(std::nullopt);
}
