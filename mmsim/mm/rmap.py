"""Reverse mapping: from a page to the PTEs that map it (mm/rmap.c).

A file page is found through its inode's list of VMAs (i_mmap), an anonymous
VMA's pages through its anon_vma, an identity that split halves of a VMA
share (so they can merge again).
"""

import numpy as np

from ..flags import PTE_ANON, PTE_DIRTY, PTE_PRESENT, PTE_WRITE, PTE_ZERO, VM_SHARED
from .pagevec import alike, count, first_last


def anon_vma_prepare(m, vma):
    """Give vma an anon_vma identity before its first anonymous page (anon_vma_prepare)."""
    if vma.anon_vma is None:
        m.nr_anon_vmas += 1
        vma.anon_vma = m.nr_anon_vmas


def page_mkclean(inode, pgs):
    """Write-protect and clean every shared PTE that maps file pages pgs (page_mkclean).

    Called by clear_page_dirty_for_io before writeback, so the next store
    to the page faults again and dirties it anew (Andrew Morton's point).
    pgs is a sorted selection (mm/pagevec.py).
    """
    n = count(pgs)
    if n == 0:
        return
    lo_pg, hi_pg = first_last(pgs)
    contiguous = hi_pg - lo_pg == n
    for vma in inode.mmaps:
        if not vma.flags & VM_SHARED:
            continue
        pgoff = vma.pgoff
        first = max(lo_pg, pgoff)
        last = min(hi_pg, pgoff + vma.npages)
        if first >= last:
            continue
        if contiguous:
            _mkclean_run(vma.pte[first - pgoff:last - pgoff])
        else:
            sel = pgs[np.searchsorted(pgs, first):np.searchsorted(pgs, last)] - pgoff
            bits = vma.pte[sel]
            vma.pte[sel] = np.where((bits & (PTE_PRESENT | PTE_ANON)) == PTE_PRESENT,
                                    bits & ~np.uint8(PTE_WRITE | PTE_DIRTY), bits)


def _mkclean_run(bits):
    """Write-protect and clean the file PTEs of bits, a view of one VMA's PTEs, in place."""
    v = alike(bits)
    if v is None:
        bits[(bits & (PTE_PRESENT | PTE_ANON)) == PTE_PRESENT] &= ~np.uint8(PTE_WRITE | PTE_DIRTY)
    elif v & (PTE_PRESENT | PTE_ANON) == PTE_PRESENT and v & (PTE_WRITE | PTE_DIRTY):
        bits.fill(v & ~(PTE_WRITE | PTE_DIRTY))


def try_to_unmap(inode, pgs):
    """Remove every PTE that maps file pages pgs, in every process (try_to_unmap).

    For reclaim, which only takes pages no VM_LOCKED mapping counts (so no
    PTE here carries PTE_MLOCKED). A private VMA's COW copies of these
    pages are anonymous and stay.
    """
    for vma in inode.mmaps:
        rel = pgs[(pgs >= vma.pgoff) & (pgs < vma.pgoff + vma.npages)] - vma.pgoff
        if len(rel) == 0:
            continue
        bits = vma.pte[rel]
        filep = rel[(bits & (PTE_PRESENT | PTE_ANON | PTE_ZERO)) == PTE_PRESENT]
        if len(filep):
            inode.mapping.mapcount[vma.pgoff + filep] -= 1
            vma.pte[filep] = 0
