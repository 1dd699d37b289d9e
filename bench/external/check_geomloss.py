"""GeomLoss on pykeops: SamplesLoss's KeOps backends, ot.solve_sample, images, against dense."""

import sys
import time

import torch
from geomloss import SamplesLoss, ot
from geomloss import _backends as geomloss_backends
from geomloss._legacy import kernel_samples, sinkhorn_images, sinkhorn_samples

TOL = {torch.float32: 2e-4, torch.float64: 1e-10}  # max relative error vs an exact reference
# References: "tensorized" is GeomLoss's dense backend in float64 with exact distances; "dense"
# reruns a multiscale computation with its block-sparse KeOps reductions done by masked dense
# ones. Multiscale Sinkhorn (coarse-to-fine) and truncated kernels only approximate
# "tensorized": rows marked (info) are not checked. Every run passes 1/eps in float64 to KeOps
# (GeomLoss's torch.Tensor([1 / eps]) rounds it to float32).

# (loss, p, blur, scaling, reach, N, M, batch); "multiscale" runs the cases without a batch.
CASES = [
    ("sinkhorn", 2, 0.05, 0.5, None, 500, 400, 0),
    ("sinkhorn", 2, 0.02, 0.9, None, 2500, 2000, 0),
    ("sinkhorn", 1, 0.1, 0.7, None, 800, 600, 0),
    ("sinkhorn", 2, 0.05, 0.7, 0.3, 1000, 700, 0),
    ("sinkhorn", 2, 0.1, 0.5, None, 300, 200, 2),
    ("energy", 2, 0.05, 0.5, None, 1500, 1000, 0),
    ("gaussian", 2, 0.05, 0.5, None, 2000, 1500, 0),
    ("gaussian", 2, 0.2, 0.5, None, 300, 200, 2),
    ("laplacian", 2, 0.02, 0.5, None, 2000, 1500, 0),
]
KEPT = []  # fraction of the pairs kept by each block-sparse reduction of a run


class Torch64:
    """torch, but torch.Tensor([1 / eps]) (how GeomLoss's KeOps paths pass 1/eps) in float64."""

    Tensor = staticmethod(lambda data: torch.tensor(data, dtype=torch.float64))

    def __getattr__(self, name):
        return getattr(torch, name)


class Patch:
    """Sets module attributes for the duration of a with block."""

    def __init__(self, *triples):
        self.triples = triples

    def __enter__(self):
        self.saved = [(m, k, getattr(m, k)) for m, k, _ in self.triples]
        for m, k, v in self.triples:
            setattr(m, k, v)

    def __exit__(self, *exc):
        for m, k, v in self.saved:
            setattr(m, k, v)


def rel(a, b):
    """Max absolute difference over the largest reference entry."""
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


def sqdist(x, y):
    return ((x.unsqueeze(-2) - y.unsqueeze(-3)) ** 2).sum(-1)


def dist(x, y):  # exact, zero on the diagonal (GeomLoss's dense one floors squares at 1e-8)
    return sqdist(x, y).clamp_min(torch.finfo(x.dtype).tiny).sqrt()


def exact_distances(x, y, use_keops=False):
    return KEOPS_DISTANCES(x, y, use_keops=True) if use_keops else dist(x, y)


KEOPS_DISTANCES = kernel_samples.distances


def block_mask(ranges, n, m):
    """Dense (n, m) mask of the pairs that KeOps block-sparse ranges keep."""
    if ranges is None:
        return torch.ones(n, m, dtype=torch.bool)
    ranges_i, slices_i, redranges_j = (r.long() for r in ranges[:3])
    counts = torch.diff(slices_i, prepend=slices_i.new_zeros(1))  # ranges_j of each block
    blk = torch.repeat_interleave(torch.arange(len(ranges_i)), counts)
    cols = torch.zeros(len(ranges_i), m + 1)
    cols.index_put_((blk, redranges_j[:, 0]), torch.ones(len(blk)), accumulate=True)
    cols.index_put_((blk, redranges_j[:, 1]), -torch.ones(len(blk)), accumulate=True)
    cols = cols.cumsum(1)[:, :m] > 0
    mask = torch.zeros(n, m, dtype=torch.bool)
    for k, (i0, i1) in enumerate(ranges_i.tolist()):
        mask[i0:i1] = cols[k]
    KEPT.append(mask.float().mean().item())
    return mask


def dense_lse(cost, D, dtype=None):
    """Dense stand-in for the Genred log-sum-exp of GeomLoss's multiscale Sinkhorn."""
    def lse(x, y, h, p, ranges=None):
        c = dist(x, y) if cost.startswith("Norm2") else sqdist(x, y) / 2
        s = (h.view(1, -1) - p * c).masked_fill(~block_mask(ranges, len(x), len(y)), -torch.inf)
        return s.logsumexp(1, keepdim=True)
    return lse


def dense_kernel_loss(store, name, blur):
    """1/2 |a - b|_k^2 summed densely over the pairs kept by the ranges that GeomLoss built."""
    def k(u, v, ranges):
        if name == "gaussian":
            kuv = (-sqdist(u, v) / (2 * blur**2)).exp()
        else:
            kuv = (-dist(u, v) / blur).exp()
        return kuv * block_mask(ranges, len(u), len(v))
    (a, x, b, y), (rxx, ryy, rxy) = store["args"], store["ranges"]
    return 0.5 * a @ k(x, x, rxx) @ a + 0.5 * b @ k(y, y, ryy) @ b - a @ k(x, y, rxy) @ b


def spy_kernel_loss(store):
    """GeomLoss's kernel_loss, recording its (sorted) inputs and block-sparse ranges."""
    original = kernel_samples.kernel_loss

    def spy(a, x, b, y, **kw):
        store["args"] = [t.double() for t in (a, x, b, y)]
        store["ranges"] = [kw.get(k) for k in ("ranges_xx", "ranges_yy", "ranges_xy")]
        return original(a, x, b, y, **kw)
    return spy


def run(backend, inputs, cfg, ref=None):
    """Loss and its gradients w.r.t. (a, x, b, y); ref picks a dense reference of the run."""
    loss, p, blur, scaling, reach = cfg
    leaves = [t.clone().requires_grad_() for t in inputs]
    patches = [(sinkhorn_samples, "torch", Torch64())]
    store = {}
    if ref == "tensorized":
        patches += [(kernel_samples, "distances", exact_distances),
                    (sinkhorn_samples, "distances", exact_distances)]
    elif ref == "dense":
        patches += [(sinkhorn_samples, "keops_lse", dense_lse),
                    (kernel_samples, "kernel_loss", spy_kernel_loss(store))]
    with Patch(*patches):
        L = SamplesLoss(loss, p=p, blur=blur, scaling=scaling, reach=reach, backend=backend)
        L = L(*leaves)
    if store:
        L = dense_kernel_loss(store, loss, blur)
    L = L.sum()
    return [L.detach()] + list(torch.autograd.grad(L, leaves))


def dense_softmin_grid(eps, p, h):
    """Dense stand-in for GeomLoss's separable KeOps softmin on (B, K, N, N) images."""
    x = torch.arange(h.shape[-1]).type_as(h) / h.shape[-1]
    c = (x[:, None] - x[None]).abs() ** p / (p * eps)
    h = (h.unsqueeze(-2) - c).logsumexp(-1)  # along lines
    return -eps * (h.mT.unsqueeze(-2) - c).logsumexp(-1).mT  # along columns


def images(dtype, p):
    """Sinkhorn divergence between (2, 1, 32, 32) images: KeOps softmin against dense."""
    a, b = torch.rand(2, 1, 32, 32, dtype=dtype), torch.rand(2, 1, 32, 32, dtype=dtype) ** 4
    a, b = a / a.sum((2, 3), keepdim=True), b / b.sum((2, 3), keepdim=True)
    results = []
    for softmin in (sinkhorn_images.softmin_grid, dense_softmin_grid):
        leaves = [a.clone().requires_grad_(), b.clone().requires_grad_()]
        with Patch((sinkhorn_images, "softmin_grid", softmin)):
            L = sinkhorn_images.sinkhorn_divergence(*leaves, p=p, blur=0.05, scaling=0.7).sum()
        results.append([L] + list(torch.autograd.grad(L, leaves)))
    return [rel(u, v) for u, v in zip(*results)]


def solve_sample(lib, dtype, inputs):
    """geomloss.ot.solve_sample (NumPy or PyTorch): KeOps LazyTensors against dense arrays."""
    if lib == "numpy":
        inputs = [t.numpy().astype(str(dtype)[6:]) for t in inputs]
    else:
        inputs = [t.to(dtype) for t in inputs]
    results = []
    for lazy in (True, False):
        with Patch((geomloss_backends, "keops_available", lazy)):
            r = ot.solve_sample(*inputs, blur=0.05, max_iter=50, debias=True)
            outputs = (r.value, r.potential_a, r.potential_b, r.marginal_a, r.marginal_b)
            results.append([torch.as_tensor(t) for t in outputs])
    return [rel(u, v) for u, v in zip(*results)]


def row(label, dtype, extra, errs, checked=True, tail=""):
    """Prints a table row; returns 1 on a mismatch beyond tolerance."""
    bad = checked and max(errs) > TOL[dtype]
    print(f"{label:40} {str(dtype)[6:]:7} {extra:24}" + "".join(f"{e:9.1e}" for e in errs)
          + tail + ("" if checked else "  (info)") + ("  FAIL" if bad else ""), flush=True)
    return int(bad)


def header(title, extra, names, tail=""):
    print(f"\n{title:40} {'dtype':7} {extra:24}" + "".join(f"{n:>9}" for n in names) + tail)


def check_samples_loss():
    failures = 0
    header("SamplesLoss case", "backend", ("loss", "d/da", "d/dx", "d/db", "d/dy"),
           f"{'kept':>7}{'time':>8}")
    for loss, p, blur, scaling, reach, N, M, B in CASES:
        for D in (2, 3):
            shape = (B,) if B else ()
            x = torch.rand(*shape, N, D, dtype=torch.float64)
            y = 0.3 * torch.randn(*shape, M, D, dtype=torch.float64) + 0.5
            a = torch.rand(*shape, N, dtype=torch.float64)
            b = torch.rand(*shape, M, dtype=torch.float64)
            a, b = a / a.sum(-1, keepdim=True), b / b.sum(-1, keepdim=True)
            b = 1.3 * b if reach else b
            cfg = (loss, p, blur, scaling, reach)
            exact = run("tensorized", (a, x, b, y), cfg, ref="tensorized")
            case = f"{loss} p={p} blur={blur} s={scaling}" + (f" reach={reach}" if reach else "") \
                + f" {N}x{M}x{D}" + (f" B={B}" if B else "")
            for dtype in (torch.float32, torch.float64):
                inputs = [t.to(dtype) for t in (a, x, b, y)]
                # (backend, label, reference run or None for exact, checked)
                rows = [("tensorized", "tensorized", None, False), ("online", "online", None, True)]
                if not B:
                    rows += [("multiscale", "multiscale vs tensorized", None, loss == "energy")]
                    if loss != "energy":  # energy's "multiscale" is "online"
                        rows += [("multiscale", "multiscale vs dense", "dense", True)]
                for backend, label, ref, checked in rows:
                    t0 = time.perf_counter()
                    res = run(backend, inputs, cfg)
                    elapsed = time.perf_counter() - t0
                    KEPT.clear()
                    errs = [rel(r, e) for r, e in zip(res, run(backend, inputs, cfg, ref)
                                                      if ref else exact)]
                    kept = f"{min(KEPT):7.1%}" if KEPT else " " * 7
                    failures += row(case, dtype, label, errs, checked, f"{kept}{elapsed:7.2f}s")
    print("hausdorff: not run, GeomLoss 0.3.1 raises KeyError(None) with every backend")
    return failures


def main():
    torch.manual_seed(0)
    failures = 0
    header("ot.solve_sample 600x500x3 blur=0.05", "library",
           ("value", "f_a", "g_b", "marg_a", "marg_b"))
    x, y = torch.rand(600, 3, dtype=torch.float64), torch.rand(500, 3, dtype=torch.float64)
    a, b = torch.full((600,), 1 / 600, dtype=torch.float64), torch.full((500,), 1 / 500.0)
    for lib in ("torch", "numpy"):
        for dtype in (torch.float32, torch.float64):
            failures += row("lazy vs dense", dtype, lib, solve_sample(lib, dtype, (x, y, a, b)))
    header("images sinkhorn_divergence 2x1x32x32", "p", ("value", "d/da", "d/db"))
    for p in (1, 2):
        for dtype in (torch.float32, torch.float64):
            failures += row("KeOps vs dense softmin", dtype, f"p={p}", images(dtype, p))
    failures += check_samples_loss()
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
