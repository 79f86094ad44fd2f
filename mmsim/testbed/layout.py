"""Chapter 07's experiments: where a sparse file's blocks land, and what reading it back costs.

One program, run on a fresh machine ("2010" hardware, 1 GiB of RAM, an
empty filesystem four times the file's size): it creates a sparse file,
maps it shared and writable, optionally calls fallocate(), glibc's
posix_fallocate() or MADV_POPULATE_WRITE first (PREPARE), mlocks the
mapping, and stores once to every
page in one of four orders (PATTERNS), in bursts spread over some
simulated seconds, with the flusher running in between as it will; then it
fsyncs. Afterwards: the file's extents as FIEMAP and filefrag report them,
when each block was allocated, and a sequential read of the whole file from
a cold cache (unmapped, closed, drop_caches, then pread), timed on the
simulated disk. scenarios.sparse_layout is the scenario library's compact
form of the same comparison (rounds of stores with a sync between them);
this module lets the chapter vary the store order, the filesystem, the
kernel and the time the stores take.
"""

import errno
import functools
import os
import random
from dataclasses import dataclass, field

import numpy as np

from .._abi import GiB, MADV_POPULATE_WRITE, MiB, PAGE_SIZE
from ..errors import EINVAL, error
from ..fs.namei import lookup_inode
from . import LOCK_OK, map_file, new_machine

PATTERNS = ("sequential", "random", "strided", "reverse")
STRIDE = 16                   # pages between two stores of the strided order (64 KiB)
# What the program calls between mmap and its stores.
PREPARE = ("mlock", "fallocate, mlock", "posix_fallocate, mlock", "MADV_POPULATE_WRITE, mlock")
# The chapter's filesystems: "ext4 nodelalloc" is ext4 mounted -o nodelalloc.
FILESYSTEMS = ("ext2", "ext3", "ext4", "ext4 nodelalloc", "xfs")
BURST = 1.0                   # simulated seconds between two bursts of stores
PATH = "/data/f"


def store_order(pattern, npages, seed=0):
    """The pages of an npages file in the order the program stores to them.

    sequential: 0, 1, 2 ...; reverse: the last page first; strided: every
    STRIDE-th page, then the pages after those, and so on (0, 16, 32 ... 1,
    17, 33 ...); random: a shuffle seeded with seed. Every page once.
    """
    if pattern not in PATTERNS:
        raise error(EINVAL, f"pattern must be one of {PATTERNS}, not {pattern!r}")
    pages = np.arange(npages)
    if pattern == "reverse":
        return pages[::-1].copy()
    if pattern == "strided":
        return np.concatenate([pages[k::STRIDE] for k in range(STRIDE)])
    if pattern == "random":
        order = list(range(npages))
        random.Random(seed).shuffle(order)
        return np.array(order, np.int64)
    return pages


def runs(pages):
    """Split a store order into (first, end) runs of consecutive ascending pages."""
    pages = np.asarray(pages)
    if len(pages) == 0:
        return []
    cuts = np.flatnonzero(np.diff(pages) != 1) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(pages)]])
    return [(int(pages[s]), int(pages[e - 1]) + 1) for s, e in zip(starts, ends)]


def store_bursts(order, spread):
    """Cut a store order into bursts BURST seconds apart over spread seconds (one if 0).

    Return [(seconds after the first burst, [(first, end) runs of the burst])].
    """
    n = max(1, int(round(float(spread) / BURST)))
    return [(b * float(spread) / n, runs(chunk))
            for b, chunk in enumerate(np.array_split(np.asarray(order), n))]


def posix_fallocate(p, fd, offset, length):
    """glibc's posix_fallocate(3) on Linux: fallocate(fd, 0, ...), and where the
    filesystem refuses with EOPNOTSUPP, its emulation: a one-byte pwrite of a
    zero into every 4 KiB block that reads as zero.

    sysdeps/unix/sysv/linux/posix_fallocate.c and sysdeps/posix/posix_fallocate.c
    (the emulation writes the last byte of each block; the block size is
    statfs's f_bsize, at most 4096). Return "fallocate" or "emulated".
    Simplified: the O_APPEND, file type and overflow checks are left out.
    """
    try:
        p.fallocate(fd, 0, offset, length)
        return "fallocate"
    except OSError as e:
        if e.errno != errno.EOPNOTSUPP:
            raise
    for at in range(offset + (length - 1) % PAGE_SIZE, offset + length, PAGE_SIZE):
        if p.pread(fd, 1, at) not in (b"", b"\0"):
            continue                     # a non-zero byte: the block is allocated already
        p.pwrite(fd, b"\0", at)
    return "emulated"


def filefrag_extents(extents):
    """The count filefrag prints ("N extents found") for m.fiemap's extents.

    e2fsprogs misc/filefrag.c filefrag_fiemap: an extent that starts where
    the previous one ended on disk is not counted again, so a written and
    an unwritten piece back to back, or a hole between physically adjacent
    pieces, count once.
    """
    total, expected = 0, None
    for e in extents:
        if total and e.physical != expected:
            total += 1
        total = total or 1
        expected = e.physical + e.length
    return total


def fs_and_options(fs):
    """'ext4 nodelalloc' -> ('ext4', 'nodelalloc'); any other name -> (name, '')."""
    if fs not in FILESYSTEMS:
        raise error(EINVAL, f"fs must be one of {FILESYSTEMS}, not {fs!r}")
    name, _, options = fs.partition(" ")
    return name, options


@dataclass(frozen=True, eq=False)
class FillResult:
    """What one run of the program left on disk, and what reading it back cost."""

    kernel: str
    fs: str
    pattern: str
    prepare: str
    size: int                          # bytes
    spread: float                      # simulated seconds the stores were spread over
    seed: int
    errors: tuple                      # (call, errno name) of the calls that failed
    phases: tuple                      # (call, blocks it allocated, simulated s), in call order
    owners: tuple                      # (call or "writeback", blocks of the file it allocated last)
    fiemap: tuple                      # (logical, physical, length, unwritten), bytes
    extents: int                       # what filefrag prints
    layout: dict = field(repr=False)   # m.layout(): block and allocated_at per page
    read_seconds: float = 0.0          # the cold sequential read, simulated
    read_seeks: int = 0                # the disk's seeks during it
    read_bytes: int = 0                # the disk's bytes read during it
    written_bytes: int = 0             # bytes the disk wrote before it (the program's run)

    @property
    def label(self):
        """'2.6.38 ext2, random, mlock'."""
        return f"{self.kernel} {self.fs}, {self.pattern}, {self.prepare}"

    @property
    def summary(self):
        """'762 extents, read back in 6.14 s' (and the calls that failed)."""
        noun = "extent" if self.extents == 1 else "extents"
        failed = "".join(f"; {call}: {why}" for call, why in self.errors)
        return f"{self.extents} {noun}, read back in {self.read_seconds:.2f} s{failed}"

    def allocated_by(self):
        """The file's blocks at the end, by the call that allocated them.

        {"fallocate": n, "mlock": n, "store": n, "writeback": n ...}, for
        the calls the program made; "store" sums the bursts of stores;
        "writeback" is what the flusher and the fsync allocated, while the
        program slept between bursts or in fsync. A block that was
        allocated again (copy-on-write) counts for the last allocation.
        """
        return dict(self.owners)

    def allocated_during(self):
        """The call that allocated most of the file's blocks, or "writeback"."""
        counts = self.allocated_by()
        return max(counts, key=lambda k: (counts[k], k == "writeback"))


def _try(errors, call, fn):
    """Run fn(); on OSError note (call, errno name) and carry on, as a program that
    checks the return value and goes on without the call would. (EOPNOTSUPP
    and ENOTSUP are one number on Linux; fallocate(2) names it EOPNOTSUPP.)"""
    try:
        fn()
    except OSError as e:
        name = "EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else errno.errorcode.get(e.errno)
        errors.append((call, name or str(e)))


def fill(kernel="2.6.38", fs="ext2", pattern="random", prepare="mlock", mib=4, spread=120.0,
         seed=0):
    """Run the program once (module docstring) for a mib MiB file; return a FillResult.

    The stores go in store_bursts(store_order(pattern), spread), each run
    of consecutive pages with one touch. A call of PREPARE the kernel or
    the filesystem refuses is noted in .errors and the program goes on. Runs are cached by their parameters,
    however they are passed: a result must not be changed.
    """
    if prepare not in PREPARE:
        raise error(EINVAL, f"prepare must be one of {PREPARE}, not {prepare!r}")
    fs_and_options(fs)
    if pattern not in PATTERNS:
        raise error(EINVAL, f"pattern must be one of {PATTERNS}, not {pattern!r}")
    if int(mib) < 1 or float(spread) < 0:
        raise error(EINVAL, f"need a file of at least 1 MiB and spread >= 0, not {mib}, {spread}")
    return _fill(str(kernel), fs, pattern, prepare, int(mib), float(spread), int(seed))


class _Owners:
    """Which call last allocated each page's block, from Machine.layout's allocated_at."""

    def __init__(self, m):
        self.m = m
        self.last = self._allocated_at()
        self.owner = np.full(len(self.last), "writeback", dtype=object)

    def _allocated_at(self):
        """Machine.layout's allocated_at alone, without the extents and seeks it also counts."""
        return lookup_inode(self.m, PATH).allocation_times()

    def settle(self, who):
        """Give who the pages allocated since the last settle; return how many."""
        now = self._allocated_at()
        changed = (now != self.last) & ~np.isnan(now)       # NaN != NaN: a hole stays one
        self.owner[changed] = who
        self.last = now
        return int(np.count_nonzero(changed))

    def counts(self, calls):
        """((call, blocks), ...) for each call in calls once, then "writeback"."""
        held = self.owner[~np.isnan(self.last)]
        names = list(dict.fromkeys(calls)) + ["writeback"]
        return tuple((name, int(np.count_nonzero(held == name))) for name in names)


@functools.lru_cache(maxsize=128)
def _fill(kernel, fs, pattern, prepare, mib, spread, seed):
    name, options = fs_and_options(fs)
    size = mib * MiB
    npages = size // PAGE_SIZE
    order = store_order(pattern, npages, seed)
    m, p = new_machine(kernel, name, ram=GiB, disk=4 * size, options=options, caps=LOCK_OK)
    fd, a = map_file(p, PATH, size)
    errors, phases = [], []
    owners = _Owners(m)

    def phase(label, fn):
        owners.settle("writeback")
        t0 = m.now
        _try(errors, label, fn)
        phases.append((label, owners.settle(label), m.now - t0))

    if prepare.startswith("fallocate"):
        phase("fallocate", lambda: p.fallocate(fd, 0, 0, size))
    if prepare.startswith("posix_fallocate"):
        phase("posix_fallocate", lambda: posix_fallocate(p, fd, 0, size))
    if prepare.startswith("MADV_POPULATE_WRITE"):
        phase("MADV_POPULATE_WRITE", lambda: p.madvise(a, size, MADV_POPULATE_WRITE))
    phase("mlock", lambda: p.mlock(a, size))
    start = m.now
    for at, burst in store_bursts(order, spread):
        m.sleep(max(0.0, start + at - m.now))
        owners.settle("writeback")
        t0 = m.now
        for lo, hi in burst:
            p.touch(a + lo * PAGE_SIZE, (hi - lo) * PAGE_SIZE, write=True)
        phases.append(("store", owners.settle("store"), m.now - t0))
    p.fsync(fd)
    owners.settle("writeback")
    extents = m.fiemap(PATH)
    layout = m.layout(PATH)
    p.munlock(a, size)
    p.munmap(a, size)
    p.close(fd)
    m.drop_caches()
    fd = p.open(PATH, os.O_RDONLY)
    disk = m.mounts["/data"].disk.counters
    seeks, nbytes, written, t0 = disk["read_seeks"], disk["read_bytes"], disk["write_bytes"], m.now
    p.pread(fd, size, 0)
    return FillResult(
        m.kernel.version, fs, pattern, prepare, size, spread, seed, tuple(errors), tuple(phases),
        owners.counts([call for call, _, _ in phases]), tuple((e.logical, e.physical, e.length, e.unwritten) for e in extents),
        filefrag_extents(extents), layout, m.now - t0, disk["read_seeks"] - seeks,
        disk["read_bytes"] - nbytes, written)


__all__ = ["BURST", "FILESYSTEMS", "FillResult", "PATTERNS", "PREPARE", "STRIDE", "fill",
           "filefrag_extents", "fs_and_options", "posix_fallocate", "runs", "store_bursts",
           "store_order"]
