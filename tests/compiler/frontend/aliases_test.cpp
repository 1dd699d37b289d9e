// Tests of the alias table (both alias forms, implicit positions, errors) and of collect_arguments.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "keops/error.h"

using keops::frontend::Alias;
using keops::frontend::AliasTable;
using keops::frontend::ArgInfo;
using keops::frontend::collect_arguments;
using keops::frontend::is_reserved_name;
using keops::frontend::parse_formula;
namespace ir = keops::ir;

namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const keops::Error& e) {
    return e.what();
  }
  return "(no error)";
}

void check_contains(const std::string& message, std::string_view part) {
  CHECK_MESSAGE(message.find(part) != std::string::npos, "'", part, "' not in: ", message);
}

std::string alias_error(const std::vector<std::string>& aliases) {
  return error_of([&] { AliasTable::parse(aliases); });
}

void check_alias(const Alias* a, std::string_view name, int index, int dim, ir::Cat cat) {
  REQUIRE(a != nullptr);
  CHECK(a->name == name);
  CHECK(a->index == index);
  CHECK(a->dim == dim);
  CHECK(a->cat == cat);
}

}  // namespace

TEST_CASE("aliases: Vi, Vj, Pm without positions take 0, 1, 2, ... in order") {
  const AliasTable t = AliasTable::parse({"x = Vi(3)", "y=Vj(3)", "  p = Pm( 1 ) "});
  REQUIRE(t.aliases().size() == 3);
  check_alias(t.find("x"), "x", 0, 3, ir::CatI);
  check_alias(t.find("y"), "y", 1, 3, ir::CatJ);
  check_alias(t.find("p"), "p", 2, 1, ir::CatP);
  CHECK(t.find("z") == nullptr);
  CHECK(t.aliases()[1].name == "y");
}

TEST_CASE("aliases: explicit positions, and Var(position, dim, cat)") {
  const AliasTable t = AliasTable::parse(
      {"x = Vi(0, 3)", "y = Vj(1,3)", "p = Pm(2,1)", "v = Var(3, 4, 1)", "w = Var(4,1,2)"});
  check_alias(t.find("x"), "x", 0, 3, ir::CatI);
  check_alias(t.find("y"), "y", 1, 3, ir::CatJ);
  check_alias(t.find("p"), "p", 2, 1, ir::CatP);
  check_alias(t.find("v"), "v", 3, 4, ir::CatJ);
  check_alias(t.find("w"), "w", 4, 1, ir::CatP);
}

TEST_CASE("aliases: implicit positions count only the aliases that lack one") {
  const AliasTable t =
      AliasTable::parse({"a = Vi(5, 3)", "b = Vj(2)", "c = Var(7,1,2)", "d = Pm(1)"});
  check_alias(t.find("a"), "a", 5, 3, ir::CatI);
  check_alias(t.find("b"), "b", 0, 2, ir::CatJ);
  check_alias(t.find("c"), "c", 7, 1, ir::CatP);
  check_alias(t.find("d"), "d", 1, 1, ir::CatP);
}

TEST_CASE("aliases: malformed aliases are quoted, with what was expected and the column") {
  check_contains(alias_error({"x Vi(3)"}),
                 "parsing alias \"x Vi(3)\": malformed alias: expected '=', got 'Vi' at column 3");
  check_contains(alias_error({"x = Vi(3"}), "expected ',' or ')', got end of input at column 9");
  check_contains(alias_error({"x = Vi()"}), "expected an integer, got ')' at column 8");
  check_contains(alias_error({"x = Vi(1.5)"}), "expected an integer, got '1.5' at column 8");
  check_contains(alias_error({"x = Vi(3))"}),
                 "expected end of input after ')', got ')' at column 10");
  check_contains(alias_error({"= Vi(3)"}), "expected a name, got '=' at column 1");
  check_contains(alias_error({""}), "expected a name, got end of input at column 1");
  check_contains(alias_error({"x = 3"}), "expected Vi, Vj, Pm or Var, got '3' at column 5");
  check_contains(alias_error({"x = Var(0, 3)"}),
                 "Var takes (position, dim, cat), got 2 integers at column 5");
  check_contains(alias_error({"x = Vi(0, 3, 1)"}),
                 "Vi takes (dim) or (position, dim), got 3 integers at column 5");
  check_contains(alias_error({"x = Vi(3) # note"}), "unknown operator '#' at column 11");
  CHECK_THROWS_AS(AliasTable::parse({"x Vi(3)"}), keops::Error);
}

TEST_CASE("aliases: duplicate names, dims below 1, negative positions") {
  check_contains(alias_error({"x = Vi(3)", "y = Vj(3)", "x = Vj(2)"}),
                 "parsing alias \"x = Vj(2)\": duplicate name 'x' (alias 1, \"x = Vi(3)\", "
                 "defines it already) at column 1");
  check_contains(alias_error({"x = Vi(0)"}),
                 "the dim must be in [1, 2147483647], not 0 at column 8");
  check_contains(alias_error({"x = Vi(-2)"}), "the dim must be in [1, 2147483647], not -2");
  check_contains(alias_error({"x = Vj(1, 0)"}), "not 0 at column 11");
  check_contains(alias_error({"x = Var(0, 0, 0)"}), "the dim must be in [1");
  check_contains(alias_error({"x = Vi(-1, 3)"}), "the position must be in [0, 2147483647], not -1");
  check_contains(alias_error({"x = Vi(3000000000, 3)"}), "not 3000000000");
}

TEST_CASE("aliases: names that shadow an op or a form of the language are refused") {
  for (const char* name : {"Exp",
                           "SqDist",
                           "TensorDot",
                           "Var",
                           "Vi",
                           "Vj",
                           "Pm",
                           "Vx",
                           "Vy",
                           "Grad",
                           "Diff",
                           "GradMatrix",
                           "Divergence",
                           "Laplacian",
                           "Constant",
                           "GaussKernel",
                           "IntCst",
                           "RatCst",
                           "IntInv",
                           "Zero",
                           "Grad_WithSavedForward",
                           "Diff_WithSavedForward"}) {
    CAPTURE(name);
    CHECK(is_reserved_name(name));
    check_contains(alias_error({std::string(name) + " = Vi(3)"}),
                   "the name '" + std::string(name) + "' is reserved");
    check_contains(alias_error({std::string(name) + " = Vi(3)"}), "at column 1");
  }
  CHECK_FALSE(is_reserved_name("exp"));  // case-sensitive, as the op table
  CHECK_NOTHROW(AliasTable::parse({"exp = Vi(3)", "Vz = Vj(1)"}));
}

TEST_CASE("aliases: Vx and Vy are KeOps's old names of Vi and Vj") {
  const AliasTable t = AliasTable::parse({"x = Vx(3)", "y = Vy(3)", "b = Vy(4, 1)", "p = Pm(1)"});
  check_alias(t.find("x"), "x", 0, 3, ir::CatI);
  check_alias(t.find("y"), "y", 1, 3, ir::CatJ);
  check_alias(t.find("b"), "b", 4, 1, ir::CatJ);
  check_alias(t.find("p"), "p", 2, 1, ir::CatP);
  check_contains(alias_error({"x = Vx(0, 3, 1)"}),
                 "malformed alias: Vx takes (dim) or (position, dim), got 3 integers at column 5");
}

TEST_CASE("aliases: bad categories") {
  check_contains(alias_error({"x = Vk(3)"}),
                 "bad category 'Vk': expected Vi, Vj, Pm or Var at column 5");
  check_contains(alias_error({"x = Var(0, 3, 3)"}),
                 "bad category 3: expected 0 (i), 1 (j) or 2 (parameter) at column 15");
  check_contains(alias_error({"x = Var(0, 3, -1)"}), "bad category -1");
}

TEST_CASE("collect_arguments: aliases and raw Var leaves, one entry per position") {
  ir::Context ctx;
  const AliasTable t = AliasTable::parse({"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"});
  const std::vector<ArgInfo> only_aliases = collect_arguments(t, {});
  REQUIRE(only_aliases.size() == 3);
  CHECK(only_aliases[0].name == "x");
  CHECK(only_aliases[2].name == "b");
  CHECK(only_aliases[2].dim == 1);
  CHECK(only_aliases[2].cat == ir::CatJ);

  // A Var(3,1,1) written in the formula, mixed with the aliases, is argument 3.
  const ir::Expr f =
      parse_formula("Exp(-SqDist(x,y)) * b * Var(3,1,1) + Var(0,3,0)", t, ctx, ir::DType::F32);
  const std::vector<ArgInfo> args = collect_arguments(t, {f, nullptr});
  REQUIRE(args.size() == 4);
  CHECK(args[0].name == "x");  // the alias names the position Var(0,3,0) also uses
  CHECK(args[3].name == "Var(3,1,1)");
  CHECK(args[3].dim == 1);
  CHECK(args[3].cat == ir::CatJ);

  CHECK(collect_arguments(AliasTable::parse({}), {}).empty());
  // Two aliases of one shape may share a position.
  CHECK(collect_arguments(AliasTable::parse({"x = Vi(0,3)", "z = Var(0,3,0)"}), {}).size() == 1);
}

TEST_CASE("collect_arguments: the Vars a formula writes stay arguments after simplification") {
  ir::Context ctx;
  const AliasTable t = AliasTable::parse({"x = Vi(3)"});
  // The derivatives fold to zeros: no Var is left in the formula, yet the text wrote four.
  const ir::Expr f = parse_formula("Grad(Grad(x + Var(1,3,1), x, Var(2,3,0)), x, Var(3,3,0))", t,
                                   ctx, ir::DType::F64);
  CHECK(f == ctx.zeros(3, ir::DType::F64));
  const std::vector<ArgInfo> args = collect_arguments(t, {f});
  REQUIRE(args.size() == 4);
  CHECK(args[0].name == "x");
  CHECK(args[1].name == "Var(1,3,1)");
  CHECK(args[1].cat == ir::CatJ);
  CHECK(args[2].name == "Var(2,3,0)");
  CHECK(args[3].name == "Var(3,3,0)");
  CHECK(args[3].cat == ir::CatI);
  // Parsed again (another dtype), the same Vars are recorded once.
  parse_formula("Var(1,3,1) * 0", t, ctx, ir::DType::F32);
  CHECK(t.formula_vars().size() == 3);
  CHECK(collect_arguments(t, {}).size() == 4);
  // A written Var that disagrees with another use is refused, even once folded away.
  const AliasTable u = AliasTable::parse({"x = Vi(3)"});
  parse_formula("x + 0 * Sum(Var(0,2,0))", u, ctx, ir::DType::F64);
  check_contains(error_of([&] { collect_arguments(u, {}); }),
                 "alias 'x' = Vi(0,3) and Var(0,2,0) in a formula");
}

TEST_CASE("collect_arguments: two uses of a position with different shapes") {
  ir::Context ctx;
  check_contains(error_of([] {
                   collect_arguments(AliasTable::parse({"x = Vi(0,3)", "y = Vj(0,3)"}), {});
                 }),
                 "collecting arguments: position 0 is used with two shapes: "
                 "alias 'x' = Vi(0,3) and alias 'y' = Vj(0,3)");
  check_contains(error_of([] {
                   collect_arguments(AliasTable::parse({"x = Vi(3)", "y = Vi(0, 2)"}), {});
                 }),
                 "alias 'x' = Vi(0,3) and alias 'y' = Vi(0,2)");
  const AliasTable t = AliasTable::parse({"x = Vi(3)"});
  const ir::Expr f = parse_formula("Sum(x) + Var(0,2,0)", t, ctx, ir::DType::F32);
  check_contains(error_of([&] { collect_arguments(t, {f}); }),
                 "alias 'x' = Vi(0,3) and Var(0,2,0) in a formula");
}

TEST_CASE("collect_arguments: gaps in positions name the missing ones") {
  ir::Context ctx;
  check_contains(error_of([] {
                   collect_arguments(AliasTable::parse({"x = Vi(0,3)", "y = Vj(2,3)"}), {});
                 }),
                 "collecting arguments: no alias or Var uses position 1, but position 2 is used");
  check_contains(error_of([] {
                   collect_arguments(AliasTable::parse({"x = Vi(1,3)", "y = Vj(5,3)"}), {});
                 }),
                 "no alias or Var uses position 0, 2 to 4, but position 5 is used");
  const AliasTable t = AliasTable::parse({"x = Vi(3)"});
  const ir::Expr f = parse_formula("x * Var(2,1,2)", t, ctx, ir::DType::F32);
  check_contains(error_of([&] { collect_arguments(t, {f}); }), "uses position 1, but position 2");
}
