"""The exercise catalogue (DESIGN.md section 5): every exercise, every seed 0-19, checked.

For each exercise and seed: the answer mmsim computes passes its own check,
a wrong one fails with the hint, a non-number is explained, the question
names the form of the answer, and the same seed gives the same question and
answer when it is simulated again. The widget is driven without a browser.
"""

import html
import json
import re

import pytest

from mmsim.testbed import ordinal
from widgets.exercises import Exercise, catalog
from widgets.exercises.forms import Assertion, Quantity, Words

BOOK = catalog()
SEEDS = range(20)
CASES = [(key, seed) for key in BOOK for seed in SEEDS]


def wrong_answer(v):
    """An answer the check must refuse: another word, or a number well outside the tolerance."""
    if isinstance(v.form, Assertion):
        return f"not ({v.answer})"
    if isinstance(v.form, Words):
        return next(w for w in v.form.words() if w != v.answer) if len(v.form.words()) > 1 else "x" + v.answer
    return v.answer * (1 + 3 * v.form.tolerance) + max(1, abs(v.answer)) * 0.5 + 1


def test_catalogue_is_in_chapter_order_with_three_exercises_or_more_per_chapter():
    keys = list(BOOK)
    assert keys == sorted(keys, key=lambda k: (k.split(".")[0], int(k.split(".")[1])))
    for key, ex in BOOK.items():
        assert re.fullmatch(r"\d\d\.\d+", key) and key == f"{ex.chapter}.{ex.number}"
        assert ex.title and ex.hint
    for chapter in ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10"):
        numbers = [ex.number for ex in BOOK.chapter(chapter)]
        assert len(numbers) >= 3 and numbers == list(range(1, len(numbers) + 1)), chapter
    assert catalog() is BOOK and list(BOOK.values())[0] is BOOK["01.1"]


@pytest.mark.parametrize("key,seed", CASES, ids=[f"{k}-seed{s}" for k, s in CASES])
def test_every_variant_checks_its_own_answer(key, seed):
    ex = BOOK[key]
    v = ex.variant(seed)
    json.dumps(v.params)                                   # plain data
    assert v.check(v.answer) == (True, f"right: {v.reveal()}")
    assert v.check(str(v.answer))[0]
    assert v.check(v.reveal())[0]                          # the answer as shown reads back
    right, message = v.check(wrong_answer(v))
    assert not right and message.startswith("wrong") and message.endswith(f"; hint: {ex.hint}")
    assert message == f"wrong; hint: {ex.hint}" or hasattr(v.form, "why_wrong")
    for garbage in ("banana", "?!", "--"):
        right, message = v.check(garbage)
        assert not right
        expected = ("not one of the answers" if isinstance(v.form, Words) else
                    getattr(v.form, "unreadable", "not a number"))
        assert message.startswith(expected), message
    assert v.check("")[1].startswith("no answer yet")
    # the question says the form of the answer: its unit, or every word to choose from
    assert v.question.endswith(v.form.instruction())
    assert all(word in v.question for word in v.form.words())
    # the same seed, simulated again from scratch, gives the same question and answer
    again = ex.variant(seed)
    assert (again.question, again.params) == (v.question, v.params)
    assert ex.solve(dict(v.params)) == v.answer


@pytest.mark.parametrize("key", list(BOOK))
def test_seeds_draw_different_variants(key):
    params = {json.dumps(BOOK[key].variant(s).params, sort_keys=True) for s in SEEDS}
    assert len(params) >= 4, f"{key}: only {len(params)} different variants in 20 seeds"


def test_wording_has_proper_ordinals_plurals_and_articles():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 103, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd", "111th"]
    for key, ex in BOOK.items():
        for s in SEEDS:
            q = ex.variant(s).question
            for n, suffix in re.findall(r"\b(\d+)(st|nd|rd|th)\b", q):
                assert ordinal(int(n)) == n + suffix, (key, s, q)
            for wrong in (r"\b1 [a-z]+s\b", r"\ba 8", r"\ba 1[18]\b", r"\ba ext", r"\ban [1-79]"):
                assert not re.search(wrong, q), (key, s, wrong, q)


def test_wording_fixes_readers_met():
    q = {s: BOOK["01.1"].variant(s) for s in SEEDS}
    every = {v.params["every"]: v.question for v in q.values()}
    assert "every 2nd page (pages 0, 2, 4 ...)" in every[2]
    assert "every 3rd page" in every[3]
    one = [v for s in range(200) for v in [BOOK["01.2"].variant(s)] if v.params["stores"] == 1][0]
    assert "stores to the first page." in one.question
    assert "an 8 MiB" in next(v.question for s in range(50) for v in [BOOK["04.2"].variant(s)]
                              if v.params["mib"] == 8)


def test_units_and_spacing_are_accepted_where_they_convert():
    v = BOOK["03.1"].variant(next(s for s in range(100) if BOOK["03.1"].variant(s).answer))
    kb = v.answer
    for typed in (f"{kb}", f"{kb} kB", f"{kb}kB", f" {kb}  KiB ", f"{kb // 1024} MiB",
                  f"{kb // 1024}m", f"{kb * 1024} bytes", f"{kb // 4} pages", f"{kb:,}", f"{kb} kB."):
        assert v.check(typed)[0], typed
    right, message = v.check(f"{kb} s")
    assert not right and message.startswith("not a number of kB: 's' is not a unit")
    blocks = BOOK["03.3"]
    v = next(blocks.variant(s) for s in range(100) if blocks.variant(s).answer)
    assert v.check(f"{v.answer} sectors")[0] and v.check(f"{v.answer * 512 // 1024} kB")[0]
    kupdate = BOOK["04.2"].variant(0)
    assert kupdate.check(f"{kupdate.answer * 1000:.0f} ms")[0]
    assert kupdate.check(f"{kupdate.answer} s")[0] and kupdate.check(f"{kupdate.answer}s")[0]
    speed = BOOK["04.4"].variant(0)
    assert speed.check(f"{speed.answer}x")[0] and speed.check(f"{speed.answer} times")[0]


def test_tolerance_is_what_the_question_says():
    v = BOOK["04.1"].variant(0)
    assert "(within 5%)" in v.question
    assert v.check(v.answer * 1.04)[0] and not v.check(v.answer * 1.06)[0]
    exact = BOOK["01.1"].variant(0)
    assert "within" not in exact.question
    assert not exact.check(exact.answer + 1)[0] and exact.check(f"{exact.answer}.0")[0]


def test_words_ignore_case_quotes_and_parentheses():
    v = BOOK["02.2"].variant(0)
    assert v.check(v.answer.upper())[0] and v.check(f"`{v.answer}()`")[0]
    session = BOOK["03.4"].variant(0)
    assert session.check(f"  {session.answer.upper()} ")[0]


def test_answers_are_what_mmsim_computes_for_the_parameters():
    # oracles the chapters teach: 2.6.37 mlock dirties a shared mapping, later kernels do not
    for s in SEEDS:
        v = BOOK["03.1"].variant(s)
        shared_old = v.params["kernel"] == "2.6.37" and v.params["mapping"] == "shared, rw"
        assert v.answer == (v.params["mib"] * 1024 if shared_old else 0)
        c = BOOK["01.1"].variant(s).params
        expected = c["npages"] + len(range(0, c["npages"], c["every"]))
        assert BOOK["01.1"].variant(s).answer == expected   # read faults, then one per store
        r = BOOK["04.3"].variant(s)
        assert r.answer in (0, r.params["mib"] * 256)


def test_a_bad_seed_is_refused_with_a_message():
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match="a seed is a whole number"):
            BOOK["01.1"].variant(bad)


def test_an_exercise_form_is_written_in_its_question():
    ex = Exercise("99", 1, "test", lambda rng: {"n": rng.randint(1, 9)}, lambda q: f"n is {q['n']}?",
                  lambda q: q["n"] * 2, Quantity("kB", {"": 1, "kb": 1}, "Answer in {unit}"), "double")
    v = ex.variant(3)
    assert v.question == f"n is {v.params['n']}? Answer in kB."
    assert v.transcript("1").splitlines() == [v.question, "check('1') -> wrong; hint: double",
                                              f"answer: {v.answer} kB"]


def test_widget_check_reveal_and_seed_without_a_browser():
    ex = BOOK["03.2"]
    box = ex.widget(seed=0)
    v = ex.variant(0)
    assert html.escape(v.question, quote=False) in box.question.value and box.seed.value == 0
    box.box.value = f"{v.answer} kB"
    box.check_button.click()
    assert "right" in box.message.value
    box.box.value = "lots"
    box.check_button.click()
    assert "not a number" in box.message.value
    box.box.value = str(wrong_answer(v))
    box.check_button.click()
    assert "wrong" in box.message.value
    box.reveal_button.click()
    assert html.escape(f"answer: {v.reveal()}", quote=False) in box.message.value
    new = next(s for s in range(1, 20) if ex.variant(s).question != v.question)
    box.seed.value = new
    assert box.box.value == "" and box.message.value == ""
    assert box.variant.seed == new and html.escape(ex.variant(new).question, quote=False) in box.question.value
    box.box.value = str(box.variant.answer)
    box.check_button.click()
    assert "right" in box.message.value
    assert box.children[1].children == (box.box, box.check_button, box.reveal_button, box.seed)


def test_chapter_08_answers_follow_the_kernels_rules():
    for s in SEEDS:
        v = BOOK["08.1"].variant(s)
        if v.params["kernel"] != "6.18" and v.params["calls"][0][0] == "mlock2":
            assert v.answer == "ENOSYS"
        elif v.params["limit_pages"] == 0 and v.params["calls"][0][0] != "mlock2":
            assert v.answer == "EPERM"
        hole = BOOK["08.2"].variant(s)
        if hole.params["calls"][0][0] == "munmap":          # the pages before the hole
            assert hole.answer == hole.params["calls"][0][1] * 4
        r = BOOK["08.3"].variant(s)
        if r.params["limit"] != "unlimited" or r.params["lock"] + r.params["file"] < 1024:
            assert r.answer == 0.0
