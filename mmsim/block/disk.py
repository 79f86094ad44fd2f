"""A disk: one request queue, sequential bandwidth and a seek cost.

Stands for the block layer and a rotating disk under it (block/blk-core.c,
the elevator, the drive). Simplified: requests are served one after another
in the order they are submitted; every discontiguity (including a switch
between a reader's blocks and a writer's) costs one seek; transfer time is
bytes over bandwidth. Reads and writes share the head and the queue, so
interleaving them costs seeks and makes each wait for the other: the reason
large shared mlocks were slow before the patch.
"""

import numpy as np

from .._abi import PAGE_SIZE


class Disk:
    """Block contents plus a timeline and counters."""

    def __init__(self, nblocks, bandwidth, seek):
        self.nblocks = int(nblocks)
        self.bandwidth = float(bandwidth)    # bytes per second
        self.seek = float(seek)              # seconds per discontiguity
        self.data = np.zeros(self.nblocks, np.uint32)
        self.head = 0                        # block after the last one served
        self.busy_until = 0.0                # simulated time the queue drains
        self.counters = {"read_bytes": 0, "write_bytes": 0,
                         "read_seeks": 0, "write_seeks": 0,
                         "reads": 0, "writes": 0,
                         "read_busy_s": 0.0, "write_busy_s": 0.0}

    def submit(self, op, blocks, at, stamps=None):
        """Queue one request ("read" or "write") of blocks at time at.

        blocks: the block numbers in request order, or a slice when the
        caller knows they are one run. Return its completion time. A write
        stores stamps at once (the page cache still holds the data while it
        is in flight); a read returns nothing: the caller takes
        self.data[blocks].
        """
        if isinstance(blocks, slice):
            n, first, last, breaks = blocks.stop - blocks.start, blocks.start, blocks.stop - 1, 0
        else:
            n = len(blocks)
            first, last, breaks = _breaks(blocks) if n else (0, 0, 0)
        if n <= 0:
            return at
        contiguous = breaks == 0
        seeks = breaks + (1 if first != self.head else 0)
        self.head = last + 1
        seconds = seeks * self.seek + n * PAGE_SIZE / self.bandwidth
        start = max(at, self.busy_until)
        self.busy_until = start + seconds
        c = self.counters
        nbytes, nseeks, nreqs, busy = _COUNTERS[op]
        c[nbytes] += n * PAGE_SIZE
        c[nseeks] += seeks
        c[nreqs] += 1
        c[busy] += seconds
        if op == "write":
            self.data[slice(first, last + 1) if contiguous else blocks] = stamps
        return self.busy_until


def _breaks(blocks):
    """(first block, last block, discontiguities) of a non-empty request in order."""
    first, last = int(blocks[0]), int(blocks[-1])
    n = len(blocks)
    if n == 1:
        return first, last, 0
    # the blocks of [first, last] in another order are no run: look at every step
    steps = blocks[1:] - blocks[:-1]
    if steps.tobytes() == _one(steps.dtype) * (n - 1):     # all 1 (bytes are quick)
        return first, last, 0
    return first, last, int(np.count_nonzero(steps != 1))


_COUNTERS = {op: (op + "_bytes", op + "_seeks", op + "s", op + "_busy_s") for op in ("read", "write")}
_ONES = {}


def _one(dtype):
    """The bytes of a 1 of dtype."""
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = np.ones(1, dtype).tobytes()
    return one
