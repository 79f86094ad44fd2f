"""The harness: run benchmark cases in fresh processes, report figures against targets.

Each benchmark module defines case functions (run in a child process,
returning a dict of figures it timed itself) and ``run(reps, quick)``, which
returns Rows. A case runs in a new process forked from a process that has
already imported the module (and so mmsim, widgets ...): the import is in no
figure, and nothing of one run is left in the next. The child adds its peak
RSS (ru_maxrss) to the figures. Progress goes to stderr, tables to stdout.

Run every benchmark: python -m benchmarks [--quick] (make bench). The table
also shows the browser figures the last browser test recorded (benchmarks/browser.py),
unless --only picks benchmarks.
"""

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from benchmarks import browser

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("bench_hole20g", "bench_engine", "bench_widgets")


@dataclass
class Row:
    """One figure: what was measured, its value and its target (None: shown, not checked)."""

    benchmark: str
    figure: str
    value: float
    target: float = None
    unit: str = ""
    digits: int = 3

    @property
    def over(self):
        return self.target is not None and not self.value <= self.target

    def cells(self):
        show = f"{{:.{self.digits}f}} {self.unit}".strip().format
        return (self.benchmark, self.figure, show(self.value),
                "" if self.target is None else show(self.target),
                "" if self.target is None else ("OVER" if self.over else "ok"))


def progress(message):
    print(message, file=sys.stderr, flush=True)


class Processes:
    """Call case functions of one benchmark module, each call in a fresh process.

    A server process imports the module once, then forks a child per call;
    the child runs the function and sends back its figures.
    """

    def __init__(self, module):
        path = [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        self.server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.common", "--serve", module],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(path)))

    def call(self, fn, *args):
        """Run fn(*args) in a new process; return its figures and peak_rss_mb."""
        self.server.stdin.write(json.dumps([fn, args]) + "\n")
        self.server.stdin.flush()
        line = self.server.stdout.readline()
        if not line:
            raise RuntimeError(f"the benchmark server for {fn} exited")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"{fn}{tuple(args)} failed in its process:\n{out['error']}")
        return out

    def median(self, fn, args, reps, label=None):
        """Call fn(*args) in reps fresh processes; the median of each numeric figure.

        Figures that are not numbers (an outcome) are taken from the first run.
        """
        return self.medians([(fn, args, label)], reps)[0]

    def medians(self, cases, reps):
        """The median figures of each (fn, args, label) of cases, over reps fresh processes.

        The cases run in rounds (each case once, then each again ...), so
        that a slow spell of the machine falls on one run of many cases
        rather than on every run of one: each median stays the case's own.
        """
        runs = [[] for _ in cases]
        for i in range(reps):
            for (fn, args, label), done in zip(cases, runs):
                done.append(self.call(fn, *args))
                shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in done[-1].items())
                progress(f"  {label or fn} [{i + 1}/{reps}] {shown}")
        return [_median(done) for done in runs]

    def close(self):
        self.server.stdin.close()
        self.server.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _median(runs):
    """The median of each numeric figure of runs; the others from the first run."""
    out = dict(runs[0])
    for k, v in out.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in runs)
    return out


def _serve(module):
    """The server: import module, then fork a child for each [fn, args] line of stdin."""
    mod = importlib.import_module(module)
    for line in sys.stdin:
        fn, args = json.loads(line)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)     # stdout is the server's channel
            status = 0
            try:
                out = getattr(mod, fn)(*args)
                out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            except BaseException:
                out, status = {"error": traceback.format_exc()}, 1
            with os.fdopen(wfd, "w") as f:
                f.write(json.dumps(out))
            os._exit(status)
        os.close(wfd)
        with os.fdopen(rfd) as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
        if not data:
            data = json.dumps({"error": f"the child process ended with status {status}"})
        sys.stdout.write(data + "\n")
        sys.stdout.flush()


def table(header, rows):
    """rows (tuples of strings) under header, in aligned columns; numbers right-aligned."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for r in [header] + rows:
        cells = [str(c).rjust(w) if i >= 2 else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None, modules=MODULES):
    """Run the benchmarks, print one table of figures; return 1 if any is over its target."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=main.__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="one repetition and a subset of the cases, for development")
    ap.add_argument("--reps", type=int, help="fresh processes per figure (default 5, quick 1)")
    ap.add_argument("--only", action="append", choices=MODULES, metavar="BENCH",
                    help=f"run only this benchmark (repeatable): {', '.join(MODULES)}")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        _serve(args.serve)
        return 0
    reps = args.reps or (1 if args.quick else 5)
    if reps < 1:
        ap.error("--reps must be at least 1")
    rows, load = [], [os.getloadavg()[0]]
    for name in args.only or modules:
        progress(f"== {name} ({reps} fresh process{'es' * (reps > 1)} per figure"
                 f"{', quick' if args.quick else ''})")
        rows += importlib.import_module(f"benchmarks.{name}").run(reps, args.quick)
    load.append(os.getloadavg()[0])
    recorded = browser.load() if not args.only else None
    if recorded:
        rows += browser.rows(recorded)
    print()
    print(f"Figures: medians of {reps} fresh process{'es' * (reps > 1)}, import excluded; "
          f"load average {load[0]:.2f} before, {load[1]:.2f} after, {os.cpu_count()} CPUs "
          "(other work on the machine slows every wall time)")
    if recorded:
        print(f"The browser rows are not measured here: the last browser test's "
              f"(tests/browser, {recorded['recorded']}, {recorded.get('chromium', 'chromium')}), "
              f"median of its moves, from the input event to the new figure in the page; "
              f"{browser.RESULTS.relative_to(ROOT)}")
    print(table(("benchmark", "figure", "measured", "target", ""), [r.cells() for r in rows]))
    over = [r for r in rows if r.over]
    print(f"\n{len(over)} of {sum(r.target is not None for r in rows)} figures over their target"
          if over else "\nevery figure within its target")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
