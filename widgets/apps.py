"""Apps: controls wired to a scenario and to views; a change re-simulates.

An App is a function of its control values: ``App(scenario, controls,
views)`` calls ``scenario(**values)`` and each ``view(result)``, shows them,
and keeps ``.result`` and ``.views`` so tests and nbval read the numbers.
Each view draws into the figure it drew last time (views.reuse), so a
control change moves data in existing figures instead of building new ones.
"""

import ipywidgets as w
from IPython.display import display

from .controls import value_of
from .views import reuse


class App:
    """A small interactive experiment."""

    def __init__(self, scenario, controls, views, title="", run_label="run"):
        self.scenario = scenario
        self.controls = dict(controls)
        self.view_fns = list(views)
        self.result = None
        self.views = []
        self._drawn = []            # the views of the last run that drew, to draw into again
        self.error = ""
        self.out = w.Output()
        self.status = w.HTML("")
        for c in self.controls.values():
            c.observe(lambda change: self.update(), names="value")
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        self.widget = w.VBox(header + [w.HBox(list(self.controls.values())[:3]),
                                       w.HBox(list(self.controls.values())[3:]),
                                       self.status, self.out])

    def values(self):
        """The current value of every control."""
        return {k: value_of(c) for k, c in self.controls.items()}

    def update(self):
        """Run the scenario with the current values and redraw the views."""
        try:
            self.result = self.scenario(**self.values())
            self.error = ""
        except OSError as e:
            self.result, self.error = None, str(e)
        self.views = []
        if self.result is not None:
            for i, view in enumerate(self.view_fns):
                with reuse(self._drawn[i] if i < len(self._drawn) else None):
                    self.views.append(view(self.result))
            self._drawn = self.views
        self.status.value = f"<span style='color:#b00'>{self.error}</span>" if self.error else ""
        self.out.clear_output(wait=True)
        with self.out:
            for v in self.views:
                display(v)
        return self

    def _ipython_display_(self):
        if self.result is None and not self.error:
            self.update()
        display(self.widget)
