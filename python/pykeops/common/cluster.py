"""What the NumPy and PyTorch cluster helpers share."""


def permuted(x, perm):
    """x (an array, or a tuple or list of arrays) with its rows in the order `perm`."""
    if isinstance(x, tuple):
        return tuple(a[perm] for a in x)
    if isinstance(x, list):
        return [a[perm] for a in x]
    return x[perm]
