"""widgets.verdict_grid: comparisons of the real kernel and the simulator, one cell each."""

import pytest

from mmsim import experiment as E
from widgets import verdict_grid
from widgets.views import reuse


def _table(*verdicts, real_error=None):
    return E.Table("t", [E.Row(f"f{i}", 1, 1, v) for i, v in enumerate(verdicts)],
                   real_error=real_error)


def test_cells_are_coloured_by_the_worst_verdict_and_counted():
    tables = {("a", "6.18"): _table("agree", "agree"),
              ("a", "2.6.37"): _table("agree", "DISAGREE"),
              ("b", "6.18"): _table("agree", "differs (legitimate: clock)"),
              ("b", "2.6.37"): _table(real_error="Unavailable: no")}
    v = verdict_grid(tables, ["a", "b"], ["2.6.37", "6.18"])
    assert {k: v.numbers[k] for k in ("agree", "differs", "DISAGREE", "not run")} == {
        "agree": 1, "differs": 1, "DISAGREE": 1, "not run": 1}
    assert v.numbers["a | 2.6.37"] == "DISAGREE, 1 agree, 0 differ, 1 DISAGREE of 2"
    texts = v.parts["texts"]
    assert texts[0][0].get_text() == "DISAGREE\n1/2 agree" and texts[1][0].get_text() == "not run"
    with reuse(v):
        again = verdict_grid(tables, ["a", "b"], ["2.6.37", "6.18"], title="again")
    assert again is v and v.parts["title"].get_text() == "again"


def test_a_missing_cell_is_refused():
    with pytest.raises(OSError, match="no comparison"):
        verdict_grid({("a", "x"): _table("agree")}, ["a"], ["x", "y"])
