"""The thread's experiments, as functions of their parameters.

Each returns a result object of plain numbers (and a few numpy arrays and
the trace), so chapters and widgets can show them and tests can check them:

* memtoy_hole20g: Michel Lespinasse's memtoy session (19 Nov 2010): touch a
  sparse file through a shared writable mapping, then lock it, or touch it
  for writing, on a partition with less room than the file;
* shared_mlock: a large shared mlock of a fully allocated file that is not
  cached, before and after the patch (the ">2x faster" of the cover letter);
* michels_session: a memtoy script run on Michel's set-up, memtoy's own output;
* mlock_dirty_munlock_sync: the regression test Christoph Hellwig asked for,
  per filesystem; xfs_166: the xfstests case Dave Chinner named;
* sparse_layout: Hugh Dickins's point, the file layout that random stores
  leave after the patch, against the pre-patch mlock and fallocate first;
* memlock_dos: Ted Ts'o's point, one user pinning RAM under an unlimited
  RLIMIT_MEMLOCK and another user's page cache paying for it.
"""

import errno
import os
import random
from collections import Counter
from dataclasses import dataclass, field


from ._abi import (GiB, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MiB, PAGE_SIZE,
                   PROT_READ, PROT_WRITE, RLIM_INFINITY)
from .errors import EINVAL, Hung, Signal, error
from .fs.proc import kpageflags
from .fs_scenarios import mlock_dirty_munlock_sync as _christoph, reraise
from .mm.page_writeback import HUNG_TASK_TIMEOUT
from .machine import Machine
from .memtoy import Memtoy
from .testbed import allocated_uncached

RW = PROT_READ | PROT_WRITE
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)


def _disk(m, path="/data"):
    return dict(m.mounts[path].disk.counters)


def _delta(after, before):
    return {k: after[k] - before[k] for k in after}


@dataclass
class Hole20GResult:
    """What memtoy_hole20g measured."""

    kernel: str
    fs: str
    action: str
    pages: int                     # pages in the file
    touch_seconds: float           # the read touch, simulated
    outcome: str                   # "done", "hung", "sigbus", or an errno name
    seconds: float                 # the lock / write touch, simulated (until it stuck)
    pages_done: int                # pages the action got through
    dirty_kb: int
    file_blocks_kb: int            # st_blocks in kB: allocated and reserved
    free_blocks: int
    pages_lost: int                # cleaned by failed writeback: only in RAM now
    disk: dict
    functions: Counter             # kernel functions of the action, pages each
    hung: Hung = None
    signal: Signal = None
    timeline: list = field(default_factory=list)
    flags: dict = field(default_factory=dict)   # kpageflags of the mapping


def memtoy_hole20g(kernel="2.6.38", fs="ext2", action="lock", size=20 * GiB,
                   partition=10 * GiB, ram=24 * GiB, profile="2010", sample=5.0,
                   flags=False, hung_timeout=HUNG_TASK_TIMEOUT, options=""):
    """Michel's session: file hole20G shared; map; touch; then lock (or touch write).

    options: the partition's mount options (e.g. "ext2_driver" for fs/ext2 on 6.18).

    sample: seconds between timeline samples (None: no timeline). flags: keep
    the per-page kpageflags arrays (5,242,880 entries each at full size).
    hung_timeout: simulated seconds without progress before the run counts
    as hung (Machine's hung_timeout). functions counts the kernel functions
    memtoy's process ran during the action (the flusher's are not in it).
    """
    if action not in ("lock", "touch write"):
        raise error(EINVAL, f"action must be 'lock' or 'touch write', not {action!r}")
    m = Machine(kernel=kernel, ram=ram, profile=profile, hung_timeout=hung_timeout)
    m.mkfs("/data", fs=fs, size=partition, options=options)
    p = m.spawn(memlock=UNLIMITED)
    fd = p.open("/data/hole20G", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    a = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    r = p.touch(a, size)
    if sample:
        m.record_timeline(sample)
    before, t0 = _disk(m), m.now
    hung = sig = None
    outcome, done = "done", size // PAGE_SIZE
    try:
        if action == "lock":
            p.mlock(a, size)
        else:
            p.touch(a, size, write=True)
    except Hung as e:
        hung, outcome = e, "hung"
    except Signal as e:
        sig, outcome, done = e, "sigbus", e.pages
    except OSError as e:
        outcome = os.strerror(e.errno)
    seconds = m.now - t0
    events = m.trace.query(pid=p.pid, since=t0)
    if hung is not None:
        done = sum(e.pages for e in events if "handle_mm_fault" in e.path or "follow_page" in e.path)
    result = Hole20GResult(
        kernel=kernel, fs=fs, action=action, pages=size // PAGE_SIZE,
        touch_seconds=r.seconds, outcome=outcome, seconds=seconds, pages_done=done,
        dirty_kb=m.meminfo()["Dirty"], file_blocks_kb=m.stat("/data/hole20G").st_blocks // 2,
        free_blocks=m.statfs("/data").f_bfree, pages_lost=m.pages_lost(),
        disk=_delta(_disk(m), before), functions=m.trace.counts(events), hung=hung,
        signal=sig, timeline=m.timeline or [])
    if flags and p.alive:
        result.flags = kpageflags(m, p, a, size)
    return result


@dataclass
class MlockTiming:
    """A large shared mlock of an allocated, uncached file."""

    kernel: str
    fs: str
    size: int
    seconds: float
    dirty_kb: int
    disk: dict
    functions: Counter
    timeline: list = field(default_factory=list)   # samples during the mlock (sample=...)
    meminfo: dict = field(default_factory=dict)    # /proc/meminfo right after it


def shared_mlock(kernel="2.6.38", fs="ext2", size=6 * GiB, ram=8 * GiB, profile="2010",
                 hung_timeout=HUNG_TASK_TIMEOUT, sample=None):
    """mlock a shared writable mapping of a fully allocated file that is not cached.

    functions counts the kernel functions the mlocking process ran.
    sample: seconds between timeline samples of the mlock (None: no timeline).
    """
    m = Machine(kernel=kernel, ram=ram, profile=profile, hung_timeout=hung_timeout)
    m.mkfs("/data", fs=fs, size=size + size // 4)
    p = m.spawn(memlock=UNLIMITED)
    fd = allocated_uncached(m, p, "/data/file", size)
    a = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    if sample:
        m.record_timeline(sample)
    before, t0 = _disk(m), m.now
    p.mlock(a, size)
    events = m.trace.query(pid=p.pid, since=t0)
    info = m.meminfo()
    return MlockTiming(kernel, fs, size, m.now - t0, info["Dirty"], _delta(_disk(m), before),
                       m.trace.counts(events), m.timeline or [], info)


@dataclass
class MemtoySession:
    """A memtoy session on Michel's set-up, and the state it left."""

    kernel: str
    transcript: str                # what memtoy printed, commands echoed
    dirty_kb: int
    mlocked_kb: int
    file_mib: int                  # du of the file: st_blocks in MiB
    free_mib: int                  # free space left on /data
    clock: float                   # simulated seconds since boot at the end


def michels_session(kernel, script, fs="ext2", size=20 * GiB, partition=10 * GiB, ram=24 * GiB,
                    profile="2010", path="/data/hole20G"):
    """Run a memtoy script (19 Nov 2010) against a sparse file of size bytes on a fresh partition.

    The file is made before the session as Michel's dd did (dd if=/dev/zero
    of=/data/hole20G bs=1M seek=20480 count=0); memtoy runs with
    RLIMIT_MEMLOCK unlimited, as root.
    """
    m = Machine(kernel=kernel, ram=ram, profile=profile)
    m.mkfs("/data", fs=fs, size=partition)
    mt = Memtoy(m, m.spawn(memlock=UNLIMITED))
    mt.create_sparse(path, size)
    transcript = mt.run_script(script)
    info, st, vfs = m.meminfo(), m.stat(path), m.statfs("/data")
    return MemtoySession(kernel, transcript, info["Dirty"], info["Mlocked"],
                         st.st_blocks * 512 // MiB, vfs.f_bfree * vfs.f_bsize // MiB, m.now)


@dataclass
class SyncTestResult:
    """Christoph Hellwig's test on one filesystem."""

    kernel: str
    fs: str
    options: str
    passed: bool                   # the data read back after drop_caches
    error: str                     # what msync/fsync reported ("" if nothing)
    blocks_after_mlock_kb: int
    blocks_after_sync_kb: int
    fiemap: list


def mlock_dirty_munlock_sync(kernel="2.6.38", fs="ext4", options="", pages=64,
                             sync="msync", preallocate=False, partition=64 * MiB):
    """mlock a shared mapping, dirty it, munlock, msync or fsync, then check the disk.

    The steps are mmsim.fs_scenarios.mlock_dirty_munlock_sync's (mm/mlock.c,
    mm/msync.c, fs/sync.c: vfs_fsync_range) on /data/f of a fresh machine:
    the data is read back after munmap, close and drop_caches, so only what
    reached the disk counts. An mlock that fails raises.
    """
    if sync not in ("msync", "fsync"):
        raise error(EINVAL, f"sync must be msync or fsync, not {sync!r}")
    m = Machine(kernel=kernel)
    m.mkfs("/data", fs=fs, size=partition, options=options)
    p = m.spawn(memlock=UNLIMITED)
    pattern = [f"page {i:5d} of {kernel} on {fs}".encode() for i in range(pages)]
    r = _christoph(m, p, "/data/f", pattern, syncs=(sync,), preallocate=preallocate)
    reraise(r["mlock"], "mlock")
    failed = r["sync"][sync]
    return SyncTestResult(kernel, fs, options, not r["lost"],
                          os.strerror(getattr(errno, failed)) if failed else "",
                          r["blocks_after_mlock"] // 2, r["blocks_after_sync"] // 2,
                          m.fiemap("/data/f"))


@dataclass
class Xfs166Result:
    """xfstests 166 in the simulator: stores into a preallocated file on XFS."""

    kernel: str
    page_mkwrite: bool
    extents: list                  # (offset, length, unwritten) in bytes
    data_read_back: dict           # offset -> bytes read after drop_caches


def xfs_166(kernel="2.6.38", page_mkwrite=True, size=MiB):
    """Preallocate size bytes on xfs, store at 0, size/2 and size-1 through a shared
    mapping, munmap, fsync; return the extents and what reads back after drop_caches."""
    m = Machine(kernel=kernel)
    m.mkfs("/data", fs="xfs", size=64 * MiB, options="" if page_mkwrite else "no_page_mkwrite")
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.fallocate(fd, 0, 0, size)
    a = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    offsets = (0, size // 2, size - 1)
    for off in offsets:
        p.write(a + off, b"X")
    p.munmap(a, size)
    p.fsync(fd)
    m.drop_caches()
    a = p.mmap(0, size, PROT_READ, MAP_SHARED, fd, 0)
    back = {off: p.read(a + off, 1) for off in offsets}
    ext = [(e.logical, e.length, e.unwritten) for e in m.fiemap("/data/f")]
    return Xfs166Result(kernel, page_mkwrite, ext, back)


@dataclass
class LayoutResult:
    """The layout a way of filling a sparse file leaves on disk."""

    strategy: str
    kernel: str
    fs: str
    extents: int                   # FIEMAP extents (unwritten ones split too)
    fragments: int                 # physically contiguous runs of blocks
    read_seconds: float            # sequential read-back from a cold cache


STRATEGIES = ("random stores", "mlock first", "fallocate first")


def sparse_layout(strategy="random stores", kernel=None, fs="ext4", size=64 * MiB,
                  rounds=16, seed=0, profile="2010"):
    """Fill a sparse file through a locked shared mapping with random stores.

    "random stores": after the patch (2.6.38), mlock allocates nothing and
    blocks are allocated where and when stores land, rounds of random pages
    written back one round at a time. "mlock first": before the patch
    (2.6.37), mlock dirties every page and writeback allocates them in
    order. "fallocate first": preallocate, then the same random stores.
    """
    if strategy not in STRATEGIES:
        raise error(EINVAL, f"strategy must be one of {STRATEGIES}")
    kernel = kernel or ("2.6.37" if strategy == "mlock first" else "2.6.38")
    m = Machine(kernel=kernel, profile=profile)
    m.mkfs("/data", fs=fs, size=4 * size)
    p = m.spawn(memlock=UNLIMITED)
    # another file grows beside ours, as real filesystems are shared
    other = p.open("/data/other", os.O_RDWR | os.O_CREAT)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    if strategy == "fallocate first":
        p.fallocate(fd, 0, 0, size)
    a = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    p.mlock(a, size)
    m.sync()
    npages = size // PAGE_SIZE
    order = list(range(npages))
    random.Random(seed).shuffle(order)
    per_round = -(-npages // rounds)
    grow = 0
    for r in range(rounds):
        for pg in sorted(order[r * per_round:(r + 1) * per_round]):
            p.write(a + pg * PAGE_SIZE, b"data")
        m.sync()
        grow += per_round // 4
        p.fallocate(other, 0, 0, grow * PAGE_SIZE) if m.mounts["/data"].has_fallocate() \
            else None
    lay = m.layout("/data/f")
    return LayoutResult(strategy, kernel, fs, lay["extents"], lay["seeks"], lay["read_seconds"])


@dataclass
class DosResult:
    """What one user's mlock costs another."""

    kernel: str
    memlock_limit: object          # RLIMIT_MEMLOCK of the locking user, bytes or "unlimited"
    locked_bytes: int              # what the locking user managed to lock
    lock_error: str
    first_read_seconds: float      # the other user's first read of its file
    second_read_seconds: float     # and its second: cached, unless RAM was pinned
    second_read_majflt: int
    oom_kills: list


def memlock_dos(kernel="2.6.37", lock=6 * GiB, memlock=UNLIMITED, ram=8 * GiB,
                file_size=3 * GiB, profile="2010"):
    """User A mlocks lock bytes of anonymous memory; user B reads a file twice."""
    m = Machine(kernel=kernel, ram=ram, profile=profile)
    m.mkfs("/data", fs="ext4", size=file_size + GiB)
    b = m.spawn()
    fd = allocated_uncached(m, b, "/data/f", file_size)
    a = m.spawn(memlock=memlock)
    locked, err = 0, ""
    if lock:
        y = a.mmap(0, lock, RW, MAP_PRIVATE | MAP_ANONYMOUS)
        try:
            a.mlock(y, lock)
            locked = lock
        except OSError as e:
            err = os.strerror(e.errno)
    times = []
    for _ in range(2):
        x = b.mmap(0, file_size, PROT_READ, MAP_SHARED, fd, 0)
        maj = b.getrusage().ru_majflt
        times.append(b.touch(x, file_size).seconds)
        b.munmap(x, file_size)
    limit = "unlimited" if memlock[0] == RLIM_INFINITY else memlock[0]
    return DosResult(kernel, limit, locked, err, times[0], times[1],
                     b.getrusage().ru_majflt - maj, list(m.oom_kills))


__all__ = ["memtoy_hole20g", "shared_mlock", "michels_session", "mlock_dirty_munlock_sync", "xfs_166",
           "sparse_layout", "memlock_dos", "STRATEGIES"]
