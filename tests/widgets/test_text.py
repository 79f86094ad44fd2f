"""widgets.table and widgets.paths_text: aligned text that nbval compares."""

import pytest

from widgets import paths_text, table


def test_table_aligns_numbers_right_and_text_left_and_returns_the_rows(capsys):
    rows = [("2.6.37", 146.43255, 5740, "write: dirty"), ("2.6.38", 66.1, 0, "read")]
    assert table(rows, ["kernel", "mlock s", "written MiB", "fault"], {"mlock s": ".3f"}) == rows
    assert capsys.readouterr().out.splitlines() == [
        "kernel  mlock s  written MiB  fault",
        "2.6.37  146.433         5740  write: dirty",
        "2.6.38   66.100            0  read"]


def test_table_takes_dicts_formats_by_position_a_title_and_functions(capsys):
    rows = [{"a": 1, "b": "x"}, {"a": 22, "b": "yy"}]
    assert table(rows, ["a", "b"], [lambda v: f"<{v}>"], title="T") == rows
    assert capsys.readouterr().out.splitlines() == ["T", "   a  b", " <1>  x", "<22>  yy"]
    table([(1, "s", None)], ["n", "text", "none"], [".1f", ".1f"])
    assert capsys.readouterr().out.splitlines()[1] == "1.0  s"
    table([], ["only", "a header"])
    assert capsys.readouterr().out == "only  a header\n"


def test_table_refuses_rows_and_formats_that_do_not_fit():
    with pytest.raises(ValueError, match="2 values for 3 columns"):
        table([(1, 2)], ["a", "b", "c"])
    with pytest.raises(ValueError, match="columns the table does not have"):
        table([(1,)], ["a"], {"b": ".1f"})


def test_paths_text():
    assert paths_text({("do_wp_page", "cow_user_page"): 4, ("f",): 1}) == \
        "do_wp_page > cow_user_page x4; f x1"
    assert paths_text({}) == "(no fault)"
