"""The page cache of one file (struct address_space) and the read(2) and
write(2) paths through it (mm/filemap.c: do_generic_file_read, today
filemap_read; generic_perform_write).

Per page of the file: flags, how many PTEs map it (page_mapcount), how many
VM_LOCKED PTEs map it (the mlock count) and its contents stamp. The arrays
cover the file's pages and grow with i_size.
"""

import numpy as np

from .._abi import PAGE_SHIFT, PAGE_SIZE
from ..contents import ZERO
from ..errors import ENOSPC
from ..flags import MKWRITE_ALLOC, PG_DIRTY, PG_REFERENCED, PG_UPTODATE, PG_WRITEBACK
from ..fs.fs_writeback import mark_inode_dirty
from ..kernels import fname
from .memory import BATCH, filemap_fault
from .page_alloc import alloc_pages
from .pagevec import alike


_MLOCK_MIN, _MLOCK_MAX = -2**15, 2**15 - 1      # the mlock counts are int16


class AddressSpace:
    """One file's cached pages, as numpy arrays indexed by page offset."""

    def __init__(self, vmstat, shmem=False, capacity=0, bdi=None):
        self.vmstat = vmstat
        self.shmem = shmem
        self.bdi = bdi            # the backing device's writeback state (None for shmem)
        self.flags = np.zeros(capacity, np.uint8)
        self.mapcount = np.zeros(capacity, np.int16)
        self.mlock = np.zeros(capacity, np.int16)
        self.mlock_fresh = 0      # no page from here on ever had its mlock count changed
        self.data = np.zeros(capacity, np.uint32)
        self.nrpages = 0
        self.ndirty = 0
        self.wb_err = 0          # the last writeback error, 0 if none (AS_ENOSPC, AS_EIO)
        self.writeback_index = 0  # where cyclic writeback resumes

    def resize(self, npages):
        """Make the arrays cover at least npages pages."""
        cap = len(self.flags)
        if npages <= cap:
            return
        cap = max(npages, cap + cap // 2)
        for name in ("flags", "mapcount", "mlock", "data"):
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[:len(old)] = old
            setattr(self, name, new)

    def add(self, idx, stamps=None):
        """Insert pages idx, none of them cached (add_to_page_cache_lru).

        stamps: the contents read for them; None for pages of zeros (the data
        of an uncached page is already ZERO). Return how many were added.
        """
        self.flags[idx] |= PG_UPTODATE | PG_REFERENCED   # keeps PG_MKWRITE set just before
        if stamps is not None:
            self.data[idx] = stamps
        n = idx.stop - idx.start if isinstance(idx, slice) else len(idx)
        self.nrpages += n
        self.vmstat.nr_file_pages += n
        if self.shmem:
            self.vmstat.nr_shmem += n
        return n

    def set_dirty(self, idx):
        """Mark pages dirty (set_page_dirty -> __set_page_dirty_nobuffers / _buffers).

        idx: an index array or slice into the file's pages, all present.
        Return how many pages were newly dirtied (what the dirty throttle counts).
        """
        flags = self.flags[idx]
        v = alike(flags) if isinstance(idx, slice) else None
        if v is not None:                       # pages all in one state: a view
            newly = 0 if v & PG_DIRTY else flags.size
            if newly:
                flags.fill(v | PG_DIRTY)
        else:
            newly = flags.size - int(np.count_nonzero(flags & PG_DIRTY))
            if newly:
                self.flags[idx] |= PG_DIRTY
        if newly:
            self.ndirty += newly
            if not self.shmem:
                self.vmstat.nr_file_dirty += newly
                self.bdi.nr_reclaimable += newly
        return newly

    def clear_dirty(self, idx):
        """Clear PG_DIRTY of dirty pages (clear_page_dirty_for_io); idx all dirty."""
        flags = self.flags[idx]
        v = alike(flags) if isinstance(idx, slice) else None
        if v is not None:                       # pages all in one state: a view
            n = flags.size if v & PG_DIRTY else 0
            if n:
                flags.fill(v & ~PG_DIRTY)
        else:
            n = int(np.count_nonzero(flags & PG_DIRTY))
            self.flags[idx] &= ~np.uint8(PG_DIRTY)
        self.ndirty -= n
        if not self.shmem:
            self.vmstat.nr_file_dirty -= n
            self.bdi.nr_reclaimable -= n
        return n

    def remove(self, idx):
        """Drop cached pages from the cache (delete_from_page_cache).

        The caller has made sure no PTE maps them; dirty ones lose their data.
        """
        present = (self.flags[idx] & PG_UPTODATE) != 0
        n = int(np.count_nonzero(present))
        dirty = int(np.count_nonzero(self.flags[idx] & PG_DIRTY))
        self.flags[idx] = 0
        self.data[idx] = ZERO
        self.nrpages -= n
        self.ndirty -= dirty
        self.vmstat.nr_file_pages -= n
        if self.shmem:
            self.vmstat.nr_shmem -= n
        else:
            self.vmstat.nr_file_dirty -= dirty
            self.bdi.nr_reclaimable -= dirty
        return n

    def mlock_add(self, idx, delta):
        """Add delta (+1 or -1) to the mlock count of pages idx (mlock_vma_page / munlock_vma_page).

        Keeps vmstat.nr_mlock_file, the file pages off the LRU, up to date.
        Pages from the mlock_fresh mark on never had their count changed:
        their count is 0 without a look (a first look at fresh memory would
        fault it in twice, read then written).
        """
        counts = self.mlock[idx]
        if isinstance(idx, slice):
            c = 0 if idx.start >= self.mlock_fresh and counts.size else alike(counts)
            self.mlock_fresh = max(self.mlock_fresh, idx.stop)
        else:
            c = None
            if len(idx):
                self.mlock_fresh = max(self.mlock_fresh, int(idx.max()) + 1)
        if c is not None:                       # one count for all: a view
            if c == 0 and delta > 0:
                self.vmstat.nr_mlock_file += counts.size
            elif c + delta == 0 and delta < 0:
                self.vmstat.nr_mlock_file -= counts.size
            if _MLOCK_MIN <= c + delta <= _MLOCK_MAX:
                counts.fill(c + delta)          # a view: in place
            else:
                counts += delta                 # wraps, as numpy does
            return
        if delta > 0:
            self.vmstat.nr_mlock_file += int(np.count_nonzero(counts == 0))
        counts += delta
        if delta < 0:
            self.vmstat.nr_mlock_file -= int(np.count_nonzero(counts == 0))
        if not isinstance(idx, slice):
            self.mlock[idx] = counts

    def next_dirty(self, start, n, skip_writeback=False):
        """Return up to n dirty page offsets from start on, wrapping once (cyclic writeback).

        A slice when they are the n pages from start on, else an index array.

        skip_writeback leaves out pages still under writeback.

        Scans in growing windows, so that finding a few dirty pages in a
        5,242,880-page file does not read the whole flags array.
        """
        size = len(self.flags)
        mask = PG_DIRTY | PG_WRITEBACK if skip_writeback else PG_DIRTY
        if start + n <= size:
            window = self.flags[start:start + n]
            v = alike(window)
            if (v & mask == PG_DIRTY) if v is not None else ((window & mask) == PG_DIRTY).all():
                return slice(start, start + n)
        found, got = [], 0
        for lo, hi in ((start, size), (0, min(start, size))):
            window = max(4 * n, 4096)
            while lo < hi and got < n:
                top = min(hi, lo + window)
                idx = lo + np.flatnonzero((self.flags[lo:top] & mask) == PG_DIRTY)
                found.append(idx[:n - got])
                got += len(found[-1])
                lo = top
                window *= 4
            if got >= n:
                break
        return np.concatenate(found) if found else np.empty(0, np.int64)

    def dirty_pages(self, first=0, last=None):
        """Return the offsets of dirty pages in [first, last)."""
        last = len(self.flags) if last is None else min(last, len(self.flags))
        if self.ndirty == 0 or first >= last:
            return np.empty(0, np.int64)
        return first + np.flatnonzero(self.flags[first:last] & PG_DIRTY)


def do_generic_file_read(m, proc, inode, pos, count):
    """Read up to count bytes from pos through the page cache; return them.

    mm/filemap.c do_generic_file_read (today filemap_read): the read stops
    at i_size, so past EOF it is short or empty. Pages not cached come in
    as for a page fault (filemap_fault): holes and unwritten blocks as
    zeros without I/O, allocated blocks from the disk by the filesystem's
    ->readpages, the task waiting on the clock; they stay cached. Then
    file_accessed (relatime). Batches of BATCH pages let the clock run in
    between. Simplified: no readahead beyond the pages asked for. Costs,
    from the profile: file_map_cached per page found or read (lookup and
    copy_to_user), file_fill_hole per page of zeros.
    """
    end = min(pos + count, inode.size)
    out = []
    first = pos >> PAGE_SHIFT
    if pos < end:
        k, prof = m.kernel, m.profile
        path = tuple(fname(k, f) for f in ("sys_pread64", "vfs_read", "do_generic_file_read"))
        last = -(-end // PAGE_SIZE)
        i = first
        while i < last:
            hi = min(last, i + BATCH)
            t0 = m.now
            nhole, nread, nhit, io = filemap_fault(m, proc, inode, slice(i, hi))
            out.append(inode.mapping.data[i:hi].copy())    # the contents as of this batch
            for how, n in (("find_get_page", nhit), ("zero_user_segment", nhole),
                           ("submit_bio", nread)):
                m.trace.record(t0, proc.pid, "pread", path + (fname(k, how),),
                               i * PAGE_SIZE, hi * PAGE_SIZE, n)
            m.clock.run_until(t0 + io + nhole * prof.file_fill_hole
                              + (nhit + nread) * prof.file_map_cached)
            i = hi
    inode.touch_atime()
    skip = pos - first * PAGE_SIZE
    data = m.contents.join(np.concatenate(out)) if out else b""
    return data[skip:skip + max(end - pos, 0)]


def generic_perform_write(m, proc, inode, pos, data):
    """Copy data into the page cache at pos; return (bytes written, errno that stopped it).

    mm/filemap.c generic_perform_write, page by page: ->write_begin gets the
    page its block (SuperBlock.write_begin: a delalloc reservation or an
    allocation; ENOSPC stops the write at that page, so a write that got
    some pages in is short and one that got none fails); a partial page
    not cached is read first where its block holds data
    (__block_write_begin; holes and new blocks are zeros); the bytes are
    copied in; ->write_end dirties the page (block_write_end ->
    __set_page_dirty), extends i_size and marks the inode dirty; and
    balance_dirty_pages_ratelimited counts the pages newly dirtied
    (simplified: 2.6.37 counted every page copied toward the ratelimit,
    dirty already or not). Pages go in batches of the task's remaining
    ratelimit, so the throttle and the flusher run in between. Costs,
    derived from the profile: file_map_cached + wp_reuse per page (copy,
    set_page_dirty), file_fill_hole per page newly cached, mkwrite_reserve
    or mkwrite_alloc per block reserved or allocated.
    """
    sb, mapping, prof = inode.sb, inode.mapping, m.profile
    end = pos + len(data)
    first, last = pos >> PAGE_SHIFT, -(-end // PAGE_SIZE)
    inode.resize(last)
    block_cost = prof.mkwrite_alloc if sb.write_begin_kind() == MKWRITE_ALLOC else prof.mkwrite_reserve
    path = tuple(fname(m.kernel, f) for f in ("sys_pwrite64", "vfs_write")) + sb.write_path()
    c = m.contents
    written, err = 0, 0
    proc.call_start = m.now
    i = first
    while i < last:
        step = (max(1, m.wb.ratelimit(proc, sb.bdi) - proc.nr_dirtied) if sb.dirty_accounting
                else last - i)
        n = min(last, i + step) - i
        t0 = m.now
        had = inode.nblocks + inode.nreserved
        ok = sb.write_begin(inode, slice(i, i + n))
        new_blocks = inode.nblocks + inode.nreserved - had
        if ok < n:
            err = ENOSPC
        if ok == 0:
            break
        hi = i + ok
        miss = i + np.flatnonzero((mapping.flags[i:hi] & PG_UPTODATE) == 0)
        nread, waited = 0, 0.0
        if len(miss):
            waited = alloc_pages(m, proc, len(miss), protect=(inode, i, hi))
            partial = (miss * PAGE_SIZE < pos) | ((miss + 1) * PAGE_SIZE > end)
            if partial.any():
                got, nread, done = sb.readpages(inode, miss[partial])
                mapping.add(miss[partial], got)
                waited += max(done - m.now, 0.0)
            mapping.add(miss[~partial])
        stamps = mapping.data
        for p in range(i, hi):
            lo_b, hi_b = max(pos, p * PAGE_SIZE), min(end, (p + 1) * PAGE_SIZE)
            chunk = data[lo_b - pos:hi_b - pos]
            stamps[p] = (c.stamp(chunk) if len(chunk) == PAGE_SIZE
                         else c.patch(stamps[p], lo_b - p * PAGE_SIZE, chunk))
        mapping.flags[i:hi] |= PG_REFERENCED                   # mark_page_accessed
        newly = mapping.set_dirty(slice(i, hi))
        mark_inode_dirty(m, inode)
        written = min(end, hi * PAGE_SIZE) - pos
        inode.size = max(inode.size, pos + written)
        m.trace.record(t0, proc.pid, "pwrite", path, i * PAGE_SIZE, hi * PAGE_SIZE, ok)
        m.trace.record(t0, proc.pid, "pwrite", path + ("submit_bio",),
                       i * PAGE_SIZE, hi * PAGE_SIZE, nread)
        m.clock.run_until(t0 + waited + ok * (prof.file_map_cached + prof.wp_reuse)
                          + len(miss) * prof.file_fill_hole + new_blocks * block_cost)
        if newly and sb.dirty_accounting:
            m.wb.balance_dirty_pages_ratelimited(proc, sb.bdi, newly)
        if err:
            break
        i = hi
    return written, err
