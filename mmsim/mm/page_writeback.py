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

import functools
import heapq

import numpy as np

from ..clock import IRQ
from ..errors import ENOSPC, Hung
from ..flags import PG_ERROR, PG_MKWRITE, PG_WRITEBACK
from ..kernels import fname
from ..lib.proportions import PropGlobal, ilog2
from .pagevec import (NONE, as_index, as_run, change_bits, clear_bits, count, first_last, head,
                      nth, subset)
from .rmap import page_mkclean

MAX_WRITEBACK_PAGES = 1024     # fs/fs-writeback.c: pages per writeback pass (4 MiB)
RATELIMIT_MAX = 1024           # mm/page-writeback.c: ratelimit_pages, at most 4 MiB
RATELIMIT_EXCEEDED = 8         # 2.6.37: the ratelimit once bdi->dirty_exceeded
DIRTY_POLL_THRESH = 32         # 3.2+: 128 KiB, the smallest nr_dirtied_pause it aims for
INIT_NR_DIRTIED_PAUSE = 32     # 3.2+: a new task's nr_dirtied_pause (128 KiB)
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
        pgs = as_run(mapping.dirty_pages(first, last))
    else:
        pgs = mapping.next_dirty(mapping.writeback_index, nr_to_write, skip_writeback=True)
        if not isinstance(pgs, slice) and len(pgs) > 1 and pgs[-1] < pgs[0]:
            pgs = np.sort(pgs)                  # wrapped around the end
    if count(pgs) == 0:
        return WbResult(done=at)
    written, convert, run = inode.sb.map_blocks(inode, pgs)
    # ok: the pages written; failed: those that got no block; convert: over ok
    if written is None:                         # every page has its block
        ok, failed = pgs, NONE
        convert = None if convert is None else subset(pgs, convert)
    elif not (sync and m.kernel.sync_writeback_continues):
        f = int(written.argmin())               # the pass stops at the first failure:
        ok, failed = head(pgs, f), nth(pgs, f)  # the pages before it all succeeded
        pgs = head(pgs, f + 1)
        convert = None if convert is None else subset(ok, convert[:f])
    else:
        ok, failed = as_index(pgs)[written], as_index(pgs)[~written]
        convert = None if convert is None else subset(pgs, written & convert)
    clear_page_dirty_for_io(m, inode, pgs)
    done = inode.sb.submit_write(inode, ok, NONE if convert is None else convert, at,
                                 run if ok is pgs else None) \
        if count(ok) else at                    # nothing to submit
    nok = count(ok)
    nfailed = count(pgs) - nok
    if nfailed:
        mapping.flags[failed] |= PG_ERROR
        mapping.wb_err = ENOSPC
    mapping.writeback_index = first_last(pgs)[1]
    if mapping.ndirty == 0:
        inode.dirtied_when = None
    if nok:
        # the pages written lose PG_error (their data is on disk again) and
        # PG_MKWRITE (their buffers are used), as they get PG_writeback
        m.wb.set_page_writeback(mapping, ok, done, clear=PG_ERROR | PG_MKWRITE)
        m.wb.last_written = max(m.wb.last_written, at)
    return WbResult(nok, nfailed, done)


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
        self.last_written = 0.0               # last time a page reached the disk
        self._completions = []                # completion times of writes in flight
        # 2.6.37's floating proportions, their period set at boot from the dirty
        # limit of an empty machine (page_writeback_init -> calc_period_shift)
        shift = 2 + ilog2(max(2, self.dirty_ratio * (m.ram_pages + 1) // 100) - 1)
        self.vm_completions = PropGlobal(shift)   # writeout completions, per disk
        self.vm_dirties = PropGlobal(shift)       # pages dirtied, per task
        self._ratelimit_pages = max(16, min(RATELIMIT_MAX, m.ram_pages // (m.ncpus * 32)))

    # -- pages in flight ------------------------------------------------------------
    def set_page_writeback(self, mapping, pgs, done, clear=0):
        """Put pages pgs under writeback until their write completes at done.

        set_page_writeback now; end_page_writeback is scheduled on the clock
        as the request's completion. clear: page flags to clear with the
        same pass over the flags (write_cache_pages' PG_error, PG_MKWRITE).
        """
        n = count(pgs)
        change_bits(mapping.flags, pgs, clear, PG_WRITEBACK)
        self.m.vmstat.nr_writeback += n
        mapping.bdi.nr_writeback += n
        heapq.heappush(self._completions, done)
        self.m.clock.schedule(done, functools.partial(self.end_page_writeback, mapping, pgs), IRQ)

    def end_page_writeback(self, mapping, pgs):
        """The write of pages pgs completed: clear PG_writeback (end_page_writeback).

        Each page counts as a writeout completion of its disk
        (test_clear_page_writeback -> __bdi_writeout_inc).
        """
        n = count(pgs)
        clear_bits(mapping.flags, pgs, PG_WRITEBACK)
        self.m.vmstat.nr_writeback -= n
        mapping.bdi.nr_writeback -= n
        mapping.bdi.completions.inc(n)
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
        lru = vs.nr_file_pages - vs.nr_shmem - vs.nr_mlock_file
        dirtyable = (free if free > 0 else 0) + (lru if lru > 0 else 0) + 1
        background = dirtyable * self.dirty_background_ratio // 100
        dirty = dirtyable * self.dirty_ratio // 100
        if background >= dirty:
            background = dirty // 2
        return background, dirty

    def ratelimit_pages(self):
        """2.6.37's ratelimit_pages: vm_total_pages / (ncpus * 32), 16 pages to 4 MiB
        (writeback_set_ratelimit, set at boot: RAM and CPUs never change here)."""
        return self._ratelimit_pages

    def ratelimit(self, proc, bdi):
        """Pages proc may dirty on bdi before balance_dirty_pages looks again.

        2.6.37: ratelimit_pages, 8 once the disk is over its limit
        (balance_dirty_pages_ratelimited_nr, one counter per task here where
        the kernel keeps one per CPU). 3.2+: the task's nr_dirtied_pause,
        at most 8 once the disk is over its limit.
        """
        if self.m.kernel.io_less_throttling:
            limit = proc.nr_dirtied_pause
            return min(limit, RATELIMIT_EXCEEDED) if bdi.dirty_exceeded else limit
        return RATELIMIT_EXCEEDED if bdi.dirty_exceeded else self._ratelimit_pages

    # -- throttling --------------------------------------------------------------
    def balance_dirty_pages_ratelimited(self, proc, bdi, nr_dirtied):
        """Count pages proc dirtied on bdi; when its ratelimit is reached, throttle it.

        bdi is the BdiWriteback of the mapping's disk (fs/fs_writeback.py).
        The pages also count as the task's dirtying events for 2.6.37's
        task_dirty_limit (account_page_dirtied -> task_dirty_inc); the IO-less
        throttle has no task_dirty_limit here, so there nothing reads them.
        """
        if not self.m.kernel.io_less_throttling:
            proc.dirties.inc(nr_dirtied)
        proc.nr_dirtied += nr_dirtied
        if proc.nr_dirtied < self.ratelimit(proc, bdi):
            return
        if self.m.kernel.io_less_throttling:
            self._balance_io_less(proc, bdi)
        else:
            dirtied, proc.nr_dirtied = proc.nr_dirtied, 0
            # sync_writeback_pages(): from the global ratelimit_pages, not the 8
            write_chunk = max(dirtied, self.ratelimit_pages()) * 3 // 2
            self._balance_2637(proc, bdi, write_chunk)

    def _sleep(self, proc, bdi, seconds):
        """Sleep uninterruptibly in balance_dirty_pages (io_schedule_timeout).

        The hung-task detector watches the sleep; raise the Hung it flags.
        """
        proc.throttled = bdi
        self._arm_hung_check(proc)
        self.m.clock.run_until(self.m.now + seconds)
        proc.throttled = None
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
        bdi = proc.throttled
        if bdi is None or not proc.alive:
            return
        base = max(proc.call_start, self.last_written)
        if self.m.now < base + self.hung_timeout:
            self._arm_hung_check(proc)
            return
        m = self.m
        _, thresh = self.global_dirty_limits()
        free = {sb.mountpoint: int(sb.free_blocks()) for sb in m.mounts.values()}
        state = {"dirty_pages": m.vmstat.nr_file_dirty, "writeback_pages": m.vmstat.nr_writeback,
                 "dirty_thresh": thresh}
        if not m.kernel.io_less_throttling:
            state["bdi_dirty_pages"] = bdi.nr_reclaimable + bdi.nr_writeback
            state["bdi_thresh"] = self.bdi_thresh(proc, bdi, thresh)
        state.update(free_blocks=free, pages_lost=m.pages_lost())
        proc.hung = Hung(fname(m.kernel, "balance_dirty_pages"), m.now - base, state)

    def bdi_thresh(self, proc, bdi, dirty_thresh):
        """2.6.37's limit for this task on this disk (bdi_dirty_limit, task_dirty_limit).

        The disk's share of dirty_thresh by its share of recent writeout
        completions (min_ratio 0, max_ratio 100), less up to 1/8 by the
        task's share of recent dirtying, never below half: a single heavy
        writer gets 7/8 of its disk's share, a fresh disk a share that
        ramps up as its writes complete.
        """
        num, den = bdi.completions.fraction()
        bdi_dirty = dirty_thresh * num // den
        num, den = proc.dirties.fraction()
        return max(bdi_dirty - (bdi_dirty >> 3) * num // den, bdi_dirty // 2)

    def _balance_2637(self, proc, bdi, write_chunk):
        """2.6.37 balance_dirty_pages, as mm/page-writeback.c has it.

        Free below (background + dirty limit) / 2. Above, throttled while
        the disk's dirty + writeback pages exceed bdi_thresh or the global
        count the dirty limit; while the disk's dirty pages alone exceed
        bdi_thresh the task writes back write_chunk pages itself (submitted,
        not waited for), then sleeps 1 jiffy doubling up to HZ/10. At the
        end it wakes the flusher if it is idle and dirty pages are over
        the background threshold. Uninterruptible.

        Simplified: the request queue holds one writer's batch, so the task
        waits for the disk to drain before it submits (get_request_wait).
        """
        m = self.m
        vs = m.vmstat
        hz = m.kernel.hz
        pause = 1
        pages_written = 0
        dirty_exceeded = False
        while True:
            nr_reclaimable, nr_writeback = vs.nr_file_dirty, vs.nr_writeback
            bg, thresh = self.global_dirty_limits()
            if nr_reclaimable + nr_writeback <= (bg + thresh) // 2:
                break
            bdi_thresh = self.bdi_thresh(proc, bdi, thresh)
            dirty_exceeded = (bdi.nr_reclaimable + bdi.nr_writeback > bdi_thresh
                              or nr_reclaimable + nr_writeback > thresh)
            if not dirty_exceeded:
                break
            bdi.dirty_exceeded = True
            if bdi.nr_reclaimable > bdi_thresh:
                m.clock.run_until(max(m.now, bdi.sb.disk.busy_until))
                res = bdi.writeback_inodes_wb(write_chunk, proc, "balance_dirty_pages")
                pages_written += res.written
                if pages_written >= write_chunk:
                    break
            self._sleep(proc, bdi, pause / hz)
            pause = min(pause * 2, hz // 10)
        if not dirty_exceeded and bdi.dirty_exceeded:
            bdi.dirty_exceeded = False
        if not bdi.writeback_in_progress() and nr_reclaimable > bg:
            bdi.start_background_writeback()

    def _balance_io_less(self, proc, bdi):
        """IO-less balance_dirty_pages (3.2+, 143dfe8611a6): the task only sleeps.

        Below the freerun ceiling (background + limit) / 2 it runs free and
        looks again after dirty_poll_interval pages (about the square root
        of its distance to the limit). Above, its rate is the disk's
        dirty_ratelimit times pos_ratio, which falls from 2 at freerun
        through 1 at the setpoint (freerun + limit) / 2 to 0 at the limit,
        pos_ratio = 1 + ((setpoint - dirty) / (limit - setpoint))^3; it
        sleeps for what it dirtied at that rate, less the time since its
        last pause, up to max_pause (HZ/5 at most), and dirties
        nr_dirtied_pause pages (about 10 ms' worth) before it looks again.
        Dirty pages settle near the setpoint, where the task's rate equals
        the disk's.

        Simplified (from mm/page-writeback.c wb_position_ratio,
        wb_update_dirty_ratelimit): one disk's share of the limit is all of
        it; dirty_ratelimit is the disk's write bandwidth, the rate it
        settles at for one dirtier; the per-disk control line is left out.
        """
        m = self.m
        vs = m.vmstat
        hz = m.kernel.hz
        pages_dirtied = proc.nr_dirtied
        dirty_exceeded = False
        while True:
            nr_reclaimable = vs.nr_file_dirty
            dirty = nr_reclaimable + vs.nr_writeback
            bg, thresh = self.global_dirty_limits()
            freerun = (thresh + bg) // 2
            if dirty <= freerun:
                proc.dirty_paused_when = m.now
                proc.nr_dirtied = 0
                proc.nr_dirtied_pause = dirty_poll_interval(dirty, thresh)
                break
            if not bdi.writeback_in_progress():
                bdi.start_background_writeback()
            dirty_exceeded = dirty > thresh
            if dirty_exceeded:
                bdi.dirty_exceeded = True
            dirty_ratelimit = bdi.write_bandwidth
            task_ratelimit = int(dirty_ratelimit * pos_ratio(dirty, freerun, thresh))
            max_pause = wb_max_pause(dirty_ratelimit, dirty, hz)
            min_pause, nr_dirtied_pause = wb_min_pause(max_pause, task_ratelimit,
                                                       dirty_ratelimit, hz)
            now = m.now * hz                              # in jiffies
            if task_ratelimit == 0:
                period = pause = max_pause
            else:
                period = hz * pages_dirtied / task_ratelimit
                pause = period - (now - proc.dirty_paused_when * hz)
                if pause < min_pause:
                    if pause < -hz:
                        proc.dirty_paused_when = m.now
                        proc.nr_dirtied = 0
                    elif period:
                        proc.dirty_paused_when += period / hz
                        proc.nr_dirtied = 0
                    elif proc.nr_dirtied_pause <= pages_dirtied:
                        proc.nr_dirtied_pause += pages_dirtied
                    break
                if pause > max_pause:
                    now += min(pause - max_pause, max_pause)
                    pause = max_pause
            self._sleep(proc, bdi, pause / hz)
            proc.dirty_paused_when = (now + pause) / hz
            proc.nr_dirtied = 0
            proc.nr_dirtied_pause = nr_dirtied_pause
            if task_ratelimit:
                break
        if not dirty_exceeded and bdi.dirty_exceeded:
            bdi.dirty_exceeded = False
        if not bdi.writeback_in_progress() and nr_reclaimable > bg:
            bdi.start_background_writeback()


def pos_ratio(dirty, freerun, limit):
    """The global part of wb_position_ratio: 2 at freerun, 1 at the setpoint, 0 at the limit."""
    setpoint = (freerun + limit) // 2
    x = (setpoint - dirty) / ((limit - setpoint) or 1)
    return min(max(1 + x ** 3, 0.0), 2.0)


def dirty_poll_interval(dirty, thresh):
    """Pages to dirty before looking again, below freerun (dirty_poll_interval)."""
    return 1 << (ilog2(thresh - dirty) >> 1) if thresh > dirty else 1


@functools.cache                # called with HZ-derived constants only, a few times a window
def roundup_pow_of_two(n):
    """The smallest power of two >= n (include/linux/log2.h)."""
    return 1 << (int(n) - 1).bit_length()


def wb_max_pause(write_bw, wb_dirty, hz):
    """The longest pause in jiffies: time to write wb_dirty / 8, at most HZ/5 (wb_max_pause)."""
    t = wb_dirty // (1 + write_bw // roundup_pow_of_two(1 + hz // 8)) + 1
    return min(t, max(hz // 5, 1))


def wb_min_pause(max_pause, task_ratelimit, dirty_ratelimit, hz):
    """Return (min_pause in jiffies, nr_dirtied_pause) for one dirtier (wb_min_pause).

    A 10 ms target pause, the pages dirty_ratelimit dirties in it, at least
    DIRTY_POLL_THRESH where max_pause allows, fewer if task_ratelimit would
    make the next pause longer than max_pause.
    """
    t = max(1, hz // 100)
    t = min(t, 1 + max_pause // 2)
    pages = dirty_ratelimit * t // roundup_pow_of_two(hz)
    if pages < DIRTY_POLL_THRESH:
        t = max_pause
        pages = dirty_ratelimit * t // roundup_pow_of_two(hz)
        if pages > DIRTY_POLL_THRESH:
            pages = DIRTY_POLL_THRESH
            t = hz * DIRTY_POLL_THRESH // dirty_ratelimit
    pause = hz * pages // (task_ratelimit + 1)
    if pause > max_pause:
        t = max_pause
        pages = task_ratelimit * t // roundup_pow_of_two(hz)
    return (1 + t // 2 if pages >= DIRTY_POLL_THRESH else t), max(pages, 1)
