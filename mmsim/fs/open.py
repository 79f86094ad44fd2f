"""Changing a file's size (fs/open.c do_truncate -> notify_change -> ->setattr)."""


def do_truncate(inode, size):
    """Set the file's size through its filesystem (do_truncate)."""
    inode.sb.truncate(inode, size)
