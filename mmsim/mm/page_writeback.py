"""Writing dirty pages back (mm/page-writeback.c write_cache_pages,
clear_page_dirty_for_io; fs/sync.c vfs_fsync_range, sync).

A dirty page is cleaned before its I/O starts: every PTE that maps it is
write-protected and cleaned (page_mkclean), so the next store faults again.
The filesystem chooses where it goes (->writepage, fs/super.py): a page it
cannot place (ENOSPC on ext2 and ext3, which allocate only here) is
redirtied and the error is kept for the next fsync or msync to report.
"""

import numpy as np

from ..errors import ENOSPC
from ..fs.inode import B_UNWRITTEN
from .filemap import PG_MKWRITE
from .memory import page_mkclean


def write_cache_pages(m, inode, first=0, last=None):
    """Write the dirty pages of inode in [first, last), in offset order.

    Return (pages written, pages that could not be placed, seconds of I/O).
    """
    mapping = inode.mapping
    pgs = mapping.dirty_pages(first, last)
    if len(pgs) == 0:
        return 0, 0, 0.0
    page_mkclean(m, inode, pgs)
    mapping.clear_dirty(pgs)
    written, convert = inode.sb.writepage(inode, pgs)
    ok = pgs[written]
    seconds = inode.sb.disk.write(inode.block[ok], mapping.data[ok])
    conv = pgs[written & convert]
    inode.bstate[conv] &= ~np.uint8(B_UNWRITTEN)
    mapping.flags[ok] &= ~np.uint8(PG_MKWRITE)
    failed = pgs[~written]
    if len(failed):
        mapping.set_dirty(failed)
        mapping.wb_err = ENOSPC
    if mapping.ndirty == 0:
        inode.dirtied_when = None
    return len(ok), len(failed), seconds


def filemap_check_errors(mapping):
    """Return and clear the writeback error the mapping recorded (0 if none)."""
    err, mapping.wb_err = mapping.wb_err, 0
    return err
