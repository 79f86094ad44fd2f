"""Dropping page-cache pages when a file shrinks or gets a hole (mm/truncate.c)."""

from .._abi import PAGE_SHIFT, PAGE_SIZE
from ..flags import B_NEW, B_UNWRITTEN, HOLE, PG_UPTODATE
from ..fs.fs_writeback import mark_inode_dirty
from .memory import zap_pte_range
from .page_alloc import alloc_pages


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


def block_truncate_page(m, inode, size):
    """Zero the block that will hold the new end of file past size, on disk too.

    fs/buffer.c block_truncate_page (ext2_setsize, 2.6.37's xfs_setattr),
    ext4_block_truncate_page, btrfs_truncate_page (today btrfs_truncate_block,
    xfs_truncate_page -> iomap_truncate_page), before the page cache is cut:
    when the partial last block has data on disk, its page is read in if
    it is not cached, zeroed past size and dirtied, so the zeros reach the
    disk and the file, grown again, reads zeros there. A hole, a delalloc
    reservation, an unwritten extent or a new block not written yet (its
    page is dirty in the cache) holds nothing to zero.
    Simplified: no space is reserved for it (btrfs rewrites the block in
    place of the old one, which writeback frees first).
    """
    pg, off = divmod(size, PAGE_SIZE)
    if not off or pg >= len(inode.block) or inode.block[pg] == HOLE \
            or inode.bstate[pg] & (B_UNWRITTEN | B_NEW):
        return
    mp = inode.mapping
    one = slice(pg, pg + 1)
    if not mp.flags[pg] & PG_UPTODATE:
        alloc_pages(m, None, 1, protect=(inode, pg, pg + 1))
        stamps, _, done = inode.sb.readpages(inode, one)
        mp.add(one, stamps)
        m.clock.run_until(done)
    zero_page_tail(m, inode, size)
    mp.set_dirty(one)
    mark_inode_dirty(m, inode)


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
