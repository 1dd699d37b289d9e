"""pykeops's reduction list against the one C++ table (compiler/ir/reductions.def)."""

import os
import re

from pykeops.common import reductions

_DEF = os.path.join(os.path.dirname(__file__), "..", "..", "compiler", "ir", "reductions.def")


def _cpp_table():
    """{spelling: (slots, yields, weights)} and {alias: name} as reductions.def lists them."""
    with open(_DEF) as f:
        text = re.sub(r"//[^\n]*", "", f.read())
    rows = re.findall(r"KEOPS_REDUCTION\(\s*(\w+),\s*\"(\w+)\",\s*(\w+),\s*(\w+),\s*(\w+),"
                      r"\s*(\w+),\s*(\w+),\s*(\w+)\s*\)", text)
    table = {spelling: (slots, yields, weights)
             for _, spelling, _, _, slots, yields, weights, _ in rows}
    names = {name: spelling for name, spelling, *_ in rows}
    aliases = {alias: names[name]
               for alias, name in re.findall(r"KEOPS_REDUCTION_ALIAS\(\s*\"(\w+)\",\s*(\w+)\s*\)",
                                             text)}
    return table, aliases


def test_every_cpp_reduction_is_known_to_pykeops_with_its_shape():
    table, aliases = _cpp_table()
    assert len(table) == 15  # the parse found every row
    assert set(reductions._TABLE) == set(table)
    for spelling, (slots, yields, weights) in table.items():
        r = reductions._TABLE[spelling]
        assert r.name == spelling
        assert r.takes_k == (slots == "K") == r.ranked, spelling
        assert r.takes_weight == (weights == "Required"), spelling
        assert r.indices == (yields in ("Indices", "Both")), spelling
        assert r.values == (yields != "Indices"), spelling
    # C++'s other spellings are pykeops's too (pykeops adds KeOps's older ones).
    for alias, spelling in aliases.items():
        assert reductions.lookup(alias, None) is reductions._TABLE[spelling]


def test_sum_like_reductions_are_the_sums_and_shifted_exponentials():
    with open(_DEF) as f:
        text = f.read()
    families = dict(re.findall(r"KEOPS_REDUCTION\(\s*\w+,\s*\"(\w+)\",\s*(\w+),", text))
    assert set(reductions.SUM_LIKE) == {
        name for name, family in families.items() if family in ("Sum", "ShiftedExp")}
