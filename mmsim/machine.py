"""The simulated machine: clock, RAM, disks and mounts, kernel version, processes.

Machine is the object a chapter starts from (DESIGN.md section 2):

    m = mmsim.Machine(kernel="2.6.37", ram=24 * GiB, profile="2010")
    m.mkfs("/data", fs="ext2", size=10 * GiB)
    p = m.spawn()
"""

from dataclasses import dataclass
import os

import numpy as np

from . import kernels, profiles
from ._abi import GiB, PAGE_SHIFT, PAGE_SIZE
from .block.disk import Disk
from .contents import Contents
from .errors import EBUSY, EINVAL, ENOENT, ENOTDIR, as_seconds, error
from .fs import fs_type
from .fs.inode import B_DELAY, B_UNWRITTEN, HOLE
from .fs.proc import meminfo
from .fs.shmem import Shmem
from .mm.filemap import PG_DIRTY, PG_ERROR, PG_UPTODATE, PG_WRITEBACK
from .mm.memory import zap_pte_range
from .mm.page_alloc import AnonPages
from .fs.fs_writeback import Flusher
from .mm.page_writeback import (HUNG_TASK_TIMEOUT, WbResult, Writeback, filemap_check_errors,
                                write_cache_pages)
from .mm.vmstat import VmStat
from .process import File, Process
from .trace import Trace


@dataclass(frozen=True)
class StatResult:
    """What stat(2) says of a file (the fields the book uses)."""

    st_ino: int
    st_size: int
    st_blocks: int
    st_blksize: int
    st_nlink: int
    st_mode: int


@dataclass(frozen=True)
class Extent:
    """One FIEMAP extent: byte offsets and length, and its state."""

    logical: int
    physical: int
    length: int
    unwritten: bool
    delalloc: bool


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
        self.now = 0.0
        self.trace = Trace()
        self.vmstat = VmStat()
        self.anon = AnonPages(self.vmstat)
        self.contents = Contents()
        self.wb = Writeback(self)
        self.wb.hung_timeout = as_seconds(hung_timeout, "hung_timeout", positive=True)
        self.mounts = {}
        self.procs = {}
        self.oom_kills = []          # (time, pid, rss kB) of every OOM kill
        self.timeline = None         # samples, once record_timeline() is called
        self._next_pid = 1000
        self._anon_vmas = 0
        self._shmem = Shmem(self, "/dev/shm", 0)
        self._shmem_files = 0

    def __repr__(self):
        return (f"<Machine kernel={self.kernel.version} profile={self.profile.name} "
                f"ram={self.ram_pages >> (30 - PAGE_SHIFT)}GiB now={self.now:.6f}s>")

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
        sb = fs_type(fs, self.kernel)(self, path, size, opts)
        sb.flusher = Flusher(self, sb)
        self.mounts[path] = sb
        return sb

    def new_disk(self, nblocks):
        """Return a disk of nblocks blocks with this machine's profile."""
        return Disk(nblocks, self.profile.disk_bandwidth, self.profile.disk_seek)

    def spawn(self, memlock=None, caps=()):
        """Start a process: memlock (soft, hard) defaults to the kernel's default."""
        if memlock is None:
            memlock = (self.kernel.default_memlock,) * 2
        p = Process(self, self._next_pid, memlock, caps)
        self._next_pid += 1
        self.procs[p.pid] = p
        return p

    def new_anon_vma(self):
        """Return a fresh anon_vma identity (mm/rmap.c anon_vma_prepare)."""
        self._anon_vmas += 1
        return self._anon_vmas

    def shmem_file(self, length):
        """Back a MAP_SHARED|MAP_ANONYMOUS mapping with a new shmem file (shmem_zero_setup)."""
        self._shmem_files += 1
        inode = self._shmem.lookup(f"dev/zero#{self._shmem_files}", create=True)
        inode.resize(length >> PAGE_SHIFT)
        inode.size = length
        return File(inode, "/dev/zero (deleted)", True, True)

    def shmem_evict(self, inode):
        """Free a shmem file whose last mapping went away (shmem_evict_inode)."""
        n = len(inode.mapping.flags)
        inode.mapping.remove(slice(0, n))
        del self._shmem.inodes[inode.name]

    # -- paths -------------------------------------------------------------------
    def resolve(self, path):
        """Return (superblock, name in it) for a path (fs/namei.c, one level deep)."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise error(ENOENT, f"{path!r}")
        best = max((mp for mp in self.mounts if path == mp or path.startswith(mp + "/")),
                   key=len, default=None)
        if best is None:
            raise error(ENOENT, f"{path}: no filesystem mounted there")
        name = path[len(best):].strip("/")
        if "/" in name:
            raise error(ENOTDIR, f"{path}: the simulated filesystems have no directories")
        return self.mounts[best], name

    def all_inodes(self):
        """Every inode of every filesystem, shmem included."""
        for sb in list(self.mounts.values()) + [self._shmem]:
            yield from sb.inodes.values()

    # -- what the processes' calls need ---------------------------------------------
    def charge(self, proc, res, op, start, end):
        """Account a FaultResult: advance the clock, count faults, log the paths."""
        t = self.now
        for path, n in res.paths.items():
            self.trace.record(t, proc.pid, op, path, start, end, n)
        proc.minflt += res.minflt
        proc.majflt += res.majflt
        self.advance(t + res.seconds)

    def charge_pages(self, proc, op, path, start, end, pages, seconds):
        """Account work on pages that was not a fault (mlock_vma_page ...)."""
        self.trace.record(self.now, proc.pid, op, path, start, end, pages)
        self.advance(self.now + seconds)

    # -- time and writeback ---------------------------------------------------------
    def advance(self, t):
        """Move the clock to t, letting the flusher threads work meanwhile.

        With a timeline recording, a sample is taken at every interval
        boundary passed on the way, however long the step.
        """
        while self.timeline is not None and self._next_sample <= t:
            self._step(self._next_sample)
            self._sample()
        self._step(t)

    def _step(self, t):
        if t > self.now:
            self.flush_until(t)
            self.now = t
        self.wb.nr_writeback(self.now)

    def record_timeline(self, interval=1.0):
        """Sample the dirty-page state and disk traffic every interval simulated seconds.

        Samples go to m.timeline, a list of dicts (the views in widgets/ draw
        them): t, dirty_kb, writeback_kb, mlocked_kb, the dirty limits
        (background_thresh_kb, dirty_thresh_kb), free_blocks per mount, and
        the disks' cumulative read_bytes and write_bytes.
        """
        self._interval = as_seconds(interval, "timeline interval", positive=True)
        self.timeline = []
        self._next_sample = self.now
        self._sample()

    def _sample(self):
        vs = self.vmstat
        bg, thresh = self.wb.global_dirty_limits()
        kb = PAGE_SIZE // 1024
        self.timeline.append({
            "t": self.now, "dirty_kb": vs.nr_file_dirty * kb, "writeback_kb": vs.nr_writeback * kb,
            "mlocked_kb": (vs.nr_mlock_file + self.anon.nr_mlocked()) * kb,
            "background_thresh_kb": bg * kb, "dirty_thresh_kb": thresh * kb,
            "free_blocks": {mp: int(sb.free_blocks()) for mp, sb in self.mounts.items()},
            "read_bytes": sum(sb.disk.counters["read_bytes"] for sb in self.mounts.values()),
            "write_bytes": sum(sb.disk.counters["write_bytes"] for sb in self.mounts.values()),
        })
        self._next_sample = self.now + self._interval

    def flush_until(self, t):
        """Run every flusher thread up to time t."""
        for sb in self.mounts.values():
            sb.flusher.run_until(t)

    def kick_flushers(self):
        """Start background writeback on every disk (bdi_start_background_writeback)."""
        for sb in self.mounts.values():
            sb.flusher.kick()

    def writeback_inodes(self, nr_to_write, at, proc=None, op="writeback"):
        """Write back up to nr_to_write pages, oldest dirty inode first (writeback_inodes_wb).

        What a 2.6.37 task throttled in balance_dirty_pages does itself.
        """
        res = WbResult(done=at)
        inodes = sorted((i for i in self.all_inodes()
                         if i.mapping.ndirty and i.dirtied_when is not None),
                        key=lambda i: (i.dirtied_when, i.ino))
        for inode in inodes:
            r = write_cache_pages(self, inode, at, nr_to_write=nr_to_write - res.written)
            res.add(r)
            if res.written >= nr_to_write or r.failed:
                break
        if proc is not None and res.written + res.failed:
            self.trace.record(at, proc.pid, op,
                              (kernels.fname(self.kernel, "balance_dirty_pages"),
                               "writeback_inodes_wb", "write_cache_pages"),
                              0, 0, res.written + res.failed)
        return res

    def write_bandwidth_pages(self):
        """Pages per second the busiest dirty disk writes (bdi->write_bandwidth)."""
        bws = [sb.disk.bandwidth for sb in self.mounts.values()
               if any(i.mapping.ndirty for i in sb.inodes.values())]
        return max(bws or [sb.disk.bandwidth for sb in self.mounts.values()] or [1e8]) / PAGE_SIZE

    def pages_lost(self):
        """Pages whose writeback failed and that are clean now: their data is only in RAM."""
        n = 0
        for inode in self.all_inodes():
            f = inode.mapping.flags
            n += int(np.count_nonzero((f & (PG_ERROR | PG_DIRTY)) == PG_ERROR))
        return n

    def mark_inode_dirty(self, inode):
        """Note when the inode's first dirty page appeared (__mark_inode_dirty)."""
        if inode.dirtied_when is None:
            inode.dirtied_when = self.now

    def do_truncate(self, inode, size):
        """Change a file's size (do_truncate -> ->setattr)."""
        inode.sb.truncate(inode, size)

    def truncate_pagecache(self, inode, npages):
        """Unmap and drop every cached page from npages on (mm/truncate.c truncate_pagecache).

        PTEs past the new end go away too, COWed private copies included, so
        a later access gets SIGBUS.
        """
        for vma in inode.mmaps:
            lo = max(npages - vma.pgoff, 0)
            if lo < vma.npages:
                zap_pte_range(self, vma, lo, vma.npages)
        n = len(inode.mapping.flags)
        if npages < n:
            inode.mapping.remove(slice(npages, n))

    def punch_pagecache(self, inode, start, end):
        """Zero the cached bytes of [start, end) and drop the whole pages (truncate_pagecache_range)."""
        first, last = start >> PAGE_SHIFT, -(-end // PAGE_SIZE)
        mp = inode.mapping
        for pg in {first, last - 1}:
            page_start = pg * PAGE_SIZE
            if pg < len(mp.flags) and mp.flags[pg] & PG_UPTODATE and (
                    start > page_start or end < page_start + PAGE_SIZE):
                lo = max(start, page_start) - page_start
                hi = min(end, page_start + PAGE_SIZE) - page_start
                mp.data[pg] = self.contents.patch(mp.data[pg], lo, bytes(hi - lo))
        wfirst, wlast = -(-start // PAGE_SIZE), end >> PAGE_SHIFT
        if wfirst < wlast:
            for vma in inode.mmaps:
                lo, hi = max(wfirst - vma.pgoff, 0), min(wlast - vma.pgoff, vma.npages)
                if lo < hi:
                    zap_pte_range(self, vma, lo, hi)
            mp.remove(slice(wfirst, min(wlast, len(mp.flags))))

    def fsync_inode(self, proc, inode, first, last, op):
        """Write back dirty pages of [first, last) and wait (vfs_fsync_range).

        Raise OSError with the writeback error (ENOSPC ...) if one is pending.
        """
        res = write_cache_pages(self, inode, self.now, first=first, last=last, sync=True)
        if res.written or res.failed:
            self.trace.record(self.now, proc.pid, op,
                              ("vfs_fsync_range", "write_cache_pages",
                               kernels.fname(self.kernel, "clear_page_dirty_for_io")),
                              first * PAGE_SIZE,
                              (inode.npages if last is None else last) * PAGE_SIZE,
                              res.written + res.failed)
        self.advance(res.done)
        err = filemap_check_errors(inode.mapping)
        if err:
            raise error(err, f"{op}: writeback of {inode.name} failed")

    # -- state, as the stat calls and /proc show it --------------------------------------
    def _inode(self, path):
        sb, name = self.resolve(path)
        if not name:
            raise error(EINVAL, f"{path} is a mount point")
        return sb.lookup(name)

    def stat(self, path):
        """stat(2): size and st_blocks (512-byte units, reservations included)."""
        inode = self._inode(path)
        return StatResult(inode.ino, inode.size, inode.blocks_512(), PAGE_SIZE,
                          inode.nlink, 0o100644)

    def statfs(self, path):
        """statvfs(3), as os.statvfs returns it."""
        sb, _ = self.resolve(path)
        bsize, blocks, bfree, bavail = sb.statfs()
        return os.statvfs_result((bsize, bsize, blocks, bfree, bavail,
                                  1 << 20, (1 << 20) - len(sb.inodes),
                                  (1 << 20) - len(sb.inodes), 0, 255))

    def fiemap(self, path):
        """The file's extents in offset order, as FS_IOC_FIEMAP reports them."""
        inode = self._inode(path)
        n = inode.npages
        block, state = inode.block[:n], inode.bstate[:n]
        mapped = (block != HOLE) | ((state & B_DELAY) != 0)
        idx = np.flatnonzero(mapped)
        if len(idx) == 0:
            return []
        unwritten = (state[idx] & B_UNWRITTEN) != 0
        delalloc = block[idx] == HOLE
        phys = np.where(delalloc, 0, block[idx])
        brk = np.flatnonzero((np.diff(idx) != 1) | (np.diff(unwritten) != 0)
                             | (np.diff(delalloc) != 0)
                             | ((np.diff(phys) != 1) & ~delalloc[1:])) + 1
        starts = np.concatenate([[0], brk])
        ends = np.concatenate([brk, [len(idx)]])
        return [Extent(int(idx[s]) * PAGE_SIZE, int(phys[s]) * PAGE_SIZE,
                       int(e - s) * PAGE_SIZE, bool(unwritten[s]), bool(delalloc[s]))
                for s, e in zip(starts, ends)]

    def layout(self, path):
        """The file's on-disk layout: extents, and the time to read it back cold.

        What filefrag shows, plus the simulated seconds a sequential read of
        the whole file from a cold cache costs on its disk (one seek per
        discontiguity, holes cost nothing), without touching the disk's state.
        """
        inode = self._inode(path)
        blocks = inode.block[:inode.npages]
        blocks = blocks[blocks >= 0]
        disk = inode.sb.disk
        seeks = int(np.count_nonzero(np.diff(blocks) != 1)) + (1 if len(blocks) else 0)
        return {"extents": len(self.fiemap(path)), "blocks": len(blocks), "seeks": seeks,
                "read_seconds": seeks * disk.seek + len(blocks) * PAGE_SIZE / disk.bandwidth}

    def meminfo(self):
        """/proc/meminfo in kB."""
        return meminfo(self)

    # -- time and whole-machine operations ---------------------------------------------
    def sleep(self, duration):
        """Let simulated time pass."""
        self.advance(self.now + as_seconds(duration, "sleep"))

    def sync(self):
        """sync(2): write back every dirty page of every filesystem and wait."""
        done = self.now
        for sb in self.mounts.values():
            for inode in sb.inodes.values():
                done = max(done, write_cache_pages(self, inode, self.now, sync=True).done)
        self.advance(done)

    def drop_caches(self):
        """echo 1 > /proc/sys/vm/drop_caches: drop clean, unmapped page-cache pages.

        fs/drop_caches.c -> invalidate_mapping_pages: dirty, under writeback,
        mapped (hence mlocked) and shmem pages stay.
        """
        dropped = 0
        for sb in self.mounts.values():
            for inode in sb.inodes.values():
                mp = inode.mapping
                n = len(mp.flags)
                if mp.nrpages == 0:
                    continue
                drop = np.flatnonzero(((mp.flags[:n] & (PG_UPTODATE | PG_DIRTY | PG_WRITEBACK))
                                       == PG_UPTODATE) & (mp.mapcount[:n] == 0))
                dropped += mp.remove(drop)
        return dropped
