"""ext2 (fs/ext2/): blocks are allocated at writeback, in ext2_get_block.

2.6.37: generic_file_vm_ops has no ->page_mkwrite, so a store into a hole
only dirties the page; ENOSPC can only be met at writeback. Today's ext2
uses filemap_page_mkwrite(), which still allocates nothing.
"""

from ..flags import MKWRITE_GENERIC, MKWRITE_NONE
from .super import SuperBlock


class Ext2(SuperBlock):
    """The second extended filesystem."""

    fstype = "ext2"
    options_known = frozenset({"ext2_driver"})     # the simulator's: fs/ext2 on 6.18
    # no nanoseconds in the ext2/ext3 inode: alloc_super's default s_time_gran
    time_gran_ns = 1_000_000_000
    # ext2_file_operations: generic_file_aio_write (today generic_file_write_iter)
    write_fn = (("generic_perform_write", "ext2_write_begin"),) * 2

    def mkwrite_kind(self):
        """fs/ext2/file.c ext2_file_mmap -> generic_file_mmap (mm/filemap.c)."""
        return MKWRITE_GENERIC if self.kernel.generic_page_mkwrite else MKWRITE_NONE
