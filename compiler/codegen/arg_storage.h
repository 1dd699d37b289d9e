// Argument elements as a kernel reads them: its dtype, or 16-bit floats widened as loaded.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/kernel_spec.h"

namespace keops::codegen {

// How one kernel reads its argument arrays (KernelSpec::arg_storage): elements of `stored`
// (T itself, or i16 holding float16 or bfloat16 bits) that widen() turns into T (float32).
struct ArgElements {
  llvm::Type* value;  // T, the kernel's scalar type
  ArgStorage storage;

  ArgElements(llvm::Type* T, ArgStorage s) : value(T), storage(s) {}
  bool native() const { return storage == ArgStorage::Native; }
  llvm::Type* stored() const;  // the scalar type of an array element
  llvm::Align align() const;
  // Loaded elements (a scalar or a vector of stored()) as values of T (vectors alike).
  llvm::Value* widen(llvm::IRBuilderBase& b, llvm::Value* raw) const;
  // The element at `at` (a pointer to stored()) as a T.
  llvm::Value* load(llvm::IRBuilderBase& b, llvm::Value* at) const;
};

}  // namespace keops::codegen
