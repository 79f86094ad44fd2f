"""Exercises with checked answers, revealable solutions and seeded variants.

Like OSTEP's homework simulators: one seed makes the question, and the same
seed makes the answer, so every student can get different numbers and the
notebook still checks them.
"""

import random

import ipywidgets as w


class Exercise:
    """A question whose numbers come from a seed and whose answer mmsim computes.

    make(rng) -> dict of parameters; question(params) -> str;
    answer(params) -> the right answer (a number or a string).
    """

    def __init__(self, make, question, answer, hint="", tolerance=0.05, seed=0):
        self.make, self._question, self._answer = make, question, answer
        self.hint, self.tolerance = hint, tolerance
        self.reseed(seed)

    def reseed(self, seed):
        """Draw this exercise's variant for a seed."""
        self.seed = seed
        self.params = self.make(random.Random(seed))
        self._solution = None

    @property
    def question(self):
        return self._question(self.params)

    @property
    def solution(self):
        if self._solution is None:
            self._solution = self._answer(self.params)
        return self._solution

    def check(self, answer):
        """Return "right" or "wrong" with the hint; numbers within tolerance count."""
        right = self.solution
        try:
            if isinstance(right, (int, float)) and not isinstance(right, bool):
                ok = abs(float(answer) - right) <= self.tolerance * max(abs(right), 1e-12)
            else:
                ok = str(answer).strip().lower() == str(right).strip().lower()
        except (TypeError, ValueError):
            ok = False
        return "right" if ok else f"wrong: {self.hint}" if self.hint else "wrong"

    def reveal(self):
        """The answer, as text."""
        s = self.solution
        return f"{s:.3f}" if isinstance(s, float) else str(s)

    def widget(self):
        """An answer box with Check and Reveal buttons and a seed box."""
        box = w.Text(placeholder="your answer", layout=w.Layout(width="200px"))
        seed = w.BoundedIntText(value=self.seed, min=0, max=2**31 - 1, description="seed",
                                layout=w.Layout(width="170px"))
        q = w.HTML(self.question)
        out = w.HTML("")
        check, reveal = w.Button(description="Check"), w.Button(description="Reveal")

        def on_seed(change):
            self.reseed(change["new"])
            q.value, out.value = self.question, ""

        check.on_click(lambda _: setattr(out, "value", self.check(box.value)))
        reveal.on_click(lambda _: setattr(out, "value", f"answer: {self.reveal()}"))
        seed.observe(on_seed, names="value")
        return w.VBox([q, w.HBox([box, check, reveal, seed]), out])
