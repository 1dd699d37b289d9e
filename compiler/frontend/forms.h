// The forms of the formula language (forms.def): names that expand into ops when parsed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/frontend/aliases.h"
#include "compiler/ir/context.h"
#include "keops/error.h"

namespace keops::frontend {

enum class Form : uint8_t {
#define KEOPS_FORM(name, spelling, min_args, max_args, signature) name,
#include "compiler/frontend/forms.def"
#undef KEOPS_FORM
};

struct FormInfo {
  std::string_view spelling;
  int min_args;
  int max_args;  // -1: any number
  std::string_view signature;
};

const FormInfo& form_info(Form form);
// The form spelled `name` (exact, case-sensitive), or nullptr.
const Form* form_by_spelling(std::string_view name);
// The category of a leaf spelling: Vi and Vx i, Vj and Vy j, Pm a parameter; else none.
std::optional<ir::Cat> leaf_category(std::string_view spelling);

// One argument of a call as the parser read it: a formula, a number literal (kept a
// number, so that integer attributes stay integers) or a tuple.
struct FormArgument {
  enum class Kind { Formula, Number, Tuple };
  Kind kind = Kind::Formula;
  ir::Expr formula = nullptr;
  double number = 0;
  std::optional<int64_t> integer;  // a Number written as an integer
  int column = 0;                  // where the argument starts in the formula text
  std::string_view text;           // its source text
};

// A call of a form, with what its expansion needs: the IR context and dtype, the alias
// table (which records the Vars the formula writes), and the formula text for messages.
struct FormCall {
  Form form;
  int column;  // of the form's name
  const std::vector<FormArgument>& args;
  const AliasTable& aliases;
  ir::Context& ctx;
  ir::DType dtype;
  std::string_view formula_text;

  // Argument k as a formula (a number becomes a constant); an error at its column for a tuple.
  ir::Expr formula(size_t k) const;
  // Argument k as an integer; an error at its column otherwise.
  int64_t integer(size_t k) const;
  // The keops::Error "parsing formula ...: problem" pointing at `at_column`.
  Error fail(int at_column, const std::string& problem) const;
  // Runs check(); a keops::Error it throws (from the IR or a pass) points at `at_column`.
  void at(int at_column, const std::function<void()>& check) const;
};

// The IR of a call of a form (argument counts already checked); keops::Error pointing at
// the offending argument otherwise.
ir::Expr expand_form(const FormCall& call);

}  // namespace keops::frontend
