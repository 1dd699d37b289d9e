// The canonical printer of IR nodes.
#include "compiler/ir/printer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ir/node.h"
#include "compiler/ir/traverse.h"

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

// values[begin, end) as nested Concat, halves first: the nesting (of this recursion, and of
// the text the parser reads back) is log2 of the length, not the length (a formula's x * 0
// of 900,000 components overflowed the stack).
void print_constant(std::string& out, const std::vector<double>& values, size_t begin, size_t end) {
  if (begin + 1 == end) return print_number(out, values[begin]);
  const size_t middle = begin + (end - begin) / 2;
  out += "Concat(";
  print_constant(out, values, begin, middle);
  out += ",";
  print_constant(out, values, middle, end);
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

// Writes e's text, without recursion: every node in full, except those in `names` (shared
// subexpressions bound earlier), written as their name.
void print_into(std::string& out, Expr root, const std::unordered_map<Expr, std::string>& names) {
  struct Frame {
    Expr node;
    size_t next_arg;
  };
  std::vector<Frame> stack{{root, 0}};
  while (!stack.empty()) {
    Frame& f = stack.back();
    const Expr e = f.node;
    if (f.next_arg == 0) {
      if (auto name = names.find(e); name != names.end() && e != root) {
        out += name->second;
        stack.pop_back();
        continue;
      }
      if (e->op == Op::Constant) {
        print_constant(out, e->values, 0, e->values.size());
        stack.pop_back();
        continue;
      }
      out += op_info(e->op).spelling;
      out += "(";
    }
    if (f.next_arg < e->args.size()) {
      if (f.next_arg > 0) out += ",";
      stack.push_back({e->args[f.next_arg++], 0});
      continue;
    }
    if (e->op == Op::TensorDot || e->op == Op::Kron) {
      print_tuple_attributes(out, e);
    } else {
      bool first = e->args.empty();
      for (int64_t v : e->ints) {
        if (!first) out += ",";
        out += std::to_string(v);
        first = false;
      }
    }
    out += ")";
    stack.pop_back();
  }
}

// The nodes root's text would hold written as a tree (shared subexpressions in full each
// time), saturated at `cap`.
int64_t tree_nodes(const std::vector<Expr>& nodes, int64_t cap) {
  std::unordered_map<Expr, int64_t> count;
  for (Expr n : nodes) {
    int64_t c = 1;
    for (Expr a : n->args) c = std::min(cap, c + count.at(a));
    count.emplace(n, c);
  }
  return count.at(nodes.back());
}

}  // namespace

std::string print(Expr e) {
  const std::vector<Expr> nodes = nodes_in_id_order(e);
  std::unordered_map<Expr, std::string> names;
  std::string out;
  // Small trees print whole (the canonical form); larger ones bind every shared
  // subexpression once, so that the text stays linear in the DAG's size.
  if (tree_nodes(nodes, kMaxTreeNodes + 1) > kMaxTreeNodes) {
    std::unordered_map<Expr, int> users;
    for (Expr n : nodes)
      for (Expr a : n->args) ++users[a];
    for (Expr n : nodes) {
      if (users[n] < 2 || n->args.empty()) continue;
      std::string name = "_";  // appended, not "_" + string: GCC 12 warns falsely (-Wrestrict)
      name += std::to_string(names.size());
      out.append(name).append("=");
      print_into(out, n, names);
      out += ";";
      names.emplace(n, name);
    }
  }
  print_into(out, e, names);
  return out;
}

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
      print_constant(out, node->values, 0, node->values.size());
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

}  // namespace keops::ir
