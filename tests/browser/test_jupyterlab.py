"""The book in JupyterLab in a real browser (Debian's chromium driven by playwright).

One JupyterLab server for the module, on a temporary copy of book/, its
notebooks trusted as `make lab` trusts them. Each chapter is opened fresh
in the same page, in turn, and
(a) before any cell runs, shows every widget view stored in the notebook
    (its apps and exercise boxes) as a widget, none as text (an open that
    lost jupyterlab_widgets' load race is retried, with a warning: Lab.open);
(b) runs all its cells (Run All): every code cell executed in order, no
    error output, no traceback, no "Error displaying widget", the kernel
    idle at the end;
(c) in its app, one control moved changes the app's figure, each move.
The time from a move to the new figure is a benchmark figure, not a
limit: the medians go to benchmarks/results/browser.json, which
`make bench` shows in its table (benchmarks/browser.py).
"""

import statistics
import warnings
from pathlib import Path

import pytest

from benchmarks import browser as bench
from lab_driver import Lab, chromium_version, find_chromium

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
CHAPTERS = sorted(p.name for p in BOOK.glob("*.ipynb"))
MOVES = 3           # moves per app: the median of these is the benchmark figure
RESULTS = {}        # chapter -> what was measured, written at the end of the module


@pytest.fixture(scope="module")
def lab():
    chromium = find_chromium()
    with Lab(BOOK, str(ROOT), chromium) as lab:
        yield lab
    if RESULTS:
        bench.record(RESULTS, chromium=chromium_version(chromium))


@pytest.fixture(scope="module", params=CHAPTERS)
def chapter(request, lab):
    """The chapter, opened fresh; closed (kernel shut down, not saved) after its tests."""
    ch = lab.open(request.param)
    yield ch
    ch.close()
    RESULTS[ch.name] = {"open_s": round(ch.open_s, 3), "widget_views": ch.first_open["views"],
                        "run_all_s": None if ch.run_s is None else round(ch.run_s, 3)}
    if ch.reopened:
        RESULTS[ch.name]["reopened_after"] = [e["widget_errors"] for e in ch.reopened]
    for cell, (control, times) in ch.moves.items():
        RESULTS[ch.name].setdefault("apps", []).append(
            {"cell": cell, "control": control, "moves_ms": [round(t, 1) for t in times],
             "median_ms": round(statistics.median(times), 1)})


def test_first_open_shows_the_stored_widgets(chapter):
    assert chapter.unstored == [], (
        f"{chapter.name}: {len(chapter.unstored)} widget views stored in its outputs have no "
        "model in its stored widget state (they show 'Error displaying widget: model not "
        "found'): re-execute it from a fresh kernel: .venv/bin/python -m jupyter nbconvert "
        "--to notebook --execute --inplace --ExecutePreprocessor.record_timing=False "
        f"book/{chapter.name}")
    for earlier in chapter.reopened:
        warnings.warn(f"{chapter.name}: an open showed {earlier['widget_errors']} (jupyterlab_"
                      "widgets' 2 s model wait, under load); it was opened again")
    seen = chapter.first_open
    assert seen["as_text"] == [], f"{chapter.name}: widgets shown as text: {seen['as_text']}"
    assert seen["widget_errors"] == [], f"{chapter.name}: {seen['widget_errors']}"
    assert seen["views"] == chapter.expected_views, (
        f"{chapter.name}: {seen['views']} widget views rendered on first open, "
        f"{chapter.expected_views} stored in the notebook")


def test_run_all_runs_every_cell_without_error(chapter):
    chapter.run_all()
    counts = [c["count"] for c in chapter.cells]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{chapter.name}: execution counts after Run All {counts}")
    errors = [(c["index"], e) for c in chapter.cells for e in c["errors"]]
    assert errors == [], f"{chapter.name}: error outputs {errors}"
    seen = chapter.after_run
    assert seen["stderr"] == [], f"{chapter.name}: stderr output {seen['stderr']}"
    assert seen["widget_errors"] == [] and seen["as_text"] == [], seen
    assert seen["views"] == chapter.expected_views
    assert chapter.idle == "idle"


def test_each_app_redraws_when_a_control_moves(chapter):
    if not chapter.app_cells:
        pytest.skip(f"{chapter.name} has no app")
    for cell in chapter.app_cells:
        control, times = chapter.move(cell, MOVES)      # raises if a figure did not change
        assert len(times) == MOVES and all(t > 0 for t in times), (control, times)
