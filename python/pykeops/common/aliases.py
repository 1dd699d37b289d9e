"""Alias strings ("x = Vi(3)", "Vj(0, 2)", "Var(0, 3, 1)") read for their category and dim."""

import re

_CATEGORIES = {"Vi": 0, "Vj": 1, "Pm": 2, "Vx": 0, "Vy": 1}
_NAMED = re.compile(r"^(?:[A-Za-z_]\w*=)?(Vi|Vj|Pm|Vx|Vy)\((\d+)(?:,(\d+))?\)$")
_VAR = re.compile(r"^(?:[A-Za-z_]\w*=)?Var\((\d+),(\d+),([012])\)$")


def category_and_dim(alias):
    """(category, dim) of an alias string, as pykeops reads them; ValueError otherwise."""
    text = alias.replace(" ", "")
    m = _NAMED.match(text)
    if m:
        dim = m.group(3) if m.group(3) is not None else m.group(2)
        return _CATEGORIES[m.group(1)], int(dim)
    m = _VAR.match(text)
    if m:
        return int(m.group(3)), int(m.group(2))
    raise ValueError(
        f"{alias!r} does not match the 'var = [Vi|Vj|Pm](dim)', 'var = [Vi|Vj|Pm](pos,dim)' or "
        "'Var(pos,dim,cat)' format"
    )


def axis_of_output(alias):
    """The reduction axis whose output the alias describes: a Vi output reduces over j (1)."""
    cat, dim = category_and_dim(alias)
    if cat not in (0, 1):
        raise ValueError(f"the output {alias!r} must be a Vi or Vj variable")
    return 1 - cat, dim
