"""mprotect (mm/mprotect.c: sys_mprotect, mprotect_fixup, change_protection)."""

import numpy as np

from .._abi import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE
from ..errors import EACCES, EINVAL, ENOMEM, error
from .gup import populate_vma
from .memory import FaultResult
from .mlock import page_align
from .mmap import calc_vm_prot_bits
from ..flags import (PTE_ANON, PTE_DIRTY, PTE_PRESENT, PTE_WRITE, PTE_ZERO, VM_ACCESS, VM_ACCOUNT,
                     VM_LOCKED, VM_NORESERVE, VM_SHARED, VM_WRITE)

PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000


def sys_mprotect(m, proc, start, length, prot):
    """Change the protection of [start, start+length); raise OSError as Linux does."""
    if start & (PAGE_SIZE - 1):
        raise error(EINVAL, "mprotect: start not page aligned")
    if length == 0:
        return
    length = page_align(length)
    end = start + length
    if end <= start or end >= 1 << 64:
        raise error(ENOMEM, "mprotect: range wraps")
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP):
        raise error(EINVAL, f"mprotect: prot {prot:#x}")
    if prot & (PROT_GROWSDOWN | PROT_GROWSUP):
        raise error(EINVAL, "mprotect: PROT_GROWSDOWN/UP on a vma that does not grow")
    mm = proc.mm
    vm_prot = calc_vm_prot_bits(prot)
    vma = mm.find_vma(start)
    if vma is None or vma.start > start:
        raise error(ENOMEM, "mprotect: start not mapped")
    nstart = start
    while True:
        newflags = vm_prot | (vma.flags & ~VM_ACCESS)
        # newflags >> 4 shifts VM_MAY* onto VM_*
        if (newflags & ~(newflags >> 4)) & VM_ACCESS:
            raise error(EACCES, "mprotect: PROT_WRITE on a shared mapping of a read-only file")
        tmp = min(vma.end, end)
        mprotect_fixup(m, proc, vma, nstart, tmp, newflags)
        vma, nstart = mm.resume_at(tmp)
        if nstart >= end:
            return
        if vma is None or vma.start != nstart:
            raise error(ENOMEM, "mprotect: hole in the range")


def mprotect_fixup(m, proc, vma, start, end, newflags):
    """Give [start, end) the flags newflags and update its PTEs (change_protection).

    Losing VM_WRITE write-protects every PTE. Gaining it makes writable only
    what is safe: dirty PTEs of a write-notify mapping, every PTE of a shared
    mapping without write-notify (shmem); private PTEs stay read-only until
    do_wp_page reuses or copies them (2.6.37 behaviour; today's kernels make
    exclusive anonymous PTEs writable at once, a simplification here).
    """
    mm = proc.mm
    if newflags & VM_WRITE and not vma.flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE):
        newflags |= VM_ACCOUNT          # a private mapping made writable is charged now
    if newflags == vma.flags:
        return
    mm.split_at(start)
    mm.split_at(end)
    vma = mm.find_vma(start)
    old = vma.flags
    vma.flags = newflags
    pte = vma.pte
    if not newflags & VM_WRITE:
        pte &= ~np.uint8(PTE_WRITE)
    elif not old & VM_WRITE and newflags & VM_SHARED:
        present = (pte & PTE_PRESENT) != 0
        if vma.wants_writenotify():
            present &= (pte & PTE_DIRTY) != 0
        pte[present & ((pte & (PTE_ANON | PTE_ZERO)) == 0)] |= PTE_WRITE
    vma = mm.try_merge(vma, m.kernel)
    if (m.kernel.mprotect_populates_locked and newflags & VM_WRITE
            and (old & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED):
        populate_vma(m, proc, vma, start, end, FaultResult(), "mprotect")
