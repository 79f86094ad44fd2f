"""The simulated machine: clock, RAM, disks and mounts, kernel version, processes.

Machine is the object a chapter starts from (DESIGN.md section 2):

    m = mmsim.Machine(kernel="2.6.37", ram=24 * GiB, profile="2010")
    m.mkfs("/data", fs="ext2", size=10 * GiB)
    p = m.spawn()
"""

import os
from collections import Counter

import numpy as np

from . import kernels, profiles
from ._abi import GiB, PAGE_SHIFT, PAGE_SIZE
from .contents import Contents
from .clock import OBSERVE, Clock
from .errors import EBUSY, EINVAL, as_seconds, error
from .fs import fs_type
from .fs.drop_caches import drop_pagecache
from .fs.namei import lookup_inode, path_lookup
from .fs.sync import ksys_sync
from .flags import B_DELAY, B_UNWRITTEN, HOLE, PG_DIRTY, PG_ERROR
from .fs.proc import meminfo, task_rss
from .mm.page_alloc import AnonPages
from .mm.page_writeback import HUNG_TASK_TIMEOUT, Writeback
from .mm.shmem import Shmem
from .mm.vmstat import VmStat
from .process import Process
from .results import Extent, StatResult
from .trace import Trace


class Machine:
    """A computer running one simulated kernel version."""

    def __init__(self, kernel="6.18", ram=24 * GiB, profile="modern", seed=0, ncpus=4,
                 hung_timeout=HUNG_TASK_TIMEOUT):
        """hung_timeout: simulated seconds a throttled task may see no page
        reach the disk before mmsim.Hung is raised (kernel.hung_task_timeout_secs)."""
        self.kernel = kernels.get(kernel)
        self.profile = profiles.get(profile)
        ram = int(ram)
        if ram < 16 * 1024 * 1024:
            raise error(EINVAL, f"ram must be at least 16 MiB, not {ram}")
        self.ram_pages = ram >> PAGE_SHIFT
        self.seed = int(seed)
        self.ncpus = max(1, int(ncpus))
        self.clock = Clock()
        self.trace = Trace()
        self.vmstat = VmStat()
        self.anon = AnonPages(self.vmstat)
        self.contents = Contents()
        self.wb = Writeback(self, as_seconds(hung_timeout, "hung_timeout", positive=True))
        self.mounts = {}
        self.procs = {}
        self.oom_kills = []          # (time, pid, rss kB) of every OOM kill
        self.lost = Counter()        # kernel function -> pages whose data it lost (losses.py)
        self.lost_pages = Counter()  # (path, page index) -> times its data was lost
        self.timeline = None         # samples, once record_timeline() is called
        self.nr_anon_vmas = 0        # anon_vma identities handed out
        self._next_pid = 1000
        self.shm_mnt = Shmem(self)

    def __repr__(self):
        return (f"<Machine kernel={self.kernel.version} profile={self.profile.name} "
                f"ram={self.ram_pages >> (30 - PAGE_SHIFT)}GiB now={self.now:.6f}s>")

    @property
    def now(self):
        """Simulated seconds since boot."""
        return self.clock._now          # Clock.now, one property less on a hot path

    # -- set-up ----------------------------------------------------------------
    def mkfs(self, path, fs="ext4", size=10 * GiB, options=""):
        """Make a filesystem of size bytes on a fresh disk and mount it at path."""
        if not isinstance(path, str) or not path.startswith("/") or path == "/":
            raise error(EINVAL, f"mount point must be an absolute path, not {path!r}")
        path = path.rstrip("/")
        if path in self.mounts:
            raise error(EBUSY, f"{path} is already mounted")
        size = int(size)
        if size < 16 * PAGE_SIZE:
            raise error(EINVAL, f"filesystem size {size} is too small")
        opts = [o for o in options.split(",") if o] if isinstance(options, str) else list(options)
        sb = fs_type(fs, self.kernel, opts)(self, path, size, opts)
        self.mounts[path] = sb
        return sb

    def spawn(self, memlock=None, caps=()):
        """Start a process: memlock (soft, hard) defaults to the kernel's default."""
        if memlock is None:
            memlock = (self.kernel.default_memlock,) * 2
        p = Process(self, self._next_pid, memlock, caps)
        self._next_pid += 1
        self.procs[p.pid] = p
        return p

    # -- time --------------------------------------------------------------------------
    def sleep(self, duration):
        """Let simulated time pass: the flushers, kupdate and I/O completions run."""
        self.clock.run_until(self.now + as_seconds(duration, "sleep"))

    def record_timeline(self, interval=1.0, procs=False):
        """Sample the dirty-page state and disk traffic every interval simulated seconds.

        Samples go to m.timeline, a list of dicts (the views in widgets/ draw
        them): t, dirty_kb, writeback_kb, mlocked_kb, the dirty limits
        (background_thresh_kb, dirty_thresh_kb), free_blocks per mount, and
        the disks' cumulative read_bytes and write_bytes; free_kb, cached_kb
        and anon_kb (MemFree, Cached and AnonPages of /proc/meminfo). With
        procs, also "procs": {pid: rss_kb, anon_kb, locked_kb, majflt} for
        every live process (fs/proc.py task_rss). Each sample is an
        event on the clock, taken after everything else due at its time.
        """
        interval = as_seconds(interval, "timeline interval", positive=True)
        self.timeline = []

        def sample():
            self.timeline.append(self._sample(procs))
            self.clock.schedule(self.now + interval, sample, OBSERVE)
        sample()

    def _sample(self, procs=False):
        vs = self.vmstat
        bg, thresh = self.wb.global_dirty_limits()
        kb = PAGE_SIZE // 1024
        disks = [sb.disk.counters for sb in self.mounts.values()]
        out = {
            "t": self.now, "dirty_kb": vs.nr_file_dirty * kb, "writeback_kb": vs.nr_writeback * kb,
            "mlocked_kb": (vs.nr_mlock_file + self.anon.nr_mlocked()) * kb,
            "background_thresh_kb": bg * kb, "dirty_thresh_kb": thresh * kb,
            "free_blocks": {mp: int(sb.free_blocks()) for mp, sb in self.mounts.items()},
            "read_bytes": sum(c["read_bytes"] for c in disks),
            "write_bytes": sum(c["write_bytes"] for c in disks),
            "free_kb": (self.ram_pages - vs.nr_file_pages - vs.nr_anon_pages) * kb,
            "cached_kb": vs.nr_file_pages * kb, "anon_kb": vs.nr_anon_pages * kb,
        }
        if procs:
            out["procs"] = {pid: task_rss(p) for pid, p in self.procs.items() if p.alive}
        return out

    # -- whole-machine operations ---------------------------------------------------------
    def sync(self):
        """sync(2): write back every dirty page of every filesystem and wait."""
        ksys_sync(self)

    def drop_caches(self):
        """echo 1 > /proc/sys/vm/drop_caches; return the pages dropped."""
        return drop_pagecache(self)

    def pages_lost(self):
        """Pages whose writeback failed and that are clean now: their data is only in RAM.

        They are lost when they leave the page cache; m.lost counts those,
        by the kernel function that dropped them (mmsim/losses.py).
        """
        n = 0
        for sb in self.mounts.values():
            for inode in sb.inodes.values():
                f = inode.mapping.flags
                n += int(np.count_nonzero((f & (PG_ERROR | PG_DIRTY)) == PG_ERROR))
        return n

    # -- state, as the stat calls and /proc show it --------------------------------------
    def stat(self, path):
        """stat(2): size, st_blocks (512-byte units, reservations included) and the
        times, in simulated seconds since boot (st_mtime) and nanoseconds (st_mtime_ns)."""
        inode = lookup_inode(self, path)
        return StatResult(inode.ino, inode.size, inode.blocks_512(), PAGE_SIZE,
                          inode.nlink, 0o100644, inode.atime_ns, inode.mtime_ns, inode.ctime_ns)

    def statfs(self, path):
        """statvfs(3), as os.statvfs returns it."""
        sb, _ = path_lookup(self, path)
        bsize, blocks, bfree, bavail = sb.statfs()
        return os.statvfs_result((bsize, bsize, blocks, bfree, bavail,
                                  1 << 20, (1 << 20) - len(sb.inodes),
                                  (1 << 20) - len(sb.inodes), 0, 255))

    def fiemap(self, path):
        """The file's extents in offset order, as FS_IOC_FIEMAP reports them."""
        idx, phys, unwritten, delalloc, starts, ends = _fiemap_runs(lookup_inode(self, path))
        return [Extent(int(idx[s]) * PAGE_SIZE, int(phys[s]) * PAGE_SIZE,
                       int(e - s) * PAGE_SIZE, bool(unwritten[s]), bool(delalloc[s]))
                for s, e in zip(starts, ends)]

    def layout(self, path):
        """The file's on-disk layout: extents, and the time to read it back cold.

        What filefrag shows, plus the simulated seconds a sequential read of
        the whole file from a cold cache costs on its disk (one seek per
        discontiguity, holes cost nothing), without touching the disk's state.
        Per page of the file, copies: "block", the disk block (-1 for a hole
        or a delalloc reservation), and "allocated_at", the simulated time
        the filesystem allocated it (NaN for none), which no kernel records.
        """
        inode = lookup_inode(self, path)
        per_page = inode.block[:inode.npages].astype(np.int64)
        blocks = per_page[per_page >= 0]
        disk = inode.sb.disk
        seeks = int(np.count_nonzero(np.diff(blocks) != 1)) + (1 if len(blocks) else 0)
        return {"extents": len(_fiemap_runs(inode)[4]), "blocks": len(blocks), "seeks": seeks,
                "read_seconds": seeks * disk.seek + len(blocks) * PAGE_SIZE / disk.bandwidth,
                "block": per_page, "allocated_at": inode.allocation_times()}

    def meminfo(self):
        """/proc/meminfo in kB."""
        return meminfo(self)


def _fiemap_runs(inode):
    """The pages FIEMAP maps and where its extents start and end among them.

    Return (page index, physical block, unwritten, delalloc) per mapped page
    (allocated or reserved), and the (starts, ends) of the runs that are one
    extent: contiguous in the file and on disk, of one kind.
    """
    n = inode.npages
    block, state = inode.block[:n], inode.bstate[:n]
    idx = np.flatnonzero((block != HOLE) | ((state & B_DELAY) != 0))
    unwritten = (state[idx] & B_UNWRITTEN) != 0
    delalloc = block[idx] == HOLE
    phys = np.where(delalloc, 0, block[idx])
    if len(idx) == 0:
        return idx, phys, unwritten, delalloc, idx, idx
    brk = np.flatnonzero((np.diff(idx) != 1) | (np.diff(unwritten) != 0)
                         | (np.diff(delalloc) != 0)
                         | ((np.diff(phys) != 1) & ~delalloc[1:])) + 1
    return (idx, phys, unwritten, delalloc, np.concatenate([[0], brk]),
            np.concatenate([brk, [len(idx)]]))
