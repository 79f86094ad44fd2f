"""ext4 (fs/ext4/): ->page_mkwrite reserves or allocates at the first store.

fs/ext4/inode.c ext4_page_mkwrite: with delayed allocation (the default) a
store into a hole reserves a block (ext4_da_reserve_space, shown in st_blocks
by ext4_getattr) and the block is chosen at writeback; mounted nodelalloc it
allocates the block at once. Either way ENOSPC is found at the fault and
becomes SIGBUS. fallocate() preallocates unwritten extents.
"""

from ..flags import MKWRITE_ALLOC, MKWRITE_RESERVE
from .super import SuperBlock


class Ext4(SuperBlock):
    """The fourth extended filesystem."""

    fstype = "ext4"
    options_known = frozenset({"delalloc", "nodelalloc"})
    mkwrite_fn = ("ext4_page_mkwrite", "ext4_page_mkwrite")
    punch_hole_on = ("6.18",)          # a4bb6b64e39a, 3.0

    def mkwrite_kind(self):
        """fs/ext4/inode.c ext4_page_mkwrite (ext4_da_get_block_prep or ext4_get_block)."""
        return MKWRITE_ALLOC if "nodelalloc" in self.options else MKWRITE_RESERVE

    def has_fallocate(self):
        """fs/ext4/extents.c ext4_fallocate (extent-mapped files only)."""
        return True

    def write_begin_kind(self):
        """fs/ext4/inode.c ext4_da_write_begin reserves (ext4_da_get_block_prep),
        ext4_write_begin (nodelalloc) allocates: as ->page_mkwrite does."""
        return self.mkwrite_kind()

    def write_path(self):
        """ext4_file_write (today ext4_buffered_write_iter) -> generic_perform_write."""
        begin = "ext4_write_begin" if "nodelalloc" in self.options else "ext4_da_write_begin"
        return ("generic_perform_write", begin)


class Ext3OnExt4(Ext4):
    """An ext3 filesystem mounted by the ext4 driver (kernels without fs/ext3)."""

    fstype = "ext3"

    def has_fallocate(self):
        """ext4_fallocate returns EOPNOTSUPP for indirect-block (ext3) files."""
        return False


class Ext2OnExt4(Ext3OnExt4):
    """An ext2 filesystem mounted by the ext4 driver (CONFIG_EXT4_USE_FOR_EXT2).

    ext4_page_mkwrite runs at the first store, with delayed allocation, so a
    store into a hole on a full filesystem gets SIGBUS as on ext4 (measured
    on Linux 6.18). Simplified: ext4 switches to allocating at the fault
    when free space runs low (ext4_nonda_switch); the simulator keeps
    reserving.
    """

    fstype = "ext2"
    options_known = Ext4.options_known | {"ext2_driver"}
