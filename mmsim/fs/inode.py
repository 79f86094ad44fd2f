"""An inode: its size, its block map, its page cache and its timestamps (include/linux/fs.h).

The block map has one entry per page (block size = page size, 4 KiB, a
simplification): the physical block, or -1 for a hole, and a state: written,
unwritten (preallocated, reads as zeros until converted) or delayed
(reserved by delayed allocation, no block chosen yet). allocated_at keeps,
per page, the simulated time its block was allocated (meaningful only
where the page has a block: allocation_times() gives NaN for the others): no
kernel keeps this; the simulator records it so a chapter can colour a
file's blocks by when the filesystem chose them. Allocations are noted as
runs of pages (record_allocation) and written into the array when it is
read: writeback allocates a few thousand runs of a 20 GiB file, and
writing 8 bytes a page would fault in 40 MB of fresh memory as it goes.

Timestamps are integer nanoseconds of simulated time, as the kernel's
timespec64: i_atime, i_mtime, i_ctime, kept by the methods that stand for
fs/inode.c current_time, file_update_time and touch_atime.
"""

import numpy as np

from .._abi import PAGE_SIZE
from ..mm.filemap import AddressSpace
from ..flags import HOLE

NSEC_PER_SEC = 1_000_000_000
RELATIME_SECS = 24 * 60 * 60     # fs/inode.c relatime_need_update: a day
ALLOCATIONS_MAX = 1 << 16        # runs of allocations kept before they are written out


class Inode:
    """A regular file on a simulated filesystem."""

    def __init__(self, sb, ino, name, vmstat):
        self.sb = sb
        self.ino = ino
        self.name = name
        self.size = 0
        self.mapping = AddressSpace(vmstat, shmem=sb.shmem, bdi=sb.bdi)
        self.block = np.full(0, HOLE, np.int32)
        self.bstate = np.zeros(0, np.uint8)
        self._allocated_at = np.zeros(0)
        self._allocations = []    # (first, last, when) not yet written into _allocated_at
        self.nblocks = 0          # blocks allocated to the file
        self.nreserved = 0        # delalloc reservations
        self.mmaps = []           # the VMAs that map it (i_mmap)
        self.dirtied_when = None  # simulated time the inode became dirty
        self.last_used = 0.0      # simulated time of its last page-cache lookup (LRU order)
        self.nlink = 1
        # ext2_new_inode / ext4_new_inode: all three times start at creation
        self.atime_ns = self.mtime_ns = self.ctime_ns = self.current_time()

    @property
    def npages(self):
        """Pages covered by i_size (the last one may be partial)."""
        return -(-self.size // PAGE_SIZE)

    def resize(self, npages):
        """Make the per-page arrays cover at least npages pages."""
        self.mapping.resize(npages)
        cap = len(self.block)
        if npages > cap:
            cap = max(npages, cap + cap // 2)
            block = np.full(cap, HOLE, np.int32)
            block[:len(self.block)] = self.block
            bstate = np.zeros(cap, np.uint8)
            bstate[:len(self.bstate)] = self.bstate
            allocated_at = np.zeros(cap)        # zeros cost nothing until written
            allocated_at[:len(self._allocated_at)] = self._allocated_at
            self.block, self.bstate, self._allocated_at = block, bstate, allocated_at

    def record_allocation(self, first, last, when):
        """Note that pages [first, last) got their blocks at simulated time when.

        A run that continues the previous one at the same time extends it;
        past ALLOCATIONS_MAX runs they are written into the array.
        """
        runs = self._allocations
        if runs and runs[-1][1] == first and runs[-1][2] == when:
            runs[-1] = (runs[-1][0], last, when)
            return
        runs.append((first, last, when))
        if len(runs) > ALLOCATIONS_MAX:
            self._write_allocations()

    def _write_allocations(self):
        """Write the runs noted into the per-page array, in the order they happened."""
        at = self._allocated_at
        for first, last, when in self._allocations:
            at[first:last] = when
        self._allocations.clear()

    @property
    def allocated_at(self):
        """Per page, when its block was allocated (meaningful only where it has one).

        Writes the noted runs out first: a cache flush that changes no value
        anyone reads, so reading it twice gives the same.
        """
        self._write_allocations()
        return self._allocated_at

    def allocation_times(self):
        """When each page's block was allocated, NaN where it has none (a copy)."""
        n = self.npages
        return np.where(self.block[:n] >= 0, self.allocated_at[:n], np.nan)

    def blocks_512(self):
        """Return st_blocks: allocated plus reserved blocks in 512-byte units.

        ext4_getattr, xfs_vn_getattr and btrfs_getattr all add the
        delayed-allocation reservation, so it shows at once.
        """
        return (self.nblocks + self.nreserved) * (PAGE_SIZE // 512)

    # -- timestamps (fs/inode.c) -------------------------------------------------
    def current_time(self):
        """The time to stamp on the inode now, in ns (current_time; 2.6.37 current_fs_time).

        The kernel stamps files from the coarse clock, which moves once a
        jiffy (ktime_get_coarse_real_ts64; xtime in 2.6.37), truncated to the
        filesystem's s_time_gran (timestamp_truncate): 1 s on ext2 and ext3,
        1 ns elsewhere. Simplified: 6.13's multigrain timestamps (a
        fine-grained ctime after someone looked at it) are not modelled.
        """
        ns = int(round(self.sb.machine.now * NSEC_PER_SEC))
        tick, gran = self.sb.stamp_units
        ns -= ns % tick
        return ns - ns % gran if gran > 1 else ns

    def file_update_time(self):
        """Set mtime and ctime to now (file_update_time).

        Called by the write paths: a write(2) before it copies anything, and
        the first write fault on a clean page of a shared mapping (mm/memory.c;
        a store to a page already mapped writable does not fault, so it does
        not move mtime until writeback has cleaned and write-protected the
        page again). Simplified: the inode's own metadata writeback is not
        modelled.
        """
        self.mtime_ns = self.ctime_ns = self.current_time()

    def touch_atime(self):
        """Update atime as the default relatime mount does (touch_atime).

        relatime_need_update: only when atime is not newer than mtime or
        ctime, or is a day old; atime_needs_update: not when it is now already.
        """
        now = self.current_time()
        if (self.mtime_ns < self.atime_ns and self.ctime_ns < self.atime_ns
                and now - self.atime_ns < RELATIME_SECS * NSEC_PER_SEC):
            return
        self.atime_ns = now
