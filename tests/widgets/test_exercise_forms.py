"""widgets.exercises.forms: answers read back with their units, explained when unreadable."""

import pytest

from widgets.exercises.forms import (Unreadable, Words, a, count, first, kilobytes, mebibytes,
                                     plural, ratio, seconds, sectors)


@pytest.mark.parametrize("typed,kb", [("16384", 16384), ("16384 kB", 16384), ("16384kb", 16384),
                                      ("16 MiB", 16384), ("16m", 16384), ("16,384 KiB", 16384),
                                      ("0.5 GiB", 524288), ("4096 pages", 16384), ("1024 B", 1),
                                      (" 20 kB. ", 20), ("1e3", 1000), ("-4", -4), (".5 MB", 512)])
def test_kilobytes_accept_units_that_convert(typed, kb):
    assert kilobytes().read(typed) == pytest.approx(kb)


@pytest.mark.parametrize("typed,start", [("", "no answer yet"), ("sixteen", "not a number: 'sixteen'"),
                                         ("kB 16", "not a number"), ("16 s", "not a number of kB: 's'"),
                                         ("16 bananas", "not a number of kB: 'bananas'")])
def test_what_cannot_be_read_is_explained(typed, start):
    with pytest.raises(Unreadable) as e:
        kilobytes().read(typed)
    assert str(e.value).startswith(start) and "like 12 or 12 kB" in str(e.value)


def test_other_quantities():
    assert sectors().read("16 MiB") == 32768 and sectors().read("8 sectors") == 8
    assert seconds().read("250 ms") == 0.25 and seconds().read("2 min") == 120
    assert count("faults").read("12 faults") == count("faults").read("1 fault") * 12
    assert count("major faults").read("3 faults") == 3
    assert ratio().read("2.2x") == ratio().read("2.2 times") == 2.2
    assert mebibytes(tolerance=0.05).instruction() == "Answer in MiB (within 5%)."
    assert kilobytes().instruction() == "Answer in kB."
    assert ratio().show(2.2) == "2.200x" and seconds().show(50.06) == "50.06 s"
    assert sectors().show(32768) == "32768 (512-byte units)"
    assert count("extents").show(1) == "1 extent" and count("extents").show(5) == "5 extents"


@pytest.mark.parametrize("form,value", [(kilobytes(), 16384), (mebibytes(0.05, 1), 234.375),
                                        (sectors(), 4096), (seconds(), 45.06), (ratio(), 1.482),
                                        (count("faults"), 0), (count("faults"), 1)])
def test_an_answer_as_shown_reads_back_as_right(form, value):
    assert form.agrees(form.read(form.show(value)), value)


def test_agreement_is_exact_unless_a_tolerance_is_given():
    assert kilobytes().agrees(16384.0, 16384) and not kilobytes().agrees(16385, 16384)
    assert mebibytes(tolerance=0.05).agrees(104, 100) and not mebibytes(tolerance=0.05).agrees(106, 100)
    assert kilobytes().agrees(0, 0) and not kilobytes().agrees(1, 0)


def test_words():
    w = Words(["done", "hung", "ENOMEM"])
    assert w.instruction() == "Answer with one word: done, hung or ENOMEM."
    assert w.read(" enomem ") == "ENOMEM" and w.read("`hung`") == "hung" and w.read("done()") == "done"
    with pytest.raises(Unreadable, match="not one of the answers: 'finished'"):
        w.read("finished")
    with pytest.raises(Unreadable, match="no answer yet"):
        w.read("  ")
    assert Words(["only"]).instruction() == "Answer with one word: only."


def test_wording_helpers():
    assert [a(n) for n in (1, 8, 11, 18, 80, 1920, 896)] == [
        "a 1", "an 8", "an 11", "an 18", "an 80", "a 1920", "an 896"]
    assert plural(1, "page") == "1 page" and plural(3, "page") == "3 pages"
    assert first(1) == "the first page" and first(5) == "the first 5 pages"
    assert first(1, whose="its") == "its first page"


def _planted():
    from widgets.exercises.forms import Planted
    good = {"store_faults": 1, "relock_error": "", "dirty_kb": 0}
    bad = {"store_faults": 0, "relock_error": "ENOMEM", "dirty_kb": 0}
    return Planted("store_faults == 1", "6.18", good, "6.18-broken", bad)


@pytest.mark.parametrize("typed,right", [
    ("store_faults == 1", True), ("`store_faults >= 1`", True), ("relock_error == ''", True),
    ("relock_error not in ('ENOMEM', 'EPERM')", True), ("store_faults", True),
    ("dirty_kb == 0 and store_faults == 1", True), ("not relock_error", True),
    ("0 < store_faults <= 1", True), ("dirty_kb == 0", False), ("store_faults == 0", False),
    ("dirty_kb == 0 or store_faults == 1", False), ("relock_error < 3", False)])
def test_an_assertion_catches_when_it_holds_on_the_good_result_and_fails_on_the_bad(typed, right):
    from widgets.exercises.forms import Assertion
    form, answer = Assertion(["store_faults", "relock_error", "dirty_kb"]), _planted()
    given = form.read(typed)
    assert form.agrees(given, answer) is right
    if not right:
        assert form.why_wrong(given, answer).startswith(str(given))


@pytest.mark.parametrize("typed,says", [
    ("__import__('os').system('true')", "is not a comparison"), ("open('x') == 1", "neither a field"),
    ("store_faults.real == 1", "neither a field"), ("banana == 1", "'banana' is not a field"),
    ("store_faults = 1", "is not Python"), ("[x for x in store_faults]", "is not a comparison"),
    ("store_faults is 1", "only == != < <= > >= in and not in compare"),
    ("store_faults == {1: 2}", "neither a field")])
def test_an_assertion_outside_the_grammar_is_refused_before_anything_runs(typed, says):
    from widgets.exercises.forms import Assertion
    with pytest.raises(Unreadable) as e:
        Assertion(["store_faults"]).read(typed)
    assert str(e.value).startswith("not an assertion") and says in str(e.value)
