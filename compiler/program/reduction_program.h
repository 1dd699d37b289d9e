// A reduction program: hidden steps of reductions, then the output step; what a Genred runs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/ir/context.h"
#include "compiler/ir/reduction.h"

namespace keops::program {

// One formula built once per dtype (Var leaves carry their dtype); null when absent.
struct TypedFormula {
  ir::Expr f32 = nullptr;
  ir::Expr f64 = nullptr;
  ir::Expr of(ir::DType t) const { return t == ir::DType::F32 ? f32 : f64; }
};

// One kernel launch: a reduction of F (and G) over the (i, j) pairs.
struct ReductionStage {
  TypedFormula f;
  TypedFormula g;               // G of the weighted reductions
  ir::ReductionSpec reduction;  // its formula2 is g.f64, for shapes
  int axis = 1;                 // 1: reduce over j, one row per i; 0: over i, one row per j
  // The rows are then added into one: a reduction over both axes (a parameter's gradient).
  bool sum_rows = false;
  // A map of the outer rows: the kernel reduces over a single pair, so the formula must
  // read no argument of the inner category.
  bool single_pair = false;
  std::vector<codegen::ArgLayout> args;  // what the kernel reads, by position

  ir::Cat outer_cat() const { return axis == 1 ? ir::CatI : ir::CatJ; }
  ir::Cat inner_cat() const { return axis == 1 ? ir::CatJ : ir::CatI; }
  ir::Cat output_cat() const { return sum_rows ? ir::CatP : outer_cat(); }
  int value_cols() const { return reduction.value_cols(f.f64->dim); }
  int index_cols() const { return reduction.index_cols(f.f64->dim); }
  // A Sum of the constant 0 (the gradient of an Arg reduction): zeros, no kernel.
  bool is_zero() const {
    return reduction.kind == ir::ReductionKind::Sum && f.f64->is_constant_value(0.0);
  }
};

// A term gathered at the indices a selection picks (the subgradient of Min, Max, KMin and
// their forms, the max of Max_SumShiftExp, and the derivatives of such terms). With idx_os
// the index of slot s of outer row o and c = s mod dim(F), every (o, s) with idx_os >= 0
// becomes one pair row, on which `pair` is evaluated; its result is added into v's rows.
struct SelectionTerm {
  ReductionStage arg_reduction;  // ArgMin, ArgMax or ArgKMin of F over the forward's axis
  // Arrays C_k of one value per slot and outer row (one row if a parameter).
  std::vector<int> slot_args;
  // A map over the pairs, reading the program's first gathered() arrays at the pair (an
  // outer array at o, an inner one at idx_os, read as outer, a parameter as it is), then
  // one E_k per slot array: dim(F) values holding C_k(o, s) in component c, 0 elsewhere.
  ReductionStage pair;
  // Where a pair's result goes: row o, idx_os or the parameter row of target_cat, or,
  // with to_slots, its component c into (o, s) of an array shaped like the C_k.
  ir::Cat target_cat = ir::CatI;
  bool to_slots = false;

  size_t gathered() const { return pair.args.size() - slot_args.size(); }
};

// An array of rows a program computes: the sum of its terms, all of main's shape.
struct Step {
  ReductionStage main;  // the only term that may yield indices (a forward reduction's)
  std::vector<ReductionStage> more;
  std::vector<SelectionTerm> selections;

  ir::Cat output_cat() const { return main.output_cat(); }
  int value_cols() const { return main.value_cols(); }
};

// A program: hidden steps, each reading the caller's arguments and the steps before it,
// then the output step (its own terms). A gradient is built as such a program by reverse
// mode over the forward's steps (gradient.h), so gradients of gradients are programs of the
// same form.
struct ReductionProgram : Step {
  std::vector<frontend::ArgInfo> args;   // what the caller passes, by position
  std::shared_ptr<ir::Context> context;  // owns the formulas, shared with gradients
  // Run first, invisible to the caller: the output of hidden[k] becomes argument
  // args.size() + k, an array of rows of its output category.
  std::vector<Step> hidden;
  // Non-empty for a gradient computed in several steps: the reduction it differentiates.
  std::string staged_from;

  // One kernel computes the output: device arrays can be used in place.
  bool single_kernel() const {
    return hidden.empty() && more.empty() && selections.empty() && !main.sum_rows &&
           !main.is_zero();
  }
};

// The program of one reduction of `formula` (and formula2, G, when not empty) over the
// arguments `aliases` name: its output step, one stage reducing over j (axis 1) or i (axis
// 0). keops::Error for a bad formula, alias or reduction name, or an argument position
// used with two shapes; the reduction's own checks (K, G, a scalar F) are its caller's.
ReductionProgram parse_program(const std::string& formula, const std::vector<std::string>& aliases,
                               const std::string& reduction, int axis, int k,
                               const std::string& formula2);

}  // namespace keops::program
