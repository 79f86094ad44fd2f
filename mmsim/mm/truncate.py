"""Dropping page-cache pages when a file shrinks or gets a hole (mm/truncate.c)."""

from .._abi import PAGE_SHIFT, PAGE_SIZE
from ..flags import PG_UPTODATE
from .memory import zap_pte_range


def truncate_pagecache(m, inode, size):
    """Shrink the cache to a file of size bytes (truncate_pagecache).

    Every page past the new end is unmapped and dropped, its PTEs (COWed
    private copies included) too, so a later access gets SIGBUS; the part
    of the new last page past size is zeroed in place (2.6.37
    truncate_partial_page, today truncate_inode_partial_folio), so a mapping
    of it reads zeros there.
    """
    npages = -(-size // PAGE_SIZE)
    zero_page_tail(m, inode, size)
    for vma in inode.mmaps:
        lo = max(npages - vma.pgoff, 0)
        if lo < vma.npages:
            zap_pte_range(m, vma, lo, vma.npages)
    n = len(inode.mapping.flags)
    if npages < n:
        inode.mapping.remove(slice(npages, n))


def zero_page_tail(m, inode, size):
    """Zero the bytes of the cached page holding offset size from size to its end.

    What truncation does to the new last page, and writeback to the page
    that straddles i_size before it writes it (block_write_full_page: "it
    may be mmapped"). Return the page index, or None if there was nothing
    to zero.
    """
    pg, off = divmod(size, PAGE_SIZE)
    mp = inode.mapping
    if not off or pg >= len(mp.flags) or not mp.flags[pg] & PG_UPTODATE:
        return None
    mp.data[pg] = m.contents.patch(mp.data[pg], off, bytes(PAGE_SIZE - off))
    return pg


def truncate_pagecache_range(m, inode, start, end):
    """Zero the cached bytes of [start, end) and drop the whole pages (truncate_pagecache_range)."""
    first, last = start >> PAGE_SHIFT, -(-end // PAGE_SIZE)
    mp = inode.mapping
    for pg in {first, last - 1}:
        page_start = pg * PAGE_SIZE
        if pg < len(mp.flags) and mp.flags[pg] & PG_UPTODATE and (
                start > page_start or end < page_start + PAGE_SIZE):
            lo = max(start, page_start) - page_start
            hi = min(end, page_start + PAGE_SIZE) - page_start
            mp.data[pg] = m.contents.patch(mp.data[pg], lo, bytes(hi - lo))
    wfirst, wlast = -(-start // PAGE_SIZE), end >> PAGE_SHIFT
    if wfirst < wlast:
        for vma in inode.mmaps:
            lo, hi = max(wfirst - vma.pgoff, 0), min(wlast - vma.pgoff, vma.npages)
            if lo < hi:
                zap_pte_range(m, vma, lo, hi)
        mp.remove(slice(wfirst, min(wlast, len(mp.flags))))
