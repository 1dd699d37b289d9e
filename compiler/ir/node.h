// IR nodes: immutable, interned, typed (dtype, dim, dependency set); the op enum from ops.def.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "compiler/ir/types.h"

namespace keops::ir {

enum class Op : uint16_t {
#define KEOPS_OP(name, spelling, arity, ints, shape, family, linearity) name,
#include "compiler/ir/ops.def"
#undef KEOPS_OP
};

enum class Shape : uint8_t { Leaf, Same, Broadcast, Scalar, Custom };
// The evaluator, the emitter and autodiff each implement an op in the rules of its family.
enum class Family : uint8_t { Leaf, Elementwise, Vector, Tensor, Complex, Special };
// When an op is linear in a variable (ops.def says how each class reads).
enum class Linearity : uint8_t { None, All, One, First };

struct OpInfo {
  std::string_view spelling;
  int arity;
  int int_attrs;  // -1: variable length
  Shape shape;
  Family family;
  Linearity linearity;
};

const OpInfo& op_info(Op op);
int op_count();
// Computed component by component, on equal dims or a dim 1 broadcast (ops.def's
// Elementwise family): what simplify moves through and the streamed emitter chunks.
inline bool is_elementwise(Op op) { return op_info(op).family == Family::Elementwise; }
// The op spelled `name` (exact, case-sensitive), or nullptr.
const Op* op_by_spelling(std::string_view name);

struct Node {
  Op op;
  DType dtype;
  int dim;
  DepSet deps;
  std::vector<const Node*> args;
  std::vector<int64_t> ints;   // integer attributes (see ops.def)
  std::vector<double> values;  // Constant only
  uint64_t hash;               // structural, stable across processes
  uint32_t id;                 // creation order within its Context
  // A Constant whose values all compare equal to values[0] (none NaN): set by the Context,
  // so that is_constant_value costs the same for every dim.
  bool uniform = false;

  bool is(Op o) const { return op == o; }
  // Var accessors.
  int var_index() const { return int(ints[0]); }
  Cat var_cat() const { return Cat(ints[2]); }
  bool is_constant() const { return op == Op::Constant; }
  // True when a Constant has every component equal to v.
  bool is_constant_value(double v) const;
};

using Expr = const Node*;

}  // namespace keops::ir
