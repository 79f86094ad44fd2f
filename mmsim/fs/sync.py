"""fsync, msync's writeback and sync (fs/sync.c: vfs_fsync_range, ksys_sync)."""

from .._abi import PAGE_SIZE
from ..errors import error
from ..kernels import fname
from ..mm.page_writeback import filemap_check_errors, write_cache_pages


def vfs_fsync_range(m, proc, inode, first, last, op):
    """Write back the dirty pages of [first, last) and wait for them (vfs_fsync_range).

    The caller's clock runs until the writes complete. Raise OSError with
    the writeback error (ENOSPC ...) if one is pending: the file's, whatever
    range was asked, reported once (filemap_check_errors clears it). 2.6.37
    looks only when the mapping has pages cached (filemap_write_and_wait_range
    skips an empty one), so an error whose pages were all dropped waits for a
    later call; today file_check_and_advance_wb_err always looks.
    Simplified: one error per file, not one per open file (errseq's f_wb_err).
    """
    cached = inode.mapping.nrpages
    res = write_cache_pages(m, inode, first=first, last=last, sync=True)
    if res.written or res.failed:
        m.trace.record(m.now, proc.pid, op,
                       ("vfs_fsync_range", "write_cache_pages",
                        fname(m.kernel, "clear_page_dirty_for_io")),
                       first * PAGE_SIZE,
                       (inode.npages if last is None else last) * PAGE_SIZE,
                       res.written + res.failed)
    m.clock.run_until(res.done)
    err = filemap_check_errors(inode.mapping) if cached or m.kernel.errseq_wb_err else 0
    if err:
        raise error(err, f"{op}: writeback of {inode.name} failed")


def ksys_sync(m):
    """sync(2): write back every dirty page of every filesystem and wait (ksys_sync).

    Today writeback errors stay recorded for each file's next fsync
    (filemap_fdatawait_keep_errors). 2.6.37's wait_sb_inodes waits on every
    inode with pages cached through filemap_fdatawait, which clears
    AS_ENOSPC: sync(2) returns nothing, and the error is gone.
    """
    done = m.now
    for sb in m.mounts.values():
        for inode in sb.inodes.values():
            done = max(done, write_cache_pages(m, inode, sync=True).done)
    m.clock.run_until(done)
    if not m.kernel.errseq_wb_err:
        for sb in m.mounts.values():
            for inode in sb.inodes.values():
                if inode.mapping.nrpages:
                    filemap_check_errors(inode.mapping)
