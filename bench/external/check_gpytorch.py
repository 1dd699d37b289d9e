"""GPyTorch's KeOps kernels against their dense twins: products, GP likelihood, predictions."""

import contextlib
import sys
import time

import gpytorch
import torch
from gpytorch.kernels import keops
from gpytorch.kernels import kernel as kernel_module
from gpytorch.kernels.keops.keops_kernel import _use_keops

TOL = {torch.float32: 1e-4, torch.float64: 1e-8}  # max relative error vs float64 dense twins
# (with exact distances); "dense" rows time the float32 twins and are not checked.
KERNELS = [  # name, KeOps kernel, dense twin, arguments
    ("RBF", keops.RBFKernel, gpytorch.kernels.RBFKernel, {}),
    ("Matern-0.5", keops.MaternKernel, gpytorch.kernels.MaternKernel, {"nu": 0.5}),
    ("Matern-1.5", keops.MaternKernel, gpytorch.kernels.MaternKernel, {"nu": 1.5}),
    ("Matern-2.5", keops.MaternKernel, gpytorch.kernels.MaternKernel, {"nu": 2.5}),
    ("Periodic", keops.PeriodicKernel, gpytorch.kernels.PeriodicKernel, {}),
]
# GPyTorch's KeOps kernels use KeOps when both point sets have at least max_cholesky_size
# points. At 0 or 1, kernel(x, diag=True) also gets a LazyTensor, which linear_operator cannot
# densify (TypeError): 2 keeps diagonals dense. Cholesky solves (fast computations off) make
# the likelihood and predictions exact, so that both sides compute the same thing.


@contextlib.contextmanager
def keops_settings():
    with gpytorch.settings.max_cholesky_size(2), \
            gpytorch.settings.fast_computations(False, False, False):
        yield


@contextlib.contextmanager
def exact_distances():
    """GPyTorch's dense distances expand |x - y|^2 (cancellation): the reference's do not."""
    def sq_dist(x1, x2, x1_eq_x2=False):
        return ((x1.unsqueeze(-2) - x2.unsqueeze(-3)) ** 2).sum(-1)

    def dist(x1, x2, x1_eq_x2=False):
        return sq_dist(x1, x2).clamp_min(1e-30).sqrt()

    saved = kernel_module.dist, kernel_module.sq_dist
    kernel_module.dist, kernel_module.sq_dist = dist, sq_dist
    try:
        yield
    finally:
        kernel_module.dist, kernel_module.sq_dist = saved


def rel(a, b):
    """Max absolute difference over the largest reference entry."""
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


def make_kernel(cls, args, D, ard, batch, dtype):
    ard = {"ard_num_dims": D} if ard else {}
    k = cls(**args, **ard, batch_shape=torch.Size(batch)).to(dtype)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        k.lengthscale = 0.3 + 0.3 * torch.rand(k.lengthscale.shape, generator=gen)
        if hasattr(k, "period_length"):
            k.period_length = 0.6 + 0.3 * torch.rand(k.period_length.shape, generator=gen)
    return k


class GP(gpytorch.models.ExactGP):
    def __init__(self, x, y, kernel):
        super().__init__(x, y, gpytorch.likelihoods.GaussianLikelihood())
        self.mean = gpytorch.means.ConstantMean()
        self.covar = gpytorch.kernels.ScaleKernel(kernel)

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean(x), self.covar(x))


def products(cls, args, data, ard, dtype):
    """K(x, z) @ v, and the gradients of <w, K(x, z) @ v>."""
    x, z, v, w = (t.to(dtype).requires_grad_() for t in data)
    k = make_kernel(cls, args, x.shape[-1], ard, x.shape[:-2], dtype)
    params = dict(k.named_parameters())
    with keops_settings():  # backward passes rebuild the kernel: they need them too
        assert _use_keops(x, z)
        out = k(x, z) @ v
        grads = torch.autograd.grad((w * out).sum(), [x, z, v] + list(params.values()))
    return {"K@v": out, "d/dx": grads[0], "d/dz": grads[1], "d/dv": grads[2],
            **{"d/d" + n.split("raw_")[1]: g for n, g in zip(params, grads[3:])}}


def gp(cls, args, data, ard, dtype):
    """Exact marginal log likelihood, its gradients, and predictive means and variances."""
    x, y, xt = (t.to(dtype) for t in data)
    x.requires_grad_()
    model = GP(x, y, make_kernel(cls, args, x.shape[-1], ard, (), dtype)).to(dtype)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
    with keops_settings():
        assert _use_keops(x, xt)
        loss = mll(model(x), y)
        params = dict(model.named_parameters())
        grads = torch.autograd.grad(loss, [x] + list(params.values()))
        model.eval()
        with torch.no_grad():
            pred = model.likelihood(model(xt))
    return {"mll": loss, "d/dx": grads[0],
            **{"d/d" + n.split(".")[-1].removeprefix("raw_"): g
               for n, g in zip(params, grads[1:])},
            "mean": pred.mean, "var": pred.variance}


def main():
    torch.manual_seed(0)
    D = 3
    cases = [  # name, check, data, ARD
        ("K(x,z)@v", products,
         [torch.rand(900, D), torch.rand(700, D), torch.randn(700, 2), torch.randn(900, 2)], False),
        ("K(x,z)@v ARD", products,
         [torch.rand(900, D), torch.rand(700, D), torch.randn(700, 2), torch.randn(900, 2)], True),
        ("K(x,z)@v batch=2 ARD", products,
         [torch.rand(2, 500, D), torch.rand(2, 400, D), torch.randn(2, 400, 1),
          torch.randn(2, 500, 1)], True),
    ]
    x = torch.rand(1000, D)
    y = torch.sin(6 * x).sum(-1) + 0.1 * torch.randn(1000)
    cases += [("GP mll+predict ARD", gp, [x, y, torch.rand(300, D)], True)]
    failures = 0
    for name, cls, twin, args in KERNELS:
        for case, check, data, ard in cases:
            with exact_distances():
                ref = check(twin, args, data, ard, torch.float64)
            for dtype in (torch.float32, torch.float64):
                for label, impl, checked in [("dense", twin, False), ("keops", cls, True)]:
                    if label == "dense" and dtype == torch.float64:
                        continue
                    t0 = time.perf_counter()
                    res = check(impl, args, data, ard, dtype)
                    elapsed = time.perf_counter() - t0
                    errs = {k: rel(res[k], ref[k]) for k in ref}
                    bad = checked and max(errs.values()) > TOL[dtype]
                    failures += bad
                    print(f"{name:10} {case:20} {str(dtype)[6:]:7} {label:5} {elapsed:6.2f}s  "
                          + "  ".join(f"{k} {e:.1e}" for k, e in errs.items())
                          + ("" if checked else "  (info)") + ("  FAIL" if bad else ""),
                          flush=True)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
