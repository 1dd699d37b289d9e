// Scalar types, argument categories and dependency sets of IR nodes.
#pragma once

#include <cstdint>
#include <string_view>

namespace keops::ir {

enum class DType : uint8_t { F32, F64 };

inline std::string_view dtype_name(DType t) { return t == DType::F32 ? "float32" : "float64"; }

// Argument categories, as in Var(index, dim, cat).
enum Cat : uint8_t { CatI = 0, CatJ = 1, CatP = 2 };

// Which of {i, j, p} a node depends on: a bit set over Cat.
using DepSet = uint8_t;
constexpr DepSet kDepNone = 0;
constexpr DepSet dep_of(Cat c) { return DepSet(1u << c); }
constexpr DepSet kDepI = dep_of(CatI), kDepJ = dep_of(CatJ), kDepP = dep_of(CatP);

}  // namespace keops::ir
