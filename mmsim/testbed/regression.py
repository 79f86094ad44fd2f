"""Chapter 09's tests: the regression tests the thread asked for, over every kernel and filesystem.

Four tests, each an experiment ``(machine, process) -> dict`` of plain data
that runs unchanged on the simulator and on the reader's kernel
(mmsim.real.run), and a check of that dict that returns an Outcome
(passed, failed with the assertion's message, or not applicable and why):

* christoph: Christoph Hellwig's (18 Nov 2010, 06:37): pages of a shared
  mapping mlocked, dirtied, munlocked, written out with msync (one file)
  and fsync (another); after the page cache is dropped every page reads back
  what was stored;
* dave: Dave Chinner's "encode the expected mlock behaviour" (17 Nov,
  16:11), as the patch defines it: after mlock of a sparse shared writable
  mapping no page is dirty and no block is allocated; the first store
  faults, dirties its page, and (in the simulator's trace) goes through the
  filesystem's ->page_mkwrite;
* mlock04: LTP's testcases/kernel/syscalls/mlock/mlock04.c, the reproducer of
  the 2.6.38-rc2 regression that fdf4c587a793 fixed: mlock of a 40960-byte
  file mapped PROT_WRITE, MAP_SHARED;
* xfs/166: fstests' tests/xfs/166 with src/unwritten_mmap.c: stores through
  a shared mapping into preallocated (unwritten) space must convert just
  the stored blocks' extents.

Everything goes through the public Process and Machine API; nothing here
models the kernel.
"""

import functools
import os
from dataclasses import dataclass, field, replace

from .._abi import (FALLOC_FL_KEEP_SIZE, MAP_POPULATE, MAP_SHARED, MLOCK_ONFAULT, MS_SYNC, MiB,
                    PAGE_SIZE, PROT_READ, PROT_WRITE, RLIM_INFINITY)
from ..errors import EINVAL, error
from ..experiment import machine as sim_machine, outcome as call_outcome
from ..fs_scenarios import mlock_dirty_munlock_sync, reraise
from ..fs import ALL_FILESYSTEMS
from ..kernels import get as get_kernel

RW = PROT_READ | PROT_WRITE
# The kernels of the matrix: before the patch, the release candidate with the
# PROT_WRITE-only regression, the release, today.
KERNELS = ("2.6.37", "2.6.38-rc2", "2.6.38", "6.18")
FILESYSTEMS = tuple(sorted(ALL_FILESYSTEMS))     # the six, in the grid's column order
TESTS = ("christoph", "dave", "mlock04", "xfs/166")
STATUSES = ("passed", "failed", "not applicable")
# The tests' files and the simulated machine: small, so the whole matrix runs
# in well under a second of computing.
PAGES = 16                      # christoph's and dave's files, in pages
LTP_FILE_LEN = 40960            # mlock04.c: file_len
XFS166_FILE_SIZE = MiB          # tests/xfs/166: FILE_SIZE=1048576
SIM_RAM = 256 * MiB
SIM_FS_SIZE = 64 * MiB


@dataclass(frozen=True, eq=False)
class Outcome:
    """One test on one kernel and filesystem: status is one of STATUSES.

    message: the failed assertion's text, or why the test does not apply
    ("" when it passed); observed: the experiment's plain-data result.
    """

    test: str
    kernel: str
    fs: str
    status: str
    message: str = ""
    observed: dict = field(default_factory=dict)

    @property
    def passed(self):
        return self.status == "passed"

    def __str__(self):
        tail = f": {self.message}" if self.message else ""
        return f"{self.test} on {self.kernel}, {self.fs}: {self.status}{tail}"


def _dir(m, where):
    return where if where is not None else m.scratch


def _faults(p):
    r = p.getrusage()
    return r.ru_minflt + r.ru_majflt


def _dirty_kb(p, a):
    s = p.smaps(a)
    return s["Shared_Dirty"] + s["Private_Dirty"]


def _hook(m, where):
    """The simulated mount's ->page_mkwrite name (None without one); None on the real kernel."""
    mounts = getattr(m, "mounts", None)
    if mounts is None:
        return None
    sb = mounts[where.rstrip("/") or "/"]
    return sb.mkwrite_name() if sb.page_mkwrite is not None else None


# -- christoph ---------------------------------------------------------------------------------

def christoph_experiment(m, p, where=None, pages=PAGES):
    """mlock a shared mapping, dirty it, munlock, then msync (file "msync") or fsync
    (file "fsync"); unmap and close, drop the page cache, and read every page
    back with pread: mmsim.fs_scenarios.mlock_dirty_munlock_sync, once per way
    (mm/mlock.c, mm/msync.c, fs/sync.c: vfs_fsync_range). An mlock that fails raises.

    Return per way: its errno name ("" for none), st_blocks after the mlock
    and after the sync, and the pages that did not read back what was
    stored; and how the page cache was dropped (drop_page_cache: "" if it could not be).
    """
    where = _dir(m, where)
    out, dropped = {}, set()
    for way in ("msync", "fsync"):
        stored = [f"page {i} by {way}\n".encode() for i in range(pages)]
        r = mlock_dirty_munlock_sync(m, p, f"{where}/{way}", stored, syncs=(way,))
        reraise(r["mlock"], "mlock")
        out[way] = {"error": r["sync"][way] or "", "blocks_after_mlock": r["blocks_after_mlock"],
                    "blocks_after_sync": r["blocks_after_sync"], "lost": r["lost"]}
        dropped.add(r["dropped"])
    out["dropped"] = min(dropped)           # "" if the cache could not be dropped once
    return out


def christoph_check(r):
    """Christoph's assertions over christoph_experiment's result."""
    if not r["dropped"]:
        return "not applicable", ("the page cache could not be dropped (root only): "
                                  "a read-back would come from memory, not the disk")
    for way in ("msync", "fsync"):
        w = r[way]
        if w["error"]:
            return "failed", f"{way} returned {w['error']}"
        if w["lost"]:
            return "failed", (f"data lost: {len(w['lost'])} of the pages written out by {way} "
                              f"read back otherwise after the page cache was dropped "
                              f"(first: page {w['lost'][0]})")
    return "passed", ""


# -- dave --------------------------------------------------------------------------------------

def dave_experiment(m, p, where=None, pages=PAGES):
    """mlock a sparse file of `pages` pages mapped shared and writable, then store to page 0.

    Return the mapping's dirty kB (smaps) and the file's st_blocks after the
    mlock and after the store, the faults of the store (getrusage), and in
    the simulator the filesystem's ->page_mkwrite and the kernel functions
    of the store's fault (None on the real kernel, which has no such trace).
    """
    where = _dir(m, where)
    path, size = f"{where}/sparse", pages * PAGE_SIZE
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    a = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    p.mlock(a, size)
    out = {"dirty_kb_after_mlock": _dirty_kb(p, a), "blocks_after_mlock": m.stat(path).st_blocks}
    trace, t0, faults = getattr(m, "trace", None), m.now, _faults(p)
    p.write(a, b"the first store")
    out["store_faults"] = _faults(p) - faults
    out["dirty_kb_after_store"] = _dirty_kb(p, a)
    out["blocks_after_store"] = m.stat(path).st_blocks
    out["hook"] = _hook(m, where)
    out["store_path"] = (None if trace is None else
                         [fn for e in trace.query(pid=p.pid, since=t0) for fn in e.path])
    p.munlock(a, size)
    p.munmap(a, size)
    p.close(fd)
    return out


def dave_check(r):
    """The expected mlock behaviour since 2.6.38, asserted over dave_experiment's result."""
    if r["dirty_kb_after_mlock"]:
        return "failed", f"mlock dirtied {r['dirty_kb_after_mlock']} kB (expected 0)"
    if r["blocks_after_mlock"]:
        return "failed", f"mlock left st_blocks {r['blocks_after_mlock']} (expected 0)"
    if r["store_faults"] < 1:
        return "failed", "the first store did not fault: its PTE was writable already"
    if not r["dirty_kb_after_store"]:
        return "failed", "the first store left its page clean"
    if r["hook"] and r["store_path"] is not None and r["hook"] not in r["store_path"]:
        return "failed", f"the first store's fault did not call {r['hook']}"
    return "passed", ""


# -- mlock04 -----------------------------------------------------------------------------------

def mlock04_experiment(m, p, where=None, prot=PROT_WRITE, flags=MAP_SHARED):
    """LTP mlock04.c: a 40960-byte file (ftruncate), mapped PROT_WRITE, MAP_SHARED
    (or prot and flags: the exercises vary them); mlock, munlock, munmap.
    Return each call's errno name ("" for none)."""
    where = _dir(m, where)
    fd = p.open(f"{where}/test_mlock", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, LTP_FILE_LEN)
    buf = p.mmap(0, LTP_FILE_LEN, prot, flags, fd, 0)
    out = {call: call_outcome(getattr(p, call), buf, LTP_FILE_LEN) or ""
           for call in ("mlock", "munlock", "munmap")}
    p.close(fd)
    return out


def mlock04_check(r):
    """mlock04.c's TBROK checks: every call returns 0."""
    for call in ("mlock", "munlock", "munmap"):
        if r[call]:
            return "failed", f"{call} failed with {r[call]} (mlock04: TBROK)"
    return "passed", ""


# -- xfs/166 -----------------------------------------------------------------------------------

def xfs166_experiment(m, p, where=None, size=XFS166_FILE_SIZE, mlock_first=False):
    """src/unwritten_mmap <size> <file>: ftruncate, XFS_IOC_RESVSP64 over the file
    (fallocate FALLOC_FL_KEEP_SIZE), mmap shared, zeros stored at o-1, o/2 and 0,
    munmap, fsync, close; then the file's extents (FIEMAP, as xfs_bmap -vp
    lists them). mlock_first: mlock the mapping before the stores (the
    thread's question, not in the fstests case).

    Return the extents as [length in 512-byte blocks, unwritten] pairs.
    """
    where = _dir(m, where)
    path = f"{where}/test_file"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, size)
    buf = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    if mlock_first:
        p.mlock(buf, size)
    for off in (size - 1, size // 2, 0):
        p.write(buf + off, b"\0")
    p.munmap(buf, size)
    p.fsync(fd)
    p.close(fd)
    return {"extents": [[e.length // 512, bool(e.unwritten)] for e in m.fiemap(path)],
            "size": size}


def xfs166_filter(extents, size=XFS166_FILE_SIZE):
    """_filter_blocks of tests/xfs/166: one line per extent, RIGHT when its size is the
    first (written) extent's, or for the unwritten ones half the file less one and
    less two written extents. 166.out is five lines ending "RIGHT GOOD"."""
    lines, written, first, second = [], None, None, None
    for i, (blocks, unwritten) in enumerate(extents):
        if written is None:
            written = blocks
            first = size // 512 // 2 - written
            second = size // 512 // 2 - 2 * written
        if unwritten:
            want = first if first else second
            first = 0
        else:
            want = written
        size_word = "RIGHT" if blocks == want else "WRONG"
        lines.append(f"{i}: [AA..BB] XX..YY AG (AA..BB) {size_word} GOOD")
    return lines


XFS166_OUT = [f"{i}: [AA..BB] XX..YY AG (AA..BB) RIGHT GOOD" for i in range(5)]


def xfs166_check(r):
    """The filtered extents against 166.out (five extents: written, unwritten, written,
    unwritten, written, each size RIGHT); the flags column is always GOOD."""
    got = xfs166_filter(r["extents"], r["size"])
    kinds = "".join("u" if u else "w" for _, u in r["extents"])
    if got != XFS166_OUT or kinds != "wuwuw":
        shape = ", ".join(f"{b} {'unwritten' if u else 'written'}" for b, u in r["extents"])
        n = len(r["extents"])
        return "failed", (f"xfs_bmap shows {n} extent{'s' if n != 1 else ''} ({shape} blocks), "
                          f"not 166.out's five")
    return "passed", ""


# -- the matrix --------------------------------------------------------------------------------

EXPERIMENTS = {"christoph": (christoph_experiment, christoph_check),
               "dave": (dave_experiment, dave_check),
               "mlock04": (mlock04_experiment, mlock04_check),
               "xfs/166": (xfs166_experiment, xfs166_check)}
# Who asked for each, and where it comes from: the tables' labels.
ORIGIN = {"christoph": "Christoph Hellwig, 18 Nov 06:37: mlock, dirty, munlock, msync/fsync",
          "dave": "Dave Chinner, 17 Nov 16:11: the expected mlock behaviour",
          "mlock04": "LTP mlock04.c: mlock of a PROT_WRITE-only shared file mapping",
          "xfs/166": "fstests xfs/166: ->page_mkwrite and unwritten extents"}


def applies(test, fs):
    """None if test runs on fs, else why not (xfs/166 is `_supported_fs xfs`)."""
    if test == "xfs/166" and fs != "xfs":
        return "xfs/166 is an XFS test (_supported_fs xfs)"
    return None


def judge(test, kernel, fs, observed):
    """Apply test's check to an experiment's result: an Outcome."""
    status, message = EXPERIMENTS[test][1](observed)
    return Outcome(test, kernel, fs, status, message, observed)


def _name(kernel):
    return get_kernel(kernel).version


def run_test(test, kernel, fs, options="", **params):
    """Run one test on the simulator: a fresh machine with kernel (a version or a
    mmsim.kernels.Kernel), fs on its scratch directory mounted with options, a
    process with CAP_IPC_LOCK; params go to the test's experiment. Simulated
    once per distinct arguments."""
    return _run_test(test, get_kernel(kernel), fs, options, tuple(sorted(params.items())))


@functools.lru_cache(maxsize=None)
def _run_test(test, kernel, fs, options, params):
    if test not in EXPERIMENTS:
        raise error(EINVAL, f"test must be one of {TESTS}, not {test!r}")
    if fs not in ALL_FILESYSTEMS:
        raise error(EINVAL, f"filesystem must be one of {ALL_FILESYSTEMS}, not {fs!r}")
    why = applies(test, fs)
    if why:
        return Outcome(test, _name(kernel), fs, "not applicable", why)
    m, p = sim_machine(kernel=kernel, fs=fs, ram=SIM_RAM, fs_size=SIM_FS_SIZE, options=options,
                       memlock=(RLIM_INFINITY, RLIM_INFINITY), caps={"CAP_IPC_LOCK"})
    return judge(test, _name(kernel), fs, EXPERIMENTS[test][0](m, p, **dict(params)))


def matrix(tests=TESTS, kernels=KERNELS, filesystems=FILESYSTEMS):
    """Every test on every kernel and filesystem: {(test, kernel, fs): Outcome}."""
    return {(t, _name(k), fs): run_test(t, k, fs) for t in tests for k in kernels
            for fs in filesystems}


def summary(results):
    """Per (test, kernel): 'passed on 6', 'failed on 6', '1 passed, 5 n/a' ... for tables."""
    rows = {}
    for (t, k, _), o in results.items():
        rows.setdefault((t, k), []).append(o.status)
    out = {}
    for key, statuses in rows.items():
        counts = {s: statuses.count(s) for s in STATUSES if s in statuses}
        out[key] = ", ".join(f"{n} {'n/a' if s == 'not applicable' else s}"
                             for s, n in counts.items())
    return out


def failures(results):
    """The outcomes that failed, in the matrix's order."""
    return [o for o in results.values() if o.status == "failed"]


# -- planted regressions (chapter 09's exercises) ----------------------------------------------

def more_experiment(m, p, where=None):
    """Four more calls whose results the kernel's switches decide (simulator only: it spawns).

    - mlock2(MLOCK_ONFAULT) of an 8-page shared file mapping whose first 4
      pages were stored to: Mlocked (meminfo, kB) afterwards;
    - a process without CAP_IPC_LOCK and RLIMIT_MEMLOCK of 4 pages mlocks 3
      pages, then 4 pages over them: the second mlock's errno name ("" if none);
    - 2 pages of a shared file mapping stored to, msync(MS_SYNC) of page 0
      only: the mapping's dirty kB left;
    - mmap(MAP_POPULATE) of a 4-page file PROT_WRITE, MAP_SHARED: its Rss kB.
    """
    where = _dir(m, where)
    out = {}
    fd = p.open(f"{where}/onfault", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 8 * PAGE_SIZE)
    a = p.mmap(0, 8 * PAGE_SIZE, RW, MAP_SHARED, fd, 0)
    for i in range(4):
        p.write(a + i * PAGE_SIZE, b"x")
    before = m.meminfo()["Mlocked"]
    out["onfault_error"] = call_outcome(p.mlock2, a, 8 * PAGE_SIZE, MLOCK_ONFAULT) or ""
    out["onfault_mlocked_kb"] = m.meminfo()["Mlocked"] - before
    p.munlock(a, 8 * PAGE_SIZE)
    q = m.spawn(memlock=(4 * PAGE_SIZE, 4 * PAGE_SIZE))
    b = q.mmap(0, 4 * PAGE_SIZE, RW, MAP_SHARED, q.open(f"{where}/onfault", os.O_RDWR), 0)
    q.mlock(b, 3 * PAGE_SIZE)
    out["relock_error"] = call_outcome(q.mlock, b, 4 * PAGE_SIZE) or ""
    c = p.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, fd, 0)
    p.write(c, b"y")
    p.write(c + PAGE_SIZE, b"y")
    p.msync(c, PAGE_SIZE, MS_SYNC)
    out["dirty_kb_after_msync_of_page_0"] = _dirty_kb(p, c)
    d = p.mmap(0, 4 * PAGE_SIZE, PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 4 * PAGE_SIZE)
    out["populate_rss_kb"] = p.smaps(d)["Rss"]
    return out


# A kernel switch changed from 6.18's value, and what that undoes: the
# regressions the exercises plant (mmsim.kernels names each switch's commit).
REGRESSIONS = {
    "populate_force": (False, "fdf4c587a793 undone: mlock populates without FOLL_FORCE"),
    "populate_writes_shared": (True, "Michel's patch 5ecfda041e4b reverted: mlock write-faults "
                                     "shared writable mappings"),
    "mlock_present_at_fixup": (False, "mlock_fixup no longer mlocks the pages already mapped"),
    "limit_skips_locked": (False, "0cf2f6f6dc60 undone: pages already locked count against "
                                  "RLIMIT_MEMLOCK again"),
    "msync_syncs_range": (False, "7fc34a62ca44 undone: msync(MS_SYNC) syncs the whole file"),
    "populate_mmap_force": (False, "MAP_POPULATE faults pages in without FOLL_FORCE"),
}
# The probe's fields, in the order the exercises list them.
PROBE_FIELDS = ("mlock04_mlock", "dirty_kb_after_mlock", "blocks_after_mlock", "store_faults",
                "store_calls_page_mkwrite", "lost_pages", "onfault_mlocked_kb", "relock_error",
                "dirty_kb_after_msync_of_page_0", "populate_rss_kb")


def planted(switch):
    """6.18 with one REGRESSIONS switch changed, named "6.18-broken"."""
    if switch not in REGRESSIONS:
        raise error(EINVAL, f"switch must be one of {tuple(REGRESSIONS)}, not {switch!r}")
    return replace(get_kernel("6.18"), version="6.18-broken", **{switch: REGRESSIONS[switch][0]})


@functools.lru_cache(maxsize=None)
def probe(kernel, fs="ext4"):
    """What the chapter's tests observe on kernel and fs, and more_experiment's four
    results, as one flat dict of PROBE_FIELDS (numbers, strings, booleans)."""
    mlock04 = run_test("mlock04", kernel, fs).observed
    dave = run_test("dave", kernel, fs).observed
    christoph = run_test("christoph", kernel, fs).observed
    m, p = sim_machine(kernel=kernel, fs=fs, ram=SIM_RAM, fs_size=SIM_FS_SIZE,
                       memlock=(RLIM_INFINITY, RLIM_INFINITY), caps={"CAP_IPC_LOCK"})
    more = more_experiment(m, p)
    out = {"mlock04_mlock": mlock04["mlock"],
           **{k: dave[k] for k in ("dirty_kb_after_mlock", "blocks_after_mlock", "store_faults")},
           "store_calls_page_mkwrite": bool(dave["hook"]) and dave["hook"] in dave["store_path"],
           "lost_pages": len(christoph["msync"]["lost"]) + len(christoph["fsync"]["lost"]),
           **{k: more[k] for k in ("onfault_mlocked_kb", "relock_error",
                                   "dirty_kb_after_msync_of_page_0", "populate_rss_kb")}}
    return {f: out[f] for f in PROBE_FIELDS}


def catching(switch, fs="ext4"):
    """The probe's fields whose value on the planted kernel differs from 6.18's."""
    real, broken = probe("6.18", fs), probe(planted(switch), fs)
    return [f for f in PROBE_FIELDS if real[f] != broken[f]]


# -- the same tests on the reader's kernel -----------------------------------------------------

REAL_TESTS = ("christoph", "dave")
REAL_TIMEOUT = 20               # wall-clock seconds per experiment


def host_kernel():
    """This host's kernel release (uname -r), or the platform's name off Unix."""
    return os.uname().release if hasattr(os, "uname") else os.name


def real_test(test, scratch_dir=None, timeout=REAL_TIMEOUT, fs=None):
    """Run one test's experiment on this kernel, in a child (mmsim.real.run), and check it.

    scratch_dir: where the child's scratch directory goes (a loop
    filesystem's mount point; None: mmsim.real's default); fs names the
    filesystem in the Outcome (None: the type the scratch directory is on).
    A host that cannot run it (not Linux, no /proc, a refused size, the
    time cap) gives "not applicable" with the reason; an experiment whose
    call the kernel refused gives "failed" with the errno.
    """
    from .. import real
    kernel = host_kernel()
    ok, why = real.available(scratch_dir)
    if not ok:
        return Outcome(test, kernel, fs or "-", "not applicable", why)
    fs = fs or real.fs_type(real.scratch_base(scratch_dir))
    why = applies(test, fs)
    if why:
        return Outcome(test, kernel, fs, "not applicable", why)
    try:
        r = real.run(EXPERIMENTS[test][0], scratch_dir=scratch_dir, timeout=timeout, output=False,
                     at_timeout="still running after {seconds:g} s")
    except real.RealError as e:
        return Outcome(test, kernel, fs, "not applicable", f"{type(e).__name__}: {e}")
    except OSError as e:
        return Outcome(test, kernel, fs, "failed", f"a call failed: {os.strerror(e.errno)}")
    if isinstance(r, dict) and "outcome" in r and len(r) <= 2:
        return Outcome(test, kernel, fs, "not applicable", r["outcome"])
    return judge(test, kernel, fs, r)


def loop_tests(tests=REAL_TESTS, filesystems=None, size=64 * MiB, timeout=REAL_TIMEOUT):
    """The tests on this kernel, on each filesystem made in a loop image (mmsim.loopfs).

    Return ({(test, kernel, fs): Outcome}, why): why is "" when loop
    filesystems could be made at all, else the reason (not root, no
    losetup ...), and every test is then "not applicable" with it. A
    filesystem the host cannot make (no mkfs.xfs, the kernel lacks btrfs)
    is "not applicable" with its own reason.
    """
    from .. import loopfs, real
    kernel, out = host_kernel(), {}
    filesystems = tuple(filesystems or loopfs.FILESYSTEMS)
    ok, why = loopfs.available()
    for fs in filesystems:
        fs_ok, fs_why = loopfs.available(fs) if ok else (False, why)
        if not fs_ok:
            out.update({(t, kernel, fs): Outcome(t, kernel, fs, "not applicable", fs_why)
                        for t in tests})
            continue
        try:
            with loopfs.mounted(fs, size=size) as mnt:
                for t in tests:
                    out[t, kernel, fs] = real_test(t, scratch_dir=mnt.path, timeout=timeout, fs=fs)
        except (real.RealError, OSError) as e:
            out.update({(t, kernel, fs): Outcome(t, kernel, fs, "not applicable",
                                                 f"{type(e).__name__}: {e}")
                        for t in tests if (t, kernel, fs) not in out})
    return out, ("" if ok else why)


def side_by_side(outcomes, kernel="6.18"):
    """Rows of (test, fs, the host's status and message, the simulator's status on kernel)
    for real Outcomes, and whether they agree: "-" where there is nothing to compare
    (the simulator has no model of the filesystem, or the host could not run the test
    and the simulator could)."""
    rows = []
    for o in outcomes:
        sim = run_test(o.test, kernel, o.fs).status if o.fs in ALL_FILESYSTEMS else "-"
        skipped = o.status == "not applicable" and sim != "not applicable"
        rows.append({"test": o.test, "fs": o.fs, "host": o.status, "why": " ".join(o.message.split()),
                     f"simulated {kernel}": sim,
                     "agree": "-" if sim == "-" or skipped else ("yes" if sim == o.status else "NO")})
    return rows


# The mount options the chapter's app offers: every filesystem takes them.
SUITE_OPTIONS = ("", "no_page_mkwrite")


def suite(switch="", options=""):
    """Every test on every filesystem, on 6.18 with one REGRESSIONS switch changed
    ("" for none: 6.18 itself), each filesystem mounted with options (SUITE_OPTIONS).

    Return {"kernel", "switch", "options", "outcomes": {(test, fs): Outcome},
    "caught_by": the tests that failed somewhere}.
    """
    if options not in SUITE_OPTIONS:
        raise error(EINVAL, f"options must be one of {SUITE_OPTIONS}, not {options!r}")
    kernel = planted(switch) if switch else get_kernel("6.18")
    outcomes = {(t, fs): run_test(t, kernel, fs, options) for t in TESTS for fs in FILESYSTEMS}
    caught = [t for t in TESTS if any(outcomes[t, fs].status == "failed" for fs in FILESYSTEMS)]
    return {"kernel": kernel.version, "switch": switch, "options": options,
            "outcomes": outcomes, "caught_by": caught}
