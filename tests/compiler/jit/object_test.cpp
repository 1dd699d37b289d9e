// keopsc's objects: the GPU entry's description names the kernel its PTX defines.
#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "compiler/ir/printer.h"
#include "compiler/jit/object.h"
#include "compiler/jit/ptx.h"
#include "compiler/lower/kernel_plan.h"
#include "tests/support/gpu_spec.h"

namespace {

TEST_CASE("a GPU object's description names its PTX's entry, after the spec as requested") {
  // A formula lowering simplifies: the kernel keeps the name of the spec as written.
  keops::test::GpuSpec g({"x = Vi(3)", "y = Vj(3)"}, "x * y + x * y * 2", "Sum",
                         keops::ir::DType::F32);
  REQUIRE(keops::ir::print(keops::lower::lower(g.spec).spec.formula) !=
          keops::ir::print(g.spec.formula));
  const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
  std::smatch entry;
  REQUIRE(std::regex_search(ptx, entry, std::regex(R"(\.entry (\w+)\()")));
  CHECK(entry[1].str() == keops::jit::gpu_kernel_symbol(g.spec));
  const std::string object = keops::jit::compile_aot_object(g.spec, "triple");
  CHECK(object.find(ptx + '\0') != std::string::npos);
  CHECK(object.find(entry[1].str() + '\0') != std::string::npos);  // the kernel_name field
}

}  // namespace
