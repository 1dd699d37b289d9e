// The formula parser: recursive descent over the tokens, building checked, interned IR.
#include "compiler/frontend/parser.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/frontend/forms.h"
#include "compiler/frontend/lexer.h"
#include "compiler/ir/traverse.h"
#include "keops/error.h"

namespace keops::frontend {
namespace {

constexpr std::string_view kParsingFormula = "parsing formula";

// Deeper nesting is refused with an error. A level costs about 2.5 KB of stack (measured
// with g++ -O2), so the deepest formula stays near 1.25 MB, within any thread's stack.
constexpr int kMaxNesting = 500;
// Operator chains (x+x+...+x) nest without parentheses: the parsed formula's depth is capped
// too, since compiling and printing walk it recursively (its derivatives are a few times
// deeper; jit/kernel_depth.h caps those).
constexpr int64_t kMaxDepth = 2000;

// A parsed operand. Number literals stay numbers until an op needs them as a formula, so
// that an integer exponent or attribute (Pow(x, -2), x**3) is known to be one, and -2 is
// a literal rather than Minus(2).
struct Operand {
  using Kind = FormArgument::Kind;
  Kind kind = Kind::Formula;
  ir::Expr formula = nullptr;
  double number = 0;
  std::optional<int64_t> integer;  // a Number written as an integer
  std::vector<int64_t> tuple;      // (4,4), [4,4], (1,), ()
  int column = 0;                  // where the operand starts
};

struct Comparison {
  ir::Op op;
  bool swapped;  // a > b is LessThan(b, a)
};

std::optional<Comparison> comparison_of(TokenKind kind) {
  switch (kind) {
    case TokenKind::Less:
      return Comparison{ir::Op::LessThan, false};
    case TokenKind::LessEqual:
      return Comparison{ir::Op::LessOrEqual, false};
    case TokenKind::Greater:
      return Comparison{ir::Op::LessThan, true};
    case TokenKind::GreaterEqual:
      return Comparison{ir::Op::LessOrEqual, true};
    case TokenKind::EqualEqual:
      return Comparison{ir::Op::Equal, false};
    case TokenKind::NotEqual:
      return Comparison{ir::Op::NotEqual, false};
    default:
      return std::nullopt;
  }
}

std::string plural(size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

class Parser {
 public:
  Parser(std::string_view text, const AliasTable& aliases, ir::Context& ctx, ir::DType dtype)
      : text_(text),
        tokens_(tokenize(text, kParsingFormula)),
        aliases_(aliases),
        ctx_(ctx),
        dtype_(dtype) {}

  ir::Expr run() {
    if (peek().kind == TokenKind::End) throw fail(1, "empty formula");
    while (peek().kind == TokenKind::Identifier && tokens_[pos_ + 1].kind == TokenKind::Assign)
      binding();
    Operand result = expression();
    const Token& rest = peek();
    if (rest.kind == TokenKind::RParen)
      throw fail(rest, "unbalanced parenthesis: this ')' has no matching '('");
    if (rest.kind != TokenKind::End)
      throw fail(rest, "unexpected " + describe(rest) + " after a complete formula");
    const ir::Expr parsed = formula(result, "the formula");
    if (const int64_t levels = ir::depth(parsed); levels > kMaxDepth)
      throw fail(1, "the formula is " + std::to_string(levels) + " operations deep; at most " +
                        std::to_string(kMaxDepth) +
                        " are supported (a long chain such as x+x+...+x: sum a vector instead)");
    return parsed;
  }

 private:
  // ---- tokens and errors

  const Token& peek() const { return tokens_[pos_]; }
  const Token& next() { return tokens_[pos_++]; }
  bool accept(TokenKind kind) {
    if (peek().kind != kind) return false;
    ++pos_;
    return true;
  }

  Error fail(int column, const std::string& problem) const {
    return error_at(kParsingFormula, text_, column, problem);
  }
  Error fail(const Token& at, const std::string& problem) const { return fail(at.column, problem); }

  // The source text of tokens [first, pos_).
  std::string_view text_since(size_t first) const {
    const Token& last = tokens_[pos_ - 1];
    const size_t begin = size_t(tokens_[first].column - 1);
    return text_.substr(begin, size_t(last.column - 1) + last.text.size() - begin);
  }

  // Consumes the `close` token matching `open`, or explains why there is none.
  void close(const Token& open, TokenKind closing, const char* expected) {
    if (accept(closing)) return;
    if (peek().kind == TokenKind::End)
      throw fail(open, "unbalanced parenthesis: this " + describe(open) + " is never closed");
    throw fail(peek(), std::string("expected ") + expected + ", got " + describe(peek()));
  }

  // ---- operands

  ir::Expr formula(const Operand& operand, const std::string& what) {
    switch (operand.kind) {
      case Operand::Kind::Formula:
        return operand.formula;
      case Operand::Kind::Number:
        return ctx_.scalar(operand.number, dtype_);
      case Operand::Kind::Tuple:
        break;
    }
    throw fail(operand.column,
               what + " is a tuple; tuples are only arguments of TensorDot and Kron");
  }

  // ctx.make, with its type errors pointing at the operator or call at `column`.
  Operand make(ir::Op op, std::vector<ir::Expr> args, std::vector<int64_t> ints, int column,
               int operand_column) {
    try {
      return {Operand::Kind::Formula, ctx_.make(op, std::move(args), std::move(ints)), 0, {}, {},
              operand_column};
    } catch (const Error& e) {
      throw fail(column, e.what());
    }
  }

  Operand binary(ir::Op op, const Operand& lhs, const Operand& rhs, const Token& op_token) {
    const std::string what = "an operand of " + describe(op_token);
    return make(op, {formula(lhs, what), formula(rhs, what)}, {}, op_token.column, lhs.column);
  }

  // ---- grammar, lowest precedence first

  // comparison := scalar_product [('<' | '<=' | '>' | '>=' | '==' | '!=') scalar_product]
  Operand expression() {
    Operand lhs = scalar_product();
    const auto cmp = comparison_of(peek().kind);
    if (!cmp) return lhs;
    const Token& op_token = next();
    Operand rhs = scalar_product();
    if (comparison_of(peek().kind))
      throw fail(peek(), "chained comparisons are not supported; add parentheses");
    return cmp->swapped ? binary(cmp->op, rhs, lhs, op_token) : binary(cmp->op, lhs, rhs, op_token);
  }

  // scalar_product := sum ('|' sum)*       ((f|g) is Scalprod, as Python's | in KeOps)
  Operand scalar_product() {
    Operand lhs = sum();
    while (peek().kind == TokenKind::Pipe) {
      const Token& op_token = next();
      lhs = binary(ir::Op::Scalprod, lhs, sum(), op_token);
    }
    return lhs;
  }

  // sum := product (('+' | '-') product)*
  Operand sum() {
    Operand lhs = product();
    while (peek().kind == TokenKind::Plus || peek().kind == TokenKind::Minus) {
      const Token& op_token = next();
      const ir::Op op = op_token.kind == TokenKind::Plus ? ir::Op::Add : ir::Op::Subtract;
      lhs = binary(op, lhs, product(), op_token);
    }
    return lhs;
  }

  // product := unary (('*' | '/') unary)*
  Operand product() {
    Operand lhs = unary();
    while (peek().kind == TokenKind::Star || peek().kind == TokenKind::Slash) {
      const Token& op_token = next();
      const ir::Op op = op_token.kind == TokenKind::Star ? ir::Op::Mult : ir::Op::Divide;
      lhs = binary(op, lhs, unary(), op_token);
    }
    return lhs;
  }

  // unary := ('-' | '+') unary | power.  Every recursion of the grammar passes here.
  Operand unary() {
    if (++nesting_ > kMaxNesting)
      throw fail(peek(),
                 "the formula nests deeper than " + std::to_string(kMaxNesting) + " levels");
    Operand result;
    if (peek().kind == TokenKind::Minus || peek().kind == TokenKind::Plus) {
      const Token& sign = next();
      result = unary();
      result.column = sign.column;
      if (sign.kind == TokenKind::Minus) result = negate(result, sign);
    } else {
      result = power();
    }
    --nesting_;
    return result;
  }

  Operand negate(Operand operand, const Token& sign) {
    if (operand.kind != Operand::Kind::Number)
      return make(ir::Op::Minus, {formula(operand, "the operand of '-'")}, {}, sign.column,
                  sign.column);
    if (operand.integer) {
      operand.integer = -*operand.integer;
      operand.number = double(*operand.integer);  // -0 is the integer 0, not -0.0
    } else {
      operand.number = -operand.number;
    }
    return operand;
  }

  // power := primary ['**' unary]: x**2 is Square, x**n Pow, x**y (not an integer) Powf.
  Operand power() {
    Operand base = primary();
    if (peek().kind != TokenKind::StarStar) return base;
    const Token& op_token = next();
    const Operand exponent = unary();
    const std::string what = "an operand of '**'";
    if (!exponent.integer)
      return make(ir::Op::Powf, {formula(base, what), formula(exponent, what)}, {}, op_token.column,
                  base.column);
    if (*exponent.integer == 2)
      return make(ir::Op::Square, {formula(base, what)}, {}, op_token.column, base.column);
    return make(ir::Op::Pow, {formula(base, what)}, {*exponent.integer}, op_token.column,
                base.column);
  }

  // primary := number | name | name '(' arguments ')' | '(' group ')' | '[' integers ']'
  Operand primary() {
    const Token& token = next();
    switch (token.kind) {
      case TokenKind::Integer:
        return {Operand::Kind::Number, nullptr, token.number, token.integer, {}, token.column};
      case TokenKind::Float:
        return {Operand::Kind::Number, nullptr, token.number, std::nullopt, {}, token.column};
      case TokenKind::Identifier:
        return peek().kind == TokenKind::LParen ? call(token) : variable(token);
      case TokenKind::LParen:
        return group(token);
      case TokenKind::LBracket:
        return tuple(token, {}, TokenKind::RBracket, "',' or ']'");
      case TokenKind::End:
        throw fail(token, "unexpected end of input, expected an operand");
      default:
        break;
    }
    throw fail(token, "expected an operand, got " + describe(token));
  }

  // '(' ')' is an empty tuple, '(' e ')' is e, '(' e ',' ... ')' a tuple.
  Operand group(const Token& open) {
    if (accept(TokenKind::RParen)) return {Operand::Kind::Tuple, nullptr, 0, {}, {}, open.column};
    Operand inner = expression();
    if (peek().kind == TokenKind::Comma) return tuple(open, inner, TokenKind::RParen, "',' or ')'");
    close(open, TokenKind::RParen, "')'");
    inner.column = open.column;
    return inner;
  }

  // The rest of a tuple of integers, after its opening token and its first element if any.
  Operand tuple(const Token& open, std::optional<Operand> first, TokenKind closing,
                const char* expected) {
    Operand result{Operand::Kind::Tuple, nullptr, 0, {}, {}, open.column};
    auto add = [&](const Operand& element) {
      if (!element.integer) throw fail(element.column, "a tuple holds integers only");
      result.tuple.push_back(*element.integer);
    };
    if (first) {
      add(*first);
      accept(TokenKind::Comma);
    }
    while (peek().kind != closing && peek().kind != TokenKind::End) {
      add(expression());
      if (!accept(TokenKind::Comma)) break;
    }
    close(open, closing, expected);
    return result;
  }

  // "name = value;" before the formula: name stands for value in what follows (the IR
  // printer writes shared subexpressions so, once each). Bindings hide aliases.
  void binding() {
    const Token& name = next();
    next();  // '='
    if (bindings_.contains(std::string(name.text)))
      throw fail(name, "'" + std::string(name.text) + "' is bound twice");
    if (is_reserved_name(name.text) || ir::op_by_spelling(name.text))
      throw fail(name, "'" + std::string(name.text) + "' is a function; it cannot be bound");
    Operand value = expression();
    if (!accept(TokenKind::Semicolon))
      throw fail(peek(), "expected ';' after the value bound to '" + std::string(name.text) +
                             "', got " + describe(peek()));
    bindings_.emplace(std::string(name.text), std::move(value));
  }

  Operand variable(const Token& name) {
    if (auto bound = bindings_.find(std::string(name.text)); bound != bindings_.end()) {
      Operand operand = bound->second;
      operand.column = name.column;
      return operand;
    }
    if (const Alias* alias = aliases_.find(name.text))
      return {Operand::Kind::Formula,
              ctx_.var(alias->index, alias->dim, alias->cat, dtype_),
              0,
              {},
              {},
              name.column};
    if (is_reserved_name(name.text))
      throw fail(name, "'" + std::string(name.text) + "' is a function; call it as " +
                           std::string(name.text) + "(...)");
    throw fail(name, "unknown variable '" + std::string(name.text) + "'");
  }

  // ---- calls

  struct Argument {
    Operand operand;
    std::string_view text;
  };

  Operand call(const Token& name) {
    const std::string spelled(name.text);
    if (aliases_.find(name.text) || bindings_.contains(spelled))
      throw fail(name, "'" + spelled + "' is a variable, not a function");
    if (const Form* form = form_by_spelling(name.text)) return form_call(*form, name);
    const ir::Op* op = ir::op_by_spelling(name.text);
    if (!op) throw fail(name, "unknown function '" + spelled + "'");
    if (*op == ir::Op::Constant)
      throw fail(name, "'Constant' is not written in formulas; write the number itself");

    const std::vector<Argument> args = arguments(next());
    if (*op == ir::Op::TensorDot || *op == ir::Op::Kron) return tensor_op(*op, name, args);

    const ir::OpInfo& info = ir::op_info(*op);
    const size_t expected = size_t(info.arity + info.int_attrs);
    if (args.size() != expected) {
      std::string counts = plural(expected, "argument");
      if (info.int_attrs > 0)
        counts += " (" + plural(size_t(info.arity), "formula") + ", then " +
                  plural(size_t(info.int_attrs), "integer") + ")";
      throw fail(name, "wrong number of arguments: " + spelled + " expects " + counts + ", got " +
                           std::to_string(args.size()));
    }
    std::vector<ir::Expr> formulas;
    std::vector<int64_t> ints;
    for (size_t k = 0; k < args.size(); ++k) {
      if (k < size_t(info.arity))
        formulas.push_back(formula(args[k].operand, argument_name(spelled, k)));
      else
        ints.push_back(integer(args[k], spelled, k));
    }
    return make(*op, std::move(formulas), std::move(ints), name.column, name.column);
  }

  // '(' [argument (',' argument)* [',']] ')', after the '('.
  std::vector<Argument> arguments(const Token& open) {
    std::vector<Argument> args;
    while (peek().kind != TokenKind::RParen && peek().kind != TokenKind::End) {
      const size_t first = pos_;
      Operand operand = expression();
      args.push_back({std::move(operand), text_since(first)});
      if (!accept(TokenKind::Comma)) break;
    }
    close(open, TokenKind::RParen, "',' or ')'");
    return args;
  }

  static std::string argument_name(const std::string& function, size_t k) {
    return "argument " + std::to_string(k + 1) + " of " + function;
  }

  int64_t integer(const Argument& arg, const std::string& function, size_t k) {
    if (!arg.operand.integer)
      throw fail(arg.operand.column, "bad integer attribute: " + argument_name(function, k) +
                                         " must be an integer, got '" + std::string(arg.text) +
                                         "'");
    return *arg.operand.integer;
  }

  // A tuple argument; a bare integer n is the tuple (n,).
  std::vector<int64_t> integer_tuple(const Argument& arg, const std::string& function, size_t k) {
    if (arg.operand.kind == Operand::Kind::Tuple) return arg.operand.tuple;
    if (arg.operand.integer) return {*arg.operand.integer};
    throw fail(arg.operand.column, "bad integer attribute: " + argument_name(function, k) +
                                       " must be a tuple of integers such as (4,4), got '" +
                                       std::string(arg.text) + "'");
  }

  // A form of forms.def: its argument count checked here, its meaning in forms.cpp.
  Operand form_call(Form form, const Token& name) {
    const std::vector<Argument> args = arguments(next());
    const FormInfo& info = form_info(form);
    const int count = int(args.size());
    if (count < info.min_args || (info.max_args >= 0 && count > info.max_args)) {
      const std::string expected =
          info.min_args == info.max_args
              ? std::to_string(info.min_args)
              : std::to_string(info.min_args) + " to " + std::to_string(info.max_args);
      throw fail(name, "wrong number of arguments: " + std::string(info.spelling) + " expects " +
                           expected + " " + std::string(info.signature) + ", got " +
                           std::to_string(count));
    }
    std::vector<FormArgument> form_args;
    for (const Argument& a : args) {
      const Operand& o = a.operand;
      form_args.push_back({o.kind, o.formula, o.number, o.integer, o.column, a.text});
    }
    const FormCall call{form, name.column, form_args, aliases_, ctx_, dtype_, text_};
    return {Operand::Kind::Formula, expand_form(call), 0, {}, {}, name.column};
  }

  // TensorDot(f, g, dims_f, dims_g, contract_f, contract_g [, permute]) and
  // Kron(f, g, dims_f, dims_g), their tuples encoded as ops.def lays them out.
  Operand tensor_op(ir::Op op, const Token& name, const std::vector<Argument>& args) {
    const std::string spelled(name.text);
    const bool is_kron = op == ir::Op::Kron;
    const bool count_ok = is_kron ? args.size() == 4 : args.size() == 6 || args.size() == 7;
    if (!count_ok)
      throw fail(name, "wrong number of arguments: " + spelled +
                           (is_kron ? " expects 4 (f, g, dims_f, dims_g)"
                                    : " expects 6 or 7 (f, g, dims_f, dims_g, contract_f, "
                                      "contract_g [, permute])") +
                           ", got " + std::to_string(args.size()));
    std::vector<ir::Expr> formulas{formula(args[0].operand, argument_name(spelled, 0)),
                                   formula(args[1].operand, argument_name(spelled, 1))};
    std::vector<std::vector<int64_t>> tuples;
    for (size_t k = 2; k < args.size(); ++k) tuples.push_back(integer_tuple(args[k], spelled, k));

    // Both lists of a pair must be as long as each other, or the encoding is ambiguous.
    auto same_length = [&](size_t a, size_t b, const char* what) {
      if (tuples[a].size() != tuples[b].size())
        throw fail(args[b + 2].operand.column, "in " + spelled + ": " + what + " have " +
                                                   std::to_string(tuples[a].size()) + " and " +
                                                   std::to_string(tuples[b].size()) + " entries");
    };
    std::vector<int64_t> ints;
    auto append = [&](const std::vector<int64_t>& t, bool with_length) {
      if (with_length) ints.push_back(int64_t(t.size()));
      ints.insert(ints.end(), t.begin(), t.end());
    };
    if (is_kron) {
      same_length(0, 1, "dims_f and dims_g");
      append(tuples[0], true);
      append(tuples[1], false);
    } else {
      same_length(2, 3, "contract_f and contract_g");
      append(tuples[0], true);
      append(tuples[1], true);
      append(tuples[2], true);
      append(tuples[3], false);
      append(tuples.size() == 5 ? tuples[4] : std::vector<int64_t>{}, true);
    }
    return make(op, std::move(formulas), std::move(ints), name.column, name.column);
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
  std::map<std::string, Operand> bindings_;
  const AliasTable& aliases_;
  ir::Context& ctx_;
  ir::DType dtype_;
};

}  // namespace

ir::Expr parse_formula(std::string_view text, const AliasTable& aliases, ir::Context& ctx,
                       ir::DType dtype) {
  return Parser(text, aliases, ctx, dtype).run();
}

}  // namespace keops::frontend
