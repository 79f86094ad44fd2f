"""The dirty inodes of one backing device and its flusher thread
(fs/fs-writeback.c: __mark_inode_dirty, writeback_inodes_wb, wb_writeback,
wb_check_old_data_flush, bdi_start_background_writeback,
bdi_writeback_thread; today wb_workfn).

Every writeback pass goes through here: the flusher's and the one a 2.6.37
task throttled in balance_dirty_pages does itself. A pass writes up to
MAX_WRITEBACK_PAGES (4 MiB), oldest dirty inode first. The flusher runs as
work on the machine's clock: woken for background writeback while the
dirty count is over the background threshold, and every
dirty_writeback_interval (5 s) as kupdate for inodes dirty longer than
dirty_expire (30 s). It starts its next pass when the disk's queue has
drained (a request queue that is full blocks the submitter). A pass that
writes nothing (every page failed: ENOSPC) ends background writeback until
the next wake-up, as wb_writeback bails out when it made no progress. Each
pass is logged in the machine's trace as pid 0, op "background" or
"kupdate" (the work's reason), one event per inode with its page offsets.
"""

import functools

from .._abi import PAGE_SIZE
from ..kernels import fname
from ..lib.proportions import PropLocal
from ..mm.page_writeback import MAX_WRITEBACK_PAGES, WbResult, write_cache_pages

FAILED_PASS_BACKOFF = 1e-6     # a pass that only failed leaves the disk idle: step past it


def mark_inode_dirty(m, inode):
    """Note when the inode's first dirty page appeared (__mark_inode_dirty)."""
    if inode.dirtied_when is None:
        inode.dirtied_when = m.now


class BdiWriteback:
    """One disk's dirty inodes and its flusher ("flush-8:16" in 2.6.37, kworker today)."""

    def __init__(self, m, sb):
        self.m = m
        self.sb = sb
        self.nr_reclaimable = 0       # BDI_RECLAIMABLE: this disk's dirty pages
        self.nr_writeback = 0         # BDI_WRITEBACK: its pages under writeback
        self.completions = PropLocal(m.wb.vm_completions)   # bdi->completions (2.6.37)
        self.dirty_exceeded = False   # bdi->dirty_exceeded
        self.background = False       # a background writeback work item is queued
        self.kupdate_due = False      # the periodic wake-up came
        self.work = None              # the flusher's next run, while one is scheduled
        self._schedule_kupdate(m.wb.dirty_writeback_interval)

    # -- what others call --------------------------------------------------------
    @functools.cached_property
    def write_bandwidth(self):
        """Pages per second the disk writes (bdi->write_bandwidth, here the disk's own rate,
        which is fixed when the disk is made)."""
        return max(1, int(self.sb.disk.bandwidth) // PAGE_SIZE)

    def writeback_in_progress(self):
        """Whether the flusher has writeback work queued or running (writeback_in_progress)."""
        return self.background or self.work is not None


    def start_background_writeback(self):
        """Queue background writeback and wake the flusher (bdi_start_background_writeback)."""
        self.background = True
        self._wake()

    def dirty_inodes(self, older_than=None):
        """The filesystem's dirty inodes, oldest first (b_dirty / b_io)."""
        inodes = [i for i in self.sb.inodes.values()
                  if i.mapping.ndirty and i.dirtied_when is not None
                  and (older_than is None or i.dirtied_when <= older_than)]
        if len(inodes) > 1:
            inodes.sort(key=_age)
        return inodes

    def writeback_inodes_wb(self, nr_to_write, proc=None, op=None, older_than=None, inodes=None):
        """Write back up to nr_to_write pages, oldest dirty inode first (writeback_inodes_wb).

        The flusher's pass (proc None: logged as pid 0 under op, the work's
        reason), and what a 2.6.37 task throttled in balance_dirty_pages
        does itself (logged under its pid and op). No op: not logged.
        older_than: only inodes dirtied by then (kupdate's expiry).
        inodes: dirty_inodes(older_than), if the caller has just listed them.
        """
        m = self.m
        res = WbResult(done=m.now)
        for inode in self.dirty_inodes(older_than) if inodes is None else inodes:
            first = inode.mapping.writeback_index
            r = write_cache_pages(m, inode, nr_to_write=nr_to_write - res.written - res.failed)
            if proc is None and op is not None:
                last = inode.mapping.writeback_index
                lo, hi = (first, last) if first < last else (0, inode.npages)
                m.trace.record(m.now, 0, op, self._thread_path, lo * PAGE_SIZE,
                               hi * PAGE_SIZE, r.written + r.failed)
            res.add(r)
            if res.written + res.failed >= nr_to_write or r.failed:
                break
        if proc is not None and op is not None and res.written + res.failed:
            m.trace.record(m.now, proc.pid, op, self._throttle_path, 0, 0,
                           res.written + res.failed)
        return res

    # -- the flusher thread ----------------------------------------------------------
    @functools.cached_property
    def _thread_path(self):
        """The trace path of the flusher's passes (the kernel is the machine's, for good)."""
        return (fname(self.m.kernel, "bdi_writeback_thread"), "wb_writeback", "do_writepages")

    @functools.cached_property
    def _throttle_path(self):
        """The trace path of a pass a 2.6.37 task throttled in balance_dirty_pages does."""
        return (fname(self.m.kernel, "balance_dirty_pages"), "writeback_inodes_wb",
                "write_cache_pages")

    def _wake(self):
        """Run the flusher as soon as the disk's queue has drained, unless it is due already."""
        if self.work is None:
            at = max(self.m.now, self.sb.disk.busy_until)
            self.work = self.m.clock.schedule(at, self._run)

    def _schedule_kupdate(self, delay):
        def tick():
            self.kupdate_due = True
            self._wake()
        self.m.clock.schedule(self.m.now + delay, tick)

    def _run(self):
        """One step of wb_do_writeback: a background pass, or a kupdate pass, or sleep."""
        self.work = None
        m = self.m
        res = None
        if self.background:
            bg, _ = m.wb.global_dirty_limits()
            inodes = self.dirty_inodes() if m.vmstat.nr_file_dirty > bg else None
            if inodes:
                res = self.writeback_inodes_wb(MAX_WRITEBACK_PAGES, op="background",
                                               inodes=inodes)
                if res.written == 0:
                    self.background = False
            else:
                self.background = False
        if res is None and self.kupdate_due:
            expired = m.now - m.wb.dirty_expire
            inodes = self.dirty_inodes(expired)
            if inodes:
                res = self.writeback_inodes_wb(MAX_WRITEBACK_PAGES, op="kupdate",
                                               older_than=expired, inodes=inodes)
                if res.written == 0:
                    self._kupdate_done()
            else:
                self._kupdate_done()
        if res is not None and (self.background or self.kupdate_due):
            at = max(m.now, self.sb.disk.busy_until)
            if not res.written:
                at = m.now + FAILED_PASS_BACKOFF
            self.work = m.clock.schedule(at, self._run)

    def _kupdate_done(self):
        """Nothing (more) expired: sleep until the next periodic wake-up."""
        self.kupdate_due = False
        self._schedule_kupdate(self.m.wb.dirty_writeback_interval)


def _age(inode):
    """The order of b_dirty: oldest dirtied first, then by inode number."""
    return inode.dirtied_when, inode.ino
