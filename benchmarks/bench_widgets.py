"""Re-render time of the chapters' apps at their default sizes (target: under 100 ms).

The apps of the chapters (benchmarks/chapter_apps.py builds them from the
notebooks' own cells), each in its own
process: the first update (what showing the app does) is not timed; then
one control moves through its options, twice round, and each move is timed
from the new value to the PNG of every view, which is what the notebook
front end receives (quick: once round). Figures: the median move, checked;
the slowest move and the median time of the scenario call alone (the
simulation, not the drawing), shown unchecked.
Run alone: python -m benchmarks.bench_widgets [--quick]
"""

import contextlib
import io
import statistics
import sys
import time

from benchmarks.chapter_apps import APPS      # imports widgets and mmsim: in no figure

LIMIT_MS = 100
ROUNDS = 2


def rerender(name, rounds):
    """Move the app's control through its options `rounds` times; times in ms (own process)."""
    app, control = APPS[name]()
    scenario_s = []

    def timed(**values):
        t0 = time.perf_counter()
        try:
            return scenario(**values)
        finally:
            scenario_s.append(time.perf_counter() - t0)
    scenario, app.scenario = app.scenario, timed
    options = [o[1] if isinstance(o, tuple) else o for o in app.controls[control].options]
    start = options.index(app.controls[control].value)
    moves = [options[(start + i) % len(options)] for i in range(1, rounds * len(options) + 1)]
    times = []
    with contextlib.redirect_stdout(io.StringIO()):    # display() outside a notebook prints
        app.update()
        for v in app.views:
            v._repr_png_()
        scenario_s.clear()
        for value in moves:
            t0 = time.perf_counter()
            app.controls[control].value = value        # the App's observer runs update()
            for v in app.views:
                v._repr_png_()
            times.append(time.perf_counter() - t0)
    return {"median_ms": statistics.median(times) * 1e3, "slowest_ms": max(times) * 1e3,
            "scenario_ms": statistics.median(scenario_s) * 1e3, "moves": len(times)}


def run(reps, quick):
    """Rows per app: the median re-render (checked), the slowest one, the scenario alone."""
    from benchmarks.common import Processes, Row
    rows = []
    with Processes(__name__) as procs:
        figures = procs.medians([("rerender", (name, 1 if quick else ROUNDS), name)
                                 for name in APPS], reps)
    for name, m in zip(APPS, figures):
        app = f"app {name}"
        rows += [Row(app, "re-render after a control move, median", m["median_ms"],
                     LIMIT_MS, "ms", 1),
                 Row(app, "slowest move", m["slowest_ms"], unit="ms", digits=1),
                 Row(app, "the scenario alone, median", m["scenario_ms"], unit="ms", digits=1)]
    return rows


def main():
    from benchmarks.common import main
    return main(modules=("bench_widgets",))


if __name__ == "__main__":
    sys.exit(main())
