"""Page reclaim (mm/vmscan.c: shrink_page_list, shrink_inactive_list).

When a fault needs pages and none are free, the allocating task reclaims
page-cache pages itself (direct reclaim): clean, not mlocked, not under
writeback, least recently used file first, unmapped pages before mapped
ones (which are unmapped from every process first, try_to_unmap).
Mlocked pages sit on the unevictable list and are never taken; anonymous and shmem pages have nowhere to go (no swap is
configured). What the allocator does when reclaim finds too little is in
page_alloc.py. A clean page whose writeback failed (PG_error) is reclaimed
like any clean page (shrink_page_list tests PG_dirty and PG_writeback, not
PG_error): its data, only in RAM, is lost, and counted in m.lost under
shrink_page_list (today shrink_folio_list).

Simplified: one LRU order per file (by the time it was last faulted), a
second chance for referenced pages, no kswapd, no watermarks, reclaim costs
no simulated time; dirty pages are not written out by reclaim.
"""

import numpy as np

from ..flags import PG_DIRTY, PG_ERROR, PG_REFERENCED, PG_UPTODATE, PG_WRITEBACK
from ..kernels import fname
from ..losses import record_loss
from .rmap import try_to_unmap

_CLEAN = PG_UPTODATE | PG_DIRTY | PG_WRITEBACK    # of these, only PG_uptodate set: reclaimable


def shrink_page_cache(m, need, protect=None):
    """Reclaim up to need clean, unlocked page-cache pages not under writeback; return how many.

    protect = (inode, first, last) keeps the pages a fault is bringing in.
    """
    got = 0
    inodes = sorted((i for sb in m.mounts.values() for i in sb.inodes.values()
                     if i.mapping.nrpages),
                    key=lambda i: (i.last_used, i.ino))
    for mapped_too in (False, True):
        for second_chance in (False, True):
            for inode in inodes:
                if got >= need:
                    return got
                mp = inode.mapping
                n = len(mp.flags)
                f = mp.flags[:n]
                ok = mp.mlock[:n] == 0
                if not mapped_too:
                    ok &= mp.mapcount[:n] == 0
                if second_chance:
                    ok &= (f & _CLEAN) == PG_UPTODATE
                else:                   # clean and referenced: lose the bit, skip this pass
                    state = f & (_CLEAN | PG_REFERENCED)
                    referenced = ok & (state == (PG_UPTODATE | PG_REFERENCED))
                    f ^= referenced.view(np.uint8) * np.uint8(PG_REFERENCED)   # set: ^ clears it
                    ok &= state == PG_UPTODATE
                if protect is not None and protect[0] is inode:
                    ok[protect[1]:protect[2]] = False
                take = _first(ok, need - got)
                if len(take) == 0:
                    continue
                if mapped_too:
                    try_to_unmap(inode, take[mp.mapcount[take] > 0])
                record_loss(m, fname(m.kernel, "shrink_page_list"), inode,
                            take[(mp.flags[take] & PG_ERROR) != 0])
                got += mp.remove(take)
                m.vmstat.pgsteal += len(take)
    return got


def _first(ok, k):
    """np.flatnonzero(ok)[:k], k > 0, searching only as far as the k-th True."""
    cut = min(len(ok), 4 * k)
    while cut < len(ok) and np.count_nonzero(ok[:cut]) < k:
        cut = min(len(ok), 4 * cut)
    return np.flatnonzero(ok[:cut])[:k]
