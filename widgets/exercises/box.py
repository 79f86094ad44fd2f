"""The exercise widget: question, answer box, Check, Reveal and a seed box."""

import html

import ipywidgets as w

RIGHT, WRONG = "#176117", "#b00000"


class ExerciseBox(w.VBox):
    """An exercise's widget for one seed at a time; a new seed clears the box and the message.

    .question, .box (the answer), .check_button, .reveal_button, .seed and
    .message are the parts; .variant is the variant shown.
    """

    def __init__(self, exercise, seed=0):
        self.exercise = exercise
        self.variant = exercise.variant(seed)
        self.question = w.HTML(self._question_html())
        self.box = w.Text(placeholder="your answer", layout=w.Layout(width="260px"))
        self.check_button = w.Button(description="Check")
        self.reveal_button = w.Button(description="Reveal")
        self.seed = w.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                     layout=w.Layout(width="170px"))
        self.message = w.HTML("")
        self.check_button.on_click(self._check)
        self.reveal_button.on_click(self._reveal)
        self.seed.observe(self._reseed, names="value")
        super().__init__([self.question,
                          w.HBox([self.box, self.check_button, self.reveal_button, self.seed]),
                          self.message])

    def _question_html(self):
        ex = self.exercise
        return (f"<b>Exercise {ex.key}: {html.escape(ex.title, quote=False)}</b> (seed {self.variant.seed})"
                f"<br>{html.escape(self.variant.question, quote=False)}")

    def _say(self, text, colour):
        self.message.value = f"<span style='color:{colour}'>{html.escape(text, quote=False)}</span>"

    def _check(self, _):
        right, text = self.variant.check(self.box.value)
        self._say(text, RIGHT if right else WRONG)

    def _reveal(self, _):
        self._say(f"answer: {self.variant.reveal()}", RIGHT)

    def _reseed(self, change):
        self.variant = self.exercise.variant(change["new"])
        self.question.value = self._question_html()
        self.box.value = ""
        self.message.value = ""
