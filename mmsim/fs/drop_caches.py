"""echo 1 > /proc/sys/vm/drop_caches (fs/drop_caches.c: drop_pagecache_sb)."""

import numpy as np

from ..flags import PG_DIRTY, PG_UPTODATE, PG_WRITEBACK


def drop_pagecache(m):
    """Drop clean, unmapped page-cache pages of every filesystem; return how many.

    invalidate_mapping_pages: dirty pages, pages under writeback, mapped
    (hence mlocked) pages and shmem pages stay.
    """
    dropped = 0
    for sb in m.mounts.values():
        for inode in sb.inodes.values():
            mp = inode.mapping
            if mp.nrpages == 0:
                continue
            n = len(mp.flags)
            drop = np.flatnonzero(((mp.flags[:n] & (PG_UPTODATE | PG_DIRTY | PG_WRITEBACK))
                                   == PG_UPTODATE) & (mp.mapcount[:n] == 0))
            dropped += mp.remove(drop)
    return dropped
