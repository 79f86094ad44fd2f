"""Changing a file's size (fs/open.c do_truncate -> notify_change -> ->setattr)."""


def do_truncate(inode, size):
    """Set the file's size through its filesystem, and its mtime and ctime (do_truncate).

    ftruncate(2) and open(O_TRUNC) pass ATTR_MTIME | ATTR_CTIME whether or
    not the size changes (do_sys_ftruncate, handle_truncate), so
    notify_change stamps both with the current time and setattr_copy
    stores them (fs/attr.c), after the filesystem took the new size.
    """
    inode.sb.truncate(inode, size)
    inode.mtime_ns = inode.ctime_ns = inode.current_time()
