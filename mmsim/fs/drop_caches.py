"""echo 1 > /proc/sys/vm/drop_caches (fs/drop_caches.c: drop_pagecache_sb)."""

import numpy as np

from ..flags import PG_DIRTY, PG_ERROR, PG_UPTODATE, PG_WRITEBACK
from ..losses import record_loss


def drop_pagecache(m):
    """Drop clean, unmapped page-cache pages of every filesystem; return how many.

    invalidate_mapping_pages: dirty pages, pages under writeback, mapped
    (hence mlocked) pages and shmem pages stay. A clean page whose
    writeback failed (PG_error) goes like any other (invalidate_inode_page
    looks at PG_dirty and PG_writeback only): its data, which was only in
    RAM, is lost, and counted in m.lost under invalidate_mapping_pages.
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
            record_loss(m, "invalidate_mapping_pages", inode,
                        drop[(mp.flags[drop] & PG_ERROR) != 0])
            dropped += mp.remove(drop)
    return dropped
