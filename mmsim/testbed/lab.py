"""Chapter 10's lab: the book's experiments on the reader's kernel, next to the simulator.

Every comparison is a scenario of mmsim.experiment (DIFFERENTIAL, PRIVILEGED):
the same function on this kernel (mmsim.real, in a child; real_side runs
it once per session) and on a simulated kernel, field by field
(mmsim.experiment.table). This module adds what the chapter shows around
them, as plain data and text:

* host(): what this machine can run (the real backend, root, loop devices),
  and host_text(), which says what the chapter skips and how to run it;
* expectations(): before the real run, from the simulator alone, which
  fields must agree and which may differ, and why (the verdict rules of
  mmsim.experiment: allowance());
* compare(), summary(), report(): one comparison, in one line, in full;
* grid(), kernel_grid(), loop_grid(): comparisons per (scenario, column)
  for the verdict grid view: against each simulated kernel, or in loop
  images of each filesystem (mmsim.fs_scenarios.compare_on);
* claims_rows(): the thread's claims next to the simulated (and real) value;
* dirty_after(), second_mlock(): the exercises' answers, from the simulator;
* OLD_MLOCK: the real kernel's MADV_POPULATE_WRITE + mlock against the
  simulator's 2.6.37 mlock, with the fields that legitimately differ.

Nothing here models the kernel; the simulator side runs through the public
API, the real side through mmsim.real.
"""

import os
import platform
import sys
from collections import Counter
from functools import lru_cache

from .. import experiment as E
from .. import real
from ..errors import EINVAL, error

# the fields of populate_write_mlock measured before its mlock, which 2.6.37 cannot match
OLD_MLOCK_EXPLAIN = {f: "MADV_POPULATE_WRITE (5.14)" for f in (
    "populate_write", "rss_kb_after_populate", "dirty_kb_after_populate",
    "st_blocks_after_populate")}
#: the lab's comparisons, in the chapter's order: name -> (scenario, simulated kernel, explain)
LAB = {
    "mlock_shared_sparse": ("mlock_shared_sparse", "6.18", None),
    "mlock_private_file": ("mlock_private_file", "6.18", None),
    "mlock_onfault": ("mlock_onfault", "6.18", None),
    "mlock_limits": ("mlock_limits", "6.18", None),
    "mlock_cap_ipc_lock": ("mlock_cap_ipc_lock", "6.18", None),
    "populate_write_mlock": ("populate_write_mlock", "6.18", None),
    "populate_write_mlock vs 2.6.37": ("populate_write_mlock", "2.6.37", OLD_MLOCK_EXPLAIN),
}
OLD_MLOCK = "populate_write_mlock vs 2.6.37"
HOW_TO_RUN = ("to run the real-kernel cells, open the book as root on Linux, in a VM or a "
              "container with loop devices (docker run --privileged, or a VM of your own): "
              "`make lab`, then run this chapter from the top")


def _scenario(name):
    sc = E.DIFFERENTIAL.get(name) or E.PRIVILEGED.get(name)
    if sc is None:
        raise error(EINVAL, f"no scenario {name!r}")
    return sc


def _why(scenario, explain=None):
    """{field: reason name} of a comparison: the scenario's own (experiment.legitimate), then explain."""
    why = dict(getattr(_scenario(scenario).experiment, "legitimate", {}) or {})
    why.update(explain or {})
    return why


def _lab(name):
    if name not in LAB:
        raise error(EINVAL, f"no comparison {name!r}; the lab has {', '.join(LAB)}")
    return LAB[name]


def host():
    """Return what this machine offers the lab, as plain data (host-dependent)."""
    ok, why = real.available()
    out = {"real": ok, "why": why, "platform": sys.platform,
           "kernel": os.uname().release if hasattr(os, "uname") else None,
           "machine": platform.machine(),
           "root": hasattr(os, "geteuid") and os.geteuid() == 0,
           "cap_ipc_lock": ok and "CAP_IPC_LOCK" in real.current_caps("CapPrm")}
    out["loop"], out["loop_why"] = loop_available()
    return out


def loop_available():
    """Return (True, what) if loop filesystems can be mounted here, else (False, why)."""
    try:
        from .. import loopfs
    except ImportError:
        return False, "this mmsim has no loop filesystems (mmsim.loopfs)"
    try:
        return loopfs.available()
    except Exception as e:                       # the contract says never; say so if it does
        return False, f"mmsim.loopfs.available() failed: {type(e).__name__}: {e}"


def host_text(h=None):
    """What the chapter runs on this machine and what it skips, as lines of text (no paths)."""
    h = h or host()
    lines = []
    if h["real"]:
        i = real.info()
        lines.append(f"real kernel: Linux {i['kernel']} ({i['machine']}), scratch directory on "
                     f"{i['fs']}, {'root' if h['root'] else 'not root'}, "
                     f"{'CAP_IPC_LOCK' if i['cap_ipc_lock'] else 'no CAP_IPC_LOCK'}")
    else:
        lines.append(f"real kernel: skipped: {h['why']}")
    if h["real"] and not h["cap_ipc_lock"]:
        lines.append("CAP_IPC_LOCK: skipped: this process cannot give it to an experiment "
                     "(not root)")
    lines.append(f"loop filesystems: {'yes: ' if h['loop'] else 'skipped: '}{h['loop_why']}")
    if not (h["real"] and h["cap_ipc_lock"] and h["loop"]):
        lines.append(HOW_TO_RUN)
    return "\n".join(lines)


_REAL = {}


def real_side(scenario, rerun=False):
    """Return (fields, error) of a scenario on this kernel, run once per session unless rerun.

    The real side of a comparison does not depend on the simulated kernel or
    filesystem it is compared with, so the chapter's tables share one run
    per scenario (the key also holds what the host offers, so a host that
    changes, or a test that pretends it did, gets a run of its own).
    """
    sc = _scenario(scenario)
    key = (scenario, real.available(), frozenset(real.current_caps("CapPrm")))
    if rerun or key not in _REAL:
        _REAL[key] = E._side(lambda: real.run(sc.experiment, memlock=sc.memlock, caps=sc.caps,
                                              timeout=60, output=False))
    return _REAL[key]


def _compare(name, scenario, kernel, explain, fs):
    """The Table of scenario on this kernel (real_side) against mmsim kernel on fs."""
    r, r_err = real_side(scenario)
    s, s_err = sim_side(scenario, kernel, fs)
    return E.table(name, r, r_err, s, s_err, _why(scenario, explain), kernel=kernel)


def sim_side(scenario, kernel, fs=None):
    """Return (fields, error) of a scenario on a fresh simulated machine (kernel, fs).

    Deterministic, so it runs once per (scenario, kernel, filesystem) and each
    caller gets its own copy of the fields; fs=None: the filesystem the real
    scratch directory is on.
    """
    fields, err = _sim_side(scenario, kernel, fs or E.real_fs())
    return (None if fields is None else dict(fields)), err


@lru_cache(maxsize=256)
def _sim_side(scenario, kernel, fs):
    sc = _scenario(scenario)
    return E._side(sc.experiment, setup=lambda: E.machine(
        kernel=kernel, memlock=sc.memlock, caps=sc.caps, fs=fs))


def compare(name, fs=None):
    """Return the Table of one lab comparison (real kernel vs simulator); never raises for the host.

    fs: the simulated filesystem (None: the one the real scratch directory is on).
    """
    scenario, kernel, explain = _lab(name)
    return _compare(name, scenario, kernel, explain, fs)


@lru_cache(maxsize=64)
def _simulated(scenario, kernel, fs):
    sc = _scenario(scenario)
    return E._fields(E.run(sc.experiment, kernel=kernel, memlock=sc.memlock, caps=sc.caps, fs=fs))


def expectations(name, fs="ext4"):
    """Rows (field, simulated value, what the real kernel must show) of one comparison.

    From the simulator alone (fs fixed, so the rows do not depend on the
    host): "must agree" for a field no rule lets differ, else "may differ:
    <reason>" (mmsim.experiment.allowance).
    """
    scenario, kernel, explain = _lab(name)
    why = _why(scenario, explain)
    rows = []
    for field, value in _simulated(scenario, kernel, fs).items():
        reason = E.allowance(field, why)
        rule = "must agree" if reason is None else f"may differ: {reason}"
        if value is None:
            rule = "n/a: this kernel does not show it"
        rows.append((field, E._show(field, value), rule))
    return rows


def rules_text(name):
    """The reasons a comparison lets fields differ, with their explanations (mmsim.experiment.REASONS)."""
    names = []
    for _f, _v, rule in expectations(name):
        if rule.startswith("may differ: ") and rule[12:] not in names:
            names.append(rule[12:])
    if not names:
        return "every field must agree"
    return "\n".join(f"{n}: {E.REASONS.get(n, n)}" for n in names)


def must_agree(name, fs="ext4"):
    """The fields of a comparison that no rule lets differ."""
    return [f for f, _v, rule in expectations(name, fs) if rule == "must agree"]


def verdict(table):
    """One word for a whole Table: DISAGREE, not run, differs (legitimately only) or agree."""
    if table.real_error or table.sim_error:
        return "not run"
    words = {r.verdict.split(" ")[0] for r in table.rows}
    if "DISAGREE" in words:
        return "DISAGREE"
    return "differs" if "differs" in words else "agree"


def counts(table):
    """Counter of the rows' verdicts by their first word: agree, differs, DISAGREE, n/a."""
    return Counter(r.verdict.split(" ")[0] for r in table.rows)


def summary(table):
    """One line: how the comparison came out, and the reasons of the differences."""
    if table.real_error or table.sim_error:
        why = table.real_error or table.sim_error
        side = "real kernel" if table.real_error else "simulator"
        return f"{table.name}: not run on the {side}: {why}"
    c = counts(table)
    parts = [f"{len(table.rows)} fields: {c['agree']} agree"]
    if c["differs"]:
        parts.append(f"{c['differs']} differ legitimately ({', '.join(table.notes)})")
    if c["n/a"]:
        parts.append(f"{c['n/a']} measured on one side only")
    parts.append(f"{c['DISAGREE']} DISAGREE")
    return f"{table.name} (real {table.real_kernel} vs mmsim {table.kernel}): " + ", ".join(parts)


def report(table):
    """The Table, headed by the kernel that produced its real column, and its summary."""
    if table.real_error or not table.real_kernel:
        head = "no real column (not run on this machine)"
    else:
        head = f"real column from Linux {table.real_kernel}"
    return f"{head}\n{table}\n{summary(table)}"


def grid(names, columns, fs_of=None):
    """Return {(name, column): Table}: each comparison against each simulated kernel in columns.

    fs_of(column): the simulated filesystem of a column (None: the one the
    real scratch directory is on).
    """
    out = {}
    for name in names:
        scenario, _kernel, explain = _lab(name)
        for col in columns:
            out[name, col] = _compare(name, scenario, col, explain, fs_of(col) if fs_of else None)
    return out


# ---------------------------------------------------------------------------
# Small experiments for the exercises: what the reader's kernel will answer,
# computed by the simulator, so that a course can grade them anywhere.

CALLS = ("mlock", "MADV_POPULATE_WRITE, then mlock", "mlock2(MLOCK_ONFAULT)")
KINDS = ("shared", "private")


@lru_cache(maxsize=256)
def dirty_after(kind, call, pages, kernel="6.18", fs="ext4"):
    """kB dirty (Shared_Dirty + Private_Dirty) after call on a sparse file mapping of pages pages.

    kind: "shared" or "private" (MAP_SHARED / MAP_PRIVATE, both PROT_READ |
    PROT_WRITE) of a fresh sparse file on fs; call: one of CALLS. Return
    (dirty_kb, st_blocks) on the simulated kernel.
    """
    if kind not in KINDS or call not in CALLS:
        raise error(EINVAL, f"dirty_after: kind one of {KINDS}, call one of {CALLS}")
    if isinstance(pages, bool) or not isinstance(pages, int) or not 1 <= pages <= 4096:
        raise error(EINVAL, f"dirty_after: pages {pages!r}: a whole number from 1 to 4096")
    from .._abi import (MADV_POPULATE_WRITE, MAP_PRIVATE, MAP_SHARED, MLOCK_ONFAULT,
                        PAGE_SIZE, PROT_READ, PROT_WRITE, RLIM_INFINITY)
    m, p = E.machine(kernel=kernel, fs=fs, memlock=(RLIM_INFINITY, RLIM_INFINITY), caps=set())
    path = m.scratch + "/f"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    size = pages * PAGE_SIZE
    p.ftruncate(fd, size)
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED if kind == "shared" else MAP_PRIVATE,
               fd, 0)
    if call == "mlock2(MLOCK_ONFAULT)":
        p.mlock2(a, size, MLOCK_ONFAULT)
    else:
        if call.startswith("MADV_POPULATE_WRITE"):
            p.madvise(a, size, MADV_POPULATE_WRITE)
        p.mlock(a, size)
    v = p.smaps(a)
    return v["Shared_Dirty"] + v["Private_Dirty"], m.stat(path).st_blocks


@lru_cache(maxsize=256)
def second_mlock(limit_kb, cap, first, total, kernel="6.18"):
    """The errno name ("ok", "ENOMEM", "EPERM") of mlock(a, total pages) after mlock(a, first pages).

    A process with RLIMIT_MEMLOCK limit_kb (soft and hard) and, if cap,
    CAP_IPC_LOCK, on a fresh private anonymous buffer of 64 pages; the
    first mlock's own result is not asked (it may fail too).
    """
    from .._abi import KiB, MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
    if not (0 <= first <= 64 and 1 <= total <= 64):
        raise error(EINVAL, "second_mlock: first from 0 to 64 pages, total from 1 to 64")
    m, p = E.machine(kernel=kernel, fs="ext4", memlock=(limit_kb * KiB, limit_kb * KiB),
                     caps={"CAP_IPC_LOCK"} if cap else set())
    a = p.mmap(0, 64 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    if first:
        E.outcome(p.mlock, a, first * PAGE_SIZE)
    r = E.outcome(p.mlock, a, total * PAGE_SIZE)
    return "ok" if r == 0 else r


# ---------------------------------------------------------------------------
# The chapter's app and claims table

GRID_NAMES = tuple(n for n in LAB if n != OLD_MLOCK)     # one row per scenario
KERNEL_COLUMNS = ("2.6.37", "2.6.38", "6.18")


class KernelGrid:
    """The lab's scenarios on this kernel against one simulated kernel and filesystem (the app's result)."""

    def __init__(self, kernel, fs):
        self.kernel, self.fs = kernel, fs
        self.rows = list(GRID_NAMES)
        self.columns = [f"mmsim {kernel}, {fs}"]
        self.tables = {(n, self.columns[0]): t for (n, _c), t in
                       grid(self.rows, [kernel], fs_of=lambda _c: fs).items()}
        first = self.tables[self.rows[0], self.columns[0]]
        self.real_kernel = None if first.real_error else first.real_kernel

    @property
    def title(self):
        """The grid's title: which real kernel against which simulated one."""
        real_kernel = f"Linux {self.real_kernel}" if self.real_kernel else "your kernel (not run)"
        return f"{real_kernel} against mmsim {self.kernel} on {self.fs}"

    def simulated(self):
        """Rows (scenario, fields, of them must agree, the simulator's result): host-independent."""
        out = []
        for name in self.rows:
            scenario, _kernel, explain = _lab(name)
            fields = _simulated(scenario, self.kernel, self.fs)
            why = _why(scenario, explain)
            agree = sum(1 for f, v in fields.items() if v is not None and E.allowance(f, why) is None)
            out.append((name, len(fields), agree))
        return out


def kernel_grid(kernel="6.18", fs="ext4"):
    """Return the KernelGrid of the lab's scenarios against simulated kernel on fs."""
    from ..kernels import KERNELS
    from ..fs import ALL_FILESYSTEMS
    if kernel not in KERNELS:
        raise error(EINVAL, f"no simulated kernel {kernel!r}")
    if fs not in ALL_FILESYSTEMS:
        raise error(EINVAL, f"no simulated filesystem {fs!r}")
    return KernelGrid(kernel, fs)


# who, when, what they said (verbatim, short), and the (scenario, field) that measures it
CLAIMS = (
    ("Michel Lespinasse, Wed 17 Nov 05:23", "we won't call page_mkwrite() [...] and won't be "
     "pre-allocating data blocks", "mlock_shared_sparse", "st_blocks_after_mlock"),
    ("Michel Lespinasse, Fri 19 Nov 00:23", "marking them as mlocked (but still not dirty)",
     "mlock_shared_sparse", "dirty_kb"),
    ("Andrew Morton, Fri 19 Nov 15:54", "the first touch of an mlocked page can cause "
     "synchronous physical I/O", "mlock_shared_sparse", "store_faulted_every_page"),
    ("Andrew Morton, Fri 19 Nov 15:54", "whenever the kupdate function writes back the dirty "
     "pages it has to mark them read-only again", "mlock_shared_sparse",
     "store_again_faulted_every_page"),
    ("Michel Lespinasse, Wed 17 Nov 05:23", "maybe block preallocation can be added back on "
     "using a different interface", "populate_write_mlock", "st_blocks_after_mlock"),
)


def claims_rows(tables=None, fs="ext4"):
    """Rows (who, thread says, measured by, mmsim 2.6.37, mmsim 6.18[, your kernel]).

    The simulated columns on fs (host-independent); with tables ({name:
    Table}, e.g. a column of grid()), the real kernel's value of the same field too.
    """
    rows = []
    for who, says, scenario, field in CLAIMS:
        old = _simulated(scenario, "2.6.37", fs)[field]
        new = _simulated(scenario, "6.18", fs)[field]
        row = [who, says, f"{scenario}: {field}", E._show(field, old), E._show(field, new)]
        if tables is not None:
            t = tables.get(scenario)
            real_value = next((r.real for r in t.rows if r.field == field), None) if t else None
            row.append("not run" if real_value is None else E._show(field, real_value))
        rows.append(tuple(row))
    return rows


# ---------------------------------------------------------------------------
# Loop filesystems (mmsim.loopfs, mmsim.fs_scenarios): the ENOSPC outcomes and layouts

LOOP_SCENARIOS = ("mapped_store_enospc", "fallocate_then_store", "fiemap_layouts")
# ext3 is left out of the chapter's grid to keep its real cells short: on 6.18 the ext4
# driver mounts it as it mounts ext2 (indirect-block files, no extents), and
# loop_grid(filesystems=mmsim.loopfs.FILESYSTEMS) runs it too
LOOP_FILESYSTEMS = ("ext2", "ext4", "xfs", "btrfs")
LOOP_SIZE = 32 * 1024 * 1024     # each image: small, and above btrfs's mixed-mode metadata worst case
LOOP_CAP = 5                     # wall-clock seconds a real run may take before it is an outcome


def _fs_scenarios():
    """Return mmsim.fs_scenarios, or None if this mmsim has no loop filesystems."""
    try:
        from .. import fs_scenarios
    except ImportError:
        return None
    return fs_scenarios


def loop_grid(scenarios=LOOP_SCENARIOS, filesystems=LOOP_FILESYSTEMS, size=LOOP_SIZE,
              timeout=LOOP_CAP):
    """Return {(scenario, fs): Table}: each scenario in a fresh loop image of each filesystem.

    mmsim.fs_scenarios.compare_on: the real side in mmsim.loopfs.mounted(fs,
    size), capped at timeout seconds (a run still going then is the outcome
    "still retrying after <timeout> s"); the simulated side with the image's
    free space. Where loop filesystems cannot be mounted, every Table says why.
    """
    fsc = _fs_scenarios()
    out = {}
    for fs in filesystems:
        for sc in scenarios:
            if fsc is None:
                out[sc, fs] = E.Table(f"{sc} on {fs}", [], real_error=loop_available()[1],
                                      sim_error="not run without the loop-filesystem scenarios")
            else:
                out[sc, fs] = fsc.compare_on(fs, sc, size=size, timeout=timeout)
    return out


@lru_cache(maxsize=64)
def _loop_simulated(scenario, fs, size):
    fsc = _fs_scenarios()
    sc = fsc.FS_SCENARIOS[scenario]
    return E._fields(E.run(sc.experiment, kernel="6.18", memlock=sc.memlock, caps=sc.caps,
                           fs=fs, fs_size=size))


def loop_predictions(size=LOOP_SIZE):
    """Rows per filesystem of what mmsim 6.18 predicts on a size-byte filesystem (host-independent).

    (fs, mapped stores: outcome, pages stored of the free pages, all stored
    read back; fallocate then stores: fallocate, store; extents after
    sequential / random / fallocate-first writes). Empty without
    mmsim.fs_scenarios.
    """
    if _fs_scenarios() is None:
        return []
    rows = []
    for fs in LOOP_FILESYSTEMS:
        e = _loop_simulated("mapped_store_enospc", fs, size)
        f = _loop_simulated("fallocate_then_store", fs, size)
        x = _loop_simulated("fiemap_layouts", fs, size)
        rows.append((fs, e["outcome"], f"{e['stored_pages']} of {e['free_pages_before']}",
                     e["all_stored_read_back"], f["fallocate"] or "ok", f["store"] or "ok",
                     f"{x['sequential.extents']} / {x['random.extents']} / "
                     f"{x['fallocate_first.extents']}"))
    return rows


def loop_reasons_text():
    """The reasons the loop-filesystem comparisons may give for a difference, with their explanations."""
    fsc = _fs_scenarios()
    if fsc is None:
        return "no loop-filesystem scenarios in this mmsim"
    return "\n".join(f"{name}: {text}" for name, text in fsc.FS_REASONS.items())


def _real(table, field):
    """The real kernel's value of a field ("-" where it has none: a run stopped at its cap)."""
    value = next((r.real for r in table.rows if r.field == field), None)
    return "-" if value is None else value


def _ok(result):
    return "ok" if result == 0 else result


def loop_rows(tables):
    """Rows per filesystem of what the real kernel did in the loop images (host-dependent)."""
    rows = []
    for fs in LOOP_FILESYSTEMS:
        e, f, x = (tables.get((sc, fs)) for sc in LOOP_SCENARIOS)
        if e is None or e.real_error:
            rows.append((fs, "not run", "-", "-", "-", "-", "-", "-"))
            continue
        rows.append((fs, _real(e, "outcome"),
                     f"{_real(e, 'stored_pages')} of {_real(e, 'free_pages_before')}",
                     _real(e, "all_stored_read_back"),
                     _ok(_real(f, "fallocate")) if f and not f.real_error else "-",
                     _ok(_real(f, "store")) if f and not f.real_error else "-",
                     f"{_real(x, 'sequential.extents')} / {_real(x, 'random.extents')} / "
                     f"{_real(x, 'fallocate_first.extents')}" if x and not x.real_error else "-",
                     ", ".join(verdict(tables[sc, fs]) for sc in LOOP_SCENARIOS)))
    return rows


def loop_notes(tables):
    """{(scenario, fs): what the real run did} for the loop grid's cells: the outcome, or the extents."""
    out = {}
    for (sc, fs), t in tables.items():
        if t.real_error:
            continue
        if sc == "mapped_store_enospc":
            out[sc, fs] = f"{_real(t, 'outcome')} at {_real(t, 'stored_pages')}"
        elif sc == "fallocate_then_store":
            out[sc, fs] = f"store: {_ok(_real(t, 'store'))}"
        elif sc == "fiemap_layouts":
            out[sc, fs] = (f"extents {_real(t, 'sequential.extents')}/{_real(t, 'random.extents')}/"
                           f"{_real(t, 'fallocate_first.extents')}")
    return out
