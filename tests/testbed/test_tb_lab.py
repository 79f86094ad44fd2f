"""mmsim.testbed.lab: chapter 10's comparisons, what they expect, and the chapter without a real kernel."""

import ast
import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from mmsim import experiment as E
from mmsim import real
from mmsim.testbed import lab

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = ROOT / "book" / "10_your_kernel.ipynb"
OK, WHY = real.available()
needs_real = pytest.mark.skipif(not OK, reason=f"real kernel unavailable: {WHY}")
ROOT_CAPS = "CAP_IPC_LOCK" in real.current_caps("CapPrm")


def may_differ(name):
    return {f: rule for f, _v, rule in lab.expectations(name) if rule != "must agree"}


def test_what_each_comparison_lets_differ():
    # what the chapter says, section by section
    assert may_differ("mlock_shared_sparse") == {
        "store_faults": "may differ: fault counting",
        "store_again_faults": "may differ: fault counting"}
    assert may_differ("mlock_onfault") == {
        "file_rss_kb_after_1_load": "may differ: fault-around",
        "file_locked_kb_after_1_load": "may differ: fault-around"}
    for name in ("mlock_private_file", "mlock_limits", "mlock_cap_ipc_lock", "populate_write_mlock"):
        assert may_differ(name) == {}, name
        assert lab.rules_text(name) == "every field must agree"
    old = may_differ(lab.OLD_MLOCK)
    assert old.pop("locked_kb") == "n/a: this kernel does not show it"     # no Locked: in 2.6.37
    assert set(old) == set(lab.OLD_MLOCK_EXPLAIN)
    assert "st_blocks_end" in lab.must_agree("mlock_shared_sparse")


def test_the_simulated_values_the_chapter_states():
    sim = {f: v for f, v, _r in lab.expectations("mlock_shared_sparse")}
    assert (sim["dirty_kb"], sim["st_blocks_after_mlock"], sim["st_blocks_after_store"]) == ("0", "0", "512")
    onfault = {f: v for f, v, _r in lab.expectations("mlock_onfault")}
    assert (onfault["rss_kb_after_5_stores"], onfault["rss_kb_after_3_loads"],
            onfault["file_rss_kb_after_1_load"]) == ("20", "20", "4")
    old = {f: v for f, v, _r in lab.expectations(lab.OLD_MLOCK)}
    assert (old["populate_write"], old["dirty_kb"], old["st_blocks_after_mlock"],
            old["store_faulted_every_page"]) == ("EINVAL", "256", "512", "False")
    rows = lab.claims_rows()
    assert [r[3:] for r in rows] == [("512", "0"), ("256", "0"), ("False", "True"), ("True", "True"),
                                     ("512", "512")]


def test_exercise_helpers():
    assert lab.dirty_after("shared", "mlock", 16) == (0, 0)
    assert lab.dirty_after("shared", "mlock", 16, kernel="2.6.37") == (64, 128)
    assert lab.dirty_after("shared", "MADV_POPULATE_WRITE, then mlock", 16) == (64, 128)
    assert lab.dirty_after("private", "mlock", 16)[0] == 64
    assert lab.dirty_after("private", "mlock2(MLOCK_ONFAULT)", 16) == (0, 0)
    assert lab.second_mlock(64, False, 8, 16) == "ok"                 # 4.9: not counted twice
    assert lab.second_mlock(64, False, 8, 16, kernel="2.6.37") == "ENOMEM"
    assert lab.second_mlock(0, False, 0, 4) == "EPERM"
    assert lab.second_mlock(0, True, 0, 4) == "ok"
    with pytest.raises(OSError):
        lab.dirty_after("shared", "munlock", 16)
    with pytest.raises(OSError):
        lab.kernel_grid("2.6.99", "ext4")
    with pytest.raises(OSError):
        lab.compare("no such comparison")


def test_verdict_and_summary_of_a_table():
    rows = [E.Row("a", 1, 1, "agree"), E.Row("f", 9, 3, "differs (legitimate: fault counting)")]
    t = E.Table("t", rows, notes={"fault counting": "..."}, real_kernel="6.18.0")
    assert lab.verdict(t) == "differs"
    assert lab.summary(t) == ("t (real 6.18.0 vs mmsim 6.18): 2 fields: 1 agree, 1 differ "
                              "legitimately (fault counting), 0 DISAGREE")
    t.rows.append(E.Row("d", 1, 2, "DISAGREE"))
    assert lab.verdict(t) == "DISAGREE"
    assert lab.verdict(E.Table("x", [], real_error="Unavailable: no")) == "not run"
    assert lab.report(t).splitlines()[0] == "real column from Linux 6.18.0"
    t.real_error = "Unavailable: no"
    assert lab.report(t).splitlines()[0] == "no real column (not run on this machine)"


def test_without_the_real_kernel_every_comparison_says_why(monkeypatch):
    monkeypatch.setattr(real, "available", lambda scratch_dir=None: (False, "not Linux (test)"))
    t = lab.compare("mlock_shared_sparse")
    assert t.real_error == "Unavailable: not Linux (test)" and lab.verdict(t) == "not run"
    assert lab.summary(t).endswith("not run on the real kernel: Unavailable: not Linux (test)")
    assert {r.verdict for r in t.rows} == {"n/a (only one side ran)"}
    text = lab.host_text()
    assert "real kernel: skipped: not Linux (test)" in text and lab.HOW_TO_RUN in text


def test_without_root_the_privileged_comparison_is_skipped(monkeypatch):
    monkeypatch.setattr(real, "current_caps", lambda which="CapEff": set())
    h = lab.host()
    assert not h["cap_ipc_lock"]
    if h["real"]:
        assert "CAP_IPC_LOCK: skipped" in lab.host_text(h)
    t = lab.compare("mlock_cap_ipc_lock")
    assert lab.verdict(t) == "not run" and "CAP_IPC_LOCK" in (t.real_error or "")


def test_without_loop_filesystems_the_host_text_says_so(monkeypatch):
    monkeypatch.setattr(lab, "loop_available", lambda: (False, "no loop devices (test)"))
    assert "loop filesystems: skipped: no loop devices (test)" in lab.host_text()


def _run_chapter(monkeypatch):
    """Execute the chapter's code cells in this process; return what they printed."""
    from IPython.core.inputtransformer2 import TransformerManager
    import matplotlib
    matplotlib.use("Agg")
    ns = {"display": lambda *a, **k: None}
    out = io.StringIO()
    nb = nbformat.read(str(CHAPTER), as_version=4)
    with contextlib.redirect_stdout(out):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            src = "\n".join(l for l in cell.source.splitlines() if not l.startswith("%"))
            tree = ast.parse(TransformerManager().transform_cell(src))
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, "<chapter 10>", "exec"), ns)
            if last is not None:                 # shown as IPython shows a cell's value
                value = eval(compile(ast.Expression(last.value), "<chapter 10>", "eval"), ns)
                if hasattr(value, "_ipython_display_"):
                    value._ipython_display_()
    return out.getvalue(), ns


def test_the_chapter_runs_top_to_bottom_without_a_real_kernel(monkeypatch):
    from mmsim import loopfs
    monkeypatch.setattr(real, "available", lambda scratch_dir=None: (False, "off Linux (test)"))
    monkeypatch.setattr(loopfs, "available", lambda fstype=None: (False, "no loop devices (test)"))
    text, ns = _run_chapter(monkeypatch)
    assert "real kernel: skipped: off Linux (test)" in text
    assert lab.HOW_TO_RUN in text
    assert "not run on the real kernel: Unavailable: off Linux (test)" in text
    assert not re.search(r"  DISAGREE$", text, re.M)           # no row of a table disagrees
    assert ns["grid"].numbers["not run"] == len(lab.GRID_NAMES) * len(lab.KERNEL_COLUMNS)
    assert ns["app"].result.title == "your kernel (not run) against mmsim 6.18 on ext4"
    assert "no real column (not run on this machine)" in text
    assert "loop filesystems: skipped: no loop devices (test)" in text
    assert ns["view"].numbers["not run"] == len(lab.LOOP_SCENARIOS) * len(lab.LOOP_FILESYSTEMS)
    assert all(r[1] == "not run" for r in lab.loop_rows(ns["loop"]))


@pytest.mark.real
@needs_real
@pytest.mark.parametrize("name", list(lab.LAB))
def test_each_comparison_on_this_kernel(name):
    if name == "mlock_cap_ipc_lock" and not ROOT_CAPS:
        pytest.skip("CAP_IPC_LOCK cannot be given here (not root)")
    t = lab.compare(name)
    assert t.ok, "\n" + str(t)
    rules = {f: rule for f, _v, rule in lab.expectations(name)}
    for r in t.rows:
        if rules.get(r.field) == "must agree":
            assert r.verdict == "agree", r


@pytest.mark.real
@needs_real
def test_the_grid_tells_the_kernels_apart():
    names = ("mlock_shared_sparse", "populate_write_mlock", "mlock_limits")
    tables = lab.grid(names, lab.KERNEL_COLUMNS)
    assert all(lab.verdict(tables[n, "6.18"]) in ("agree", "differs") for n in names)
    assert all(lab.verdict(tables[n, "2.6.37"]) == "DISAGREE" for n in names)
    old = {r.field: r.verdict for r in tables["mlock_shared_sparse", "2.6.37"].rows}
    assert old["dirty_kb"] == old["st_blocks_after_mlock"] == "DISAGREE"


def test_what_mmsim_predicts_on_the_loop_filesystems():
    rows = {r[0]: r[1:] for r in lab.loop_predictions()}
    assert list(rows) == list(lab.LOOP_FILESYSTEMS)
    for fs, (mapped, stored, back, falloc, store, extents) in rows.items():
        assert (mapped, stored, back, extents) == ("SIGBUS", "8192 of 8192", True, "1 / 1 / 1"), fs
    assert [rows[fs][3:5] for fs in lab.LOOP_FILESYSTEMS] == [
        ("ENOTSUP", "SIGBUS"), ("ok", "ok"), ("ok", "ok"), ("ok", "SIGBUS")]
    assert "\nallocator retries: " in lab.loop_reasons_text()


def test_without_the_loop_scenarios_the_grid_says_why(monkeypatch):
    monkeypatch.setattr(lab, "_fs_scenarios", lambda: None)
    monkeypatch.setattr(lab, "loop_available", lambda: (False, "no mmsim.loopfs (test)"))
    tables = lab.loop_grid(filesystems=("ext4",))
    assert all(lab.verdict(t) == "not run" and t.real_error == "no mmsim.loopfs (test)"
               for t in tables.values())
    assert lab.loop_predictions() == [] and lab.loop_notes(tables) == {}


LOOP_OK = lab.loop_available()[0]


@pytest.mark.real
@pytest.mark.skipif(not LOOP_OK, reason=f"no loop filesystems: {lab.loop_available()[1]}")
def test_the_loop_grid_on_this_kernel():
    tables = lab.loop_grid(filesystems=("ext4", "btrfs"))
    assert all(t.ok for t in tables.values()), "\n".join(str(t) for t in tables.values())
    rows = {r[0]: r for r in lab.loop_rows(tables)}
    for fs in ("ext4", "btrfs"):        # 6.18: ->page_mkwrite says ENOSPC, or is still retrying
        assert rows[fs][1] == "SIGBUS" or rows[fs][1].startswith(f"still retrying after {lab.LOOP_CAP} s"), rows[fs]
        assert rows[fs][3] == (True if rows[fs][1] == "SIGBUS" else "-")    # all read back
    assert rows["ext4"][5] == "ok"                              # fallocate first: no SIGBUS
    assert rows["btrfs"][5] == "SIGBUS"                         # COW needs space over preallocation
    notes = lab.loop_notes(tables)
    assert notes["mapped_store_enospc", "ext4"].split(" at ")[0] == rows["ext4"][1]


def test_the_simulated_side_runs_once_per_kernel_and_filesystem_and_is_a_copy(monkeypatch):
    name = lab.GRID_NAMES[0]
    scenario = lab._lab(name)[0]
    first, err = lab.sim_side(scenario, "2.6.37", "ext4")
    assert err is None and first
    first["tampered"] = 1                                # the caller's copy, not the cache's
    monkeypatch.setattr(E, "machine", lambda **kw: pytest.fail("the side ran again"))
    again, _ = lab.sim_side(scenario, "2.6.37", "ext4")
    assert "tampered" not in again and again == {k: v for k, v in first.items() if k != "tampered"}
