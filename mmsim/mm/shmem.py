"""shmem (mm/shmem.c): the memory behind MAP_SHARED|MAP_ANONYMOUS.

No blocks, no writeback (no swap is configured), no dirty accounting, so no
write-notify: a read fault on a writable shared mapping maps the page
writable at once. Its pages cannot be dropped, only unmapped.
"""

from .._abi import PAGE_SHIFT
from ..fs.file import File
from ..fs.super import SuperBlock
from ..flags import MKWRITE_GENERIC


class Shmem(SuperBlock):
    """The internal tmpfs mount that backs shared anonymous memory (shm_mnt)."""

    fstype = "tmpfs"
    shmem = True
    dirty_accounting = False

    def __init__(self, machine):
        super().__init__(machine, "/dev/shm", 0)
        self.nr_files = 0

    def write_begin_kind(self):
        """shmem_write_begin: a page, no block (tmpfs has none)."""
        return MKWRITE_GENERIC

    write_fn = (("generic_perform_write", "shmem_write_begin"),) * 2


def shmem_zero_setup(m, length):
    """Back a MAP_SHARED|MAP_ANONYMOUS mapping with a new shmem file; return its File."""
    shm = m.shm_mnt
    shm.nr_files += 1
    inode = shm.lookup(f"dev/zero#{shm.nr_files}", create=True)
    inode.resize(length >> PAGE_SHIFT)
    inode.size = length
    return File(inode, "/dev/zero (deleted)", True, True)


def shmem_evict_inode(inode):
    """Free a shmem file whose last mapping went away (shmem_evict_inode)."""
    inode.mapping.remove(slice(0, len(inode.mapping.flags)))
    del inode.sb.inodes[inode.name]
