"""btrfs (fs/btrfs/): copy-on-write, so every store needs new space.

fs/btrfs/inode.c btrfs_page_mkwrite reserves delalloc space for the page
(btrfs_delalloc_reserve_space) even where the file already has blocks,
because writeback writes the data somewhere new and frees the old extent.
Simplified: no checksums, no metadata reservation, no compression.
"""

from ..flags import MKWRITE_RESERVE
from .super import SuperBlock


class Btrfs(SuperBlock):
    """The B-tree filesystem."""

    fstype = "btrfs"
    cow = True
    mkwrite_fn = ("btrfs_page_mkwrite", "btrfs_page_mkwrite")
    punch_hole_on = ("6.18",)          # btrfs gained hole punching in 3.2

    def mkwrite_kind(self):
        """btrfs_page_mkwrite: reserve delalloc space for every page made writable."""
        return MKWRITE_RESERVE

    def write_begin_kind(self):
        """btrfs_file_aio_write (today btrfs_buffered_write) reserves delalloc
        space for every page it copies into (btrfs_delalloc_reserve_space)."""
        return MKWRITE_RESERVE

    write_fn = (("btrfs_file_aio_write", "btrfs_delalloc_reserve_space"),
                ("btrfs_buffered_write", "btrfs_delalloc_reserve_space"))

    def has_fallocate(self):
        """fs/btrfs/file.c btrfs_fallocate (preallocated extents)."""
        return True
