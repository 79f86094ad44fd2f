"""XFS (fs/xfs/): delayed allocation, and unwritten extents that need ->page_mkwrite.

fs/xfs/linux-2.6/xfs_file.c xfs_vm_page_mkwrite -> block_page_mkwrite with
xfs_get_blocks: a hole gets a delalloc reservation; a preallocated
(unwritten) block gets its buffer marked unwritten, which is what makes
->writepage convert the extent to written after the I/O. A store that skips
->page_mkwrite (the simulator's "no_page_mkwrite" mount option) writes the
data but leaves the extent unwritten: it reads back as zeros (xfstests 166,
Dave Chinner in the thread).
"""

from ..flags import MKWRITE_RESERVE
from .super import SuperBlock


class Xfs(SuperBlock):
    """SGI's XFS."""

    fstype = "xfs"
    unwritten_needs_mkwrite = True
    mkwrite_fn = ("xfs_vm_page_mkwrite", "xfs_filemap_page_mkwrite")
    # fs/xfs/linux-2.6/xfs_aops.c xfs_vm_writepage (2.6.37); today the
    # ->writepages, xfs_vm_writepages -> iomap_writepages
    writepage_fn = ("xfs_vm_writepage", "xfs_vm_writepages")
    punch_hole_on = ("2.6.38", "6.18")  # with FALLOC_FL_PUNCH_HOLE itself

    def mkwrite_kind(self):
        """xfs_vm_page_mkwrite: reserve (delalloc) and mark unwritten buffers."""
        return MKWRITE_RESERVE

    def write_begin_kind(self):
        """xfs_vm_write_begin -> block_write_begin with xfs_get_blocks (today
        xfs_buffered_write_iomap_begin): a delalloc reservation, and an
        unwritten extent's buffers marked for conversion."""
        return MKWRITE_RESERVE

    write_fn = (("generic_perform_write", "xfs_vm_write_begin"),
                ("iomap_file_buffered_write", "xfs_buffered_write_iomap_begin"))

    def has_fallocate(self):
        """fs/xfs xfs_file_fallocate (unwritten extents)."""
        return True
