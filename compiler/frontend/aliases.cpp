// The alias table: parses alias strings, and collects the argument positions of a call.
#include "compiler/frontend/aliases.h"

#include <climits>
#include <map>
#include <optional>
#include <unordered_set>

#include "compiler/frontend/forms.h"
#include "compiler/frontend/lexer.h"
#include "keops/error.h"

namespace keops::frontend {
namespace {

constexpr std::string_view kParsingAlias = "parsing alias";

struct ParsedAlias {
  Alias alias;
  bool has_position;
  int name_column;
};

// name = Vi(dim) | Vi(position, dim) (also Vj, Pm, Vx, Vy) | Var(position, dim, cat)
class AliasParser {
 public:
  explicit AliasParser(std::string_view text)
      : text_(text), tokens_(tokenize(text, kParsingAlias)) {}

  ParsedAlias run() {
    const Token& name = expect(TokenKind::Identifier, "a name");
    if (is_reserved_name(name.text))
      throw fail(name, "the name '" + std::string(name.text) +
                           "' is reserved (it names an op or a form of the formula language)");
    expect(TokenKind::Assign, "'='");
    const Token& form = expect(TokenKind::Identifier, "Vi, Vj, Pm or Var");
    expect(TokenKind::LParen, "'('");
    std::vector<std::pair<int64_t, const Token*>> numbers{signed_integer()};
    while (tokens_[pos_].kind == TokenKind::Comma) {
      ++pos_;
      numbers.push_back(signed_integer());
    }
    expect(TokenKind::RParen, "',' or ')'");
    expect(TokenKind::End, "end of input after ')'");

    ParsedAlias parsed{{std::string(name.text), 0, 0, ir::CatI}, false, name.column};
    if (form.text == "Var") {
      if (numbers.size() != 3)
        throw fail(form, "malformed alias: Var takes (position, dim, cat), got " +
                             count_text(numbers.size()));
      const auto [cat, cat_token] = numbers[2];
      if (cat < 0 || cat > 2)
        throw fail(*cat_token, "bad category " + std::to_string(cat) +
                                   ": expected 0 (i), 1 (j) or 2 (parameter)");
      parsed.alias.cat = ir::Cat(cat);
    } else if (const std::optional<ir::Cat> cat = leaf_category(form.text)) {
      if (numbers.size() > 2)
        throw fail(form, "malformed alias: " + std::string(form.text) +
                             " takes (dim) or (position, dim), got " + count_text(numbers.size()));
      parsed.alias.cat = *cat;
      if (numbers.size() == 1) numbers.insert(numbers.begin(), {0, nullptr});
    } else {
      throw fail(form, "bad category '" + std::string(form.text) + "': expected Vi, Vj, Pm or Var");
    }
    const auto [position, position_token] = numbers[0];
    const auto [dim, dim_token] = numbers[1];
    parsed.has_position = position_token != nullptr;
    if (position_token && (position < 0 || position > INT_MAX))
      throw fail(*position_token, "the position must be in [0, " + std::to_string(INT_MAX) +
                                      "], not " + std::to_string(position));
    if (dim < 1 || dim > INT_MAX)
      throw fail(*dim_token, "the dim must be in [1, " + std::to_string(INT_MAX) + "], not " +
                                 std::to_string(dim));
    parsed.alias.index = int(position);
    parsed.alias.dim = int(dim);
    return parsed;
  }

  Error fail(const Token& at, const std::string& problem) const {
    return error_at(kParsingAlias, text_, at.column, problem);
  }

 private:
  const Token& expect(TokenKind kind, const char* what) {
    const Token& token = tokens_[pos_];
    if (token.kind != kind)
      throw fail(token,
                 std::string("malformed alias: expected ") + what + ", got " + describe(token));
    ++pos_;
    return token;
  }

  std::pair<int64_t, const Token*> signed_integer() {
    const bool negative = tokens_[pos_].kind == TokenKind::Minus;
    if (negative) ++pos_;
    const Token& digits = expect(TokenKind::Integer, "an integer");
    return {negative ? -digits.integer : digits.integer, &digits};
  }

  static std::string count_text(size_t n) {
    return std::to_string(n) + (n == 1 ? " integer" : " integers");
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

std::string var_spelling(int index, int dim, ir::Cat cat) {
  return "Var(" + std::to_string(index) + "," + std::to_string(dim) + "," +
         std::to_string(int(cat)) + ")";
}

std::string_view cat_form(ir::Cat cat) {
  return cat == ir::CatI ? "Vi" : cat == ir::CatJ ? "Vj" : "Pm";
}

// One use of an argument position, and how to name it in a message.
struct PositionUse {
  ArgInfo info;
  std::string source;
};

}  // namespace

bool is_reserved_name(std::string_view name) {
  return ir::op_by_spelling(name) != nullptr || form_by_spelling(name) != nullptr;
}

void AliasTable::record_formula_var(int index, int dim, ir::Cat cat) const {
  for (const Alias& v : formula_vars_)
    if (v.index == index && v.dim == dim && v.cat == cat) return;
  formula_vars_.push_back({var_spelling(index, dim, cat), index, dim, cat});
}

AliasTable AliasTable::parse(const std::vector<std::string>& aliases) {
  AliasTable table;
  int next_implicit_position = 0;
  for (size_t k = 0; k < aliases.size(); ++k) {
    AliasParser parser(aliases[k]);
    ParsedAlias parsed = parser.run();
    for (size_t previous = 0; previous < k; ++previous)
      if (table.aliases_[previous].name == parsed.alias.name)
        throw error_at(kParsingAlias, aliases[k], parsed.name_column,
                       "duplicate name '" + parsed.alias.name + "' (alias " +
                           std::to_string(previous + 1) + ", \"" + aliases[previous] +
                           "\", defines it already)");
    if (!parsed.has_position) parsed.alias.index = next_implicit_position++;
    table.aliases_.push_back(std::move(parsed.alias));
  }
  return table;
}

const Alias* AliasTable::find(std::string_view name) const {
  for (const Alias& alias : aliases_)
    if (alias.name == name) return &alias;
  return nullptr;
}

std::vector<ArgInfo> collect_arguments(const AliasTable& aliases,
                                       const std::vector<ir::Expr>& formulas) {
  std::map<int, PositionUse> uses;
  auto use = [&](int index, PositionUse u) {
    auto [it, fresh] = uses.emplace(index, u);
    const ArgInfo& first = it->second.info;
    if (!fresh && (first.dim != u.info.dim || first.cat != u.info.cat))
      throw Error("collecting arguments: position " + std::to_string(index) +
                  " is used with two shapes: " + it->second.source + " and " + u.source);
  };
  for (const Alias& a : aliases.aliases())
    use(a.index, {{a.name, a.dim, a.cat},
                  "alias '" + a.name + "' = " + std::string(cat_form(a.cat)) + "(" +
                      std::to_string(a.index) + "," + std::to_string(a.dim) + ")"});

  for (const Alias& v : aliases.formula_vars())
    use(v.index, {{v.name, v.dim, v.cat}, v.name + " in a formula"});

  std::unordered_set<ir::Expr> seen;
  std::vector<ir::Expr> stack;
  for (ir::Expr f : formulas)
    if (f) stack.push_back(f);
  while (!stack.empty()) {
    ir::Expr e = stack.back();
    stack.pop_back();
    if (!seen.insert(e).second) continue;
    if (e->is(ir::Op::Var)) {
      const std::string spelled = var_spelling(e->var_index(), e->dim, e->var_cat());
      if (e->var_index() < 0)
        throw Error("collecting arguments: the formula still reads " + spelled +
                    ", a symbolic variable (negative position) that no argument backs; only a "
                    "derivative or a linear operator in it may remove it");
      use(e->var_index(), {{spelled, e->dim, e->var_cat()}, spelled + " in a formula"});
    }
    for (ir::Expr a : e->args) stack.push_back(a);
  }

  // Gaps are named as ranges: a stray huge position must not make a huge message.
  std::vector<ArgInfo> arguments;
  std::string missing;
  int64_t next = 0;  // (one past INT_MAX for a position there)
  for (const auto& [index, u] : uses) {
    if (index > next)
      missing += (missing.empty() ? "" : ", ") + std::to_string(next) +
                 (index - 1 > next ? " to " + std::to_string(index - 1) : "");
    next = int64_t(index) + 1;
    arguments.push_back(u.info);
  }
  if (!missing.empty())
    throw Error("collecting arguments: no alias or Var uses position " + missing +
                ", but position " + std::to_string(uses.rbegin()->first) +
                " is used (argument positions run from 0 without gaps)");
  return arguments;
}

}  // namespace keops::frontend
