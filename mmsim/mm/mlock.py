"""mlock, munlock, mlock2, mlockall, munlockall (mm/mlock.c).

The order of checks, the errnos and what a failed call leaves behind follow
the kernel version: 2.6.37 faults pages in inside mlock_fixup(), VMA by VMA;
2.6.38 (53a7706d5ed8) and later set VM_LOCKED on the whole range first and
populate afterwards; 4.9 and later do not count already-locked pages against
RLIMIT_MEMLOCK twice.
"""

from .._abi import (MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT, PAGE_SHIFT,
                    RLIMIT_MEMLOCK)
from ..errors import EINVAL, ENOMEM, ENOSYS, EPERM, error
from ..kernels import fname
from .gup import populate_range, populate_vma
from .memory import FaultResult, mlock_ptes
from .vma import TASK_SIZE
from ..flags import VM_LOCKED, VM_LOCKED_MASK, VM_LOCKONFAULT

PAGE_MASK = ~((1 << PAGE_SHIFT) - 1)
U64 = (1 << 64) - 1


def page_align(n):
    """PAGE_ALIGN on an unsigned long: wraps to 0 past the top, as in C."""
    return (n + (1 << PAGE_SHIFT) - 1) & PAGE_MASK & U64


def can_do_mlock(proc):
    """mm/mlock.c can_do_mlock: CAP_IPC_LOCK, or a non-zero RLIMIT_MEMLOCK.

    The limit is compared in bytes (rlimit(RLIMIT_MEMLOCK) != 0), so a limit
    below one page passes here and fails the page count later with ENOMEM
    (LTP mlock02, mlock202, mlockall02/03).
    """
    return proc.capable("CAP_IPC_LOCK") or proc.rlimits[RLIMIT_MEMLOCK][0] != 0


def mlock_fixup(m, proc, vma, start, end, newflags, op):
    """Give [start, end) of vma the flags newflags, splitting and merging VMAs.

    mm/mlock.c mlock_fixup: locked_vm counts pages that gain or lose
    VM_LOCKED; 2.6.37 then faults the range in at once (errno returned).
    """
    mm = proc.mm
    if newflags == vma.flags:
        return 0
    mm.split_at(start)
    mm.split_at(end)
    vma = mm.find_vma(start)
    old = vma.flags
    npages = vma.npages
    if not newflags & VM_LOCKED:
        mm.locked_vm -= npages
    elif not old & VM_LOCKED:
        mm.locked_vm += npages
    was, now = bool(old & VM_LOCKED), bool(newflags & VM_LOCKED)
    if was and not now:
        n = mlock_ptes(m, vma, 0, npages, False)        # munlock_vma_pages_range
        _account(m, proc, op, "munlock_vma_page", start, end, n, n * m.profile.munlock_page)
    elif now and not was and m.kernel.mlock_present_at_fixup:
        n = mlock_ptes(m, vma, 0, npages, True)         # mlock_vma_pages_range
        _account(m, proc, op, "mlock_vma_page", start, end, n, 0.0)
    vma.flags = newflags
    vma = mm.try_merge(vma, m.kernel)
    if now and not was and m.kernel.populate_in_fixup:
        return populate_vma(m, proc, vma, start, end, FaultResult(), op)
    return 0


def _account(m, proc, op, function, start, end, pages, seconds):
    """Log pages (un)mlocked outside a fault and spend their time."""
    m.trace.record(m.now, proc.pid, op, (fname(m.kernel, function),), start, end, pages)
    m.clock.run_until(m.now + seconds)


def apply_vma_lock_flags(m, proc, start, length, flags, op):
    """Set or clear the lock flags on [start, start+length) (do_mlock in 2.6.37).

    A hole in the range gives ENOMEM; the VMAs before it keep their new flags.
    """
    end = (start + length) & U64
    if end < start:
        return EINVAL
    if end == start:
        return 0
    mm = proc.mm
    vma = mm.find_vma(start)
    if vma is None or vma.start > start:
        return ENOMEM
    nstart = start
    while True:
        newflags = (vma.flags & ~VM_LOCKED_MASK) | flags
        tmp = min(vma.end, end)
        err = mlock_fixup(m, proc, vma, nstart, tmp, newflags, op)
        if err:
            return err
        vma, nstart = mm.resume_at(tmp)
        if nstart >= end:
            return 0
        if vma is None or vma.start != nstart:
            return ENOMEM


def count_mm_mlocked_page_nr(mm, start, length):
    """Pages of [start, start+length) already in VM_LOCKED vmas (mm/mlock.c, 4.9)."""
    end = start + length
    return sum((min(end, v.end) - max(start, v.start)) >> PAGE_SHIFT
               for v in mm.vmas_in(start, end) if v.flags & VM_LOCKED)


def do_mlock(m, proc, start, length, flags, op="mlock"):
    """mlock()/mlock2() (mm/mlock.c: sys_mlock, do_mlock); raise OSError on failure."""
    k = m.kernel
    if not can_do_mlock(proc):
        raise error(EPERM, f"{op}: RLIMIT_MEMLOCK is 0 and no CAP_IPC_LOCK")
    length = page_align(length + (start & ~PAGE_MASK))
    start &= PAGE_MASK
    limit = proc.memlock_limit_pages()
    locked = (length >> PAGE_SHIFT) + proc.mm.locked_vm
    capable = proc.capable("CAP_IPC_LOCK")
    if locked > limit and not capable and k.limit_skips_locked:
        locked -= count_mm_mlocked_page_nr(proc.mm, start, length)
    if locked > limit and not capable:
        raise error(ENOMEM, f"{op}: {locked} pages over RLIMIT_MEMLOCK of {limit} pages")
    err = apply_vma_lock_flags(m, proc, start, length, flags, op)
    if err:
        raise error(err, op)
    if not k.populate_in_fixup:
        _, err = populate_range(m, proc, start, start + length, False, op)
        if err:
            raise error(err, f"{op}: populating the range")


def do_munlock(m, proc, start, length):
    """munlock() (sys_munlock): clear VM_LOCKED|VM_LOCKONFAULT, no limit checks."""
    length = page_align(length + (start & ~PAGE_MASK))
    start &= PAGE_MASK
    err = apply_vma_lock_flags(m, proc, start, length, 0, "munlock")
    if err:
        raise error(err, "munlock")


def do_mlock2(m, proc, start, length, flags):
    """mlock2() (Linux 4.4): ENOSYS before it; only MLOCK_ONFAULT is a valid flag."""
    if not m.kernel.has_mlock2:
        raise error(ENOSYS, f"mlock2 does not exist on {m.kernel.version}")
    if flags & ~MLOCK_ONFAULT:
        raise error(EINVAL, f"mlock2: flags {flags:#x}")
    vm = VM_LOCKED | (VM_LOCKONFAULT if flags & MLOCK_ONFAULT else 0)
    do_mlock(m, proc, start, length, vm, op="mlock2")


def do_mlockall(m, proc, flags):
    """mlockall() (sys_mlockall, do_mlockall / apply_mlockall_flags)."""
    k = m.kernel
    valid = MCL_CURRENT | MCL_FUTURE | (MCL_ONFAULT if k.has_mlock2 else 0)
    if not flags or flags & ~valid or flags == MCL_ONFAULT:
        raise error(EINVAL, f"mlockall: flags {flags:#x}")
    if not can_do_mlock(proc):
        raise error(EPERM, "mlockall: RLIMIT_MEMLOCK is 0 and no CAP_IPC_LOCK")
    limit = proc.memlock_limit_pages()
    if (flags & MCL_CURRENT and proc.mm.total_vm > limit
            and not proc.capable("CAP_IPC_LOCK")):
        raise error(ENOMEM, f"mlockall: {proc.mm.total_vm} pages mapped, "
                    f"RLIMIT_MEMLOCK {limit} pages")
    apply_mlockall_flags(m, proc, flags)
    if flags & MCL_CURRENT and not k.populate_in_fixup:
        populate_range(m, proc, 0, TASK_SIZE, True, "mlockall")


def apply_mlockall_flags(m, proc, flags):
    """Set def_flags for MCL_FUTURE and lock (or unlock) every VMA; errors ignored."""
    onfault = VM_LOCKONFAULT if flags & MCL_ONFAULT else 0
    proc.mm.def_flags = (VM_LOCKED | onfault) if flags & MCL_FUTURE else 0
    if flags & MCL_FUTURE and not flags & MCL_CURRENT:
        return
    to_add = (VM_LOCKED | onfault) if flags & MCL_CURRENT else 0
    op = "mlockall" if flags else "munlockall"
    addr = 0
    while True:
        vma = proc.mm.find_vma(addr)
        if vma is None:
            return
        end = vma.end
        mlock_fixup(m, proc, vma, vma.start, end, (vma.flags & ~VM_LOCKED_MASK) | to_add, op)
        addr = end


def do_munlockall(m, proc):
    """munlockall(): clear def_flags and unlock every VMA."""
    apply_mlockall_flags(m, proc, 0)
