// Array elements as a kernel reads and writes them: its dtype, or 16-bit floats.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/kernel_spec.h"

namespace keops::codegen {

// How one kernel's arrays hold values (KernelSpec::storage): elements of stored() (T itself,
// or i16 holding float16 or bfloat16 bits) that widen() turns into T (float32) and narrow()
// rounds T to (to nearest, ties to even).
struct StoredElements {
  llvm::Type* value;  // T, the kernel's scalar type
  Storage storage;

  StoredElements(llvm::Type* T, Storage s) : value(T), storage(s) {}
  bool native() const { return storage == Storage::Native; }
  llvm::Type* stored() const;  // the scalar type of an array element
  llvm::Align align() const;
  // Loaded elements (a scalar or a vector of stored()) as values of T (vectors alike).
  llvm::Value* widen(llvm::IRBuilderBase& b, llvm::Value* raw) const;
  // Values of T (a scalar or a vector) as elements of stored().
  llvm::Value* narrow(llvm::IRBuilderBase& b, llvm::Value* v) const;
  // The element at `at` (a pointer to stored()) as a T.
  llvm::Value* load(llvm::IRBuilderBase& b, llvm::Value* at) const;
  // Stores the T value v as the element at `at`.
  void store(llvm::IRBuilderBase& b, llvm::Value* v, llvm::Value* at) const;
};

}  // namespace keops::codegen
