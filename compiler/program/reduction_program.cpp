// A reduction's program from its formula text (see reduction_program.h).
#include "compiler/program/reduction_program.h"

#include "compiler/frontend/parser.h"
#include "compiler/ir/verifier.h"

namespace keops::program {
namespace {

// Verified once its arguments are collected (which names a position used with two shapes).
TypedFormula parse_typed(const std::string& formula, const frontend::AliasTable& aliases,
                         ir::Context& ctx) {
  TypedFormula t;
  t.f32 = frontend::parse_formula(formula, aliases, ctx, ir::DType::F32);
  t.f64 = frontend::parse_formula(formula, aliases, ctx, ir::DType::F64);
  return t;
}

}  // namespace

ReductionProgram parse_program(const std::string& formula, const std::vector<std::string>& aliases,
                               const std::string& reduction, int axis, int k,
                               const std::string& formula2) {
  ReductionProgram p;
  p.context = std::make_shared<ir::Context>();
  ReductionStage& main = p.main;
  main.axis = axis;
  main.reduction.kind = ir::reduction_by_name(reduction);
  main.reduction.k = k;
  const auto table = frontend::AliasTable::parse(aliases);
  main.f = parse_typed(formula, table, *p.context);
  if (!formula2.empty()) main.g = parse_typed(formula2, table, *p.context);
  main.reduction.formula2 = main.g.f64;  // for shapes; each dtype's kernel gets its own G
  p.args = frontend::collect_arguments(table, {main.f.f64, main.g.f64});
  for (const TypedFormula* t : {&main.f, &main.g})
    for (ir::Expr e : {t->f32, t->f64})
      if (e) ir::verify(e);
  for (const frontend::ArgInfo& a : p.args) main.args.push_back({a.dim, a.cat});
  return p;
}

}  // namespace keops::program
