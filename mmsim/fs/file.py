"""An open file description (struct file, include/linux/fs.h)."""

from dataclasses import dataclass


@dataclass
class File:
    """What an fd refers to: the inode, the path opened and the access mode."""

    inode: object
    path: str
    readable: bool
    writable: bool
