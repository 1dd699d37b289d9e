// The GPU kernels' parameter lists (see kernel_abi.h).
#include "compiler/lower/kernel_abi.h"

#include <algorithm>

#include "compiler/support/check.h"

namespace keops::lower {

unsigned KernelAbi::index(Param p) const {
  const auto at = std::find(params.begin(), params.end(), p);
  KEOPS_CHECK(at != params.end(), "a kernel parameter its ABI does not have");
  return unsigned(at - params.begin());
}

bool KernelAbi::has(Param p) const {
  return std::find(params.begin(), params.end(), p) != params.end();
}

bool KernelAbi::is_address(Param p) {
  switch (p) {
    case Param::ArgTable:
    case Param::Values:
    case Param::Indices:
    case Param::Items:
    case Param::Ranges:
    case Param::States:
    case Param::Slices:
      return true;
    default:
      return false;
  }
}

std::vector<void*> KernelAbi::launch_params(KernelArgs& a) const {
  std::vector<void*> out;
  for (const Param p : params) switch (p) {
      case Param::OutRows:
        out.push_back(&a.out_rows);
        break;
      case Param::NReduced:
        out.push_back(&a.n_reduced);
        break;
      case Param::ArgTable:
        out.push_back(&a.arg_table);
        break;
      case Param::Values:
        out.push_back(&a.values);
        break;
      case Param::Indices:
        out.push_back(&a.indices);
        break;
      case Param::Items:
        out.push_back(&a.items);
        break;
      case Param::Ranges:
        out.push_back(&a.ranges);
        break;
      case Param::States:
        out.push_back(&a.states);
        break;
      case Param::SplitLen:
        out.push_back(&a.split_len);
        break;
      case Param::IndexBase:
        out.push_back(&a.index_base);
        break;
      case Param::FirstSlot:
        out.push_back(&a.first_slot);
        break;
      case Param::NSlots:
        out.push_back(&a.n_slots);
        break;
      case Param::Finalize:
        out.push_back(&a.finalize);
        break;
      case Param::Count:
        out.push_back(&a.count);
        break;
      case Param::Slices:
        out.push_back(&a.slices);
        break;
      case Param::NSlices:
        out.push_back(&a.n_slices);
        break;
    }
  return out;
}

std::string merge_kernel_name(const std::string& kernel_name) { return kernel_name + "_merge"; }

KernelAbi reduction_kernel_abi(codegen::GpuScheme scheme) {
  using P = Param;
  switch (scheme) {
    case codegen::GpuScheme::Partial:
      return {P::OutRows,  P::NReduced,  P::ArgTable, P::States,
              P::SplitLen, P::IndexBase, P::FirstSlot};
    case codegen::GpuScheme::BlockSparse:
      return {P::OutRows, P::NReduced, P::ArgTable, P::Values, P::Indices, P::Items, P::Ranges};
    case codegen::GpuScheme::Dense:
      break;
  }
  return {P::OutRows, P::NReduced, P::ArgTable, P::Values, P::Indices};
}

KernelAbi merge_kernel_abi() {
  using P = Param;
  return {P::OutRows, P::States, P::NSlots, P::Values, P::Indices, P::Finalize};
}

KernelAbi slice_sum_kernel_abi() {
  using P = Param;
  return {P::Count, P::Slices, P::NSlices, P::Values};
}

}  // namespace keops::lower
