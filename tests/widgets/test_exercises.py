"""Exercises check right and wrong answers; seeds make variants."""

import os

import mmsim
from mmsim import MAP_SHARED, PROT_READ, PROT_WRITE
from widgets import Exercise


def dirty_after_mlock(params):
    m = mmsim.Machine(kernel=params["kernel"])
    m.mkfs("/data", fs="ext2", size=64 << 20)
    p = m.spawn(memlock=(mmsim.RLIM_INFINITY,) * 2)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, params["pages"] * 4096)
    a = p.mmap(0, params["pages"] * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    p.mlock(a, params["pages"] * 4096)
    return m.meminfo()["Dirty"]


def make_exercise(seed=0):
    return Exercise(
        make=lambda rng: {"kernel": rng.choice(["2.6.37", "2.6.38"]),
                          "pages": rng.randrange(16, 256)},
        question=lambda q: f"kB dirty after mlock of {q['pages']} pages on {q['kernel']}?",
        answer=dirty_after_mlock, hint="which kernels write-fault shared mappings?",
        seed=seed)


def test_check_accepts_the_right_answer_and_rejects_a_wrong_one():
    ex = make_exercise()
    assert ex.check(ex.solution) == "right"
    assert ex.check(ex.solution + 1000).startswith("wrong")
    assert "write-fault" in ex.check(-1)
    assert ex.check("not a number").startswith("wrong")


def test_seeds_give_different_variants_with_their_own_answers():
    variants = {(make_exercise(s).params["kernel"], make_exercise(s).params["pages"])
                for s in range(10)}
    assert len(variants) > 3
    for s in range(5):
        ex = make_exercise(s)
        expected = ex.params["pages"] * 4 if ex.params["kernel"] == "2.6.37" else 0
        assert ex.solution == expected
        assert ex.reveal() == str(expected)


def test_widget_buttons_check_and_reveal():
    ex = make_exercise(3)
    box = ex.widget()
    answer_row = box.children[1]
    text, check, reveal, seed = answer_row.children
    text.value = str(ex.solution)
    check.click()
    assert box.children[2].value == "right"
    reveal.click()
    assert box.children[2].value == f"answer: {ex.reveal()}"
    seed.value = 4
    assert ex.seed == 4 and box.children[0].value == ex.question
