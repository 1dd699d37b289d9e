// Tokens of the formula and alias language, each with its 1-based column, and the
// diagnostic format shared by the lexer, the parser and the alias table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keops/error.h"

namespace keops::frontend {

enum class TokenKind {
  Identifier,
  Integer,  // digits only: 3
  Float,    // with a point or an exponent: 0.5, .5, 1e-3, 2.5E+2
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Plus,
  Minus,
  Star,
  Slash,
  StarStar,
  Pipe,
  Less,
  LessEqual,
  Greater,
  GreaterEqual,
  EqualEqual,
  NotEqual,
  Assign,     // "=": aliases, and bindings at the start of a formula
  Semicolon,  // ";": ends a binding
  End,        // after the last token; its column is one past the text
};

struct Token {
  TokenKind kind;
  std::string_view text;  // a view into the lexed text, which must outlive the token
  int column;             // 1-based byte column of the first character
  int64_t integer = 0;    // Integer
  double number = 0;      // Integer and Float
};

// The tokens of `text`, ending with an End token. `doing` says what the text is for
// ("parsing formula"), to start the message of a keops::Error on a malformed number or
// an unknown character.
std::vector<Token> tokenize(std::string_view text, std::string_view doing);

// How a token is named in a message: 'text', or "end of input".
std::string describe(const Token& token);

// The error `doing "text": problem at column N`, followed by the text and a caret under
// the column, so that every message of the frontend points at the same way.
Error error_at(std::string_view doing, std::string_view text, int column, std::string_view problem);

}  // namespace keops::frontend
