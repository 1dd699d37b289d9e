// Node creation: the op table, type checks, constant folding, local simplification, interning.
#include "compiler/ir/context.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

#include "compiler/ir/evaluator.h"
#include "compiler/ir/traverse.h"
#include "keops/error.h"

namespace keops::ir {
namespace {

constexpr OpInfo kOps[] = {
#define KEOPS_OP(name, spelling, arity, ints, shape, family, linearity) \
  {spelling, arity, ints, Shape::shape, Family::family, Linearity::linearity},
#include "compiler/ir/ops.def"
#undef KEOPS_OP
};

uint64_t mix(uint64_t h, uint64_t v) {
  // splitmix64-style combine: stable across runs and platforms, unlike std::hash.
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

uint64_t bits_of(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

uint64_t structural_hash(const Node& n) {
  uint64_t h = mix(uint64_t(n.op), uint64_t(n.dtype));
  h = mix(h, uint64_t(n.dim));
  for (Expr a : n.args) h = mix(h, a->hash);
  for (int64_t v : n.ints) h = mix(h, uint64_t(v));
  for (double v : n.values) h = mix(h, bits_of(v));
  return h;
}

bool same_node(const Node& a, const Node& b) {
  if (a.op != b.op || a.dtype != b.dtype || a.dim != b.dim || a.args != b.args ||
      a.ints != b.ints || a.values.size() != b.values.size())
    return false;
  for (size_t k = 0; k < a.values.size(); ++k)
    if (bits_of(a.values[k]) != bits_of(b.values[k])) return false;
  return true;
}

std::string op_name(Op op) { return std::string(op_info(op).spelling); }

}  // namespace

const OpInfo& op_info(Op op) { return kOps[size_t(op)]; }

int op_count() { return int(sizeof kOps / sizeof kOps[0]); }

const Op* op_by_spelling(std::string_view name) {
  static const auto table = [] {
    std::unordered_map<std::string_view, Op> t;
    for (int k = 0; k < op_count(); ++k) t.emplace(kOps[k].spelling, Op(k));
    return t;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : &it->second;
}

bool Node::is_constant_value(double v) const {
  return op == Op::Constant && uniform && values[0] == v;
}

size_t Context::size() const {
  std::lock_guard lock(mutex_);
  return nodes_.size();
}

Expr Context::intern(Node node) {
  node.hash = structural_hash(node);
  std::lock_guard lock(mutex_);
  auto [lo, hi] = table_.equal_range(node.hash);
  for (auto it = lo; it != hi; ++it)
    if (same_node(*it->second, node)) return it->second;
  node.id = uint32_t(nodes_.size());
  nodes_.push_back(std::make_unique<Node>(std::move(node)));
  const Node* stored = nodes_.back().get();
  table_.emplace(stored->hash, stored);
  return stored;
}

std::vector<Expr> Context::adopt(const std::vector<Expr>& roots) {
  // Every node of every root, arguments before their users, each once.
  std::vector<Expr> nodes;
  for (Expr root : roots)
    if (root) {
      const std::vector<Expr> more = nodes_in_id_order(root);
      nodes.insert(nodes.end(), more.begin(), more.end());
    }
  std::sort(nodes.begin(), nodes.end(), [](Expr a, Expr b) { return a->id < b->id; });
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  std::unordered_map<Expr, Expr> copies;
  for (Expr e : nodes) {
    Node copy = *e;
    for (Expr& a : copy.args) a = copies.at(a);
    copies[e] = intern(std::move(copy));
  }
  std::vector<Expr> out;
  for (Expr root : roots) out.push_back(root ? copies.at(root) : nullptr);
  return out;
}

Expr Context::var(int index, int dim, Cat cat, DType dtype) {
  if (dim < 1 || dim > kMaxDim)
    throw Error("in Var: the dim must be >= 1 and at most " + std::to_string(kMaxDim) + ", not " +
                std::to_string(dim));
  if (cat > CatP)
    throw Error("in Var: the category must be 0 (i), 1 (j) or 2 (parameter), not " +
                std::to_string(int(cat)));
  Node n{Op::Var, dtype, dim, dep_of(cat), {}, {index, dim, int64_t(cat)}, {}, 0, 0};
  return intern(std::move(n));
}

Expr Context::constant(std::vector<double> values, DType dtype) {
  if (values.empty()) throw Error("in Constant: a constant needs at least one value");
  if (int64_t(values.size()) > kMaxDim)
    throw Error("in Constant: " + std::to_string(values.size()) + " values; at most " +
                std::to_string(kMaxDim) + " are supported");
  if (dtype == DType::F32)  // a float32 formula holds float32 constants, folded or not
    for (double& v : values) v = double(float(v));
  const int dim = int(values.size());
  const bool uniform =
      std::all_of(values.begin(), values.end(), [&](double v) { return v == values[0]; });
  Node n{Op::Constant, dtype, dim, kDepNone, {}, {}, std::move(values), 0, 0, uniform};
  return intern(std::move(n));
}

Expr Context::zeros(int dim, DType dtype) {
  std::lock_guard lock(mutex_);
  Expr& known = zeros_[{dim, dtype}];
  if (!known) known = constant(std::vector<double>(size_t(std::max(dim, 0)), 0.0), dtype);
  return known;
}

Expr Context::make(Op op, std::vector<Expr> args, std::vector<int64_t> ints) {
  const OpInfo& info = op_info(op);
  if (op == Op::Var || op == Op::Constant)
    throw Error("in " + op_name(op) + ": leaves are made with var() and constant()");
  if (int(args.size()) != info.arity)
    throw Error("in " + op_name(op) + ": expects " + std::to_string(info.arity) +
                " argument(s), got " + std::to_string(args.size()));
  if (info.int_attrs >= 0 && int(ints.size()) != info.int_attrs)
    throw Error("in " + op_name(op) + ": expects " + std::to_string(info.int_attrs) +
                " integer parameter(s), got " + std::to_string(ints.size()));
  const DType dtype = args[0]->dtype;
  DepSet deps = kDepNone;
  bool all_constant = true;
  for (Expr a : args) {
    if (a->dtype != dtype) throw Error("in " + op_name(op) + ": arguments of different dtypes");
    deps |= a->deps;
    all_constant = all_constant && a->is_constant();
  }
  const int64_t inferred = infer_dim(op, args, ints);
  if (inferred > kMaxDim)
    throw Error("in " + op_name(op) + ": the result would have " +
                (inferred == INT64_MAX ? std::string("more than 2^63") : std::to_string(inferred)) +
                " components; at most " + std::to_string(kMaxDim) + " are supported");
  const int dim = int(inferred);

  // x * 0 = 0, as KeOps's Zero does (it ignores NaN and inf in x), constant x included:
  // folding a long constant by zeros, factor after factor, would cost its dim each time.
  if (op == Op::Mult && (args[0]->is_constant_value(0) || args[1]->is_constant_value(0)))
    return zeros(dim, dtype);
  if (all_constant) {
    Node probe{op, dtype, dim, deps, args, ints, {}, 0, 0};
    std::vector<const double*> values;
    for (Expr a : args) values.push_back(a->values.data());
    std::vector<double> out(static_cast<size_t>(dim));
    eval_op(probe, values, out.data());
    return constant(std::move(out), dtype);
  }

  // Local identities. Each keeps the result's dim: a rewrite that would change it
  // (a dim-1 x broadcast against a vector constant) is skipped.
  auto keeps_dim = [&](Expr e) { return e->dim == dim; };
  switch (op) {
    case Op::Add:
      if (args[1]->is_constant_value(0) && keeps_dim(args[0])) return args[0];
      if (args[0]->is_constant_value(0) && keeps_dim(args[1])) return args[1];
      break;
    case Op::Subtract:
      if (args[1]->is_constant_value(0) && keeps_dim(args[0])) return args[0];
      if (args[0]->is_constant_value(0) && keeps_dim(args[1])) return make(Op::Minus, {args[1]});
      break;
    case Op::Mult:
      for (int k = 0; k < 2; ++k)  // (x * 0 = 0 above)
        if (args[k]->is_constant_value(1) && keeps_dim(args[1 - k])) return args[1 - k];
      break;
    case Op::Divide:
      if (args[1]->is_constant_value(1) && keeps_dim(args[0])) return args[0];
      break;
    case Op::Minus:
      if (args[0]->is(Op::Minus)) return args[0]->args[0];
      break;
    default:
      break;
  }
  Node n{op, dtype, dim, deps, std::move(args), std::move(ints), {}, 0, 0};
  return intern(std::move(n));
}

}  // namespace keops::ir
