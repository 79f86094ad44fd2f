"""One experiment, two backends: the simulator and the reader's own kernel.

An experiment is a function of (machine, process) that returns plain data
(a dict of numbers, strings, booleans, or the result objects of the Process
API, mmsim.results, which compare() reads field by field). It runs unchanged on:

    mmsim.run(experiment, kernel="6.18", ...)       # the simulator
    mmsim.real.run(experiment, ...)                  # this Linux kernel, in a child

and ``compare(experiment, ...)`` runs both and returns a ``Table``, field by
field: "agree", "differs (legitimate: <why>)" for the differences a modern
kernel is known to show (fault counts under fault-around, wall-clock time,
the interpreter's own memory), or "DISAGREE" for anything else, which is a
simulator bug to fix (or a kernel behaviour to model), never a test to relax.

``DIFFERENTIAL`` holds the scenarios of the differential tests (issue #4),
each an experiment with the limits it runs under; mmsim.fs_scenarios those
that run on real filesystems in loop images (compare_on), whose tables
``table()`` builds.
"""

import collections
import dataclasses
import errno as _errno
import os
import re
import signal as _signal

from ._abi import (GiB, KiB, MiB, PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE,
                   MADV_POPULATE_WRITE, MAP_ANONYMOUS, MAP_LOCKED, MAP_POPULATE, MAP_PRIVATE,
                   MAP_SHARED,
                   MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT, MS_SYNC,
                   RLIMIT_MEMLOCK)
from .errors import Signal
from .results import PageFlags, StatResult

__all__ = ["run", "machine", "compare", "table", "compare_scenario", "Table", "Row", "outcome",
           "LEGITIMATE", "REASONS", "DIFFERENTIAL", "PRIVILEGED", "Scenario", "real_fs",
           "SIM_FILESYSTEMS", "allowance"]

SIM_RAM = 4 * GiB               # the simulated machine, unless ram= says otherwise
SIM_FS_SIZE = 16 * GiB          # the simulated scratch filesystem
SIM_FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs")


def _oserror(code, what):
    return OSError(code, f"{os.strerror(code)}: {what}")


# ---------------------------------------------------------------------------
# Running on the simulator


def real_fs(scratch_dir=None):
    """Return the simulator's name for the filesystem the real scratch directory is on.

    ext2 and ext3 mounted by the ext4 driver keep their names; anything the
    simulator has no model of (tmpfs, overlay, zfs ...) comes back as it is,
    and mkfs says so.
    """
    try:
        from . import real
        return real.fs_type(real.scratch_base(scratch_dir))
    except Exception:               # not Linux, no /proc: the book's default
        return "ext4"


def machine(kernel="6.18", memlock=None, caps=None, fs=None, profile="modern", ram=None,
            fs_size=None, options=""):
    """Return (machine, process): a fresh simulated machine with /scratch, and a process.

    The machine has ``ram`` bytes (default 4 GiB) and a ``fs_size`` filesystem
    (default 16 GiB) of type ``fs`` mounted at /scratch, which is
    ``machine.scratch``; fs=None takes the type of the filesystem that
    mmsim.real's scratch directory is on. memlock (soft, hard) and caps
    (a set of names, e.g. {"CAP_IPC_LOCK"}) go to Machine.spawn; None means
    the kernel's default limit and no capabilities.
    """
    import mmsim
    Machine = getattr(mmsim, "Machine", None)
    if Machine is None:
        from .machine import Machine
    m = Machine(kernel=kernel, ram=ram or SIM_RAM, profile=profile)
    m.mkfs("/scratch", fs=fs or real_fs(), size=fs_size or SIM_FS_SIZE, options=options)
    m.scratch = "/scratch"
    kw = {}
    if memlock is not None:
        kw["memlock"] = memlock
    if caps is not None:
        kw["caps"] = set(caps)
    return m, m.spawn(**kw)


def run(experiment, kernel="6.18", memlock=None, caps=None, fs=None, profile="modern",
        ram=None, fs_size=None, options=""):
    """Run experiment(machine, process) on a fresh simulated machine and return its result.

    The arguments are those of ``machine()``: kernel version, RLIMIT_MEMLOCK,
    capabilities, filesystem type (None: the real scratch directory's),
    hardware profile, RAM and filesystem size, mount options.
    """
    if not callable(experiment):
        raise _oserror(_errno.EINVAL, "experiment must be a function of (machine, process)")
    m, p = machine(kernel=kernel, memlock=memlock, caps=caps, fs=fs, profile=profile,
                   ram=ram, fs_size=fs_size, options=options)
    return experiment(m, p)


# ---------------------------------------------------------------------------
# Helpers for experiments


def outcome(fn, *args, **kw):
    """Call fn and return 0, or the errno name ("ENOMEM") / signal name ("SIGBUS") it failed with."""
    try:
        fn(*args, **kw)
        return 0
    except Signal as e:
        return _signal.Signals(e.signo).name
    except OSError as e:
        return _errno.errorcode.get(e.errno, str(e.errno))


def _faults(p):
    ru = p.getrusage()
    return ru.ru_minflt + ru.ru_majflt


def _dirty(v):
    return v["Shared_Dirty"] + v["Private_Dirty"]


# ---------------------------------------------------------------------------
# The comparison table

Row = collections.namedtuple("Row", "field real sim verdict")

#: name -> explanation of every legitimate difference between the backends
REASONS = {
    "fault-around": "on 6.18 a read fault on a file whose pages are cached maps up to "
                    "16 pages around the faulting one (mm/memory.c: do_fault_around, "
                    "fault_around_bytes = 64 KiB); mmsim maps one page per fault",
    "fault counting": "fault counts on 6.18: fault-around maps several pages per fault "
                      "(do_fault_around), a fault that waited for I/O is retried and counted "
                      "again as major (mm_account_fault, FAULT_FLAG_TRIED), large folios map "
                      "several pages at once, and the Python interpreter faults a few pages "
                      "of its own between two getrusage() calls",
    "clock": "wall-clock seconds on the real kernel, simulated seconds in mmsim",
    "interpreter memory": "the real process also holds the Python interpreter's memory: "
                          "compare deltas",
    "addresses": "each backend chooses its own addresses",
    "inode numbers": "each filesystem numbers its own inodes",
    "file times": "the simulator stamps files with simulated time since boot, the real "
                  "kernel with the host's clock",
    "MADV_POPULATE_WRITE (5.14)": "the old kernel has no MADV_POPULATE_WRITE (madvise: EINVAL, "
                                  "mm/madvise.c: madvise_behavior_valid); its mlock makes the "
                                  "write faults itself, so the dirtying and the block "
                                  "reservation come one call later: the state after mlock "
                                  "must agree",
}
FAULT_AROUND = "fault-around"
LEGITIMATE = [
    (re.compile(r"(^|[._])(minflt|majflt|faults?)$|_faults$|fault_count"), "fault counting"),
    (re.compile(r"(^|[._])(seconds|secs|elapsed|time)$"), "clock"),
    (re.compile(r"(^|[._])(VmRSS|VmSize|VmData|VmPeak|VmHWM|VmPTE|VmStk|VmExe|VmLib|"
                r"RssAnon|RssFile|RssShmem)$"), "interpreter memory"),
    (re.compile(r"(^|[._])(addr|address|pfn)$|(^|\.)(start|end)$"), "addresses"),
    (re.compile(r"(^|[._])st_ino$"), "inode numbers"),
    (re.compile(r"(^|[._])st_[amc]time(_ns)?$"), "file times"),
]
# "start" and "end" only as keys of their own (a VMA's, smaps(addr)["start"]): a
# field such as st_blocks_end is a count at the end of an experiment, not an address
_ADDRESS = re.compile(r"(^|[._])(addr|address|pfn)$|(^|\.)(start|end)$")


def _as_fields(value):
    """Return a result of the Process API as a dict of its fields, or value unchanged.

    PageFlags becomes its counts per flag; TouchResult, Rusage, StatResult and
    Extent their fields; the real backend's os.stat_result the fields of
    StatResult, so that both sides of a comparison have the same keys.
    """
    if isinstance(value, PageFlags):
        return value.counts()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, os.stat_result):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(StatResult)}
    return value


def _flatten(value, prefix=""):
    """Flatten nested dicts and result objects to dotted keys; anything else is one value."""
    value = _as_fields(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix or "result": _plain(value)}


def _plain(v):
    if hasattr(v, "item") and callable(v.item) and getattr(v, "shape", None) == ():
        return v.item()
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    return v


def _fields(result):
    return _flatten(result)


def _show(field, v):
    if v is _MISSING:
        return "-"
    if _ADDRESS.search(field) and isinstance(v, int) and v > 0xFFFF:
        return "<address>"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_show("", x) for x in v) + ")"
    return str(v)


_MISSING = object()


def allowance(field, explain=None, real=None, sim=None):
    """Return the name of the reason a field may differ between the backends, or None.

    explain first: {field: reason name}, or a function (field, real, sim) ->
    reason name or None; then the LEGITIMATE patterns. None means the field
    must agree.
    """
    if callable(explain):
        reason = explain(field, real, sim)
    else:
        reason = (explain or {}).get(field)
    if reason is None:
        for pat, name in LEGITIMATE:
            if pat.search(field):
                return name
    return reason


def _verdict(field, real, sim, explain):
    """Return (verdict, reason name or None) for one field."""
    if real is _MISSING or sim is _MISSING or real is None or sim is None:
        side = "real kernel" if real is _MISSING or real is None else "simulator"
        return f"n/a (not measured on the {side})", None
    if real == sim:
        return "agree", None
    reason = allowance(field, explain, real, sim)
    if reason is None:
        return "DISAGREE", None
    return f"differs (legitimate: {reason})", reason


class Table:
    """The real kernel and the simulator, field by field.

    ``rows``: Row(field, real, sim, verdict); ``ok``: both sides ran and no
    row says DISAGREE; ``real_error``/``sim_error``: why a side did not run.
    """

    def __init__(self, name, rows, real_error=None, sim_error=None, kernel="6.18",
                 real_kernel=None, notes=None):
        self.name = name
        self.rows = list(rows)
        self.notes = dict(notes or {})          # reason name -> explanation
        self.real_error = real_error
        self.sim_error = sim_error
        self.kernel = kernel
        self.real_kernel = real_kernel

    @property
    def ok(self):
        return (self.real_error is None and self.sim_error is None
                and not any(r.verdict == "DISAGREE" for r in self.rows))

    @property
    def disagreements(self):
        return [r for r in self.rows if r.verdict == "DISAGREE"]

    def __str__(self):
        lines = [f"{self.name}: real kernel vs mmsim {self.kernel}"]
        if self.real_error:
            lines.append(f"  real kernel: not run: {self.real_error}")
        if self.sim_error:
            lines.append(f"  simulator: not run: {self.sim_error}")
        if self.rows:
            cells = [("field", "real", "sim", "verdict")]
            cells += [(r.field, _show(r.field, r.real), _show(r.field, r.sim), r.verdict)
                      for r in self.rows]
            w = [max(len(c[i]) for c in cells) for i in range(3)]
            for c in cells:
                lines.append(f"  {c[0]:<{w[0]}}  {c[1]:>{w[1]}}  {c[2]:>{w[2]}}  {c[3]}")
        if self.notes:
            lines.append("  notes:")
        for name, text in self.notes.items():
            lines.append(f"    {name}: {text}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def _side(fn, setup=None):
    """Run one side; return (fields, error message).

    setup() failing (a machine that cannot be built) is an error of the side;
    the experiment raising OSError or Signal is a result ("raised").
    """
    from . import real
    if setup is not None:
        try:
            args = setup()
        except Exception as e:
            return None, f"{type(e).__name__}: {e}"
        fn = (lambda f=fn: f(*args))
    try:
        return _fields(fn()), None
    except Signal as e:
        return {"raised": _signal.Signals(e.signo).name}, None
    except real.RealError as e:
        return None, f"{type(e).__name__}: {e}"
    except OSError as e:
        return {"raised": _errno.errorcode.get(e.errno, str(e.errno))}, None
    except Exception as e:              # a simulator or experiment bug: say it, briefly
        return None, f"{type(e).__name__}: {e}"


def compare(experiment, kernel="6.18", memlock=None, caps=None, fs=None, profile="modern",
            explain=None, name=None, timeout=120, ram=None, fs_size=None, options=""):
    """Run experiment on this kernel (mmsim.real.run) and on mmsim; return a Table.

    memlock=None and caps=None take this process's own RLIMIT_MEMLOCK and
    CAP_IPC_LOCK, for both sides, so that the two runs are the same
    experiment. explain: {field: reason} for differences known to be
    legitimate in this experiment (also read from ``experiment.legitimate``).
    Never raises for a side that cannot run: the table says why.
    """
    from . import real
    name = name or getattr(experiment, "__name__", "experiment")
    why = dict(getattr(experiment, "legitimate", {}) or {})
    why.update(explain or {})
    if memlock is None and real.resource is not None:
        memlock = real.resource.getrlimit(RLIMIT_MEMLOCK)
    if caps is None:
        caps = {"CAP_IPC_LOCK"} & real.current_caps()
    caps = set(caps)
    r, r_err = _side(lambda: real.run(experiment, memlock=memlock, caps=caps,
                                      timeout=timeout, output=False))
    s, s_err = _side(experiment, setup=lambda: machine(
        kernel=kernel, memlock=memlock, caps=caps, fs=fs, profile=profile, ram=ram,
        fs_size=fs_size, options=options))
    return table(name, r, r_err, s, s_err, why, kernel=kernel)


def table(name, r, r_err, s, s_err, explain, kernel="6.18", reasons=None):
    """Return the Table of two sides' flattened results (None and an error for a side that failed).

    explain: {field: reason name}, or a function (field, real, sim) -> reason
    name or None; reasons: reason name -> explanation, besides REASONS.
    """
    real_kernel = os.uname().release if hasattr(os, "uname") else None
    texts = dict(REASONS, **(reasons or {}))
    rows, notes = [], {}
    if r is not None or s is not None:
        keys = list(r or {}) + [k for k in (s or {}) if k not in (r or {})]
        for k in keys:
            rv = (r or {}).get(k, _MISSING)
            sv = (s or {}).get(k, _MISSING)
            if r is None:
                rv = _MISSING
            if s is None:
                sv = _MISSING
            if r is None or s is None:
                verdict, reason = "n/a (only one side ran)", None
            else:
                verdict, reason = _verdict(k, rv, sv, explain)
            if reason is not None:
                notes[reason] = texts.get(reason, reason)
            rows.append(Row(k, None if rv is _MISSING else rv,
                            None if sv is _MISSING else sv, verdict))
    return Table(name, rows, r_err, s_err, kernel=kernel, real_kernel=real_kernel,
                 notes=notes)


# ---------------------------------------------------------------------------
# The differential scenarios (issue #4): the same numbers on both backends

NPAGES = 64
SIZE = NPAGES * PAGE_SIZE
SIZE_KB = SIZE // KiB


def mlock_shared_sparse(m, p):
    """mlock of a sparse shared writable file mapping, then stores, msync, stores.

    Since 2.6.38 (5ecfda041e4b) mlock read-faults a shared mapping: every page
    resident and locked, none dirty, no blocks allocated. The first store
    takes a write-protect fault per page (page_mkwrite: ext4 reserves the
    block, st_blocks grows); writeback write-protects again
    (clear_page_dirty_for_io -> folio_mkclean), so after msync every store
    faults again.
    """
    path = m.scratch + "/sparse"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, SIZE)
    out = {"pages": NPAGES, "st_blocks_before": m.stat(path).st_blocks}
    a = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    vmlck0 = p.status()["VmLck"]
    out["mlock"] = outcome(p.mlock, a, SIZE)
    v = p.smaps(a)
    out.update(rss_kb=v["Rss"], locked_kb=v.get("Locked"), dirty_kb=_dirty(v),
               anonymous_kb=v["Anonymous"], vmlck_kb=p.status()["VmLck"] - vmlck0,
               st_blocks_after_mlock=m.stat(path).st_blocks)
    f0 = _faults(p)
    out["store"] = outcome(p.touch, a, SIZE, write=True)
    f1 = _faults(p)
    v = p.smaps(a)
    out.update(store_faults=f1 - f0, store_faulted_every_page=f1 - f0 >= NPAGES,
               dirty_kb_after_store=_dirty(v), st_blocks_after_store=m.stat(path).st_blocks)
    out["msync"] = outcome(p.msync, a, SIZE, MS_SYNC)
    out["dirty_kb_after_msync"] = _dirty(p.smaps(a))
    f0 = _faults(p)
    out["store_again"] = outcome(p.touch, a, SIZE, write=True)
    f1 = _faults(p)
    out.update(store_again_faults=f1 - f0, store_again_faulted_every_page=f1 - f0 >= NPAGES,
               dirty_kb_after_store_again=_dirty(p.smaps(a)),
               st_blocks_end=m.stat(path).st_blocks, locked_kb_end=p.smaps(a).get("Locked"))
    return out


def mlock_private_file(m, p):
    """mlock of a private writable file mapping breaks COW on every page.

    mm/gup.c: populate_vma_page_range sets FOLL_WRITE for a private writable
    VMA, so every page is copied into an anonymous page: Anonymous == Size,
    Private_Dirty == Size. MAP_POPULATE goes the same way (__mm_populate).
    A read-only private mapping is only read-faulted: file pages, no COW.
    """
    path = m.scratch + "/data"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, SIZE)
    out = {"size_kb": SIZE_KB}
    a = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
    out["mlock"] = outcome(p.mlock, a, SIZE)
    v = p.smaps(a)
    out.update(rss_kb=v["Rss"], anonymous_kb=v["Anonymous"], private_dirty_kb=v["Private_Dirty"],
               locked_kb=v.get("Locked"))
    b = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_POPULATE, fd, 0)
    v = p.smaps(b)
    out.update(populate_rss_kb=v["Rss"], populate_anonymous_kb=v["Anonymous"],
               populate_private_dirty_kb=v["Private_Dirty"], populate_locked_kb=v.get("Locked"))
    c = p.mmap(0, SIZE, PROT_READ, MAP_PRIVATE, fd, 0)
    out["ro_mlock"] = outcome(p.mlock, c, SIZE)
    v = p.smaps(c)
    out.update(ro_rss_kb=v["Rss"], ro_anonymous_kb=v["Anonymous"], ro_dirty_kb=_dirty(v),
               ro_locked_kb=v.get("Locked"), st_blocks=m.stat(path).st_blocks)
    return out


def mlock_readonly_anon(m, p):
    """mlock of a read-only private anonymous mapping maps the zero page.

    mm/memory.c: do_anonymous_page maps the shared zero page for a read
    fault; smaps does not count it (vm_normal_page: a special page), so Rss
    stays 0 while VmLck counts the whole VMA. PROT_NONE: populate fails
    with EFAULT, mlock returns ENOMEM, but the VMA keeps VM_LOCKED and
    stays in VmLck (mm/mlock.c: do_mlock sets the flags before populating).
    """
    out = {}
    vmlck0 = p.status()["VmLck"]
    a = p.mmap(0, SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    out["mlock"] = outcome(p.mlock, a, SIZE)
    v = p.smaps(a)
    out.update(rss_kb=v["Rss"], anonymous_kb=v["Anonymous"], locked_kb=v.get("Locked"),
               vm_locked="lo" in v.get("VmFlags", "").split(),
               vmlck_kb=p.status()["VmLck"] - vmlck0)
    out["read"] = outcome(p.touch, a, SIZE)
    out["rss_kb_after_read"] = p.smaps(a)["Rss"]
    vmlck0 = p.status()["VmLck"]
    b = p.mmap(0, SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
    out["prot_none_mlock"] = outcome(p.mlock, b, SIZE)
    v = p.smaps(b)
    out.update(prot_none_vmlck_kb=p.status()["VmLck"] - vmlck0, prot_none_rss_kb=v["Rss"],
               prot_none_vm_locked="lo" in v.get("VmFlags", "").split())
    return out


def mlock_onfault(m, p):
    """mlock2(MLOCK_ONFAULT): VmLck counts the range at once, Rss only what is touched.

    mm/gup.c: populate_vma_page_range does nothing for VM_LOCKONFAULT; each
    page is locked as it faults in. A read of untouched anonymous memory maps
    the zero page, which Rss does not count. On a file, one read fault maps
    the cached pages around it (fault-around).
    """
    out = {}
    vmlck0 = p.status()["VmLck"]
    a = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    out["mlock2"] = outcome(p.mlock2, a, SIZE, MLOCK_ONFAULT)
    v = p.smaps(a)
    flags = v.get("VmFlags", "").split()
    out.update(vmlck_kb=p.status()["VmLck"] - vmlck0, rss_kb=v["Rss"], locked_kb=v.get("Locked"),
               vm_locked="lo" in flags, vm_lockonfault="lf" in flags)
    p.touch(a, 5 * PAGE_SIZE, write=True)
    v = p.smaps(a)
    out.update(rss_kb_after_5_stores=v["Rss"], locked_kb_after_5_stores=v.get("Locked"))
    p.touch(a + 10 * PAGE_SIZE, 3 * PAGE_SIZE)
    v = p.smaps(a)
    out.update(rss_kb_after_3_loads=v["Rss"], locked_kb_after_3_loads=v.get("Locked"))
    path = m.scratch + "/file"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, SIZE)
    b = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    p.touch(b, SIZE)                   # the file is in the page cache now
    p.munmap(b, SIZE)
    b = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    vmlck0 = p.status()["VmLck"]
    out["file_mlock2"] = outcome(p.mlock2, b, SIZE, MLOCK_ONFAULT)
    out["file_vmlck_kb"] = p.status()["VmLck"] - vmlck0
    out["file_rss_kb"] = p.smaps(b)["Rss"]
    p.touch(b + 32 * PAGE_SIZE, PAGE_SIZE)
    v = p.smaps(b)
    out.update(file_rss_kb_after_1_load=v["Rss"], file_locked_kb_after_1_load=v.get("Locked"),
               file_dirty_kb=_dirty(v))
    return out


mlock_onfault.legitimate = {
    "file_rss_kb_after_1_load": FAULT_AROUND,
    "file_locked_kb_after_1_load": FAULT_AROUND,
}


def mlock_limits(m, p):
    """RLIMIT_MEMLOCK without CAP_IPC_LOCK (mm/mlock.c: do_mlock, mlockall; mm/mmap.c: mlock_future_ok).

    Starts with a 64 KiB limit: over it ENOMEM; the same range twice counts
    once (count_mm_mlocked_page_nr); after MCL_FUTURE an mmap past the limit
    gives EAGAIN; mlockall with no, unknown or only MCL_ONFAULT flags EINVAL;
    MCL_CURRENT compares total_vm with the limit. Then limit 0: EPERM
    (can_do_mlock) before anything else.
    """
    out = {"limit_kb": p.getrlimit(RLIMIT_MEMLOCK)[0] // KiB}
    a = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    out["over_limit"] = outcome(p.mlock, a, 32 * PAGE_SIZE)
    out["vmlck_kb_after_over"] = p.status()["VmLck"]
    out["first_8"] = outcome(p.mlock, a, 8 * PAGE_SIZE)
    out["same_8_again"] = outcome(p.mlock, a, 8 * PAGE_SIZE)
    out["vmlck_kb_twice"] = p.status()["VmLck"]
    out["up_to_limit"] = outcome(p.mlock, a, 16 * PAGE_SIZE)
    out["vmlck_kb_at_limit"] = p.status()["VmLck"]
    out["one_past_limit"] = outcome(p.mlock, a, 17 * PAGE_SIZE)
    out["munlock"] = outcome(p.munlock, a, SIZE)
    out["vmlck_kb_after_munlock"] = p.status()["VmLck"]
    out["mcl_future"] = outcome(p.mlockall, MCL_FUTURE)
    out["large_mmap_after_future"] = outcome(p.mmap, 0, 1 * MiB, PROT_READ | PROT_WRITE,
                                             MAP_PRIVATE | MAP_ANONYMOUS)
    out["munlockall"] = outcome(p.munlockall)
    out["mlockall_0"] = outcome(p.mlockall, 0)
    out["mlockall_onfault_only"] = outcome(p.mlockall, MCL_ONFAULT)
    out["mlockall_unknown_bit"] = outcome(p.mlockall, 8)
    out["mlockall_current"] = outcome(p.mlockall, MCL_CURRENT)
    out["vmlck_kb_end"] = p.status()["VmLck"]
    out["setrlimit_0"] = outcome(p.setrlimit, RLIMIT_MEMLOCK, (0, 0))
    out["limit0_mlock"] = outcome(p.mlock, a, PAGE_SIZE)
    out["limit0_mlock2_onfault"] = outcome(p.mlock2, a, PAGE_SIZE, MLOCK_ONFAULT)
    out["limit0_mlockall_future"] = outcome(p.mlockall, MCL_FUTURE)
    out["limit0_vmlck_kb"] = p.status()["VmLck"]
    return out


def mlock_hole(m, p):
    """A hole inside the range: ENOMEM, the VMAs before the hole stay locked.

    mm/mlock.c: apply_vma_lock_flags walks the VMAs and stops at the gap with
    -ENOMEM after mlock_fixup() has locked the VMAs before it; do_mlock then
    returns before __mm_populate, so those pages are locked but not faulted in.
    """
    out = {}
    a = p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    p.munmap(a + 2 * PAGE_SIZE, PAGE_SIZE)
    out["mlock"] = outcome(p.mlock, a, 4 * PAGE_SIZE)
    out["vmlck_kb"] = p.status()["VmLck"]
    v, w = p.smaps(a), p.smaps(a + 3 * PAGE_SIZE)
    out.update(before_size_kb=v["Size"], before_locked="lo" in v.get("VmFlags", "").split(),
               before_rss_kb=v["Rss"], after_size_kb=w["Size"],
               after_locked="lo" in w.get("VmFlags", "").split(), after_rss_kb=w["Rss"])
    return out


def populate_write_mlock(m, p):
    """MADV_POPULATE_WRITE, then mlock, of a sparse shared file mapping: the old mlock, on purpose.

    mm/madvise.c: madvise_populate (5.14) write-faults every page through
    get_user_pages with FOLL_WRITE, as 2.6.37's mlock did
    (__mlock_vma_pages_range): ->page_mkwrite runs (ext4 reserves the
    blocks), every page is dirty; the mlock after it finds the pages present
    and only locks them. The first store after it takes no fault; msync
    cleans and write-protects. On a kernel without the advice (EINVAL), the
    mlock alone gives that state on 2.6.37 and a clean one from 2.6.38 on.
    """
    path = m.scratch + "/sparse"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, SIZE)
    out = {"pages": NPAGES}
    a = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    out["populate_write"] = outcome(p.madvise, a, SIZE, MADV_POPULATE_WRITE)
    v = p.smaps(a)
    out.update(rss_kb_after_populate=v["Rss"], dirty_kb_after_populate=_dirty(v),
               st_blocks_after_populate=m.stat(path).st_blocks)
    out["mlock"] = outcome(p.mlock, a, SIZE)
    v = p.smaps(a)
    out.update(rss_kb=v["Rss"], locked_kb=v.get("Locked"), dirty_kb=_dirty(v),
               st_blocks_after_mlock=m.stat(path).st_blocks)
    f0 = _faults(p)
    out["store"] = outcome(p.touch, a, SIZE, write=True)
    out["store_faulted_every_page"] = _faults(p) - f0 >= NPAGES
    out["msync"] = outcome(p.msync, a, SIZE, MS_SYNC)
    out["dirty_kb_after_msync"] = _dirty(p.smaps(a))
    out["st_blocks_end"] = m.stat(path).st_blocks
    return out


def mlock_cap_ipc_lock(m, p):
    """RLIMIT_MEMLOCK with CAP_IPC_LOCK: no limit applies (mm/mlock.c: can_do_mlock, do_mlock).

    capable(CAP_IPC_LOCK) skips every check: twice the 64 KiB limit locks,
    MAP_LOCKED and mmap after mlockall(MCL_FUTURE) go past it (mm/mmap.c:
    mlock_future_ok), and with the limit set to 0 mlock and mlock2 still work.
    """
    out = {"limit_kb": p.getrlimit(RLIMIT_MEMLOCK)[0] // KiB}
    a = p.mmap(0, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    out["twice_the_limit"] = outcome(p.mlock, a, 32 * PAGE_SIZE)
    out["vmlck_kb_twice_the_limit"] = p.status()["VmLck"]
    out["map_locked_past_limit"] = outcome(p.mmap, 0, SIZE, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED)
    out["vmlck_kb_map_locked"] = p.status()["VmLck"]
    out["munlockall"] = outcome(p.munlockall)
    out["mcl_future"] = outcome(p.mlockall, MCL_FUTURE)
    out["large_mmap_after_future"] = outcome(p.mmap, 0, 1 * MiB, PROT_READ | PROT_WRITE,
                                             MAP_PRIVATE | MAP_ANONYMOUS)
    out["vmlck_kb_after_future"] = p.status()["VmLck"]
    out["munlockall_again"] = outcome(p.munlockall)
    out["setrlimit_0"] = outcome(p.setrlimit, RLIMIT_MEMLOCK, (0, 0))
    out["limit0_mlock"] = outcome(p.mlock, a, 16 * PAGE_SIZE)
    out["limit0_mlock2_onfault"] = outcome(p.mlock2, a + 16 * PAGE_SIZE, 16 * PAGE_SIZE,
                                           MLOCK_ONFAULT)
    out["limit0_vmlck_kb"] = p.status()["VmLck"]
    return out


Scenario = collections.namedtuple("Scenario", "experiment memlock caps")

#: name -> Scenario: every one runs unprivileged (caps=set()) under a memlock
#: limit any host allows lowering to, so the reader's machine can run it too.
DIFFERENTIAL = {
    "mlock_shared_sparse": Scenario(mlock_shared_sparse, (1 * MiB, 1 * MiB), set()),
    "mlock_private_file": Scenario(mlock_private_file, (1 * MiB, 1 * MiB), set()),
    "mlock_readonly_anon": Scenario(mlock_readonly_anon, (1 * MiB, 1 * MiB), set()),
    "mlock_onfault": Scenario(mlock_onfault, (1 * MiB, 1 * MiB), set()),
    "mlock_limits": Scenario(mlock_limits, (64 * KiB, 64 * KiB), set()),
    "mlock_hole": Scenario(mlock_hole, (1 * MiB, 1 * MiB), set()),
    "populate_write_mlock": Scenario(populate_write_mlock, (1 * MiB, 1 * MiB), set()),
}

#: the scenarios that need a capability: the real side runs only where this
#: process can give it (root), and says why not elsewhere.
PRIVILEGED = {
    "mlock_cap_ipc_lock": Scenario(mlock_cap_ipc_lock, (64 * KiB, 64 * KiB), {"CAP_IPC_LOCK"}),
}


def compare_scenario(name, **kw):
    """Return compare() of one DIFFERENTIAL or PRIVILEGED scenario by name."""
    sc = DIFFERENTIAL.get(name) or PRIVILEGED.get(name)
    if sc is None:
        raise _oserror(_errno.EINVAL, f"no scenario {name!r}; there are "
                                      f"{sorted(DIFFERENTIAL) + sorted(PRIVILEGED)}")
    return compare(sc.experiment, memlock=sc.memlock, caps=sc.caps, name=name, **kw)
