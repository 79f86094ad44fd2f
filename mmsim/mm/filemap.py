"""The page cache of one file (struct address_space, mm/filemap.c).

Per page of the file: flags, how many PTEs map it (page_mapcount), how many
VM_LOCKED PTEs map it (the mlock count) and its contents stamp. The arrays
cover the file's pages and grow with i_size.
"""

import numpy as np

from ..contents import ZERO
from ..flags import PG_DIRTY, PG_REFERENCED, PG_UPTODATE, PG_WRITEBACK


class AddressSpace:
    """One file's cached pages, as numpy arrays indexed by page offset."""

    def __init__(self, vmstat, shmem=False, capacity=0, bdi=None):
        self.vmstat = vmstat
        self.shmem = shmem
        self.bdi = bdi            # the backing device's writeback state (None for shmem)
        self.flags = np.zeros(capacity, np.uint8)
        self.mapcount = np.zeros(capacity, np.int16)
        self.mlock = np.zeros(capacity, np.int16)
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
        newly = flags.size - int(np.count_nonzero(flags & PG_DIRTY))
        if newly:
            self.flags[idx] |= PG_DIRTY
            self.ndirty += newly
            if not self.shmem:
                self.vmstat.nr_file_dirty += newly
                self.bdi.nr_reclaimable += newly
        return newly

    def clear_dirty(self, idx):
        """Clear PG_DIRTY of dirty pages (clear_page_dirty_for_io); idx all dirty."""
        n = int(np.count_nonzero(self.flags[idx] & PG_DIRTY))
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
        """
        counts = self.mlock[idx]
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
        if start + n <= size and ((self.flags[start:start + n] & mask) == PG_DIRTY).all():
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
