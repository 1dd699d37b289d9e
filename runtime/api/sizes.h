// Sizes checked before anything is allocated: products that overflow, and host outputs too
// large to allocate, become keops::Error rather than wrapped values or std::bad_alloc.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "keops/error.h"

namespace keops::detail {

// The product of non-negative factors; keops::Error saying `who: what` when it exceeds
// int64_t.
inline int64_t checked_product(const std::string& who, const std::string& what,
                               std::span<const int64_t> factors) {
  int64_t product = 1;
  for (int64_t f : factors)
    if (__builtin_mul_overflow(product, f, &product))
      throw Error(who + ": " + what + " has more than 2^63 elements");
  return product;
}
inline int64_t checked_product(const std::string& who, const std::string& what,
                               std::initializer_list<int64_t> factors) {
  return checked_product(who, what, std::span<const int64_t>(factors.begin(), factors.size()));
}

// A host vector of `elements` values, or keops::Error naming it and its size in bytes.
template <class T>
void allocate_output(std::vector<T>& out, int64_t elements, const std::string& who,
                     const std::string& what) {
  const int64_t bytes = checked_product(who, what, {elements, int64_t(sizeof(T))});
  const Error failed(who + ": could not allocate " + what + ": " + std::to_string(bytes) +
                     " bytes");
  if (uint64_t(elements) > out.max_size()) throw failed;  // (resize would throw length_error)
  try {
    out.resize(size_t(elements));
  } catch (const std::bad_alloc&) {
    throw failed;
  }
}

}  // namespace keops::detail
