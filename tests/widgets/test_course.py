"""widgets.course: the nbgrader course, built from the catalogue and graded by nbgrader itself.

The course is built once, every chapter released. The releases are checked
for answers and hidden tests; one chapter goes through `nbgrader autograde`
and `nbgrader generate_feedback` with three students: alice right, bob wrong
but readable (so only the hidden tests can fail him), and carol with alice's
answers, which are not hers: her numbers come from her own id.
"""

import json
import os
import pwd
import re
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import get_username

from widgets.course import Sheet, assignment_id, find_student, seed_for
from widgets.course.coursedir import COURSE_ID, build, chapters, nbgrader, write_course
from widgets.course.notebooks import INTRO, name
from widgets.course.sheet import exchange_name
from widgets.exercises import catalog
from widgets.exercises.forms import Words

ROOT = Path(__file__).resolve().parents[2]
BOOK = catalog()
GRADED = "03"                       # the chapter taken through autograde and feedback
STUDENTS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """nbgrader's environment: this tree importable in its kernels, no user configuration."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NBGRADER_EXECUTION", "JUPYTERHUB_USER")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path_factory.mktemp("jupyter-config"))
    return env


@pytest.fixture(scope="module")
def course(tmp_path_factory, env):
    root = tmp_path_factory.mktemp("course")
    assert build(root, env=env) == [assignment_id(ch) for ch in chapters()]
    return root


def read(path):
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def by_grade_id(nb):
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c)}


def wrong(v):
    """A readable answer the exercise's check refuses: another word, a number well off."""
    if isinstance(v.form, Words):
        return next(word for word in v.form.words() if word != v.answer)
    return v.form.show(v.answer * (1 + 3 * v.form.tolerance) + max(1, abs(v.answer)) * 0.5 + 1)


def test_every_chapter_with_exercises_is_an_assignment_worth_its_exercises(course):
    wanted = [assignment_id(ch) for ch in sorted({ex.chapter for ex in BOOK.values()})]
    assert sorted(p.name for p in (course / "source").iterdir()) == wanted
    assert sorted(p.name for p in (course / "release").iterdir()) == wanted
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        assert {a.name: a.max_score for a in gb.assignments} == {
            assignment_id(ch): float(len(BOOK.chapter(ch))) for ch in chapters()}
    config = (course / "nbgrader_config.py").read_text()
    assert f"course_id = {COURSE_ID!r}" in config and "gradebook.db" in config


def test_source_has_a_solution_region_and_a_hidden_test_per_exercise(course):
    for chapter in chapters():
        nb = read(course / "source" / assignment_id(chapter) / f"{assignment_id(chapter)}.ipynb")
        cells = by_grade_id(nb)
        assert len(cells) == len([c for c in nb.cells if nbgrader_meta(c)]), "grade ids repeat"
        assert all(c.metadata["deletable"] is False for c in nb.cells)
        for meta in map(nbgrader_meta, cells.values()):
            assert meta["schema_version"] == 3 and meta["grade"] == ("points" in meta)
        for ex in BOOK.chapter(chapter):
            n = name(ex.key)
            answer, check = cells[f"ex{n}_answer"], cells[f"ex{n}_check"]
            assert nbgrader_meta(answer) | {"grade_id": ""} == {
                "grade": False, "grade_id": "", "locked": False, "schema_version": 3,
                "solution": True, "task": False}
            assert re.search(rf'### BEGIN SOLUTION\nanswer_{n} = sheet.reveal\("{ex.key}"\)\n'
                             rf"### END SOLUTION", answer.source)
            assert nbgrader_meta(check)["grade"] and nbgrader_meta(check)["locked"]
            assert nbgrader_meta(check)["points"] == 1
            visible, hidden = check.source.split("### BEGIN HIDDEN TESTS\n")
            assert f'assert_readable("{ex.key}", answer_{n})' in visible
            assert f'assert_right("{ex.key}", answer_{n})\n### END HIDDEN TESTS' in hidden
            assert nbgrader_meta(cells[f"ex{n}_question"])["locked"]


def test_every_source_notebook_passes_its_own_hidden_tests(course):
    """The source's code, run as a kernel would for one student: solutions pass every check."""
    for chapter in chapters():
        nb = read(course / "source" / assignment_id(chapter) / f"{assignment_id(chapter)}.ipynb")
        namespace = {}
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(cell.source.replace('STUDENT_ID = ""', 'STUDENT_ID = "erin"'), namespace)
        assert namespace["sheet"].student == "erin"
        assert sorted(k for k in namespace if k.startswith("answer_")) == sorted(
            f"answer_{name(ex.key)}" for ex in BOOK.chapter(chapter))


def test_the_same_catalogue_writes_the_same_course(tmp_path):
    first, second = write_course(tmp_path / "a"), write_course(tmp_path / "b")
    assert first == second
    for path in sorted((tmp_path / "a").rglob("*.ipynb")):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_releases_hold_no_answer_and_no_hidden_test(course):
    for chapter in chapters():
        aid = assignment_id(chapter)
        nb = read(course / "release" / aid / f"{aid}.ipynb")
        intro, *cells = nb.cells
        assert intro.source == INTRO.format(chapter=chapter, example=name(BOOK.chapter(chapter)[0].key))
        text = json.dumps([c.source for c in cells])
        for banned in ("SOLUTION", "HIDDEN", "reveal(", "assert_right"):
            assert banned not in text, (aid, banned)
        student = next(c for c in cells if c.id == "student")
        assert student.source == 'STUDENT_ID = ""  # your student id, between the quotes'
        assert student.metadata == {"deletable": False}            # the student's to edit
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in cells if c.cell_type == "code")
        for ex in BOOK.chapter(chapter):
            answer = by_grade_id(nb)[f"ex{name(ex.key)}_answer"].source
            assert answer.endswith("raise NotImplementedError()"), answer
            for student in STUDENTS:
                v = Sheet(COURSE_ID, chapter, student).variant(ex.key)
                leak = f'"{v.answer}"' if isinstance(v.form, Words) else v.reveal()
                assert leak not in text, (aid, ex.key, student, leak)


def test_seeds_come_from_course_student_and_exercise():
    assert seed_for("mmbook", "alice", "03.2") == 567520871        # the same on every machine
    seeds = {seed_for(COURSE_ID, s, key) for s in STUDENTS for key in BOOK}
    assert len(seeds) == len(STUDENTS) * len(BOOK) and all(0 <= s < 2**31 for s in seeds)
    assert seed_for("another course", "alice", "03.2") != seed_for(COURSE_ID, "alice", "03.2")
    alice, bob = Sheet(COURSE_ID, GRADED, "alice"), Sheet(COURSE_ID, GRADED, "bob")
    assert alice.variant("03.2").seed == seed_for(COURSE_ID, "alice", "03.2")
    differ = [key for key in BOOK if Sheet(COURSE_ID, BOOK[key].chapter, "alice").ask(key).text
              != Sheet(COURSE_ID, BOOK[key].chapter, "bob").ask(key).text]
    assert len(differ) >= 0.8 * len(BOOK), differ
    assert repr(alice) == "Chapter 03, student 'alice': exercises 03.1 to 03.4, with this student's numbers"
    assert alice.ask("03.2").text == alice.variant("03.2").question != bob.ask("03.2").text
    listed = alice._repr_markdown_()                  # the setup cell: every question up front
    assert listed.startswith("Chapter 03, student 'alice'")
    assert all(f"**{key}** {alice.ask(key)._repr_markdown_()}" in listed for key in alice.exercises)


def test_the_student_is_nbgraders_when_it_autogrades(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert find_student("ch03", " alice ") == "alice"
    assert find_student("ch03", "") == exchange_name() == get_username()    # nbgrader's own
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: ["jovyan"])
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    assert find_student("ch03", "") == "bob" == get_username()
    assert find_student("ch03", "alice") == "alice"
    graded = tmp_path / "autograded" / "carol" / "ch03"
    graded.mkdir(parents=True)
    monkeypatch.chdir(graded)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert find_student("ch03", "alice") == "carol"          # what the notebook says is ignored
    assert Sheet(COURSE_ID, "03", "alice").student == "carol"
    with pytest.raises(RuntimeError, match="autograded/<student id>/ch04"):
        find_student("ch04", "")


def test_the_checks_are_the_exercises_own():
    sheet = Sheet(COURSE_ID, GRADED, "alice")
    for ex in BOOK.chapter(GRADED):
        v = sheet.variant(ex.key)
        sheet.assert_right(ex.key, v.reveal())
        sheet.assert_readable(ex.key, wrong(v))
        with pytest.raises(AssertionError, match=re.escape(f"wrong; hint: {ex.hint}")):
            sheet.assert_right(ex.key, wrong(v))
        for empty in (None, ..., ""):
            with pytest.raises(AssertionError, match="no answer yet"):
                sheet.assert_readable(ex.key, empty)
        with pytest.raises(AssertionError, match="not a number|not one of the answers"):
            sheet.assert_right(ex.key, "banana")
    kb = next(ex.key for ex in BOOK.chapter(GRADED) if not isinstance(sheet.variant(ex.key).form, Words))
    with pytest.raises(AssertionError, match="from 0 up"):
        sheet.assert_readable(kb, "-5")
    question = sheet.ask("03.1")
    assert "PROT\\_READ\\|PROT\\_WRITE" in question._repr_markdown_() and repr(question) == question.text


def submit(course, student, answers_of=None, right=True):
    """The release of GRADED as `student` hands it in, answered as `answers_of` should."""
    aid = assignment_id(GRADED)
    nb = read(course / "release" / aid / f"{aid}.ipynb")
    sheet = Sheet(COURSE_ID, GRADED, answers_of or student)
    cells = by_grade_id(nb)
    next(c for c in nb.cells if c.id == "student").source = f"STUDENT_ID = {student!r}"
    for ex in BOOK.chapter(GRADED):
        v = sheet.variant(ex.key)
        cells[f"ex{name(ex.key)}_answer"].source = (
            f"answer_{name(ex.key)} = {(v.reveal() if right else wrong(v))!r}")
    path = course / "submitted" / student / aid / f"{aid}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)


def test_nbgrader_gives_full_marks_to_the_right_answers_and_none_to_wrong_ones(course, env):
    aid, exercises = assignment_id(GRADED), BOOK.chapter(GRADED)
    submit(course, "alice")
    submit(course, "bob", right=False)
    submit(course, "carol", answers_of="alice")
    nbgrader(course, "autograde", aid, env=env)
    nbgrader(course, "generate_feedback", aid, env=env)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        score = {s: gb.find_submission(aid, s).score for s in ("alice", "bob", "carol")}
        assert gb.find_assignment(aid).max_score == len(exercises)
    assert score["alice"] == len(exercises) and score["bob"] == 0
    copied = [ex.key for ex in exercises
              if Sheet(COURSE_ID, GRADED, "carol").variant(ex.key).check(
                  Sheet(COURSE_ID, GRADED, "alice").reveal(ex.key))[0]]
    assert score["carol"] == len(copied) < len(exercises)
    # bob's answers were readable: the visible tests passed, the hidden ones failed him
    graded = read(course / "autograded" / "bob" / aid / f"{aid}.ipynb")
    for ex in exercises:
        (error,) = [o for o in by_grade_id(graded)[f"ex{name(ex.key)}_check"].outputs
                    if o.output_type == "error"]
        assert error.ename == "AssertionError" and error.evalue == f"wrong; hint: {ex.hint}"
    for student, points in score.items():
        feedback = (course / "feedback" / student / aid / f"{aid}.html").read_text()
        assert f"Score: {points:.1f} / {len(exercises):.1f}" in feedback
        assert f"student {student!r}" in feedback.replace("&#39;", "'")
