"""What the ported suites share: machines, the privileges LTP's needs_root gives,
glibc's malloc, and markers for the calls the Process API is still gaining.

The suites' set-ups are translated, not copied: a test that runs as root gets
CAP_IPC_LOCK (and an unlimited RLIMIT_MEMLOCK); one that does seteuid(nobody)
gets a separate process without capabilities and the limit the test set.
"""

import errno
import os

import pytest

import mmsim
from mmsim import GiB, MiB, PAGE_SIZE, RLIM_INFINITY
from mmsim.machine import StatResult

PAGE = PAGE_SIZE
KB = PAGE // 1024
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)
RELEASES = ("2.6.37", "2.6.38", "6.18")
MALLOC_HEADER = 16          # glibc: an mmap()ed chunk's user pointer is 2 * SIZE_SZ in


def machine(kernel="6.18", fs="ext4", size=64 * MiB, options="", ram=GiB):
    """A fresh machine with one filesystem on /mnt (fs=None: none)."""
    m = mmsim.Machine(kernel=kernel, ram=ram)
    if fs is not None:
        m.mkfs("/mnt", fs=fs, size=size, options=options)
    return m


def root(m):
    """A process as LTP's needs_root runs it: CAP_IPC_LOCK, no memlock limit."""
    return m.spawn(memlock=UNLIMITED, caps={"CAP_IPC_LOCK", "CAP_SYS_RESOURCE"})


def nobody(m, limit):
    """What seteuid(nobody) leaves: no capabilities, RLIMIT_MEMLOCK = limit (bytes)."""
    return m.spawn(memlock=(limit, limit))


def malloc(p, n):
    """glibc malloc(n) for the sizes the suites use: its own anonymous mapping.

    Simplified: every chunk is mmap()ed (glibc does so from 128 KiB on, and
    smaller ones come from the heap, which is anonymous memory too); the
    pointer is 16 bytes into the mapping, past the chunk header, so it is not
    page aligned, as a real malloc() pointer is not.
    """
    base = p.mmap(0, n + MALLOC_HEADER, mmsim.PROT_READ | mmsim.PROT_WRITE,
                  mmsim.MAP_PRIVATE | mmsim.MAP_ANONYMOUS)
    return base + MALLOC_HEADER


def errno_of(fn, *args):
    """The errno fn(*args) fails with (the test fails if it succeeds)."""
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def vmlck_kb(p):
    """VmLck of /proc/PID/status, in kB."""
    return p.status()["VmLck"]


def vma_of(p, addr):
    """(start, end) of the VMA holding addr, as /proc/PID/maps shows it."""
    s = p.smaps(addr)
    return s["start"], s["end"]


def new_file(p, path, size=0, flags=os.O_RDWR | os.O_CREAT):
    """open(path) and give it size bytes (a sparse file); return the fd."""
    fd = p.open(path, flags)
    if size:
        p.ftruncate(fd, size)
    return fd


def cycle_mount(m):
    """_scratch_cycle_mount as far as the page cache goes: write back, then drop it."""
    m.sync()
    m.drop_caches()


# The calls other engineers are adding to the Process API: the cases that need
# them run once they land.
needs_pread = pytest.mark.skipif(not hasattr(mmsim.Process, "pread"), reason="needs p.pread")
needs_pwrite = pytest.mark.skipif(not hasattr(mmsim.Process, "pwrite"), reason="needs p.pwrite")
needs_madvise = pytest.mark.skipif(not hasattr(mmsim.Process, "madvise"),
                                   reason="needs p.madvise")
needs_mincore = pytest.mark.skipif(not hasattr(mmsim.Process, "mincore"),
                                   reason="needs p.mincore")
needs_noreplace = pytest.mark.skipif(not hasattr(mmsim, "MAP_FIXED_NOREPLACE"),
                                     reason="needs MAP_FIXED_NOREPLACE in mmap")


def _stat_has(field):
    return field in getattr(StatResult, "__dataclass_fields__", {}) or hasattr(StatResult, field)


needs_mtime = pytest.mark.skipif(not _stat_has("st_mtime"), reason="needs m.stat().st_mtime")
needs_ctime = pytest.mark.skipif(not _stat_has("st_ctime"), reason="needs m.stat().st_ctime")

ENOMEM, EPERM, EINVAL, EAGAIN, EACCES, EBADF, EBUSY, EEXIST, EOPNOTSUPP, ENOSYS = (
    errno.ENOMEM, errno.EPERM, errno.EINVAL, errno.EAGAIN, errno.EACCES, errno.EBADF,
    errno.EBUSY, errno.EEXIST, errno.EOPNOTSUPP, errno.ENOSYS)
