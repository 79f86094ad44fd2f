"""get_user_pages and the populate step of mlock and MAP_POPULATE (mm/gup.c;
in 2.6.37 mm/memory.c __get_user_pages, mm/mlock.c __mlock_vma_pages_range,
mm/memory.c make_pages_present).
"""

from ..errors import EAGAIN, EFAULT, ENOMEM
from .memory import FaultResult, fault_range
from ..flags import (VM_ACCESS, VM_LOCKED, VM_LOCKONFAULT, VM_MAYREAD, VM_MAYWRITE, VM_READ,
                     VM_SHARED, VM_WRITE)


def check_vma_flags(vma, write, force):
    """Return 0 or EFAULT: may get_user_pages touch this VMA this way?

    2.6.37 __get_user_pages and today's check_vma_flags agree on this: a
    read needs VM_READ (VM_MAYREAD with FOLL_FORCE), a write VM_WRITE
    (VM_MAYWRITE with FOLL_FORCE).
    """
    if write:
        ok = vma.flags & (VM_MAYWRITE if force else VM_WRITE)
    else:
        ok = vma.flags & (VM_MAYREAD if force else VM_READ)
    return 0 if ok else EFAULT


def get_user_pages(m, proc, vma, lo, hi, write, force, via, op):
    """Fault in and walk pages [lo, hi) of vma as __get_user_pages does.

    Return (FaultResult, errno): errno EFAULT when the VMA refuses the access
    or a page fault ends in SIGBUS (pages before it stay faulted in).
    """
    err = check_vma_flags(vma, write, force)
    if err:
        return FaultResult(), err
    res = fault_range(m, proc, vma, lo, hi, write, op, via=via)
    if res.signal is not None:
        res.signal = None
        return res, EFAULT
    return res, 0


def populate_flags(kernel, vma):
    """Return (write, force) for faulting a VMA in at mlock or MAP_POPULATE time.

    A VM_LOCKED vma goes through mlock's path (__mlock_vma_pages_range,
    today populate_vma_page_range); another is MAP_POPULATE's, which on
    2.6.x is make_pages_present() and never forces.

    This is the patch of the thread. 2.6.37: write = VM_WRITE set, so shared
    writable mappings are write-faulted and every page dirtied. 5ecfda041e4b
    (2.6.38): write only for private writable mappings, to break COW; shared
    ones are read-faulted and stay clean. fdf4c587a793 (2.6.38): FOLL_FORCE
    for every VMA that is not PROT_NONE.
    """
    if kernel.populate_writes_shared:
        write = bool(vma.flags & VM_WRITE)
    else:
        write = (vma.flags & (VM_WRITE | VM_SHARED)) == VM_WRITE
    may_force = kernel.populate_force if vma.flags & VM_LOCKED else kernel.populate_mmap_force
    force = may_force and bool(vma.flags & VM_ACCESS)
    return write, force


def populate_range(m, proc, start, end, ignore_errors, op):
    """Fault in every VMA in [start, end) (__mm_populate / do_mlock_pages).

    Return (FaultResult, errno) with errno mapped as mlock reports it
    (__mlock_posix_error_return: EFAULT -> ENOMEM, ENOMEM -> EAGAIN).
    """
    total = FaultResult()
    for vma in list(proc.mm.vmas_in(start, end)):
        err = populate_vma(m, proc, vma, max(start, vma.start), min(end, vma.end), total, op)
        if err and not ignore_errors:
            return total, err
    return total, 0


def populate_vma(m, proc, vma, start, end, total, op):
    """Fault in [start, end) of one VMA; add to total; return a POSIX errno or 0.

    mm/gup.c populate_vma_page_range (2.6.37: __mlock_vma_pages_range):
    VM_LOCKONFAULT vmas are left alone; pages in a VM_LOCKED vma come out
    mlocked (mlock_vma_page).
    """
    if vma.flags & VM_LOCKONFAULT:
        return 0
    write, force = populate_flags(m.kernel, vma)
    entry = "__mlock_vma_pages_range" if vma.flags & VM_LOCKED else "make_pages_present"
    via = (entry, "__get_user_pages")
    lo, hi = vma.index(start), vma.index(end)
    res, err = get_user_pages(m, proc, vma, lo, hi, write, force, via, op)
    total.add(res)
    if err == EFAULT:
        return ENOMEM
    if err == ENOMEM:
        return EAGAIN
    return err

