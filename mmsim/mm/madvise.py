"""madvise(2) (mm/madvise.c: do_madvise, madvise_walk_vmas, madvise_dontneed,
madvise_populate; 2.6.37 sys_madvise).

Modelled advice: MADV_DONTNEED, MADV_POPULATE_READ / MADV_POPULATE_WRITE
on kernels that have them (5.14), and the readahead hints MADV_NORMAL,
MADV_RANDOM and MADV_SEQUENTIAL (madvise_readahead_hint). Simplified: any
other value, even one the kernel would accept (MADV_WILLNEED, MADV_FREE
...), is refused with EINVAL, the errno of a value the kernel does not know.
"""

from .._abi import (MADV_DONTNEED, MADV_NORMAL, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
                    MADV_RANDOM, MADV_SEQUENTIAL, PAGE_SIZE)
from ..errors import EFAULT, EINVAL, ENOMEM, error
from ..flags import VM_LOCKED
from ..kernels import fname
from .gup import check_vma_flags, get_user_pages
from .memory import zap_pte_range
from .mlock import page_align

U64 = (1 << 64) - 1


def do_madvise(m, proc, start, len_in, advice):
    """Apply advice to [start, start+len_in); raise OSError as the kernel returns it.

    The checks of do_madvise (sys_madvise in 2.6.37), in order: an advice
    this kernel does not know, an unaligned start, a length that rounds up
    past the top or wraps: EINVAL; a zero length does nothing.
    """
    valid = {MADV_DONTNEED} | READAHEAD_HINTS
    if m.kernel.has_madv_populate:
        valid |= {MADV_POPULATE_READ, MADV_POPULATE_WRITE}
    if advice not in valid:
        raise error(EINVAL, f"madvise: advice {advice} on {m.kernel.version}")
    if start & (PAGE_SIZE - 1):
        raise error(EINVAL, "madvise: start not page aligned")
    length = page_align(len_in)
    if len_in and not length:
        raise error(EINVAL, "madvise: length rounds up past the top")
    end = start + length
    if end > U64:
        raise error(EINVAL, "madvise: range wraps")
    if end == start:
        return
    if advice == MADV_DONTNEED:
        madvise_walk_vmas(m, proc, start, end, madvise_dontneed)
    elif advice in READAHEAD_HINTS:
        madvise_walk_vmas(m, proc, start, end, madvise_readahead_hint)
    else:
        madvise_populate(m, proc, start, end, advice == MADV_POPULATE_WRITE)


def madvise_walk_vmas(m, proc, start, end, behavior):
    """Call behavior(m, proc, vma, start, end) on each VMA piece of the range.

    A hole does not stop the walk: the mapped pieces are advised and
    ENOMEM is raised at the end (madvise_walk_vmas, "unmapped_error"); a
    range that runs past the last VMA gives ENOMEM when it gets there. An
    error from behavior ends the walk at once, what came before it done.
    """
    mm = proc.mm
    unmapped = False
    vma = mm.find_vma(start)
    while True:
        if vma is None:
            raise error(ENOMEM, "madvise: range not mapped")
        if start < vma.start:
            unmapped = True
            start = vma.start
            if start >= end:
                break
        tmp = min(vma.end, end)
        behavior(m, proc, vma, start, tmp)
        start = tmp
        if start >= end:
            break
        vma = mm.find_vma(start)
    if unmapped:
        raise error(ENOMEM, "madvise: part of the range is not mapped")


READAHEAD_HINTS = frozenset({MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL})


def madvise_readahead_hint(m, proc, vma, start, end):
    """Accept a readahead hint (madvise_update_vma: VM_RAND_READ, VM_SEQ_READ).

    The kernel only changes the VMA's readahead flags. mmsim has no
    readahead and a page cache of single pages, which is what the real
    kernel does under MADV_RANDOM (mm/filemap.c: do_sync_mmap_readahead
    returns early for VM_RAND_READ, so a fault allocates an order-0 folio);
    so the hint changes nothing here. Simplified: the VMA is neither split
    nor flagged (smaps VmFlags shows no "rr" / "sr").
    """


def madvise_dontneed(m, proc, vma, start, end):
    """Zap the PTEs of [start, end) (madvise_dontneed; today madvise_dontneed_single_vma).

    EINVAL on a VM_LOCKED vma (madvise_dontneed_free_valid_vma; 2.6.37
    checks VM_LOCKED|VM_HUGETLB|VM_PFNMAP). The pages are unmapped, not
    written: a file page stays in the page cache, dirty if it was (the
    simulator dirties a shared file page when it is first written, so the
    PTE's dirty bit has nothing to hand over); an anonymous page (a private
    COW copy included) is freed, and the next access finds zeros (or the
    file's page again). Simplified: zapping costs no simulated time.
    """
    if vma.flags & VM_LOCKED:
        raise error(EINVAL, "madvise(MADV_DONTNEED) on locked memory")
    n = zap_pte_range(m, vma, vma.index(start), vma.index(end))
    m.trace.record(m.now, proc.pid, "madvise",
                   (fname(m.kernel, "madvise_dontneed"), "zap_pte_range"), start, end, n)


def madvise_populate(m, proc, start, end, write):
    """Fault [start, end) in, for reading or writing (madvise_populate, 5.14).

    faultin_page_range -> __get_user_pages with FOLL_MADV_POPULATE
    (FOLL_WRITE for MADV_POPULATE_WRITE, never FOLL_FORCE), VMA by VMA:
    an address no VMA holds is ENOMEM; a VMA that refuses the access
    (PROT_NONE, a read-only one for a write, check_vma_flags) is EINVAL;
    a fault that fails (SIGBUS: past EOF, ENOSPC from ->page_mkwrite) is
    EFAULT. The pages before the failure stay populated. A write populate
    of a shared file mapping dirties every page through the write-fault
    path, ->page_mkwrite included: the dirtying the 2.6.37 mlock did, asked
    for on purpose.
    """
    via = ("madvise_populate", "faultin_page_range", "__get_user_pages")
    mm = proc.mm
    at = start
    while at < end:
        vma = mm.find_vma(at)
        if vma is None or vma.start > at:
            raise error(ENOMEM, f"madvise: {at:#x} not mapped")
        if check_vma_flags(vma, write, False):
            raise error(EINVAL, f"madvise: the mapping at {at:#x} does not allow "
                        + ("writing" if write else "reading"))
        hi = min(end, vma.end)
        _, err = get_user_pages(m, proc, vma, vma.index(at), vma.index(hi), write, False,
                                via, "madvise")
        if err:
            raise error(EFAULT, "madvise: a fault in the range failed (SIGBUS)")
        at = hi
