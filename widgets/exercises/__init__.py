"""The book's exercises, in one catalogue (DESIGN.md section 5).

    from widgets.exercises import catalog
    book = catalog()              # every exercise, in chapter order: "03.2" -> Exercise
    ex = book["03.2"]; ex.chapter, ex.number, ex.title
    v = ex.variant(seed=7)        # seed 0: the variant the chapter prints
    v.params, v.question, v.answer
    v.check("16384 kB")           # -> (right, message)
    ex.widget(seed=0)             # answer box, Check, Reveal, seed

Like OSTEP's homework simulators, one seed makes the question and the same
seed makes the answer (random.Random(seed), nothing global), so every
student can get other numbers and the book still checks them. The answer
is always computed by mmsim for the drawn parameters; simulations are
cached per exercise and parameters, so a variant asked twice runs once.
Each chapter's exercises are in its own module (ch01 ... ch10).
"""

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from .forms import Unreadable


@dataclass(frozen=True, eq=False)
class Exercise:
    """A question whose numbers come from a seed and whose answer mmsim computes.

    make(rng) -> dict of plain parameters; ask(params) -> the question,
    without its last sentence, which the form adds (what to answer in);
    solve(params) -> the answer, computed by mmsim; form: an answer form
    (forms.py), or a function of the parameters returning one.
    """

    chapter: str
    number: int
    title: str
    make: object
    ask: object
    solve: object
    form: object
    hint: str
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def key(self):
        """'03.2': chapter and number."""
        return f"{self.chapter}.{self.number}"

    def variant(self, seed=0):
        """This exercise for one seed (a whole number from 0 on)."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"a seed is a whole number from 0 on, not {seed!r}")
        return Variant(self, seed, self.make(random.Random(seed)))

    def answer_for(self, params):
        """The answer for these parameters, simulated once per distinct parameters."""
        key = tuple(sorted(params.items()))
        if key not in self._cache:
            self._cache[key] = self.solve(params)
        return self._cache[key]

    def form_for(self, params):
        return self.form(params) if callable(self.form) else self.form

    def widget(self, seed=0):
        """The answer box with Check, Reveal and a seed box, starting at this seed."""
        from .box import ExerciseBox
        return ExerciseBox(self, seed)

    def __repr__(self):
        return f"Exercise {self.key}: {self.title}"


class Variant:
    """One seed's parameters, question and answer of an exercise."""

    def __init__(self, exercise, seed, params):
        self.exercise, self.seed, self.params = exercise, seed, params
        self.form = exercise.form_for(params)
        self.question = f"{exercise.ask(params)} {self.form.instruction()}"

    @functools.cached_property
    def answer(self):
        """The right answer, computed by mmsim for these parameters."""
        return self.exercise.answer_for(self.params)

    @property
    def hint(self):
        return self.exercise.hint

    def check(self, given):
        """Return (right, message) for a typed answer; an unreadable one is explained."""
        try:
            value = self.form.read(given)
        except Unreadable as e:
            return False, str(e)
        if self.form.agrees(value, self.answer):
            return True, f"right: {self.form.show(self.answer)}"
        why = getattr(self.form, "why_wrong", None)     # a form that can say why (forms.Assertion)
        return False, f"wrong{': ' + why(value, self.answer) if why else ''}; hint: {self.hint}"

    def reveal(self):
        """The answer, as text with its unit."""
        return self.form.show(self.answer)

    def transcript(self, *tries):
        """The question, each try checked, and the answer: what a chapter prints."""
        lines = [self.question]
        for t in tries:
            lines.append(f"check({str(t)!r}) -> {self.check(t)[1]}")
        lines.append(f"answer: {self.reveal()}")
        return "\n".join(lines)

    def __repr__(self):
        return f"Variant {self.exercise.key} seed {self.seed}: {self.params}"


class Catalog(Mapping):
    """Exercises by key ("03.2"), in chapter order."""

    def __init__(self, exercises):
        self._by_key = {}
        for ex in exercises:
            if ex.key in self._by_key:
                raise ValueError(f"two exercises are {ex.key}")
            self._by_key[ex.key] = ex

    def __getitem__(self, key):
        return self._by_key[key]

    def __iter__(self):
        return iter(self._by_key)

    def __len__(self):
        return len(self._by_key)

    def chapter(self, chapter):
        """The exercises of one chapter ("03"), in order."""
        return [ex for ex in self.values() if ex.chapter == chapter]

    def __repr__(self):
        return "\n".join(repr(ex) for ex in self.values())


@functools.cache
def catalog():
    """Every exercise of the book, in chapter order."""
    from . import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10
    exercises = [ex for ch in (ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10)
                 for ex in ch.EXERCISES]
    return Catalog(sorted(exercises, key=lambda ex: (ex.chapter, ex.number)))


__all__ = ["Catalog", "Exercise", "Variant", "catalog"]
