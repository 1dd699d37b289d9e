// The lexer of formulas and aliases: text to tokens with columns.
#include "compiler/frontend/lexer.h"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace keops::frontend {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_identifier_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_identifier_char(char c) { return is_identifier_start(c) || is_digit(c); }

struct Punctuation {
  std::string_view spelling;
  TokenKind kind;
};

// Two-character spellings first, so that "**" is not read as two "*".
constexpr Punctuation kPunctuation[] = {
    {"**", TokenKind::StarStar},   {"<=", TokenKind::LessEqual}, {">=", TokenKind::GreaterEqual},
    {"==", TokenKind::EqualEqual}, {"!=", TokenKind::NotEqual},  {"(", TokenKind::LParen},
    {")", TokenKind::RParen},      {"[", TokenKind::LBracket},   {"]", TokenKind::RBracket},
    {",", TokenKind::Comma},       {"+", TokenKind::Plus},       {"-", TokenKind::Minus},
    {"*", TokenKind::Star},        {"/", TokenKind::Slash},      {"|", TokenKind::Pipe},
    {"<", TokenKind::Less},        {">", TokenKind::Greater},    {"=", TokenKind::Assign},
    {";", TokenKind::Semicolon},
};

class Lexer {
 public:
  Lexer(std::string_view text, std::string_view doing) : text_(text), doing_(doing) {}

  std::vector<Token> run() {
    std::vector<Token> tokens;
    while (true) {
      while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      if (pos_ == text_.size()) break;
      tokens.push_back(next());
    }
    tokens.push_back({TokenKind::End, text_.substr(pos_, 0), column(pos_)});
    return tokens;
  }

 private:
  int column(size_t offset) const { return int(offset) + 1; }

  Token next() {
    const size_t start = pos_;
    const char c = text_[pos_];
    if (is_identifier_start(c)) {
      while (pos_ < text_.size() && is_identifier_char(text_[pos_])) ++pos_;
      return {TokenKind::Identifier, text_.substr(start, pos_ - start), column(start)};
    }
    if (is_digit(c) || (c == '.' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])))
      return number();
    for (const Punctuation& p : kPunctuation) {
      if (text_.substr(pos_, p.spelling.size()) == p.spelling) {
        pos_ += p.spelling.size();
        return {p.kind, text_.substr(start, p.spelling.size()), column(start)};
      }
    }
    throw error_at(doing_, text_, column(start), unknown_character(c));
  }

  // digits [. digits] [e [+-] digits], or . digits [e [+-] digits]
  Token number() {
    const size_t start = pos_;
    bool is_float = false;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
      return pos_ > from;
    };
    digits();
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      digits();
      is_float = true;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits())
        throw error_at(doing_, text_, column(start),
                       "malformed number '" + std::string(text_.substr(start, pos_ - start)) +
                           "' (the exponent has no digits)");
      is_float = true;
    }
    const std::string_view spelling = text_.substr(start, pos_ - start);
    Token token{is_float ? TokenKind::Float : TokenKind::Integer, spelling, column(start)};
    if (is_float) {
      // from_chars reads no leading '.': ".5" is read as "0.5"
      std::string digits_text(spelling.front() == '.' ? "0" : "");
      digits_text.append(spelling);
      const char* first = digits_text.data();
      if (std::from_chars(first, first + digits_text.size(), token.number).ec != std::errc())
        throw error_at(doing_, text_, token.column,
                       "the number '" + std::string(spelling) + "' is out of the range of float64");
    } else {
      const char* first = spelling.data();
      if (std::from_chars(first, first + spelling.size(), token.integer).ec != std::errc())
        throw error_at(doing_, text_, token.column,
                       "the integer '" + std::string(spelling) + "' is too large");
      token.number = double(token.integer);
    }
    return token;
  }

  static std::string unknown_character(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (std::ispunct(u)) return std::string("unknown operator '") + c + "'";
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", unsigned(u));
    return std::string("unexpected character '") + hex + "'";
  }

  std::string_view text_;
  std::string_view doing_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<Token> tokenize(std::string_view text, std::string_view doing) {
  return Lexer(text, doing).run();
}

std::string describe(const Token& token) {
  if (token.kind == TokenKind::End) return "end of input";
  std::string quoted = "'";  // appended, not "'" + string: GCC 12 warns falsely (-Wrestrict)
  quoted.append(token.text).append("'");
  return quoted;
}

Error error_at(std::string_view doing, std::string_view text, int column,
               std::string_view problem) {
  std::string message = std::string(doing) + " \"" + std::string(text) +
                        "\": " + std::string(problem) + " at column " + std::to_string(column);
  // The echoed text keeps one byte per column, so the caret lines up.
  std::string echo(text);
  for (char& c : echo)
    if (std::isspace(static_cast<unsigned char>(c))) c = ' ';
  message += "\n  " + echo + "\n  " + std::string(size_t(column - 1), ' ') + "^";
  return Error(message);
}

}  // namespace keops::frontend
