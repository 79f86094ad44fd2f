"""One experiment on both backends: mmsim.run, mmsim.compare, the differential tests.

The differential tests (marked ``real``) run every scenario of
mmsim.experiment.DIFFERENTIAL on this machine's kernel and on the simulator's
"6.18" and require them to agree field by field, except for the differences
the table names as legitimate. A disagreement is fixed in the simulator,
never here.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mmsim
from mmsim import experiment as E
from mmsim import real
from mmsim._abi import (MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MiB, PAGE_SIZE, PROT_READ,
                        PROT_WRITE)

ROOT = Path(__file__).resolve().parent.parent
OK, WHY = real.available()
HAS_SIM = hasattr(mmsim, "Machine")

needs_sim = pytest.mark.skipif(not HAS_SIM, reason="mmsim.Machine does not exist yet")
needs_real = pytest.mark.skipif(not OK, reason=f"real kernel unavailable: {WHY}")


# ---------------------------------------------------------------------------
# the table, without running anything


def _table():
    rows = [E.Row("dirty_kb", 0, 0, "agree"),
            E.Row("store_faults", 70, 64, "differs (legitimate: fault counting)"),
            E.Row("addr", 0x7F0000001000, 0x100000, "differs (legitimate: addresses)")]
    return E.Table("demo", rows, notes={"fault counting": E.REASONS["fault counting"]})


def test_table_text_is_plain_and_deterministic():
    t = _table()
    s = str(t)
    assert s == repr(t) == str(_table())
    assert "0x" not in s and " at " not in s.split("\n")[0]
    assert "<address>" in s
    assert s.splitlines()[0] == "demo: real kernel vs mmsim 6.18"
    assert "fault counting: fault counts on 6.18" in s
    assert t.ok and t.disagreements == []
    field, realv, sim, verdict = t.rows[1]
    assert (field, realv, sim) == ("store_faults", 70, 64)


def test_verdicts():
    v = lambda f, r, s, ex=None: E._verdict(f, r, s, ex or {})[0]
    assert v("dirty_kb", 0, 0) == "agree"
    assert v("dirty_kb", 0, 4) == "DISAGREE"
    assert v("VmLck", 8, 4) == "DISAGREE"
    assert v("errno", "ENOMEM", "EAGAIN") == "DISAGREE"
    assert v("store_faults", 73, 64) == "differs (legitimate: fault counting)"
    assert v("ru_minflt", 3, 4) == "differs (legitimate: fault counting)"
    assert v("seconds", 0.1, 2.0) == "differs (legitimate: clock)"
    assert v("VmRSS", 30000, 256) == "differs (legitimate: interpreter memory)"
    assert v("rss_kb", 64, 4, {"rss_kb": "fault-around"}) == "differs (legitimate: fault-around)"
    assert v("rss_kb", None, 4).startswith("n/a")
    # a count taken at the end of an experiment is no address; a VMA's own start and end are
    assert v("st_blocks_end", 512, 0) == "DISAGREE"
    assert v("locked_kb_end", 256, 0) == "DISAGREE"
    assert v("vma.start", 0x7F0000000000, 0x100000) == "differs (legitimate: addresses)"
    assert v("fault_addr", 0x7F0000000000, 0x100000) == "differs (legitimate: addresses)"
    assert E.allowance("dirty_kb") is None and E.allowance("store_faults") == "fault counting"
    t = E.Table("x", [E.Row("a", 1, 2, "DISAGREE")])
    assert not t.ok and len(t.disagreements) == 1


def test_flatten_nested_results():
    import numpy as np
    assert E._fields({"a": {"b": np.int64(3), "c": [1, 2]}, "d": "x"}) == {
        "a.b": 3, "a.c": (1, 2), "d": "x"}
    assert E._fields(7) == {"result": 7}


def test_flatten_reads_the_result_types_field_by_field():
    from mmsim.results import PageFlags, Rusage, TouchResult
    st = os.stat(__file__)
    f = E._fields({"t": TouchResult(2, 0.5), "ru": Rusage(3, 0), "st": st,
                   "flags": PageFlags(0, 2, "test", {"dirty": [True, False]})})
    assert (f["t.pages"], f["t.seconds"], f["ru.ru_minflt"]) == (2, 0.5, 3)
    assert f["flags.dirty"] == 1 and f["flags.present"] is None
    assert f["st.st_size"] == st.st_size and "st.st_atime" not in f     # StatResult's fields
    assert E._verdict("st.st_ino", 12, 2146999, {})[0] == "differs (legitimate: inode numbers)"


def test_outcome():
    def fail(code):
        raise OSError(code, "x")
    assert E.outcome(lambda: None) == 0
    assert E.outcome(fail, 12) == "ENOMEM"
    assert E.outcome(lambda: (_ for _ in ()).throw(mmsim.Signal(7, 0x1000))) == "SIGBUS"


# ---------------------------------------------------------------------------
# hosts that cannot run experiments: a message, never a traceback


def test_off_linux_says_so_and_skips(monkeypatch):
    monkeypatch.setattr(real.sys, "platform", "darwin")
    ok, why = real.available()
    assert not ok and "needs Linux" in why
    with pytest.raises(real.Unavailable) as ei:
        real.run(lambda m, p: 1)
    assert ei.value._render_traceback_() == [f"Unavailable: {ei.value}"]
    t = E.compare(lambda m, p: {"x": 1}, name="offline")
    assert t.real_error and "needs Linux" in t.real_error
    assert not t.ok
    s = str(t)
    assert "real kernel: not run: Unavailable: the real-kernel backend needs Linux" in s
    assert "Traceback" not in s


def test_without_smaps_says_so(monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("not Linux")
    exists = os.path.exists
    monkeypatch.setattr(real.os.path, "exists",
                        lambda p: False if p == "/proc/self/smaps" else exists(p))
    ok, why = real.available()
    assert not ok and "/proc/self/smaps" in why


@pytest.mark.real
def test_simulator_failure_is_reported_not_raised():
    t = E.compare(lambda m, p: {"x": 1}, kernel="9.99", name="bad kernel")
    assert t.sim_error and not t.ok
    assert "simulator: not run:" in str(t)


def test_experiment_must_be_callable():
    with pytest.raises(OSError):
        E.run(None)
    with pytest.raises(OSError):
        E.compare_scenario("no such scenario")


# ---------------------------------------------------------------------------
# the simulator side


@needs_sim
def test_sim_run_gives_machine_scratch_and_fs():
    def exp(m, p):
        fd = p.open(m.scratch + "/f", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 4 * PAGE_SIZE)
        return {"scratch": m.scratch, "size": m.stat(m.scratch + "/f").st_size}
    assert E.run(exp) == {"scratch": "/scratch", "size": 4 * PAGE_SIZE}
    assert E.run(exp, fs="xfs")["size"] == 4 * PAGE_SIZE


def test_real_fs_names_the_scratch_filesystem():
    fs = E.real_fs()
    assert isinstance(fs, str) and fs
    if OK:
        assert fs == real.fs_type(real.scratch_base())


@needs_sim
def test_sim_scenarios_run_on_every_kernel():
    for name, sc in E.DIFFERENTIAL.items():
        for kernel in ("2.6.37", "2.6.38", "6.18"):
            out = E.run(sc.experiment, kernel=kernel, memlock=sc.memlock, caps=sc.caps,
                        fs="ext4")
            assert isinstance(out, dict) and out, (name, kernel)


def test_package_exports_run_and_compare():
    if not hasattr(mmsim, "run"):
        pytest.skip("mmsim/__init__.py does not export run/compare yet (lead: "
                    "`from .experiment import run, compare` and `from . import real`)")
    assert mmsim.run is E.run and mmsim.compare is E.compare


# ---------------------------------------------------------------------------
# differential tests: simulator "6.18" against this kernel


@pytest.mark.real
@needs_real
@needs_sim
@pytest.mark.parametrize("name", sorted(E.DIFFERENTIAL))
def test_differential(name):
    t = E.compare_scenario(name)
    assert t.real_error is None, t.real_error
    assert t.sim_error is None, t.sim_error
    assert t.ok, "\n" + str(t)
    must = {"dirty_kb", "anonymous_kb", "locked_kb", "vmlck_kb", "st_blocks_after_mlock",
            "private_dirty_kb", "mlock", "prot_none_mlock", "over_limit",
            "large_mmap_after_future", "limit0_mlock"}
    for r in t.rows:
        if r.field in must:
            assert r.verdict == "agree", r


@pytest.mark.real
@needs_real
@needs_sim
def test_compare_of_the_result_types():
    """Results returned as the API gives them compare field by field."""
    def exp(m, p):
        path = m.scratch + "/f"
        fd = p.open(path, os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 8 * PAGE_SIZE)
        a = p.mmap(0, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return {"touch": p.touch(a, 8 * PAGE_SIZE, write=True),
                "flags": p.pageflags(a, 8 * PAGE_SIZE), "stat": m.stat(path)}
    t = E.compare(exp, memlock=(MiB, MiB), caps=set())
    assert t.real_error is None and t.sim_error is None, str(t)
    v = {r.field: r.verdict for r in t.rows}
    assert v["touch.pages"] == v["flags.present"] == "agree"
    # PG_dirty comes from /proc/kpageflags, which only root (CAP_SYS_ADMIN) reads
    kpageflags = os.geteuid() == 0 and os.access("/proc/kpageflags", os.R_OK)
    assert v["flags.dirty"] == ("agree" if kpageflags else "n/a (not measured on the real kernel)")
    assert v["touch.seconds"] == "differs (legitimate: clock)"
    assert v["flags.writable"] == "n/a (not measured on the real kernel)"
    assert v["stat.st_size"] == "agree" and v["stat.st_ino"].startswith("differs (legitimate")
    assert t.ok, str(t)


@pytest.mark.real
@needs_real
def test_compare_with_a_kernel_fact_the_simulator_lacks_is_a_disagreement():
    """A field the table cannot explain is DISAGREE, and ok is False."""
    def exp(m, p):
        a = p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        return {"backend": type(m).__name__.startswith("Real"), "pages": 1}
    t = E.compare(exp, name="backend")
    if t.sim_error:
        pytest.skip(t.sim_error)
    assert [r.verdict for r in t.rows] == ["DISAGREE", "agree"] and not t.ok


# ---------------------------------------------------------------------------
# every table prints on a machine without the privileges


_PRINT_ALL = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    {prelude}
    from mmsim import experiment as E
    for name in sorted(E.DIFFERENTIAL):
        t = E.compare_scenario(name)
        print(t)
        print("ok:", t.ok)
""")


def _run_printing(cmd_prefix, prelude=""):
    code = _PRINT_ALL.format(root=str(ROOT), prelude=prelude)
    return subprocess.run(cmd_prefix + [sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=600, cwd="/")


@pytest.mark.real
@needs_real
def test_tables_print_without_privileges():
    """All capabilities gone (setpriv, securebits noroot): each table prints, no traceback."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        prefix = []                            # already unprivileged
    else:
        prefix = [setpriv, "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,"
                  "+no_setuid_fixup_locked", "--inh-caps=-all", "--bounding-set=-all", "--"]
    probe = subprocess.run(prefix + [sys.executable, "-c",
                                     "print(open('/proc/self/status').read())"],
                           capture_output=True, text=True)
    caps = {l.split(":")[0]: l.split()[1] for l in probe.stdout.splitlines()
            if l.startswith("Cap")}
    assert int(caps["CapEff"], 16) == 0, caps
    p = _run_printing(prefix)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    for name in E.DIFFERENTIAL:
        assert f"{name}: real kernel vs mmsim 6.18" in p.stdout
    assert "real kernel: not run" not in p.stdout   # unprivileged is enough for every scenario
    if HAS_SIM:
        assert p.stdout.count("ok: True") == len(E.DIFFERENTIAL), p.stdout


def test_tables_print_off_linux():
    # ctypes.util is imported first: on "darwin" it would import ctypes.macholib,
    # which Debian's python3 does not ship (the real macOS has it)
    p = _run_printing([], prelude="import ctypes.util; sys.platform = 'darwin'")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    assert p.stdout.count("real kernel: not run: Unavailable: the real-kernel backend "
                          "needs Linux") == len(E.DIFFERENTIAL)


@pytest.mark.real
@needs_real
@needs_sim
@pytest.mark.skipif("CAP_IPC_LOCK" not in real.current_caps("CapPrm"),
                    reason="CAP_IPC_LOCK cannot be given to the experiment (not root)")
@pytest.mark.parametrize("name", sorted(E.PRIVILEGED))
def test_privileged(name):
    t = E.compare_scenario(name)
    assert t.real_error is None and t.sim_error is None, str(t)
    assert t.ok and all(r.verdict == "agree" for r in t.rows), "\n" + str(t)


@needs_sim
def test_privileged_scenario_without_the_capability_says_why(monkeypatch):
    monkeypatch.setattr(real, "current_caps", lambda which="CapEff": set())
    t = E.compare_scenario("mlock_cap_ipc_lock")
    assert t.real_error and "CAP_IPC_LOCK" in t.real_error and not t.ok
    sim = {r.field: r.sim for r in t.rows}
    assert sim["twice_the_limit"] == 0 and sim["limit0_mlock"] == 0


@needs_sim
def test_populate_write_mlock_is_the_old_mlock_on_the_simulator():
    sc = E.DIFFERENTIAL["populate_write_mlock"]
    new = E.run(sc.experiment, kernel="6.18", memlock=sc.memlock, caps=sc.caps, fs="ext4")
    old = E.run(sc.experiment, kernel="2.6.37", memlock=sc.memlock, caps=sc.caps, fs="ext4")
    assert new["populate_write"] == 0 and old["populate_write"] == "EINVAL"
    assert new["dirty_kb_after_populate"] == E.SIZE_KB and old["dirty_kb_after_populate"] == 0
    for f in ("dirty_kb", "st_blocks_after_mlock", "rss_kb", "store_faulted_every_page",
              "dirty_kb_after_msync", "st_blocks_end"):
        assert new[f] == old[f], f
    assert new["dirty_kb"] == E.SIZE_KB and new["st_blocks_after_mlock"] == E.SIZE // 512
