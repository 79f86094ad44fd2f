"""mmap, munmap and the checks around them (mm/mmap.c: do_mmap_pgoff,
mmap_region, do_munmap, vma_wants_writenotify).
"""

from .._abi import (MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_LOCKED, MAP_NONBLOCK, MAP_NORESERVE,
                    MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE,
                    PAGE_SHIFT, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE)
from ..errors import (EACCES, EAGAIN, EEXIST, EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM,
                      error)
from .gup import populate_range
from .memory import zap_pte_range
from .mlock import can_do_mlock, page_align
from .shmem import shmem_evict_inode, shmem_zero_setup
from .vma import MMAP_MIN_ADDR, TASK_SIZE, VMA
from ..flags import (VM_ACCOUNT, VM_EXEC, VM_LOCKED, VM_LOCKONFAULT, VM_MAYEXEC, VM_MAYREAD,
                     VM_MAYSHARE, VM_MAYWRITE, VM_NORESERVE, VM_READ, VM_SHARED, VM_WRITE)

# The flags MAP_SHARED_VALIDATE accepts (include/linux/mman.h LEGACY_MAP_MASK):
# SHARED PRIVATE FIXED ANONYMOUS 32BIT ABOVE4G GROWSDOWN DENYWRITE EXECUTABLE
# LOCKED NORESERVE POPULATE NONBLOCK STACK HUGETLB UNINITIALIZED HUGE_MASK.
LEGACY_MAP_MASK = (0x1 | 0x2 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x800 | 0x1000
                   | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000
                   | 0x4000000 | 0xFC000000)


def calc_vm_prot_bits(prot):
    """PROT_* to VM_* (include/linux/mman.h)."""
    return ((VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0)
            | (VM_EXEC if prot & PROT_EXEC else 0))


def accountable_mapping(vm_flags):
    """Whether a mapping is charged to overcommit: private and writable (accountable_mapping)."""
    return (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE


def do_mmap(m, proc, addr, length, prot, flags, file, offset):
    """Map length bytes; return the address (sys_mmap -> do_mmap_pgoff -> mmap_region).

    file is the process.File already looked up from the fd (EBADF is the
    caller's), or None for MAP_ANONYMOUS (which gets an shmem file when shared).
    MAP_FIXED_NOREPLACE (4.17) is MAP_FIXED that fails with EEXIST where the
    range overlaps a mapping; older kernels do not know the bit and ignore
    it, so the address is a hint, taken if the range is free.
    """
    k = m.kernel
    mm = proc.mm
    if offset & (PAGE_SIZE - 1):
        raise error(EINVAL, "mmap: offset not page aligned")
    if length == 0:
        raise error(EINVAL, "mmap: length 0")
    length = page_align(length)
    if length == 0 or length > TASK_SIZE:
        raise error(ENOMEM, "mmap: length overflows")
    pgoff = offset >> PAGE_SHIFT
    if pgoff + (length >> PAGE_SHIFT) >= 1 << 64:
        raise error(EOVERFLOW, "mmap: offset + length overflows")
    noreplace = bool(flags & MAP_FIXED_NOREPLACE) and k.has_map_fixed_noreplace
    if noreplace:
        flags |= MAP_FIXED      # "force arch specific MAP_FIXED handling"
    if flags & MAP_FIXED:
        if addr > TASK_SIZE - length:
            raise error(ENOMEM, "mmap: MAP_FIXED range past TASK_SIZE")
        if addr & (PAGE_SIZE - 1):
            raise error(EINVAL, "mmap: MAP_FIXED address not page aligned")
        if addr < MMAP_MIN_ADDR and not proc.capable("CAP_SYS_RAWIO"):
            raise error(EPERM, "mmap: below vm.mmap_min_addr")
    else:
        addr = mm.get_unmapped_area(length, addr)
        if addr is None:
            raise error(ENOMEM, "mmap: no room in the address space")
    if noreplace and mm.vmas_in(addr, addr + length):
        raise error(EEXIST, f"mmap: MAP_FIXED_NOREPLACE over a mapping at {addr:#x}")
    vm_flags = (calc_vm_prot_bits(prot) | mm.def_flags
                | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
                | (VM_LOCKED if flags & MAP_LOCKED else 0))
    if flags & MAP_LOCKED and not can_do_mlock(proc):
        raise error(EPERM, "mmap: MAP_LOCKED with RLIMIT_MEMLOCK 0")
    if vm_flags & VM_LOCKED:
        locked = (length >> PAGE_SHIFT) + mm.locked_vm
        if locked > proc.memlock_limit_pages() and not proc.capable("CAP_IPC_LOCK"):
            raise error(EAGAIN, f"mmap: {locked} locked pages over RLIMIT_MEMLOCK")
    maptype = flags & MAP_TYPE
    if file is not None:
        if maptype == MAP_SHARED_VALIDATE and k.has_map_shared_validate:
            if flags & ~LEGACY_MAP_MASK:
                raise error(EOPNOTSUPP, f"mmap: unknown flags {flags & ~LEGACY_MAP_MASK:#x}")
            maptype = MAP_SHARED
        if maptype == MAP_SHARED:
            if prot & PROT_WRITE and not file.writable:
                raise error(EACCES, "mmap: shared writable mapping of a file not open for writing")
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.writable:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        elif maptype != MAP_PRIVATE:
            raise error(EINVAL, f"mmap: bad map type {maptype:#x}")
        if not file.readable:
            raise error(EACCES, "mmap: file not open for reading")
    else:
        if maptype == MAP_SHARED:
            vm_flags |= VM_SHARED | VM_MAYSHARE
            file = shmem_zero_setup(m, length)
            pgoff = 0
        elif maptype == MAP_PRIVATE:
            pgoff = addr >> PAGE_SHIFT
        else:
            raise error(EINVAL, f"mmap: bad map type {maptype:#x}")
    if flags & MAP_NORESERVE:
        vm_flags |= VM_NORESERVE       # the default overcommit mode honours it
    if accountable_mapping(vm_flags):
        vm_flags |= VM_ACCOUNT
    # mmap_region: MAP_FIXED replaces what was there
    do_munmap(m, proc, addr, length)
    vma = VMA(addr, addr + length, vm_flags, file, pgoff)
    mm.insert(vma)
    if file is not None:
        file.inode.touch_atime()      # ->mmap: generic_file_mmap -> file_accessed
    if vm_flags & VM_LOCKED:
        mm.locked_vm += length >> PAGE_SHIFT
    mm.try_merge(vma, k)
    # MAP_NONBLOCK turns MAP_POPULATE into nothing (since 2.6.23; today's do_mmap:
    # (flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE)
    populate = flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE
    if (vm_flags & VM_LOCKED and not vm_flags & VM_LOCKONFAULT) or populate:
        populate_range(m, proc, addr, addr + length, True,
                       "mmap(MAP_LOCKED)" if vm_flags & VM_LOCKED else "mmap(MAP_POPULATE)")
    return addr


def do_munmap(m, proc, start, length):
    """Unmap [start, start+length): split, zap and unlink VMAs (mm/mmap.c do_munmap)."""
    mm = proc.mm
    end = start + length
    if not mm.vmas_in(start, end):
        return
    mm.split_at(start)
    mm.split_at(end)
    for vma in mm.vmas_in(start, end):
        if vma.flags & VM_LOCKED:
            mm.locked_vm -= vma.npages
        zap_pte_range(m, vma, 0, vma.npages)
        mm.remove(vma)
        inode = vma.inode
        if inode is not None and inode.sb.shmem and not inode.mmaps:
            shmem_evict_inode(inode)


def sys_munmap(m, proc, start, length):
    """munmap(): EINVAL for an unaligned start or a zero or overflowing length."""
    if start & (PAGE_SIZE - 1) or start > TASK_SIZE or length > TASK_SIZE - start:
        raise error(EINVAL, "munmap: bad range")
    length = page_align(length)
    if length == 0:
        raise error(EINVAL, "munmap: length 0")
    do_munmap(m, proc, start, length)

