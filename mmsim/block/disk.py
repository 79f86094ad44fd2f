"""A disk: one request queue, sequential bandwidth and a seek cost.

Stands for the block layer and a rotating disk under it (block/blk-core.c,
the elevator, the drive). Simplified: a request list is served in the order
given, every discontiguity costs one seek, and transfer time is bytes over
bandwidth. Reads and writes share the head, so interleaving them costs
seeks: the reason large shared mlocks were slow before the patch.
"""

import numpy as np

from .._abi import PAGE_SIZE


class Disk:
    """Block contents plus timing and counters."""

    def __init__(self, nblocks, bandwidth, seek):
        self.nblocks = int(nblocks)
        self.bandwidth = float(bandwidth)    # bytes per second
        self.seek = float(seek)              # seconds per discontiguity
        self.data = np.zeros(self.nblocks, np.uint32)
        self.head = 0                        # block after the last one served
        self.counters = {"read_bytes": 0, "write_bytes": 0,
                         "read_seeks": 0, "write_seeks": 0,
                         "reads": 0, "writes": 0}

    def _serve(self, op, blocks):
        """Move the head over blocks (in the order given); return seconds taken."""
        n = len(blocks)
        if n == 0:
            return 0.0
        breaks = int(np.count_nonzero(np.diff(blocks) != 1))
        seeks = breaks + (1 if int(blocks[0]) != self.head else 0)
        self.head = int(blocks[-1]) + 1
        c = self.counters
        c[op + "_bytes"] += n * PAGE_SIZE
        c[op + "_seeks"] += seeks
        c[op + "s"] += 1
        return seeks * self.seek + n * PAGE_SIZE / self.bandwidth

    def read(self, blocks):
        """Read blocks (submit_bio READ); return (stamps, seconds)."""
        seconds = self._serve("read", blocks)
        return self.data[blocks], seconds

    def write(self, blocks, stamps):
        """Write stamps to blocks (submit_bio WRITE); return seconds taken."""
        seconds = self._serve("write", blocks)
        self.data[blocks] = stamps
        return seconds
