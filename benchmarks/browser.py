"""The browser figures: recorded by tests/browser (make test), shown by make bench.

The browser test times, in JupyterLab in chromium, each app's redraw from
a control's input event to the new figure decoded in the page: the whole
path a reader waits on (the widget message, the kernel's re-simulation and
PNG, the figure's transfer and decoding). It writes the medians to
RESULTS; ``make bench`` does not run a browser itself but adds the latest
recorded figures to its table, with the date they were recorded.
"""

import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "browser.json"
# End to end in the browser; issue 9's 100 ms is the kernel side alone (bench_widgets).
REDRAW_TARGET_MS = 500


def record(chapters, path=RESULTS, **about):
    """Write the chapters' figures (tests/browser's) to path, with when and what measured them."""
    path = Path(path)
    path.parent.mkdir(exist_ok=True)
    data = {"recorded": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **about,
            "chapters": dict(sorted(chapters.items()))}
    path.write_text(json.dumps(data, indent=1) + "\n")


def load(path=RESULTS):
    """The last recorded figures, or None if there are none."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def rows(data):
    """Rows for the benchmark table: per app the median redraw (checked), per chapter Run All."""
    from benchmarks.common import Row
    out = []
    for name, ch in data["chapters"].items():
        prefix = name.split("_", 1)[0]
        for app in ch.get("apps", []):
            out.append(Row(f"browser {prefix} app", f"{app['control']} moved to new figure, median",
                           app["median_ms"], REDRAW_TARGET_MS, "ms", 0))
        if ch.get("run_all_s") is not None:
            out.append(Row(f"browser {prefix}", "Run All", ch["run_all_s"], unit="s", digits=1))
    return out
