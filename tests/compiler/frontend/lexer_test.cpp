// Tests of the formula lexer: every token kind with its column, numbers, and lexing errors.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "compiler/frontend/lexer.h"
#include "keops/error.h"

using keops::frontend::describe;
using keops::frontend::error_at;
using keops::frontend::Token;
using keops::frontend::tokenize;
using keops::frontend::TokenKind;

namespace {

std::vector<Token> lex(std::string_view text) { return tokenize(text, "parsing formula"); }

std::string lex_error(std::string_view text) {
  try {
    lex(text);
  } catch (const keops::Error& e) {
    return e.what();
  }
  return "(no error)";
}

void check_contains(const std::string& message, std::string_view part) {
  CHECK_MESSAGE(message.find(part) != std::string::npos, "'", part, "' not in: ", message);
}

}  // namespace

TEST_CASE("lexer: every token kind, with its text and 1-based column") {
  const std::string text =
      "Exp(x_1) + 2.5E+2 - 3 * .5 / 1e-3 ** [y] | a < b <= c > d >= e == f != g = h, 1.";
  struct Expected {
    TokenKind kind;
    std::string_view text;
    int column;
  };
  const Expected expected[] = {
      {TokenKind::Identifier, "Exp", 1},
      {TokenKind::LParen, "(", 4},
      {TokenKind::Identifier, "x_1", 5},
      {TokenKind::RParen, ")", 8},
      {TokenKind::Plus, "+", 10},
      {TokenKind::Float, "2.5E+2", 12},
      {TokenKind::Minus, "-", 19},
      {TokenKind::Integer, "3", 21},
      {TokenKind::Star, "*", 23},
      {TokenKind::Float, ".5", 25},
      {TokenKind::Slash, "/", 28},
      {TokenKind::Float, "1e-3", 30},
      {TokenKind::StarStar, "**", 35},
      {TokenKind::LBracket, "[", 38},
      {TokenKind::Identifier, "y", 39},
      {TokenKind::RBracket, "]", 40},
      {TokenKind::Pipe, "|", 42},
      {TokenKind::Identifier, "a", 44},
      {TokenKind::Less, "<", 46},
      {TokenKind::Identifier, "b", 48},
      {TokenKind::LessEqual, "<=", 50},
      {TokenKind::Identifier, "c", 53},
      {TokenKind::Greater, ">", 55},
      {TokenKind::Identifier, "d", 57},
      {TokenKind::GreaterEqual, ">=", 59},
      {TokenKind::Identifier, "e", 62},
      {TokenKind::EqualEqual, "==", 64},
      {TokenKind::Identifier, "f", 67},
      {TokenKind::NotEqual, "!=", 69},
      {TokenKind::Identifier, "g", 72},
      {TokenKind::Assign, "=", 74},
      {TokenKind::Identifier, "h", 76},
      {TokenKind::Comma, ",", 77},
      {TokenKind::Float, "1.", 79},
      {TokenKind::End, "", 81},
  };
  const std::vector<Token> tokens = lex(text);
  REQUIRE(tokens.size() == std::size(expected));
  for (size_t k = 0; k < tokens.size(); ++k) {
    CAPTURE(k);
    CHECK(tokens[k].kind == expected[k].kind);
    CHECK(tokens[k].text == expected[k].text);
    CHECK(tokens[k].column == expected[k].column);
  }
}

TEST_CASE("lexer: number values") {
  auto first = [](std::string_view text) { return lex(text).front(); };
  CHECK(first("42").integer == 42);
  CHECK(first("42").number == 42.0);
  CHECK(first("9223372036854775807").integer == INT64_MAX);
  CHECK(first("0.5").number == 0.5);
  CHECK(first(".5").number == 0.5);
  CHECK(first("1e-3").number == 1e-3);
  CHECK(first("2.5E+2").number == 250.0);
  CHECK(first("3.").number == 3.0);
  CHECK(first("1e3").kind == TokenKind::Float);  // an exponent makes a float, as in Python
}

TEST_CASE("lexer: whitespace, an empty text, and the End token") {
  const std::vector<Token> tokens = lex(" \tx\n+\r\ny ");
  REQUIRE(tokens.size() == 4);
  CHECK(tokens[0].column == 3);
  CHECK(tokens[1].column == 5);
  CHECK(tokens[2].column == 8);
  CHECK(tokens[3].kind == TokenKind::End);
  CHECK(tokens[3].column == 10);
  const std::vector<Token> empty = lex("");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].kind == TokenKind::End);
  CHECK(empty[0].column == 1);
  CHECK(describe(empty[0]) == "end of input");
  CHECK(describe(tokens[0]) == "'x'");
}

TEST_CASE("lexer: errors name the problem and the column") {
  check_contains(lex_error("x % y"), "parsing formula \"x % y\": unknown operator '%' at column 3");
  check_contains(lex_error("x ^ 2"), "unknown operator '^' at column 3");
  check_contains(lex_error("!x"), "unknown operator '!' at column 1");
  check_contains(lex_error("x\x01"), "unexpected character '\\x01' at column 2");
  check_contains(lex_error("2*1e"),
                 "malformed number '1e' (the exponent has no digits) at column 3");
  check_contains(lex_error("1e+"), "malformed number '1e+'");
  check_contains(lex_error("99999999999999999999"),
                 "the integer '99999999999999999999' is too large");
  check_contains(lex_error("1e999"), "the number '1e999' is out of the range of float64");
  CHECK_THROWS_AS(lex("x % y"), keops::Error);
}

TEST_CASE("lexer: error_at echoes the text with a caret under the column") {
  const keops::Error e = error_at("parsing formula", "Exp(\tz)", 6, "unknown variable 'z'");
  CHECK(std::string(e.what()) ==
        "parsing formula \"Exp(\tz)\": unknown variable 'z' at column 6\n"
        "  Exp( z)\n"
        "       ^");
}
