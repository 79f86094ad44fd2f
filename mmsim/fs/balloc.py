"""Block allocation: a free-block bitmap with goal-directed first fit.

Stands for fs/ext2/balloc.c ext2_new_blocks() (and the like in ext4, xfs,
btrfs): look for free blocks at the goal (the block after the file's previous
one) and onwards, wrapping at the end of the device. Simplified: one block
group, no reservation windows, every block is a data block (no metadata).
"""

import numpy as np

from ..mm.pagevec import alike


class BlockAllocator:
    """Which blocks are in use, and how to find free ones near a goal."""

    def __init__(self, nblocks):
        self.nblocks = int(nblocks)
        self.used = np.zeros(self.nblocks, bool)
        self.nfree = self.nblocks

    def _scan(self, lo, hi, n):
        """Return up to n free blocks in [lo, hi), in order, scanning in windows."""
        found = []
        got = 0
        window = max(4 * n, 4096)
        while lo < hi and got < n:
            top = min(hi, lo + window)
            free = lo + np.flatnonzero(~self.used[lo:top])
            take = free[:n - got]
            found.append(take)
            got += len(take)
            lo = top
            window *= 2
        return np.concatenate(found) if found else np.empty(0, np.int64)

    def alloc(self, n, goal=0):
        """Allocate up to n blocks from goal onwards; return their numbers in order.

        Fewer than n come back only when the device is full (ENOSPC).
        """
        n = min(int(n), self.nfree)
        if n <= 0:
            return np.empty(0, np.int64)
        goal = int(goal) % self.nblocks if self.nblocks else 0
        if goal + n <= self.nblocks and alike(self.used[goal:goal + n]) is False:   # all free
            blocks = np.arange(goal, goal + n)
            self.used[goal:goal + n] = True
            self.nfree -= n
            return blocks
        blocks = self._scan(goal, self.nblocks, n)
        if len(blocks) < n:
            blocks = np.concatenate([blocks, self._scan(0, goal, n - len(blocks))])
        self.used[blocks] = True
        self.nfree -= len(blocks)
        return blocks

    def free(self, blocks):
        """Return blocks to the free pool (ext2_free_blocks)."""
        blocks = np.asarray(blocks)
        if len(blocks):
            self.used[blocks] = False
            self.nfree += len(blocks)
