"""msync (mm/msync.c: sys_msync)."""

from .._abi import MS_ASYNC, MS_INVALIDATE, MS_SYNC, PAGE_SHIFT, PAGE_SIZE
from ..errors import EBUSY, EINVAL, ENOMEM, error
from ..fs.sync import vfs_fsync_range
from .mlock import page_align
from ..flags import VM_LOCKED, VM_SHARED


def sys_msync(m, proc, start, length, flags):
    """Write back the shared file pages of [start, start+length) for MS_SYNC.

    MS_ASYNC does nothing (since 2.6.19 dirty pages are already tracked).
    2.6.37 fsyncs each whole file (vfs_fsync); since 3.19 only the range
    (vfs_fsync_range). An unmapped part gives ENOMEM after the rest is done.
    """
    if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC):
        raise error(EINVAL, f"msync: flags {flags:#x}")
    if start & (PAGE_SIZE - 1):
        raise error(EINVAL, "msync: start not page aligned")
    if flags & MS_ASYNC and flags & MS_SYNC:
        raise error(EINVAL, "msync: MS_ASYNC and MS_SYNC together")
    length = page_align(length)
    end = start + length
    if end >= 1 << 64:
        raise error(ENOMEM, "msync: range wraps")
    if end == start:
        return
    unmapped = False
    addr = start
    while addr < end:
        vma = proc.mm.find_vma(addr)
        if vma is None:
            raise error(ENOMEM, "msync: range not mapped")
        if addr < vma.start:
            unmapped = True
            addr = vma.start
            if addr >= end:
                break
        if flags & MS_INVALIDATE and vma.flags & VM_LOCKED:
            raise error(EBUSY, "msync: MS_INVALIDATE on locked memory")
        if flags & MS_SYNC and vma.file is not None and vma.flags & VM_SHARED:
            if m.kernel.msync_syncs_range:
                first = vma.pgoff + ((addr - vma.start) >> PAGE_SHIFT)
                last = vma.pgoff + ((min(end, vma.end) - vma.start) >> PAGE_SHIFT)
            else:
                first, last = 0, None
            vfs_fsync_range(m, proc, vma.inode, first, last, "msync")
        addr = vma.end
    if unmapped:
        raise error(ENOMEM, "msync: part of the range is not mapped")
