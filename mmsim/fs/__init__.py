"""Filesystems, one personality per module, mirroring the kernel's fs/."""

from ..errors import ENODEV, error
from .btrfs import Btrfs
from .ext2 import Ext2
from .ext3 import Ext3
from .ext4 import Ext2OnExt4, Ext3OnExt4, Ext4
from .gfs2 import Gfs2
from .xfs import Xfs

# What the widgets, the exercises and the book offer (their stored outputs
# list these five); mkfs takes every one of ALL_FILESYSTEMS.
FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs")
ALL_FILESYSTEMS = FILESYSTEMS + ("gfs2",)


def fs_type(name, kernel, options=()):
    """Return the SuperBlock class that mounts name on kernel (get_fs_type).

    Today's kernels mount ext3, and usually ext2, with the ext4 driver; the
    simulator-only mount option "ext2_driver" keeps fs/ext2 for ext2.
    """
    if name == "ext3" and not kernel.has_ext3_driver:
        return Ext3OnExt4
    if name == "ext2" and kernel.ext4_mounts_ext2 and "ext2_driver" not in options:
        return Ext2OnExt4
    table = {"ext2": Ext2, "ext3": Ext3, "ext4": Ext4, "xfs": Xfs, "btrfs": Btrfs,
             "gfs2": Gfs2}
    try:
        return table[name]
    except KeyError:
        raise error(ENODEV, f"unknown filesystem type {name!r}; choose one of "
                    + ", ".join(ALL_FILESYSTEMS)) from None
