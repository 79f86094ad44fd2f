"""ext3 (fs/ext3/, removed in 4.3): like ext2 on the fault side.

2.6.37's ext3 has no ->page_mkwrite and allocates in ext3_get_block at
writeback. Since 4.3 the ext4 driver mounts ext3 filesystems; mkfs on such a
kernel gives an Ext4 personality named "ext3" (fs/ext4/super.c ext3_fs_type).
Journalling is not modelled.
"""

from .ext2 import Ext2


class Ext3(Ext2):
    """The third extended filesystem, as its own 2.6 driver runs it."""

    fstype = "ext3"
    write_fn = (("generic_perform_write", "ext3_write_begin"),) * 2
