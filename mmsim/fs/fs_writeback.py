"""The flusher thread of one disk (fs/fs-writeback.c: bdi_writeback_thread,
wb_do_writeback, wb_writeback, wb_check_old_data_flush).

It writes back in passes of MAX_WRITEBACK_PAGES (4 MiB), oldest dirty inode
first: as background writeback while the dirty count is over the background
threshold (woken by balance_dirty_pages), and every dirty_writeback_interval
(5 s) as kupdate, for inodes dirty longer than dirty_expire (30 s). A pass
that writes nothing (every page failed: ENOSPC) ends background writeback
until the next wake-up, as wb_writeback bails out when it made no progress.
Each pass is logged in the machine's trace as pid 0, op "background" or
"kupdate" (the work's reason), one event per inode with its page offsets.
"""

from .._abi import PAGE_SIZE
from ..kernels import fname
from ..mm.page_writeback import MAX_WRITEBACK_PAGES, WbResult, write_cache_pages


class Flusher:
    """The per-disk writeback thread ("flush-8:16" in 2.6.37, kworker today)."""

    def __init__(self, m, sb):
        self.m = m
        self.sb = sb
        self.background = False       # a background writeback work item is queued
        self.time = 0.0               # how far the thread has run
        self.next_kupdate = m.wb.dirty_writeback_interval

    def kick(self):
        """Queue background writeback (bdi_start_background_writeback)."""
        self.background = True

    def _dirty_inodes(self, older_than=None):
        """The superblock's dirty inodes, oldest first (b_dirty / b_io)."""
        inodes = [i for i in self.sb.inodes.values()
                  if i.mapping.ndirty and i.dirtied_when is not None
                  and (older_than is None or i.dirtied_when <= older_than)]
        return sorted(inodes, key=lambda i: (i.dirtied_when, i.ino))

    def _pass(self, at, older_than=None):
        """One writeback pass of up to MAX_WRITEBACK_PAGES pages (writeback_inodes_wb)."""
        res = WbResult(done=at)
        left = MAX_WRITEBACK_PAGES
        path = (fname(self.m.kernel, "bdi_writeback_thread"), "wb_writeback", "do_writepages")
        op = "background" if older_than is None else "kupdate"
        for inode in self._dirty_inodes(older_than):
            first = inode.mapping.writeback_index
            r = write_cache_pages(self.m, inode, at, nr_to_write=left)
            last = inode.mapping.writeback_index
            lo, hi = (first, last) if first < last else (0, inode.npages)
            self.m.trace.record(at, 0, op, path, lo * PAGE_SIZE, hi * PAGE_SIZE,
                                r.written + r.failed)
            res.add(r)
            left -= r.written + r.failed
            if left <= 0 or r.failed:
                break
        return res

    def run_until(self, t):
        """Do the writeback this thread gets done before time t."""
        m, disk = self.m, self.sb.disk
        while True:
            at = max(self.time, disk.busy_until)
            if at >= t:
                return
            res = None
            if self.background:
                bg, _ = m.wb.global_dirty_limits()
                if m.vmstat.nr_file_dirty > bg and self._dirty_inodes():
                    res = self._pass(at)
                    if res.written == 0:
                        self.background = False
                else:
                    self.background = False
            if res is None and self.next_kupdate <= at:
                expired = at - m.wb.dirty_expire
                if self._dirty_inodes(expired):
                    res = self._pass(at, older_than=expired)
                    if res.written == 0:
                        self.next_kupdate = at + m.wb.dirty_writeback_interval
                else:
                    self.next_kupdate = at + m.wb.dirty_writeback_interval
                    continue
            if res is None:
                # asleep until the next kupdate tick or until t
                self.time = min(t, self.next_kupdate) if not self.background else t
                if self.time >= t:
                    return
                continue
            # the next pass waits for the disk (at = busy_until); a pass that
            # only failed leaves the disk idle, so step past it
            self.time = at if res.written else at + 1e-6
