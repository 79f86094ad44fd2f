"""The benchmark harness: fresh processes, medians, the table and its verdict."""

from benchmarks import bench_engine
from benchmarks.common import Processes, Row, table


def test_a_case_runs_in_a_fresh_process_and_reports_its_figures():
    with Processes("benchmarks.bench_engine") as procs:
        first = procs.call("touch_and_mlock", "2.6.37", 2**10)
        m = procs.median("touch_and_mlock", ("2.6.38", 2**10), 3)
    assert first["dirty_kb"] == 4096                  # 2.6.37's mlock dirtied every page
    assert m["dirty_kb"] == 0 and 0 < m["seconds"] < 10
    assert 10 < first["peak_rss_mb"] < 1000


def test_medians_run_the_cases_in_rounds_and_keep_each_its_own(capsys):
    cases = [("touch_and_mlock", ("2.6.37", 2**10), "old"),
             ("touch_and_mlock", ("6.18", 2**10), "new")]
    with Processes("benchmarks.bench_engine") as procs:
        old, new = procs.medians(cases, 2)
    assert old["dirty_kb"] == 4096 and new["dirty_kb"] == 0
    order = [line.split()[0] for line in capsys.readouterr().err.splitlines()]
    assert order == ["old", "new", "old", "new"]


def test_a_failing_case_is_reported_with_its_traceback():
    with Processes("benchmarks.bench_engine") as procs:
        try:
            procs.call("touch_and_mlock", "1.0", 1)
        except RuntimeError as e:
            assert "touch_and_mlock" in str(e) and "Traceback" in str(e)
        else:
            raise AssertionError("a case that raises must not pass")
        assert procs.call("touch_and_mlock", "6.18", 16)["dirty_kb"] == 0   # the server lives on


def test_rows_say_over_only_above_their_target():
    assert Row("b", "f", 0.6, 0.5, "s").cells()[2:] == ("0.600 s", "0.500 s", "OVER")
    assert Row("b", "f", 0.5, 0.5, "s").cells()[4] == "ok"
    assert not Row("b", "f", 1e9).over and Row("b", "f", 1e9).cells()[3:] == ("", "")
    text = table(("a", "b", "c"), [("x", "y", "1.0"), ("long", "z", "10.0")])
    assert text.splitlines()[2:] == ["x     y   1.0", "long  z  10.0"]


def test_the_scaling_exponent_is_the_slope_of_log_time_on_log_pages():
    pages = [2**18, 2**19, 2**20]
    assert abs(bench_engine.exponent(pages, [1e-7 * n for n in pages]) - 1) < 1e-9
    assert abs(bench_engine.exponent(pages, [1e-12 * n * n for n in pages]) - 2) < 1e-9


def test_the_chapter_apps_are_built_from_the_notebooks_cells():
    """bench_widgets measures the apps as the chapters build them, not copies."""
    import widgets
    from benchmarks.chapter_apps import APPS, MOVED
    assert len(APPS) == len(MOVED) >= 4
    for build in APPS.values():
        app, control = build()
        assert isinstance(app, widgets.App) and control in app.controls


def test_the_browser_figures_recorded_by_the_browser_test_become_rows(tmp_path):
    from benchmarks import browser
    path = tmp_path / "results" / "browser.json"
    assert browser.load(path) is None                 # nothing recorded: no rows, no error
    browser.record({"03_x.ipynb": {"run_all_s": 6.4, "apps": [
        {"cell": 25, "control": "toggle kernel", "moves_ms": [700.0, 180.0, 170.0],
         "median_ms": 180.0}]}, "00_y.ipynb": {"run_all_s": None}},
        path=path, chromium="Chromium 1")
    data = browser.load(path)
    assert data["chromium"] == "Chromium 1" and data["recorded"].endswith("UTC")
    rows = browser.rows(data)
    assert [r.cells() for r in rows] == [
        ("browser 03 app", "toggle kernel moved to new figure, median", "180 ms",
         f"{browser.REDRAW_TARGET_MS} ms", "ok"),
        ("browser 03", "Run All", "6.4 s", "", "")]


def test_fingerprint_tells_runs_apart_and_repeats_itself():
    from benchmarks import fingerprint
    a = fingerprint.hole20g("2.6.38", "ext2", "touch write", 256)
    assert a == fingerprint.hole20g("2.6.38", "ext2", "touch write", 256)
    assert a != fingerprint.hole20g("2.6.38", "ext2", "lock", 256)
    assert a != fingerprint.hole20g("2.6.38", "ext2", "touch write", 128)
