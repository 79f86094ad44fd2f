"""Dirty limits, throttling of dirtying tasks, and writing pages back
(mm/page-writeback.c: global_dirty_limits, balance_dirty_pages,
write_cache_pages, clear_page_dirty_for_io, test_set_page_writeback,
end_page_writeback).

A dirty page is cleaned before its I/O starts: every PTE that maps it is
write-protected and cleaned (page_mkclean), so the next store faults again.
From submission until its write completes the page carries PG_writeback
(counted in NR_WRITEBACK); reclaim and drop_caches leave it alone, and
background writeback skips it even if it was dirtied again meanwhile.
The filesystem chooses where it goes (->writepage, fs/super.py). A page it
cannot place (ENOSPC on ext2 and ext3, which allocate only here) is cleaned
all the same with PG_error set and the error kept for the next fsync or
msync (fs/buffer.c __block_write_full_page, "recover:"): its data now lives
only in the page cache, and is lost when the page is dropped.
"""

import heapq

import numpy as np

from ..errors import ENOSPC, Hung
from ..fs.inode import B_UNWRITTEN
from ..kernels import fname
from .filemap import PG_ERROR, PG_MKWRITE, PG_WRITEBACK
from .memory import page_mkclean

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


def write_cache_pages(m, inode, at, nr_to_write=None, first=0, last=None, sync=False):
    """Write back dirty pages of inode, submitting the I/O at time at.

    Background writeback (sync=False) takes up to nr_to_write pages from the
    mapping's writeback_index on, cyclically; integrity writeback (fsync,
    msync) takes every dirty page in [first, last). A ->writepage failure
    stops the pass at that page (2.6.37 in every mode; today only background
    writeback stops). Return a WbResult with the I/O completion time.
    """
    mapping = inode.mapping
    if mapping.ndirty == 0:
        return WbResult(done=at)
    if sync:
        pgs = mapping.dirty_pages(first, last)
    else:
        m.wb.nr_writeback(at)
        pgs = mapping.next_dirty(mapping.writeback_index, nr_to_write, skip_writeback=True)
        if len(pgs) > 1 and pgs[-1] < pgs[0]:       # wrapped around the end
            pgs = np.sort(pgs)
    if len(pgs) == 0:
        return WbResult(done=at)
    written, convert = inode.sb.writepage(inode, pgs)
    stop_at_error = not (sync and m.kernel.sync_writeback_continues)
    if stop_at_error and not written.all():
        k = int(np.argmin(written)) + 1      # pages up to the first failure
        pgs, written, convert = pgs[:k], written[:k], convert[:k]
    page_mkclean(m, inode, pgs)
    mapping.clear_dirty(pgs)
    ok = pgs[written]
    done = inode.sb.disk.submit("write", inode.block[ok], at, mapping.data[ok])
    inode.bstate[pgs[written & convert]] &= ~np.uint8(B_UNWRITTEN)
    mapping.flags[ok] &= ~np.uint8(PG_MKWRITE)
    failed = pgs[~written]
    if len(failed):
        mapping.flags[failed] |= PG_ERROR
        mapping.wb_err = ENOSPC
    mapping.writeback_index = int(pgs[-1]) + 1
    if mapping.ndirty == 0:
        inode.dirtied_when = None
    m.wb.inflight(done, mapping, ok)
    if len(ok):
        m.wb.last_written = max(m.wb.last_written, at)
    return WbResult(len(ok), len(failed), done)


def filemap_check_errors(mapping):
    """Return and clear the writeback error the mapping recorded (0 if none)."""
    err, mapping.wb_err = mapping.wb_err, 0
    return err


class Writeback:
    """The machine's dirty-page policy: limits, throttling, pages in flight.

    The vm.dirty_* sysctls are attributes, with the defaults of then and now.
    """

    def __init__(self, m):
        self.m = m
        self.dirty_ratio = 20                 # vm.dirty_ratio
        self.dirty_background_ratio = 10      # vm.dirty_background_ratio
        self.dirty_expire = 30.0              # vm.dirty_expire_centisecs / 100
        self.dirty_writeback_interval = 5.0   # vm.dirty_writeback_centisecs / 100
        self.hung_timeout = HUNG_TASK_TIMEOUT
        self.dirty_exceeded = False           # bdi->dirty_exceeded
        self.last_written = 0.0               # last time a page reached the disk
        self._inflight = []                   # heap of (completion time, seq, mapping, pages)
        self._inflight_seq = 0
        self._inflight_pages = 0

    # -- counters --------------------------------------------------------------
    def inflight(self, done, mapping, pgs):
        """Put pages pgs of mapping under writeback until time done (set_page_writeback)."""
        if len(pgs):
            mapping.flags[pgs] |= PG_WRITEBACK
            heapq.heappush(self._inflight, (done, self._inflight_seq, mapping, pgs))
            self._inflight_seq += 1
            self._inflight_pages += len(pgs)
            self.m.vmstat.nr_writeback = self._inflight_pages

    def nr_writeback(self, t):
        """End the writeback of every write completed by time t (end_page_writeback);
        return the pages still in flight (NR_WRITEBACK)."""
        q = self._inflight
        while q and q[0][0] <= t:
            _, _, mapping, pgs = heapq.heappop(q)
            mapping.flags[pgs] &= ~np.uint8(PG_WRITEBACK)
            self._inflight_pages -= len(pgs)
        self.m.vmstat.nr_writeback = self._inflight_pages
        return self._inflight_pages

    def next_completion(self):
        """When the next write in flight completes (None if none is)."""
        return self._inflight[0][0] if self._inflight else None

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

    # -- throttling --------------------------------------------------------------
    def balance_dirty_pages_ratelimited(self, proc, nr_dirtied):
        """Count pages a task dirtied; every ratelimit pages, throttle it."""
        proc.nr_dirtied += nr_dirtied
        if proc.nr_dirtied >= self.ratelimit():
            dirtied, proc.nr_dirtied = proc.nr_dirtied, 0
            if self.m.kernel.io_less_throttling:
                self._balance_io_less(proc, dirtied)
            else:
                self._balance_2637(proc, dirtied)

    def _state(self):
        m = self.m
        bg, thresh = self.global_dirty_limits()
        return bg, thresh, m.vmstat.nr_file_dirty, self.nr_writeback(m.now)

    def _check_hung(self, proc):
        """Raise Hung once a throttled task has seen no page reach the disk for hung_timeout.

        Counted from the later of the last page written and the start of the
        task's current call: the task may leave and re-enter the throttle
        (cleaning a page at a time by failed writeback) and still make no
        real progress, as the thread's mlock that "never terminates".
        """
        m = self.m
        stuck = m.now - max(proc.call_start, self.last_written)
        if stuck < self.hung_timeout:
            return
        _, thresh, dirty, wb = self._state()
        free = {sb.mountpoint: int(sb.free_blocks()) for sb in m.mounts.values()}
        exc = Hung(fname(m.kernel, "balance_dirty_pages"), stuck,
                   {"dirty_pages": dirty, "writeback_pages": wb, "dirty_thresh": thresh,
                    "free_blocks": free, "pages_lost": m.pages_lost()})
        proc.hung = exc
        raise exc

    def _balance_2637(self, proc, dirtied):
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
                res = m.writeback_inodes(write_chunk, m.now, proc=proc, op="balance_dirty_pages")
                written += res.written
                m.advance(max(res.done, m.now))
                if written >= write_chunk:
                    break
            m.advance(m.now + pause)
            pause = min(pause * 2, (hz // 10) / hz)
            self._check_hung(proc)
        if not exceeded:
            self.dirty_exceeded = False
        if m.vmstat.nr_file_dirty > bg:
            m.kick_flushers()

    def _balance_io_less(self, proc, dirtied):
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
            m.kick_flushers()
            self.dirty_exceeded = dirty + wb > thresh
            if not self.dirty_exceeded:
                bw = m.write_bandwidth_pages()
                m.advance(m.now + min(MAX_PAUSE, dirtied / bw))
                return
            m.advance(m.now + MAX_PAUSE)
            self._check_hung(proc)
