// The canonical printer of IR nodes.
#include "compiler/ir/printer.h"

#include <charconv>
#include <cmath>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ir/node.h"

namespace keops::ir {
namespace {

void print_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "(0.0/0.0)";
  } else if (std::isinf(v)) {
    out += v > 0 ? "(1.0/0.0)" : "(-1.0/0.0)";
  } else if (v == 0 && std::signbit(v)) {
    out += "(-0.0)";  // keeps the sign bit, which interning distinguishes
  } else if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    out += std::to_string(int64_t(v));
  } else {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out.append(buf, res.ptr);
  }
}

void print_constant(std::string& out, const std::vector<double>& values, size_t begin) {
  if (begin + 1 == values.size()) return print_number(out, values[begin]);
  out += "Concat(";
  print_number(out, values[begin]);
  out += ",";
  print_constant(out, values, begin + 1);
  out += ")";
}

// Writes n integers as a tuple "(a,b,)" the parser reads back.
size_t print_tuple(std::string& out, const std::vector<int64_t>& ints, size_t pos, int64_t n) {
  out += ",(";
  for (int64_t k = 0; k < n; ++k) out += std::to_string(ints[pos + size_t(k)]) + ",";
  out += ")";
  return pos + size_t(n);
}

// TensorDot and Kron spell their integer attributes as tuples (see ops.def for the layout).
void print_tuple_attributes(std::string& out, Expr e) {
  const auto& v = e->ints;
  if (e->op == Op::Kron) {
    print_tuple(out, v, print_tuple(out, v, 1, v[0]), v[0]);
    return;
  }
  size_t pos = print_tuple(out, v, 1, v[0]);   // dims_f
  pos = print_tuple(out, v, pos + 1, v[pos]);  // dims_g
  const int64_t nc = v[pos];
  pos = print_tuple(out, v, print_tuple(out, v, pos + 1, nc), nc);  // contract_f, contract_g
  if (v[pos] > 0) print_tuple(out, v, pos + 1, v[pos]);             // permutation
}

void print_into(std::string& out, Expr e) {
  if (e->op == Op::Constant) return print_constant(out, e->values, 0);
  out += op_info(e->op).spelling;
  out += "(";
  bool first = true;
  for (Expr a : e->args) {
    if (!first) out += ",";
    print_into(out, a);
    first = false;
  }
  if (e->op == Op::TensorDot || e->op == Op::Kron) {
    print_tuple_attributes(out, e);
    out += ")";
    return;
  }
  for (int64_t v : e->ints) {
    if (!first) out += ",";
    out += std::to_string(v);
    first = false;
  }
  out += ")";
}

}  // namespace

std::string print_dag(Expr root) {
  std::unordered_map<Expr, size_t> number;
  std::string out;
  // Iterative post-order, so that deep graphs cannot overflow the stack.
  std::vector<std::pair<Expr, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next_arg] = stack.back();
    if (number.count(node)) {
      stack.pop_back();
      continue;
    }
    if (next_arg < node->args.size()) {
      Expr arg = node->args[next_arg++];
      if (!number.count(arg)) stack.push_back({arg, 0});
      continue;
    }
    const size_t id = number.size();
    number.emplace(node, id);
    out.append("%").append(std::to_string(id)).append("=");
    if (node->op == Op::Constant) {
      print_constant(out, node->values, 0);
    } else {
      out += op_info(node->op).spelling;
      out += "(";
      for (Expr a : node->args) out.append("%").append(std::to_string(number.at(a))).append(",");
      for (int64_t v : node->ints) out += std::to_string(v) + ",";
      out += ")";
    }
    out += dtype_name(node->dtype);
    out += ";";
    stack.pop_back();
  }
  return out;
}

std::string print(Expr e) {
  std::string out;
  print_into(out, e);
  return out;
}

}  // namespace keops::ir
