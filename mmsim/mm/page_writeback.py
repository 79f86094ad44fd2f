"""Dirty limits, throttling of dirtying tasks, and writing pages back
(mm/page-writeback.c: global_dirty_limits, balance_dirty_pages,
write_cache_pages, clear_page_dirty_for_io, set_page_writeback,
end_page_writeback).

A dirty page is cleaned before its I/O starts: every PTE that maps it is
write-protected and cleaned (page_mkclean), so the next store faults again.
From submission until its write completes the page carries PG_writeback
(counted in NR_WRITEBACK); the completion is an event on the machine's
clock. Reclaim and drop_caches leave such a page alone, and background
writeback skips it even if it was dirtied again meanwhile. The filesystem
chooses where a page goes and submits the I/O (fs/super.py). A page it
cannot place (ENOSPC on ext2 and ext3, which allocate only here) is cleaned
all the same with PG_error set and the error kept for the next fsync or
msync (fs/buffer.c __block_write_full_page, "recover:"): its data now lives
only in the page cache, and is lost when the page is dropped.
"""

import heapq

import numpy as np

from .._abi import PAGE_SIZE
from ..clock import IRQ
from ..errors import ENOSPC, Hung
from ..flags import PG_ERROR, PG_MKWRITE, PG_WRITEBACK
from ..kernels import fname
from .rmap import page_mkclean

MAX_WRITEBACK_PAGES = 1024     # fs/fs-writeback.c: pages per writeback pass (4 MiB)
RATELIMIT_MAX = 1024           # mm/page-writeback.c: ratelimit_pages, at most 4 MiB
RATELIMIT_EXCEEDED = 8         # balance_dirty_pages_ratelimited_nr once dirty_exceeded
MAX_PAUSE = 0.2                # IO-less throttling (3.2+): at most HZ/5 per sleep
HUNG_TASK_TIMEOUT = 120.0      # kernel.hung_task_timeout_secs, the default


class WbResult:
    """What one writeback pass did."""

    __slots__ = ("written", "failed", "done")

    def __init__(self, written=0, failed=0, done=0.0):
        self.written, self.failed, self.done = written, failed, done

    def add(self, other):
        self.written += other.written
        self.failed += other.failed
        self.done = max(self.done, other.done)


def write_cache_pages(m, inode, nr_to_write=None, first=0, last=None, sync=False):
    """Write back dirty pages of inode, submitting the I/O now (mm/page-writeback.c).

    Background writeback (sync=False) takes up to nr_to_write pages from the
    mapping's writeback_index on, cyclically, skipping pages still under
    writeback; integrity writeback (fsync, msync) takes every dirty page in
    [first, last). Each page is cleaned (clear_page_dirty_for_io) and handed
    to the filesystem's ->writepages, which places and submits it. A
    ->writepage failure stops the pass at that page (2.6.37 in every mode;
    today only background writeback stops). Return a WbResult with the time
    the last write completes.
    """
    at = m.now
    mapping = inode.mapping
    if mapping.ndirty == 0:
        return WbResult(done=at)
    if sync:
        pgs = mapping.dirty_pages(first, last)
    else:
        pgs = mapping.next_dirty(mapping.writeback_index, nr_to_write, skip_writeback=True)
        if len(pgs) > 1 and pgs[-1] < pgs[0]:       # wrapped around the end
            pgs = np.sort(pgs)
    if len(pgs) == 0:
        return WbResult(done=at)
    written, convert = inode.sb.map_blocks(inode, pgs)
    if not written.all() and not (sync and m.kernel.sync_writeback_continues):
        k = int(np.argmin(written)) + 1      # pages up to the first failure
        pgs, written, convert = pgs[:k], written[:k], convert[:k]
    clear_page_dirty_for_io(m, inode, pgs)
    ok = pgs if written.all() else pgs[written]
    done = inode.sb.submit_write(inode, ok, pgs[written & convert], at)
    mapping.flags[ok] &= ~np.uint8(PG_MKWRITE)
    nfailed = len(pgs) - len(ok)
    if nfailed:
        mapping.flags[pgs[~written]] |= PG_ERROR
        mapping.wb_err = ENOSPC
    mapping.writeback_index = int(pgs[-1]) + 1
    if mapping.ndirty == 0:
        inode.dirtied_when = None
    if len(ok):
        m.wb.set_page_writeback(mapping, ok, done)
        m.wb.last_written = max(m.wb.last_written, at)
    return WbResult(len(ok), nfailed, done)


def clear_page_dirty_for_io(m, inode, pgs):
    """Write-protect every PTE of pages pgs and clear PG_dirty (mm/page-writeback.c)."""
    page_mkclean(inode, pgs)
    inode.mapping.clear_dirty(pgs)


def filemap_check_errors(mapping):
    """Return and clear the writeback error the mapping recorded, 0 if none (mm/filemap.c)."""
    err, mapping.wb_err = mapping.wb_err, 0
    return err


class Writeback:
    """The machine's dirty-page policy: limits, throttling, pages in flight.

    The vm.dirty_* sysctls are attributes, with the defaults of then and now.
    """

    def __init__(self, m, hung_timeout=HUNG_TASK_TIMEOUT):
        self.m = m
        self.dirty_ratio = 20                 # vm.dirty_ratio
        self.dirty_background_ratio = 10      # vm.dirty_background_ratio
        self.dirty_expire = 30.0              # vm.dirty_expire_centisecs / 100
        self.dirty_writeback_interval = 5.0   # vm.dirty_writeback_centisecs / 100
        self.hung_timeout = hung_timeout      # kernel.hung_task_timeout_secs
        self.dirty_exceeded = False           # bdi->dirty_exceeded
        self.last_written = 0.0               # last time a page reached the disk
        self._completions = []                # completion times of writes in flight

    # -- pages in flight ------------------------------------------------------------
    def set_page_writeback(self, mapping, pgs, done):
        """Put pages pgs under writeback until their write completes at done.

        set_page_writeback now; end_page_writeback is scheduled on the clock
        as the request's completion.
        """
        mapping.flags[pgs] |= PG_WRITEBACK
        self.m.vmstat.nr_writeback += len(pgs)
        heapq.heappush(self._completions, done)
        self.m.clock.schedule(done, lambda: self.end_page_writeback(mapping, pgs), IRQ)

    def end_page_writeback(self, mapping, pgs):
        """The write of pages pgs completed: clear PG_writeback (end_page_writeback)."""
        mapping.flags[pgs] &= ~np.uint8(PG_WRITEBACK)
        self.m.vmstat.nr_writeback -= len(pgs)
        heapq.heappop(self._completions)

    def next_completion(self):
        """When the next write in flight completes (None if none is)."""
        return self._completions[0] if self._completions else None

    # -- limits --------------------------------------------------------------------------
    def global_dirty_limits(self):
        """Return (background_thresh, dirty_thresh) in pages (global_dirty_limits).

        Dirtyable memory is free pages plus the file LRU (determine_dirtyable_memory):
        mlocked pages are on the unevictable list and do not count, so the
        limits shrink as an mlock proceeds. No swap, so anonymous pages do
        not count either.
        """
        vs = self.m.vmstat
        free = self.m.ram_pages - vs.nr_file_pages - vs.nr_anon_pages
        dirtyable = max(free, 0) + max(vs.nr_file_pages - vs.nr_shmem - vs.nr_mlock_file, 0) + 1
        background = dirtyable * self.dirty_background_ratio // 100
        dirty = dirtyable * self.dirty_ratio // 100
        if background >= dirty:
            background = dirty // 2
        return background, dirty

    def ratelimit(self):
        """Pages a task may dirty between two balance_dirty_pages calls."""
        if self.dirty_exceeded:
            return RATELIMIT_EXCEEDED
        return max(16, min(RATELIMIT_MAX, self.m.ram_pages // (self.m.ncpus * 32)))

    def write_bandwidth_pages(self):
        """Pages per second the busiest dirty disk writes (bdi->write_bandwidth)."""
        mounts = self.m.mounts.values()
        bws = [sb.disk.bandwidth for sb in mounts
               if any(i.mapping.ndirty for i in sb.inodes.values())]
        return max(bws or [sb.disk.bandwidth for sb in mounts] or [1e8]) / PAGE_SIZE

    # -- throttling --------------------------------------------------------------
    def balance_dirty_pages_ratelimited(self, proc, bdi, nr_dirtied):
        """Count pages a task dirtied on bdi; every ratelimit pages, throttle it.

        bdi is the backing device of the mapping dirtied (its BdiWriteback,
        fs/fs_writeback.py), whose inodes a 2.6.37 task writes back itself
        and whose flusher it wakes.
        """
        proc.nr_dirtied += nr_dirtied
        if proc.nr_dirtied >= self.ratelimit():
            dirtied, proc.nr_dirtied = proc.nr_dirtied, 0
            if self.m.kernel.io_less_throttling:
                self._balance_io_less(proc, bdi, dirtied)
            else:
                self._balance_2637(proc, bdi, dirtied)

    def _state(self):
        vs = self.m.vmstat
        bg, thresh = self.global_dirty_limits()
        return bg, thresh, vs.nr_file_dirty, vs.nr_writeback

    def _sleep(self, proc, seconds):
        """Sleep uninterruptibly in balance_dirty_pages (io_schedule_timeout).

        The hung-task detector watches the sleep; raise the Hung it flags.
        """
        proc.throttled = True
        self._arm_hung_check(proc)
        self.m.clock.run_until(self.m.now + seconds)
        proc.throttled = False
        if proc.hung is not None:
            raise proc.hung

    def _arm_hung_check(self, proc):
        """Schedule the hung-task check for a throttled task (kernel/hung_task.c).

        A task counts as hung once it has seen no page reach the disk for
        hung_timeout, counted from the later of the last page written and
        the start of its current call: it may leave and re-enter the
        throttle (cleaning a page at a time by failed writeback) and still
        make no real progress, as the thread's mlock that "never terminates".
        """
        if proc.hung_check is not None:
            return
        deadline = max(proc.call_start, self.last_written) + self.hung_timeout
        proc.hung_check = self.m.clock.schedule(deadline, lambda: self._hung_check(proc))

    def _hung_check(self, proc):
        """check_hung_uninterruptible_tasks for one task: flag it, or look again later."""
        proc.hung_check = None
        if not proc.throttled or not proc.alive:
            return
        base = max(proc.call_start, self.last_written)
        if self.m.now < base + self.hung_timeout:
            self._arm_hung_check(proc)
            return
        m = self.m
        _, thresh, dirty, wb = self._state()
        free = {sb.mountpoint: int(sb.free_blocks()) for sb in m.mounts.values()}
        proc.hung = Hung(fname(m.kernel, "balance_dirty_pages"), m.now - base,
                         {"dirty_pages": dirty, "writeback_pages": wb, "dirty_thresh": thresh,
                          "free_blocks": free, "pages_lost": m.pages_lost()})

    def _balance_2637(self, proc, bdi, dirtied):
        """2.6.37 balance_dirty_pages: the dirtying task writes back pages itself.

        Below (background + dirty limit) / 2 it runs free. Over the dirty
        limit it writes back write_chunk pages (1.5 x what it dirtied), then
        sleeps, 1 jiffy doubling up to HZ/10, until it has written its chunk
        or the dirty count is under the limit again. Uninterruptible.
        """
        m = self.m
        write_chunk = max(dirtied, self.ratelimit()) * 3 // 2
        written = 0
        hz = m.kernel.hz
        pause = 1 / hz
        while True:
            bg, thresh, dirty, wb = self._state()
            if dirty + wb <= (bg + thresh) // 2:
                exceeded = False
                break
            exceeded = dirty + wb > thresh
            if not exceeded:
                break
            self.dirty_exceeded = True
            if dirty > thresh:
                res = bdi.writeback_inodes_wb(write_chunk, proc, "balance_dirty_pages")
                written += res.written
                m.clock.run_until(max(res.done, m.now))
                if written >= write_chunk:
                    break
            self._sleep(proc, pause)
            pause = min(pause * 2, (hz // 10) / hz)
        if not exceeded:
            self.dirty_exceeded = False
        if m.vmstat.nr_file_dirty > bg:
            bdi.start_background_writeback()

    def _balance_io_less(self, proc, bdi, dirtied):
        """IO-less balance_dirty_pages (3.2+): the task only sleeps.

        Simplified pacing: between the freerun ceiling and the dirty limit
        the task sleeps as long as the disk needs to write what it dirtied
        (capped at 200 ms), so it dirties no faster than writeback cleans;
        over the limit it sleeps 200 ms at a time until it is under again.
        """
        m = self.m
        while True:
            bg, thresh, dirty, wb = self._state()
            if dirty + wb <= (bg + thresh) // 2:
                self.dirty_exceeded = False
                return
            bdi.start_background_writeback()
            self.dirty_exceeded = dirty + wb > thresh
            if not self.dirty_exceeded:
                bw = self.write_bandwidth_pages()
                m.clock.run_until(m.now + min(MAX_PAUSE, dirtied / bw))
                return
            self._sleep(proc, MAX_PAUSE)
