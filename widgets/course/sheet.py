"""What the assignment notebooks run: the student, their seeds, their questions and the checks.

A student's numbers come from one seed per exercise, a hash of the course id,
the student id and the exercise key: a student always gets the same numbers,
two students almost never the same ones. nbgrader autogrades a submission by
running it in autograded/<student id>/<assignment>/ with NBGRADER_EXECUTION
set, so there the student comes from that directory, whatever the notebook
says; anywhere else (the student's own run, nbgrader validate) it is the id
typed at the top of the notebook or, if none is, the name nbgrader's exchange
submits under (the login name; on JupyterHub, the hub's user name).
"""

import hashlib
import math
import os
import pwd
import re
from pathlib import Path

from ..exercises import catalog
from ..exercises.forms import Quantity, Unreadable

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|])")


def assignment_id(chapter):
    """'03' -> 'ch03': the nbgrader assignment of a chapter."""
    return f"ch{chapter}"


def seed_for(course_id, student_id, key):
    """The seed of exercise key for one student of one course (0 to 2**31 - 1)."""
    digest = hashlib.sha256(f"{course_id}/{student_id}/{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def find_student(assignment, typed=""):
    """The student id: nbgrader's when it autogrades, else the typed one or the exchange's."""
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        here = Path.cwd()
        if here.name != assignment:
            raise RuntimeError(f"nbgrader autogrades {assignment} in {here}, not in "
                               f"autograded/<student id>/{assignment}: keep nbgrader's "
                               f"default CourseDirectory.directory_structure")
        return here.parent.name
    return str(typed).strip() or exchange_name()


def exchange_name():
    """The id nbgrader's exchange submits under: the login name, JupyterHub's user for jovyan."""
    login = pwd.getpwuid(os.getuid())[0]
    return os.environ.get("JUPYTERHUB_USER", login) if login == "jovyan" else login


def _escape(text):
    return _MARKDOWN.sub(r"\\\1", text)


class Question:
    """A question with one student's numbers; shown as Markdown in a notebook."""

    def __init__(self, text):
        self.text = text

    def _repr_markdown_(self):
        return _escape(self.text)

    def __repr__(self):
        return self.text


class Sheet:
    """One student's exercises of one chapter, with their numbers and checks."""

    def __init__(self, course_id, chapter, student_id=""):
        self.course_id, self.chapter = course_id, chapter
        self.student = find_student(assignment_id(chapter), student_id)
        self.exercises = {ex.key: ex for ex in catalog().chapter(chapter)}
        if not self.exercises:
            raise ValueError(f"the catalogue has no exercises in chapter {chapter}")

    def variant(self, key):
        """This student's variant of exercise key."""
        if key not in self.exercises:
            raise KeyError(f"exercise {key} is not one of chapter {self.chapter}'s")
        return self.exercises[key].variant(seed_for(self.course_id, self.student, key))

    def ask(self, key):
        """The question of exercise key with this student's numbers."""
        return Question(self.variant(key).question)

    def reveal(self, key):
        """The right answer as text, with its unit: what the source notebook's solution holds."""
        return self.variant(key).reveal()

    def assert_readable(self, key, answer):
        """Fail, saying why, unless answer has the form the question asks for (a visible test)."""
        form = self.variant(key).form
        if answer is None or answer is Ellipsis:
            raise AssertionError(f"no answer yet: {form.instruction()}")
        try:
            value = form.read(answer)
        except Unreadable as e:
            raise AssertionError(str(e)) from None
        if isinstance(form, Quantity) and not (math.isfinite(value) and value >= 0):
            raise AssertionError(f"{answer!r}: the answer is a number of {form.unit} from 0 up")

    def assert_right(self, key, answer):
        """Fail with the exercise's own message unless answer is right (the hidden test)."""
        self.assert_readable(key, answer)
        right, message = self.variant(key).check(answer)
        if not right:
            raise AssertionError(message)

    def __repr__(self):
        keys = list(self.exercises)
        return (f"Chapter {self.chapter}, student {self.student!r}: exercises {keys[0]} to "
                f"{keys[-1]}, with this student's numbers")

    def _repr_markdown_(self):
        """Whose numbers these are, then every question: all of them show before any answer."""
        questions = [f"- **{key}** {self.ask(key)._repr_markdown_()}" for key in self.exercises]
        return "\n".join([_escape(repr(self)), "", *questions])
