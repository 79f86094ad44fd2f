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
