"""An inode: its size, its block map and its page cache (include/linux/fs.h).

The block map has one entry per page (block size = page size, 4 KiB, a
simplification): the physical block, or -1 for a hole, and a state: written,
unwritten (preallocated, reads as zeros until converted) or delayed
(reserved by delayed allocation, no block chosen yet).
"""

import numpy as np

from .._abi import PAGE_SIZE
from ..mm.filemap import AddressSpace
from ..flags import HOLE


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
        self.nblocks = 0          # blocks allocated to the file
        self.nreserved = 0        # delalloc reservations
        self.mmaps = []           # the VMAs that map it (i_mmap)
        self.dirtied_when = None  # simulated time the inode became dirty
        self.last_used = 0.0      # simulated time of its last page-cache lookup (LRU order)
        self.nlink = 1

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
            self.block, self.bstate = block, bstate

    def blocks_512(self):
        """Return st_blocks: allocated plus reserved blocks in 512-byte units.

        ext4_getattr, xfs_vn_getattr and btrfs_getattr all add the
        delayed-allocation reservation, so it shows at once.
        """
        return (self.nblocks + self.nreserved) * (PAGE_SIZE // 512)
