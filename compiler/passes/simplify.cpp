// The simplification pass: local rewrites applied bottom-up over the DAG to a fixed point.
#include "compiler/passes/simplify.h"

#include <unordered_map>

#include "compiler/support/check.h"

namespace keops::passes {
namespace {

using ir::Expr;
using ir::Op;

// Whole-DAG passes before giving up on a fixed point, and rewrites tried at one node.
constexpr int kMaxPasses = 32;
constexpr int kMaxLocalRewrites = 64;

bool is_zero(Expr x) { return x->is_constant_value(0); }
bool is_scalar_constant(Expr x) { return x->is_constant() && x->dim == 1; }

// The index of the only nonzero value of a constant, or -1.
int64_t single_nonzero(Expr c) {
  int64_t found = -1;
  for (size_t k = 0; k < c->values.size(); ++k)
    if (c->values[k] != 0) {
      if (found >= 0) return -1;
      found = int64_t(k);
    }
  return found;
}

// A term c * base of a sum, c a scalar constant.
struct Term {
  double coefficient;
  Expr base;
};

Term term_of(Expr x) {
  if (x->is(Op::Mult) && is_scalar_constant(x->args[0])) return {x->args[0]->values[0], x->args[1]};
  if (x->is(Op::Minus)) return {-1, x->args[0]};
  return {1, x};
}

class Rewriter {
 public:
  explicit Rewriter(ir::Context& ctx) : ctx_(ctx) {}

  // One rewrite of n, or n itself when no rule applies. Every result keeps n's dim.
  Expr rewrite(Expr n) {
    if (n->args.empty()) return n;
    if (ir::op_info(n->op).shape == ir::Shape::Broadcast)
      if (const Expr r = drop_broadcast(n); r != n) return r;
    const Expr a = n->args[0];
    const Expr b = n->args.size() > 1 ? n->args[1] : nullptr;
    switch (n->op) {
      case Op::Add:
        return rewrite_sum(n, a, b, false);
      case Op::Subtract:
        return rewrite_sum(n, a, b, true);
      case Op::Mult:
        return rewrite_product(n, a, b);
      case Op::Divide:
        if (is_zero(a)) return zeros(n);
        if (a->is(Op::Minus)) return neg(make(Op::Divide, {a->args[0], b}));
        if (b->is(Op::Minus)) return neg(make(Op::Divide, {a, b->args[0]}));
        if (a->is(Op::Mult) && is_scalar_constant(a->args[0]))
          return mul(a->args[0], make(Op::Divide, {a->args[1], b}));
        return n;
      case Op::Minus:
        if (a->is(Op::Mult) && a->args[0]->is_constant()) return mul(neg(a->args[0]), a->args[1]);
        if (a->is(Op::Subtract)) return make(Op::Subtract, {a->args[1], a->args[0]});
        return n;
      case Op::Square:
      case Op::Abs:
      case Op::SqNorm2:  // even functions
        return a->is(Op::Minus) ? make(n->op, {a->args[0]}) : n;
      case Op::Sum:
        return rewrite_sum_of(n, a);
      case Op::Elem:
        return rewrite_elem(n, a, n->ints[0]);
      case Op::Extract:
        return rewrite_extract(n, a, n->ints[0], n->ints[1]);
      case Op::ElemT:
      case Op::ExtractT:
      case Op::SumT:
        return a->dim == n->dim ? a : n;  // injecting into, or broadcasting to, the same dim
      case Op::IfElse:
        if (b == n->args[2] && b->dim == n->dim) return b;
        return is_zero(b) && is_zero(n->args[2]) ? zeros(n) : n;
      case Op::Scalprod:
      case Op::MatVecMult:
      case Op::VecMatMult:
      case Op::TensorProd:
      case Op::TensorDot:
      case Op::Kron:
      case Op::ComplexMult:
      case Op::ComplexRealScal:  // bilinear: zero if either factor is
        return is_zero(a) || is_zero(b) ? zeros(n) : n;
      case Op::ComplexDivide:
        return is_zero(a) ? zeros(n) : n;
      default:
        return n;
    }
  }

 private:
  Expr make(Op op, std::vector<Expr> args, std::vector<int64_t> ints = {}) {
    return ctx_.make(op, std::move(args), std::move(ints));
  }
  Expr mul(Expr x, Expr y) { return make(Op::Mult, {x, y}); }
  Expr neg(Expr x) { return make(Op::Minus, {x}); }
  Expr num(double v, Expr like) { return ctx_.scalar(v, like->dtype); }
  Expr zeros(Expr like) { return ctx_.zeros(like->dim, like->dtype); }
  Expr zeros(int dim, Expr like) { return ctx_.zeros(dim, like->dtype); }
  // x when it has n's dim, else n: for rewrites that would drop a broadcast.
  static Expr same_dim(Expr n, Expr x) { return x->dim == n->dim ? x : n; }

  // An element-wise op broadcasts dim-1 arguments itself: SumT(x, n) as an argument is x
  // when another argument has the result's dim n.
  Expr drop_broadcast(Expr n) {
    std::vector<Expr> args = n->args;
    for (Expr& arg : args) {
      if (!arg->is(Op::SumT)) continue;
      for (Expr other : n->args)
        if (other != arg && other->dim == n->dim) {
          arg = arg->args[0];
          return make(n->op, std::move(args));
        }
    }
    return n;
  }

  // Constants first, then by structural hash (stable across processes, unlike ids).
  static bool in_order(Expr x, Expr y) {
    if (x->is_constant() != y->is_constant()) return x->is_constant();
    return x->hash <= y->hash;
  }

  Expr rewrite_sum(Expr n, Expr a, Expr b, bool subtract) {
    if (b->is(Op::Minus))  // a + -b = a - b, a - -b = a + b
      return make(subtract ? Op::Add : Op::Subtract, {a, b->args[0]});
    if (a->is(Op::Minus))  // -a + b = b - a, -a - b = -(a + b)
      return subtract ? neg(make(Op::Add, {a->args[0], b})) : make(Op::Subtract, {b, a->args[0]});
    const Term ta = term_of(a), tb = term_of(b);
    if (ta.base == tb.base && ta.base->dim == n->dim) {  // c1 x +- c2 x = (c1 +- c2) x
      const double c = subtract ? ta.coefficient - tb.coefficient : ta.coefficient + tb.coefficient;
      return c == 0 ? zeros(n) : mul(num(c, n), ta.base);
    }
    if (!subtract && !in_order(a, b)) return make(Op::Add, {b, a});
    return n;
  }

  Expr rewrite_product(Expr n, Expr a, Expr b) {
    if (!in_order(a, b)) return mul(b, a);
    if (a->is_constant()) {
      if (b->is(Op::Mult) && b->args[0]->is_constant())  // c1 (c2 x) = (c1 c2) x
        return mul(mul(a, b->args[0]), b->args[1]);
      if (b->is(Op::Minus)) return mul(neg(a), b->args[0]);
      if (a->is_constant_value(-1)) return same_dim(n, neg(b));
      return n;
    }
    if (a->is(Op::Minus)) return neg(mul(a->args[0], b));
    if (b->is(Op::Minus)) return neg(mul(a, b->args[0]));
    // Scalar constant factors move out, to meet and merge: x (c y) = c (x y).
    for (const auto& [x, y] : {std::pair{a, b}, std::pair{b, a}})
      if (y->is(Op::Mult) && is_scalar_constant(y->args[0]))
        return mul(y->args[0], mul(x, y->args[1]));
    if (a == b) return make(Op::Square, {a});
    return n;
  }

  Expr rewrite_sum_of(Expr n, Expr a) {
    if (a->dim == 1) return a;
    switch (a->op) {
      case Op::ElemT:
        return a->args[0];
      case Op::ExtractT:
        return make(Op::Sum, {a->args[0]});
      case Op::SumT:  // n copies of x
        return mul(num(double(a->dim), a), a->args[0]);
      case Op::Minus:
        return neg(make(Op::Sum, {a->args[0]}));
      case Op::Mult:
        for (int k = 0; k < 2; ++k) {
          const Expr factor = a->args[k], other = a->args[1 - k];
          if (factor->dim == 1) return mul(factor, make(Op::Sum, {other}));  // comes out
          if (!factor->is_constant() || other->dim != a->dim) continue;
          // A basis vector (as GradMatrix, Divergence and Laplacian make) picks one term.
          const int64_t at = single_nonzero(factor);
          if (at >= 0) return mul(make(Op::Elem, {factor}, {at}), make(Op::Elem, {other}, {at}));
        }
        return n;
      default:
        return n;
    }
  }

  Expr rewrite_elem(Expr n, Expr a, int64_t k) {
    if (a->dim == 1) return a;
    if (ir::is_elementwise(a->op)) {  // component k of an element-wise op reads components k
      std::vector<Expr> args;
      for (Expr arg : a->args) args.push_back(arg->dim == 1 ? arg : make(Op::Elem, {arg}, {k}));
      return make(a->op, std::move(args), a->ints);
    }
    const Expr inner = a->args.empty() ? nullptr : a->args[0];
    switch (a->op) {
      case Op::Concat:
        return k < inner->dim ? make(Op::Elem, {inner}, {k})
                              : make(Op::Elem, {a->args[1]}, {k - inner->dim});
      case Op::Extract:
        return make(Op::Elem, {inner}, {a->ints[0] + k});
      case Op::ElemT:
        return k == a->ints[1] ? inner : zeros(n);
      case Op::ExtractT: {
        const int64_t at = k - a->ints[0];
        return at >= 0 && at < inner->dim ? make(Op::Elem, {inner}, {at}) : zeros(n);
      }
      case Op::SumT:
        return inner;
      default:
        return n;
    }
  }

  Expr rewrite_extract(Expr n, Expr a, int64_t start, int64_t len) {
    if (start == 0 && len == a->dim) return a;
    const Expr inner = a->args.empty() ? nullptr : a->args[0];
    switch (a->op) {
      case Op::Concat:
        if (start + len <= inner->dim) return make(Op::Extract, {inner}, {start, len});
        if (start >= inner->dim) return make(Op::Extract, {a->args[1]}, {start - inner->dim, len});
        return n;
      case Op::Extract:
        return make(Op::Extract, {inner}, {a->ints[0] + start, len});
      case Op::ExtractT: {
        const int64_t from = a->ints[0], to = from + inner->dim;
        if (start == from && len == inner->dim) return inner;
        return start >= to || start + len <= from ? zeros(int(len), n) : n;
      }
      case Op::ElemT: {
        const int64_t at = a->ints[1] - start;
        if (at < 0 || at >= len) return zeros(int(len), n);
        return make(Op::ElemT, {inner}, {len, at});
      }
      case Op::SumT:
        return make(Op::SumT, {inner}, {len});
      default:
        return n;
    }
  }

  ir::Context& ctx_;
};

// One bottom-up pass: every node rebuilt from its rewritten arguments, then rewritten.
Expr rewrite_dag(ir::Context& ctx, Rewriter& rewriter, Expr root) {
  std::unordered_map<Expr, Expr> done;
  std::vector<std::pair<Expr, size_t>> stack{{root, 0}};  // a node and its next argument
  while (!stack.empty()) {
    const Expr node = stack.back().first;
    const size_t next = stack.back().second;
    if (next < node->args.size()) {
      ++stack.back().second;
      if (!done.count(node->args[next])) stack.push_back({node->args[next], 0});
      continue;
    }
    stack.pop_back();
    std::vector<Expr> args;
    bool changed = false;
    for (Expr a : node->args) {
      args.push_back(done.at(a));
      changed = changed || args.back() != a;
    }
    Expr result = changed ? ctx.make(node->op, std::move(args), node->ints) : node;
    for (int k = 0; k < kMaxLocalRewrites; ++k) {
      const Expr rewritten = rewriter.rewrite(result);
      KEOPS_CHECK(rewritten->dim == node->dim && rewritten->dtype == node->dtype,
                  "a simplification changed a node's type");
      if (rewritten == result) break;
      result = rewritten;
    }
    done.emplace(node, result);
  }
  return done.at(root);
}

}  // namespace

bool simplify(ir::Context& ctx, ir::Expr& root) {
  const Expr original = root;
  Rewriter rewriter(ctx);
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    const Expr next = rewrite_dag(ctx, rewriter, root);
    if (next == root) break;
    root = next;
  }
  return root != original;
}

}  // namespace keops::passes
