"""generic_sum, generic_logsumexp, generic_argmin, generic_argkmin over a front end's Genred."""

from pykeops.common.aliases import axis_of_output


def make_generic_ops(Genred):
    """The four generic_* shortcuts of pykeops for one front end's Genred class."""

    def generic_sum(formula, output, *aliases, **kwargs):
        axis, _ = axis_of_output(output)
        return Genred(formula, aliases, reduction_op="Sum", axis=axis, **kwargs)

    def generic_logsumexp(formula, output, *aliases, **kwargs):
        axis, _ = axis_of_output(output)
        return Genred(formula, aliases, reduction_op="LogSumExp", axis=axis, **kwargs)

    def generic_argmin(formula, output, *aliases, **kwargs):
        axis, _ = axis_of_output(output)
        return Genred(formula, aliases, reduction_op="ArgMin", axis=axis, **kwargs)

    def generic_argkmin(formula, output, *aliases, **kwargs):
        axis, k = axis_of_output(output)
        return Genred(formula, aliases, reduction_op="ArgKMin", axis=axis, opt_arg=k, **kwargs)

    return generic_sum, generic_logsumexp, generic_argmin, generic_argkmin
