"""pykeops's warnings: shown as Python warnings of their own category, unless set_verbose(False)."""

import warnings


class KeOpsWarning(UserWarning):
    """What pykeops warns about (non-contiguous inputs, deprecated arguments, ...)."""


def warn(message, stacklevel=3):
    import pykeops

    if pykeops.verbose:
        warnings.warn("[pyKeOps] " + message, KeOpsWarning, stacklevel=stacklevel)


NOT_CONTIGUOUS = (
    "at least one of the input tensors is not contiguous. "
    "Consider using contiguous data arrays to avoid unnecessary copies."
)
