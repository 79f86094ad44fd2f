"""pread(2) and pwrite(2) (fs/read_write.c: ksys_pread64, ksys_pwrite64,
vfs_read, vfs_write, rw_verify_area; mm/filemap.c generic_write_checks).

The checks are the VFS's, in its order; the copying is the page cache's
(mm/filemap.py). Process.pread and Process.pwrite check the offset (EINVAL
for a negative one, before the fd) and look the fd up (EBADF).
"""

from ..errors import EBADF, EFAULT, EFBIG, EINVAL, error
from ..mm.filemap import do_generic_file_read, generic_perform_write
from .super import MAX_FILE_SIZE

MAX_RW_COUNT = 0x7FFFF000        # include/linux/fs.h: INT_MAX & PAGE_MASK
LOFF_MAX = (1 << 63) - 1


def rw_verify_area(pos, count, op):
    """Refuse a count or an end past loff_t (EINVAL); return count capped at MAX_RW_COUNT.

    fs/read_write.c rw_verify_area: (ssize_t)count < 0 and pos + count
    overflowing are EINVAL; a larger transfer is cut to MAX_RW_COUNT
    (there in 2.6.37, in vfs_read/vfs_write today).
    """
    if count > LOFF_MAX or pos + count > LOFF_MAX:
        raise error(EINVAL, f"{op}: offset {pos} + count {count} past the loff_t range")
    return min(count, MAX_RW_COUNT)


def vfs_read(m, proc, file, count, pos):
    """Read from an open file at pos (vfs_read): EBADF unless open for reading."""
    if not file.readable:
        raise error(EBADF, "pread: fd not open for reading")
    count = rw_verify_area(pos, count, "pread")
    if count == 0:
        return b""
    return do_generic_file_read(m, proc, file.inode, pos, count)


def generic_write_checks(inode, pos, count):
    """Return the count the write may do (mm/filemap.c generic_write_checks).

    At or past the filesystem's s_maxbytes: EFBIG; a write that would
    cross it is cut short there. Simplified: one s_maxbytes (ext4's 16 TiB)
    for every filesystem; RLIMIT_FSIZE is not simulated; 2.6.37 refused a
    zero-length write past s_maxbytes too, here it returns 0 on every kernel.
    """
    if pos >= MAX_FILE_SIZE:
        raise error(EFBIG, f"pwrite: offset {pos} at or past the maximum file size")
    return min(count, MAX_FILE_SIZE - pos)


def vfs_write(m, proc, file, data, pos):
    """Write bytes to an open file at pos (vfs_write -> ->write_iter); return the count written.

    EBADF unless open for writing; EFAULT for data that is not a bytes-like
    buffer (access_ok, as for a buffer the kernel cannot read); then rw_verify_area, generic_write_checks,
    file_update_time (before anything is copied, so a write that then
    fails with ENOSPC has moved mtime: __generic_file_aio_write, today
    file_modified), and generic_perform_write. A write that copied
    nothing raises the error that stopped it (ENOSPC); one that copied
    some bytes returns their count.
    """
    if not file.writable:
        raise error(EBADF, "pwrite: fd not open for writing")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(EFAULT, f"pwrite: data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    count = rw_verify_area(pos, len(data), "pwrite")
    if count == 0:
        return 0
    inode = file.inode
    count = generic_write_checks(inode, pos, count)
    inode.file_update_time()
    written, err = generic_perform_write(m, proc, inode, pos, data[:count])
    if written == 0 and err:
        raise error(err, f"pwrite: {inode.name} at offset {pos}")
    return written
