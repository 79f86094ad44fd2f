"""LTP's msync cases, ported: testcases/kernel/syscalls/msync/ of
linux-test-project/ltp (read at 695827725f4f).

msync04's /proc/self/pagemap + /proc/kpageflags dirty bit is p.pageflags;
its all_filesystems run is one case per simulated filesystem.
"""

import pytest

from mmsim import MAP_LOCKED, MAP_SHARED, MS_ASYNC, MS_INVALIDATE, MS_SYNC, PROT_READ, PROT_WRITE

from peer_support import (EBUSY, EINVAL, ENOMEM, PAGE, RELEASES, errno_of, machine, needs_pread,
                          needs_pwrite, new_file, root)

RW = PROT_READ | PROT_WRITE
FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs")


@needs_pread
@pytest.mark.parametrize("kernel", RELEASES)
def test_msync01(kernel):
    """msync01.c: 256 bytes of 1 stored at offset 100 of a one-page shared file
    mapping; msync(MS_ASYNC) succeeds and read(2) at offset 100 returns them."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/msync_file", PAGE)
    addr = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    p.write(addr + 100, b"\x01" * 256)
    p.msync(addr, PAGE, MS_ASYNC)
    assert p.pread(fd, 256, 100) == b"\x01" * 256


@needs_pwrite
@pytest.mark.parametrize("kernel", RELEASES)
def test_msync02(kernel):
    """msync02.c: "Testing" written with write(2) at offset 100 of a mapped
    file; msync(MS_INVALIDATE) succeeds and the mapping shows it."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/msync_file")
    p.pwrite(fd, bytes(PAGE), 0)
    addr = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    p.pwrite(fd, b"Testing", 100)
    p.msync(addr, PAGE, MS_INVALIDATE)
    assert p.read(addr + 100, 7) == b"Testing"


MSYNC03 = [  # which address, flags, errno
    ("addr1", MS_INVALIDATE, EBUSY),
    ("addr1", MS_ASYNC | MS_SYNC, EINVAL),
    ("addr1", -1, EINVAL),
    ("addr2", MS_SYNC, EINVAL),
    ("addr3", MS_SYNC, EINVAL),
    ("addr4", MS_SYNC, ENOMEM),
]


@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("which,flags,err", MSYNC03,
                         ids=["EBUSY", "ASYNC|SYNC", "INV_SYNC", "unaligned", "outside",
                              "unmapped"])
def test_msync03(kernel, which, flags, err):
    """msync03.c test_cases: addr1 is a MAP_SHARED | MAP_LOCKED page (EBUSY with
    MS_INVALIDATE; EINVAL for MS_ASYNC | MS_SYNC and for flags -1), addr2 =
    addr1 + 1 (EINVAL), addr3 = RLIMIT_DATA's rlim_max (RLIM_INFINITY, EINVAL),
    addr4 an unmapped page (sbrk(0) + 4 pages: ENOMEM)."""
    m = machine(kernel)
    p = root(m)
    fd = new_file(p, "/mnt/msync_file", PAGE)
    addr1 = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_LOCKED, fd, 0)
    hole = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    p.munmap(hole, PAGE)
    addr = {"addr1": addr1, "addr2": addr1 + 1, "addr3": (1 << 64) - 1, "addr4": hole}[which]
    assert errno_of(p.msync, addr, PAGE, flags) == err


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_msync04(fs):
    """msync04.c on each filesystem: a store through a shared mapping of a
    10-byte file dirties its page; after msync(MS_SYNC) the page is clean."""
    m = machine("6.18", fs=fs)
    p = root(m)
    fd = new_file(p, "/mnt/testfile", 10)
    area = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    p.close(fd)
    p.write(area + 8, b"B")
    assert p.pageflags(area, PAGE)["dirty"][0]
    p.msync(area, PAGE, MS_SYNC)
    assert not p.pageflags(area, PAGE)["dirty"][0]
    p.munmap(area, PAGE)
