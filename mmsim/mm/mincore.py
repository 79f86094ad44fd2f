"""mincore(2) (mm/mincore.c: sys_mincore, do_mincore, mincore_pte_range,
mincore_unmapped_range, mincore_page)."""

import numpy as np

from .._abi import PAGE_SIZE
from ..errors import EINVAL, ENOMEM, error
from ..flags import PG_UPTODATE, PTE_PRESENT
from .vma import TASK_SIZE


def sys_mincore(m, proc, start, length):
    """Return one byte per page of [start, start+length): 1 if resident, else 0.

    EINVAL for an unaligned start; ENOMEM for a range past user space
    (access_ok) or with a page no VMA holds. A present PTE counts as
    resident (the zero page too); where the PTE is empty, an anonymous VMA
    says 0 and a file VMA (shmem included) reports the page cache
    (mincore_page: the page is cached and uptodate), so a file page that
    was never mapped, or was unmapped by MADV_DONTNEED, is resident while
    it is cached. Simplified: every simulated process may open its files
    for writing, so the 5.0 rule that reports all-resident for files it
    could not (can_do_mincore) never applies.
    """
    if start & (PAGE_SIZE - 1):
        raise error(EINVAL, "mincore: start not page aligned")
    if start + length > TASK_SIZE:
        raise error(ENOMEM, "mincore: range past user space")
    pages = -(-length // PAGE_SIZE)
    end = start + pages * PAGE_SIZE
    pieces = []
    at = start
    while at < end:
        vma = proc.mm.find_vma(at)
        if vma is None or vma.start > at:
            raise error(ENOMEM, f"mincore: {at:#x} not mapped")
        hi = min(end, vma.end)
        pieces.append((vma, vma.index(at), vma.index(hi)))
        at = hi
    vec = np.zeros(pages, np.uint8)
    o = 0
    for vma, lo, hi in pieces:
        vec[o:o + hi - lo] = mincore_vma(vma, lo, hi)
        o += hi - lo
    return vec.tobytes()


def mincore_vma(vma, lo, hi):
    """Residency of PTEs [lo, hi) of one VMA (mincore_pte_range, mincore_unmapped_range)."""
    resident = (vma.pte[lo:hi] & PTE_PRESENT) != 0
    inode = vma.inode
    if inode is not None and not resident.all():
        flags = inode.mapping.flags
        idx = vma.pgoff + lo + np.flatnonzero(~resident)
        inside = idx < len(flags)
        cached = np.zeros(len(idx), bool)
        cached[inside] = (flags[idx[inside]] & PG_UPTODATE) != 0
        resident[~resident] = cached
    return resident
