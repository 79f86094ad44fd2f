"""Chapter 06's experiments: a store into a hole on a full filesystem, and how it ends.

A program maps a sparse file twice the size of an empty filesystem shared
and writable, optionally mlocks it, and stores into every page, as memtoy's
"touch write" does (one byte, 0x5A, at the start of each page). It ends one
of three ways: the task hangs in balance_dirty_pages (mmsim.Hung; it is then
killed, as kill -9 does), a fault is refused (SIGBUS from ->page_mkwrite, or
mlock's ENOMEM on 2.6.37, which write-faults), or every store returns. A
program still alive then msyncs the mapping and exits; sync(1) writes what
can be written, the page cache is dropped, and a second process reads the
file back with pread: what the program stored is compared, page by page,
with what comes back, and FIEMAP says which pages have a block on disk.

Everything here calls the public Process and Machine API; nothing models
the kernel.
"""

import errno
import os
import signal
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .._abi import MAP_SHARED, MiB, MS_SYNC, PAGE_SIZE, PROT_READ
from ..contents import TOUCH_BYTE
from ..errors import EINVAL, Hung, Signal, error
from ..kernels import RELEASES
from ..machine import Machine
from . import UNLIMITED, map_file, sparse_file
from .writeback import own_writeback

# The chapter's scale: a 16 MiB filesystem, a sparse file twice its size, RAM
# four times the file, and 2 simulated seconds of patience.
FS_SIZE = 16 * MiB
RAM = 128 * MiB
HUNG_TIMEOUT = 2.0
PATH = "/data/hole"
# What /data is mounted as in the grid's columns: (fs, mount options).
MOUNTS = (("ext2", ""), ("ext3", ""), ("ext4", ""), ("xfs", ""), ("btrfs", ""), ("gfs2", ""),
          ("ext2", "ext2_driver"), ("xfs", "no_page_mkwrite"))
OUTCOMES = ("hung", "SIGBUS", "lost", "ok")


def mount_label(fs, options=""):
    """'ext2', or 'ext2 -o ext2_driver' with mount options."""
    return f"{fs} -o {options}" if options else fs


def errname(e):
    """'ENOSPC' for an OSError with that errno."""
    return errno.errorcode.get(e.errno, str(e.errno))


@dataclass
class EnospcRun:
    """How one store into a hole on a full filesystem ended, and what reads back."""

    kernel: str
    fs: str
    options: str
    mlock: bool
    fs_size: int                   # bytes, all free at the start
    file_size: int                 # bytes, sparse
    ram: int
    outcome: str                   # one of OUTCOMES
    how: str                       # what said so: "balance_dirty_pages", "SIGBUS in ...", "msync: ENOSPC"
    seconds: float                 # the mlock and the stores, simulated, until the outcome
    stored: int                    # pages the program stored into (no error told it otherwise)
    on_disk: int                   # of those, pages that read back, from a block on disk
    ram_only: int                  # pages that read back from a dirty page no block can hold
    zeros: int                     # pages that read back as zeros: the data is gone
    msync: str                     # what msync(MS_SYNC) returned: "0", an errno name, "-" (killed)
    dirty_kb: int                  # Dirty when the stores ended
    free_blocks: int               # free blocks on /data when the stores ended
    pages_lost: int                # m.pages_lost() after the sync: cleaned by failed writeback
    own_writeback: int             # pages the task itself passed to write_cache_pages (throttled)
    hung: Hung = None
    signal: Signal = None
    timeline: list = field(default_factory=list)

    @property
    def pages(self):
        """Pages in the file."""
        return self.file_size // PAGE_SIZE

    @property
    def word(self):
        """The outcome as the grid's cell says it: mlock's error by its name."""
        return self.how.split(": ")[1] if self.how.startswith("mlock: ") else self.outcome

    @property
    def read_back(self):
        """'all', 'partly' or 'zeros': how much of what was stored reads back from disk.

        '-' when nothing was stored.
        """
        if self.stored == 0:
            return "-"
        if self.on_disk == self.stored:
            return "all"
        return "zeros" if self.on_disk == 0 else "partly"

    @property
    def mount(self):
        """The mount as the tables name it: 'ext2 -o ext2_driver'."""
        return mount_label(self.fs, self.options)


def _written_blocks(m, path, npages):
    """Per page of the file, True where a written block on disk backs it (FIEMAP)."""
    has = np.zeros(npages, bool)
    for e in m.fiemap(path):
        if not (e.unwritten or e.delalloc):
            first = e.logical // PAGE_SIZE
            has[first:first + e.length // PAGE_SIZE] = True
    return has


def read_back(m, path, stored):
    """After the program is gone: sync, drop_caches, and read the file from a fresh process.

    stored: how many pages, from the start of the file, the program stored
    into. Return (on_disk, ram_only, zeros, lost): stored pages whose byte 0
    reads back as TOUCH_BYTE and that have a written block, those that read
    back but have no block (a dirty page no writeback could place, there
    until the machine goes down), those that read zeros, and m.pages_lost()
    before the drop (pages a failed writeback cleaned: their data was only
    there).
    """
    m.sync()
    lost = m.pages_lost()
    m.drop_caches()
    if not stored:
        return 0, 0, 0, lost
    q = m.spawn()
    fd = q.open(path, os.O_RDONLY)
    firsts = np.frombuffer(q.pread(fd, stored * PAGE_SIZE, 0)[::PAGE_SIZE], np.uint8)
    q.kill()
    back = firsts == TOUCH_BYTE
    blocks = _written_blocks(m, path, m.stat(path).st_size // PAGE_SIZE)[:stored]
    on_disk = int(np.count_nonzero(back & blocks))
    ram_only = int(np.count_nonzero(back & ~blocks))
    return on_disk, ram_only, stored - on_disk - ram_only, lost


def enospc_run(kernel, fs="ext2", options="", mlock=False, fs_size=FS_SIZE, file_size=None,
               ram=RAM, hung_timeout=HUNG_TIMEOUT, sample=None):
    """Map a sparse file of file_size bytes (twice fs_size if None) on an empty
    filesystem, mlock it if asked, store into every page, and see how it ends.

    The program stops at its first error. sample: seconds between timeline
    samples of the mlock and the stores (None: no timeline). Return an
    EnospcRun; the same arguments return the same (cached) object.
    """
    return _run(str(kernel), str(fs), str(options), bool(mlock), int(fs_size),
                int(file_size or 2 * fs_size), int(ram), float(hung_timeout),
                None if sample is None else float(sample))


@lru_cache(maxsize=512)
def _run(kernel, fs, options, mlock, fs_size, file_size, ram, hung_timeout, sample):
    if file_size <= 0 or file_size % PAGE_SIZE:
        raise error(EINVAL, f"file_size must be a positive number of pages, not {file_size}")
    m = Machine(kernel=kernel, ram=ram, profile="2010", hung_timeout=hung_timeout)
    m.mkfs("/data", fs=fs, size=fs_size, options=options)
    p = m.spawn(memlock=UNLIMITED)
    _, a = map_file(p, PATH, file_size)
    if sample:
        m.record_timeline(sample)
    start = m.now
    hung = sig = None
    outcome, how, stored = "", "", 0
    try:
        if mlock:
            p.mlock(a, file_size)
        stored = p.touch(a, file_size, write=True).pages
    except Hung as e:
        hung, outcome, how = e, "hung", e.function
        stored = getattr(e, "pages", 0)          # a touch says how far it got; mlock stores nothing
    except Signal as e:
        sig, outcome, how = e, "SIGBUS", f"{signal.Signals(e.signo).name} in {e.function}"
        stored = e.pages
    except OSError as e:
        outcome, how = "SIGBUS", f"mlock: {errname(e)}"
    seconds = m.now - start
    dirty, free = m.meminfo()["Dirty"], m.statfs("/data").f_bfree
    own = own_writeback(m, p, since=start)
    timeline = list(m.timeline or [])
    msync = "-"
    if hung is None:
        try:
            p.msync(a, file_size, MS_SYNC)
            msync = "0"
        except OSError as e:
            msync = errname(e)
    p.kill()                                     # kill -9 if it hung, else its exit
    on_disk, ram_only, zeros, lost = read_back(m, PATH, stored)
    if not outcome:
        outcome = "ok" if on_disk == stored else "lost"
        how = "" if msync == "0" else f"msync: {msync}"
    return EnospcRun(kernel, fs, options, mlock, fs_size, file_size, ram, outcome, how, seconds,
                     stored, on_disk, ram_only, zeros, msync, dirty, free, lost, own, hung,
                     sig, timeline)


@dataclass
class OutcomeGrid:
    """enospc_run over kernels and mounts, with and without mlock."""

    rows: list                     # "2.6.37", "2.6.37 + mlock", ...
    columns: list                  # mounts, options on a second line
    runs: dict                     # (row, column) -> EnospcRun


def row_label(kernel, mlock):
    """'2.6.37', or '2.6.37 + mlock'."""
    return f"{kernel} + mlock" if mlock else kernel


def column_label(fs, options=""):
    """A mount as a grid column names it: its options on a second line."""
    return f"{fs}\n{options}" if options else fs


def enospc_grid(fs_size=FS_SIZE, ram=RAM, hung_timeout=HUNG_TIMEOUT, kernels=RELEASES,
                mounts=MOUNTS, file_size=None):
    """enospc_run for every kernel and mount, without and with mlock: an OutcomeGrid."""
    rows = [row_label(k, lk) for k in kernels for lk in (False, True)]
    columns = [column_label(fs, opt) for fs, opt in mounts]
    runs = {(row_label(k, lk), column_label(fs, opt)):
            enospc_run(k, fs, opt, lk, fs_size=fs_size, file_size=file_size, ram=ram,
                       hung_timeout=hung_timeout)
            for k in kernels for lk in (False, True) for fs, opt in mounts}
    return OutcomeGrid(rows, columns, runs)


def kernel_grid(kernel, fs_size=FS_SIZE, ram=RAM):
    """enospc_grid for one kernel: its two rows, without and with mlock."""
    return enospc_grid(fs_size=fs_size, ram=ram, kernels=(kernel,))


def dirty_room(ram, mlocked=0, kernel="2.6.37"):
    """The dirty thresholds of a fresh machine of ram bytes with mlocked bytes of
    page cache locked, from /proc/meminfo: a dict in kB of dirtyable memory
    (MemFree + Cached - Mlocked), background (10%), freerun (15%) and limit (20%)."""
    m = Machine(kernel=kernel, ram=ram, profile="2010")
    m.mkfs("/data", fs="ext2", size=max(mlocked, 16 * PAGE_SIZE) + 64 * PAGE_SIZE)
    if mlocked:
        p = m.spawn(memlock=UNLIMITED)
        fd = sparse_file(p, "/data/locked", mlocked)
        p.mlock(p.mmap(0, mlocked, PROT_READ, MAP_SHARED, fd, 0), mlocked)
    i = m.meminfo()
    dirtyable = i["MemFree"] + i["Cached"] - i["Mlocked"]
    return {"dirtyable": dirtyable, "background": dirtyable // 10,
            "freerun": dirtyable * 15 // 100, "limit": dirtyable // 5}


@lru_cache(maxsize=256)
def pwrite_run(kernel, fs="ext2", options="", fs_size=FS_SIZE, prewritten=0, size=None):
    """write(2) instead of stores: pwrite size bytes (twice fs_size if None) of memtoy's
    pattern from offset 0 of a sparse file whose first prewritten bytes were
    written and fsynced before; then pwrite again where the first stopped.

    Return a dict: what the first pwrite returned (bytes), the errno name the
    second raised ("" if none), the simulated seconds of both, and the pages
    of the first that read back from disk after sync and drop_caches.
    """
    size = size or 2 * fs_size
    m = Machine(kernel=kernel, ram=RAM, profile="2010")
    m.mkfs("/data", fs=fs, size=fs_size, options=options)
    p = m.spawn()
    fd = sparse_file(p, PATH, size)
    if prewritten:
        p.pwrite(fd, bytes(prewritten), 0)
        p.fsync(fd)
    page = bytes([TOUCH_BYTE]) + bytes(PAGE_SIZE - 1)
    start = m.now
    first = p.pwrite(fd, page * (size // PAGE_SIZE), 0)
    second = ""
    try:
        p.pwrite(fd, page * ((size - first) // PAGE_SIZE), first)
    except OSError as e:
        second = errname(e)
    seconds = m.now - start
    p.kill()
    on_disk, _, _, _ = read_back(m, PATH, first // PAGE_SIZE)
    return {"first": first, "second": second, "seconds": seconds, "on_disk": on_disk}


@lru_cache(maxsize=256)
def stores_before_sigbus(kernel, fs, fs_size=FS_SIZE, used=0):
    """Stores into a sparse file twice fs_size on a filesystem that already holds
    used bytes in another file: the pages stored before SIGBUS (0 if none came)."""
    m = Machine(kernel=kernel, ram=RAM, profile="2010")
    m.mkfs("/data", fs=fs, size=fs_size)
    p = m.spawn()
    if used:
        other = sparse_file(p, "/data/other", 0)
        p.pwrite(other, bytes(used), 0)
        p.fsync(other)
    _, a = map_file(p, PATH, 2 * fs_size)
    try:
        p.touch(a, 2 * fs_size, write=True)
    except Signal as e:
        return e.pages
    return 0


__all__ = ["EnospcRun", "FS_SIZE", "HUNG_TIMEOUT", "MOUNTS", "OUTCOMES", "OutcomeGrid", "PATH",
           "RAM", "column_label", "dirty_room", "enospc_grid", "enospc_run", "errname", "kernel_grid",
           "mount_label", "pwrite_run", "read_back", "row_label", "stores_before_sigbus"]
