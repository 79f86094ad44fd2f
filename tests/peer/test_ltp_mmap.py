"""LTP's mmap and munmap cases, ported: testcases/kernel/syscalls/mmap/ and
testcases/kernel/syscalls/munmap/ of linux-test-project/ltp (read at 695827725f4f).

Set-up as in peer_support; a signal the LTP case catches with a handler (or
in a child) is the mmsim.Signal the access raises; a file the case fills with
write(2) only to give it a size is given its size with ftruncate(2) where
its contents do not matter, and with p.pwrite where they do.

Not expressible: mmap10's /dev/zero and KSM variants (no character devices,
no KSM); mmap11 (threads, glibc's stack freeing); mmap16 (1 KiB blocks and
mremap); mmap18 (MAP_GROWSDOWN stacks grown by threads); mmap22
(MAP_DROPPABLE under a memory cgroup); munmap04 (vm.max_map_count).
"""

import os
import signal

import pytest

import mmsim
from mmsim import (MAP_ANONYMOUS, MAP_FIXED, MAP_LOCKED, MAP_POPULATE, MAP_PRIVATE,
                   MAP_SHARED, MAP_SHARED_VALIDATE, MS_SYNC, PROT_EXEC, PROT_NONE, PROT_READ,
                   PROT_WRITE)

from peer_support import (EACCES, EBADF, EEXIST, EINVAL, ENOMEM, EOPNOTSUPP, PAGE,
                          RELEASES, cycle_mount, errno_of, machine, needs_noreplace,
                          needs_pread, needs_pwrite, new_file, root, vmlck_kb)

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
FILESYSTEMS = ("ext2", "ext4", "xfs", "btrfs")


def sig(fn, *args):
    """The signal number fn(*args) raises (the test fails if none)."""
    with pytest.raises(mmsim.Signal) as exc:
        fn(*args)
    return exc.value.signo


# -- mmap01.c: the part of the EOF page past EOF ---------------------------------------------

STRING = b"hello world\n"


@needs_pwrite
@needs_pread
@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap01(kernel):
    """mmap01.c: a 12-byte file mapped for a page: the rest of the page reads as
    zeros; "XYZ" stored past EOF and msync(MS_SYNC)ed is not in the file read(2)
    returns (12 bytes, no X, Y or Z)."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile")
    p.pwrite(fd, STRING, 0)
    file_sz = m.stat("/mnt/mmapfile").st_size
    addr = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    assert p.read(addr + file_sz, PAGE - file_sz) == bytes(PAGE - file_sz)
    p.write(addr + file_sz, b"XYZ")
    p.msync(addr, PAGE, MS_SYNC)
    child = p.fork()
    rd = child.open("/mnt/mmapfile", os.O_RDONLY)
    buf = child.pread(rd, len(STRING) + 3, 0)
    assert len(buf) == len(STRING)
    assert not set(buf) & set(b"XYZ")
    p.munmap(addr, PAGE)


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_mmap01_after_remount(fs):
    """mmap01.c's claim "the changes beyond EOF are not written to the file",
    checked on the disk: after msync(MS_SYNC) and a remount, a new mapping of
    the 12-byte file reads zeros past EOF. (Set-up: the file gets its 12 bytes
    from ftruncate and a store through a mapping rather than write(2).)"""
    m = machine("6.18", fs=fs)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile", len(STRING))
    addr = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    p.write(addr, STRING)
    p.write(addr + len(STRING), b"XYZ")
    p.msync(addr, PAGE, MS_SYNC)
    p.munmap(addr, PAGE)
    cycle_mount(m)
    addr = p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(addr, PAGE) == STRING + bytes(PAGE - len(STRING))


# -- mmap02.c, mmap03.c: read-only and exec-only mappings of a filled file ---------------------

@needs_pwrite
@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap02(kernel):
    """mmap02.c: a page of 'A' written, the file reopened O_RDONLY and mapped
    PROT_READ, MAP_SHARED: the mapping holds the 'A's."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile")
    p.pwrite(fd, b"A" * PAGE, 0)
    p.close(fd)
    fd = p.open("/mnt/mmapfile", os.O_RDONLY)
    addr = p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(addr, PAGE) == b"A" * PAGE
    p.munmap(addr, PAGE)


@needs_pwrite
@needs_pread
@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap03(kernel):
    """mmap03.c: a page of 'a', opened O_RDONLY, mapped PROT_EXEC, MAP_SHARED:
    the mmap succeeds and read(2) of the file still gives the 'a's."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile")
    p.pwrite(fd, b"a" * PAGE, 0)
    p.close(fd)
    child = p.fork()
    fd = child.open("/mnt/mmapfile", os.O_RDONLY)
    addr = child.mmap(0, PAGE, PROT_EXEC, MAP_SHARED, fd, 0)
    assert child.pread(fd, PAGE, 0) == b"a" * PAGE
    child.munmap(addr, PAGE)


# -- mmap04.c: permissions in /proc/self/maps --------------------------------------------------

MMAP04 = [
    (PROT_NONE, ANON, "---p"), (PROT_NONE, MAP_ANONYMOUS | MAP_SHARED, "---s"),
    (PROT_READ, ANON, "r--p"), (PROT_READ, MAP_ANONYMOUS | MAP_SHARED, "r--s"),
    (PROT_WRITE, ANON, "-w-p"), (PROT_WRITE, MAP_ANONYMOUS | MAP_SHARED, "-w-s"),
    (RW, ANON, "rw-p"), (RW, MAP_ANONYMOUS | MAP_SHARED, "rw-s"),
    (PROT_READ | PROT_EXEC, ANON, "r-xp"),
    (PROT_READ | PROT_EXEC, MAP_ANONYMOUS | MAP_SHARED, "r-xs"),
    (PROT_WRITE | PROT_EXEC, ANON, "-wxp"),
    (PROT_WRITE | PROT_EXEC, MAP_ANONYMOUS | MAP_SHARED, "-wxs"),
    (RW | PROT_EXEC, ANON, "rwxp"), (RW | PROT_EXEC, MAP_ANONYMOUS | MAP_SHARED, "rwxs"),
]


def maps_perms(vmflags):
    """The rwxp column of /proc/PID/maps from smaps' VmFlags (show_map_vma)."""
    f = vmflags.split()
    return ("r" if "rd" in f else "-") + ("w" if "wr" in f else "-") \
        + ("x" if "ex" in f else "-") + ("s" if "ms" in f else "p")


@pytest.mark.parametrize("prot,flags,perms", MMAP04, ids=[t[2] for t in MMAP04])
def test_mmap04(prot, flags, perms):
    """mmap04.c tcases: the second page of a two-page PROT_NONE mapping of the
    other type, remapped MAP_FIXED with prot and flags, shows perms in
    /proc/self/maps (read here from smaps' VmFlags, Linux 3.8+)."""
    p = machine(fs=None).spawn()
    other = MAP_SHARED if flags & MAP_PRIVATE else MAP_PRIVATE
    addr1 = p.mmap(0, 2 * PAGE, PROT_NONE, MAP_ANONYMOUS | other)
    addr2 = p.mmap(addr1 + PAGE, PAGE, prot, flags | MAP_FIXED)
    assert addr2 == addr1 + PAGE
    s = p.smaps(addr2)
    assert s["start"] == addr2 and maps_perms(s["VmFlags"]) == perms
    p.munmap(addr1, 2 * PAGE)


# -- mmap05.c, mmap13.c: signals ---------------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap05(kernel):
    """mmap05.c: a file open O_RDWR mapped PROT_NONE, MAP_SHARED: reading it
    raises SIGSEGV."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile", PAGE)
    addr = p.mmap(0, PAGE, PROT_NONE, MAP_SHARED, fd, 0)
    assert sig(p.read, addr, 1) == signal.SIGSEGV
    p.munmap(addr, PAGE)


@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap13(kernel):
    """mmap13.c: a half-page file mapped for two pages: a store at page + 1,
    past the page holding EOF, raises SIGBUS."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile", PAGE // 2)
    addr = p.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0)
    with pytest.raises(mmsim.Signal) as exc:
        p.write(addr + PAGE + 1, b"\0")
    assert exc.value.signo == signal.SIGBUS and exc.value.addr == addr + PAGE
    p.munmap(addr, 2 * PAGE)


# -- mmap06.c, mmap08.c, mmap15.c, mmap20.c: errnos --------------------------------------------

MMAP06 = [
    (1024, PROT_WRITE, MAP_PRIVATE, EACCES), (1024, PROT_WRITE, MAP_SHARED, EACCES),
    (1024, PROT_READ, MAP_PRIVATE, EACCES), (1024, PROT_READ, MAP_SHARED, EACCES),
    (1024, RW, MAP_PRIVATE, EACCES), (1024, RW, MAP_SHARED, EACCES),
    (0, RW, MAP_SHARED, EINVAL), (1024, RW, 0, EINVAL),
]


@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("length,prot,flags,err", MMAP06)
def test_mmap06(kernel, length, prot, flags, err):
    """mmap06.c tcases: a file open O_WRONLY cannot be mapped (EACCES); length 0
    and flags without a map type are EINVAL (MAP_FILE is 0)."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile", PAGE, flags=os.O_WRONLY | os.O_CREAT)
    assert errno_of(p.mmap, 0, length, prot, flags, fd, 0) == err


@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap08(kernel):
    """mmap08.c: mmap of a closed fd gives EBADF."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile")
    p.close(fd)
    assert errno_of(p.mmap, 0, PAGE, PROT_WRITE, MAP_SHARED, fd, 0) == EBADF


@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap15(kernel):
    """mmap15.c: MAP_FIXED at -page_size, the top of the address space, fails
    with ENOMEM or EINVAL."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile")
    high = (1 << 64) - PAGE
    assert errno_of(p.mmap, high, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) \
        in (ENOMEM, EINVAL)


def test_mmap20():
    """mmap20.c (min_kver 4.15): MAP_SHARED_VALIDATE with an unknown flag (1 << 10)
    gives EOPNOTSUPP."""
    m = machine("6.18")
    p = m.spawn()
    fd = new_file(p, "/mnt/file_to_mmap", 1024)
    assert errno_of(p.mmap, 0, 1024, RW, (1 << 10) | MAP_SHARED_VALIDATE, fd, 0) \
        == EOPNOTSUPP


# -- mmap09.c: ftruncate of a mapped file ------------------------------------------------------

MAPSIZE = 64 * 1024


@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("newsize", [MAPSIZE - 8192, MAPSIZE + 1024, 0],
                         ids=["smaller", "larger", "zero"])
def test_mmap09(kernel, newsize):
    """mmap09.c tcases: a 64 KiB file mapped and filled with 'A' can be
    ftruncated smaller, larger and to 0 while mapped."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmaptest", MAPSIZE)
    maddr = p.mmap(0, MAPSIZE, RW, MAP_SHARED, fd, 0)
    p.write(maddr, b"A" * MAPSIZE)
    p.ftruncate(fd, newsize)
    assert m.stat("/mnt/mmaptest").st_size == newsize
    p.munmap(maddr, MAPSIZE)


# -- mmap10.c: map, fork, unmap ----------------------------------------------------------------

SIZE10 = 5 * 1024 * 1024


@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap10_anon(kernel):
    """mmap10.c tcase {.anon = 1}: a private anonymous mapping with one page
    written, three children each unmapping a part of it, the parent all of it:
    all memory is released (the children exit)."""
    m = machine(kernel, fs=None)
    p = root(m)
    memory = p.mmap(0, 2 * SIZE10 - PAGE, RW, ANON)
    p.write(memory + SIZE10, b"\0")
    for _ in range(3):
        child = p.fork()
        child.munmap(memory + SIZE10 + PAGE, SIZE10 - 2 * PAGE)
        child.kill()
    p.munmap(memory, 2 * SIZE10 - PAGE)
    assert m.meminfo()["AnonPages"] == 0
    assert p.smaps() == []


# -- mmap12.c: MAP_POPULATE --------------------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap12(kernel):
    """mmap12.c: a 1 MiB (ftruncated) file mapped MAP_PRIVATE | MAP_POPULATE: every
    page is present in /proc/self/pagemap, and every byte is zero."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile", 1 << 20)
    addr = p.mmap(0, 1 << 20, RW, MAP_PRIVATE | MAP_POPULATE, fd, 0)
    assert p.pageflags(addr, 1 << 20)["present"].all()
    assert p.read(addr, 1 << 20) == bytes(1 << 20)
    p.munmap(addr, 1 << 20)


# -- mmap14.c: MAP_LOCKED ----------------------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap14(kernel):
    """mmap14.c: a 1 MiB MAP_LOCKED private anonymous mapping (as root) adds
    1024 kB to VmLck."""
    m = machine(kernel, fs=None)
    p = root(m)
    before = vmlck_kb(p)
    addr = p.mmap(0, 1 << 20, RW, ANON | MAP_LOCKED)
    assert vmlck_kb(p) - before == (1 << 20) // 1024
    p.munmap(addr, 1 << 20)


# -- mmap17.c: MAP_FIXED_NOREPLACE -------------------------------------------------------------

@needs_noreplace
def test_mmap17():
    """mmap17.c (min_kver 4.17): MAP_FIXED_NOREPLACE over an existing mapping of
    another file gives EEXIST."""
    msg_len = len(b"Writing to mapped file")
    p = machine("6.18").spawn()
    fd1 = new_file(p, "/mnt/file1_to_mmap", msg_len)
    fd2 = new_file(p, "/mnt/file2_to_mmap", msg_len)
    mapped = p.mmap(0, msg_len, PROT_WRITE, MAP_PRIVATE, fd1, 0)
    assert errno_of(p.mmap, mapped, msg_len, PROT_WRITE,
                    MAP_PRIVATE | mmsim.MAP_FIXED_NOREPLACE, fd2, 0) == EEXIST


# -- mmap19.c: remapping two files at each other's address -------------------------------------

@needs_pwrite
@pytest.mark.parametrize("kernel", RELEASES)
def test_mmap19(kernel):
    """mmap19.c: two files mapped, unmapped and mapped again with the addresses
    swapped (as hints): each mapping shows its own file's data."""
    m = machine(kernel)
    p = m.spawn()
    str1, str2 = b"testing 123", b"my test mem"
    f1, f2 = new_file(p, "/mnt/testfile1"), new_file(p, "/mnt/testfile2")
    p.pwrite(f1, str1, 0)
    p.pwrite(f2, str2, 0)
    mm1 = p.mmap(0, 64, PROT_READ, MAP_PRIVATE, f1, 0)
    mm2 = p.mmap(0, 64, PROT_READ, MAP_PRIVATE, f2, 0)
    assert p.read(mm1, len(str1)) == str1 and p.read(mm2, len(str2)) == str2
    p.munmap(mm1, 64)
    p.munmap(mm2, 64)
    new1 = p.mmap(mm2, 64, PROT_READ, MAP_PRIVATE, f1, 0)
    new2 = p.mmap(mm1, 64, PROT_READ, MAP_PRIVATE, f2, 0)
    assert (new1, new2) == (mm2, mm1)
    assert p.read(new1, len(str1)) == str1 and p.read(new2, len(str2)) == str2


# -- mmap21.c: a child writes a shared file mapping, the parent reads the file -----------------

@needs_pread
@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_mmap21(fs):
    """mmap21.c with -m 64 pages: the file (lseek past the end, write one byte)
    mapped PROT_WRITE, MAP_SHARED; a forked child stores (char)i at every byte
    i; the parent's msync(MS_SYNC) and read(2) see every byte."""
    size = 64 * PAGE
    m = machine("6.18", fs=fs)
    p = m.spawn()
    fd = new_file(p, "/mnt/testfile", size + 1)
    data = p.mmap(0, size, PROT_WRITE, MAP_SHARED, fd, 0)
    child = p.fork()
    pattern = bytes(i & 0xFF for i in range(size))
    child.write(data, pattern)
    child.kill()
    p.msync(data, size, MS_SYNC)
    assert p.pread(fd, size, 0) == pattern
    p.munmap(data, size)


# -- munmap01.c, munmap03.c --------------------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("partial", [False, True],
                         ids=["unmapped region not accessible",
                              "partially unmapped region not accessible"])
def test_munmap01(kernel, partial):
    """munmap01.c variants: after munmap of a 3-page shared file mapping (or of
    its last 2 pages), a store to the first unmapped byte raises SIGSEGV in
    the child."""
    m = machine(kernel)
    p = m.spawn()
    fd = new_file(p, "/mnt/mmapfile", 3 * PAGE + 1)
    base = p.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0)
    addr, length = (base + PAGE, 2 * PAGE) if partial else (base, 3 * PAGE)
    p.munmap(addr, length)
    child = p.fork()
    assert sig(child.write, addr, b"\x32") == signal.SIGSEGV
    if partial:
        child.write(base, b"\x32")          # the page left mapped is still there


@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("case", ["outside", "len0", "unaligned"])
def test_munmap03(kernel, case):
    """munmap03.c tcases: EINVAL for an address outside the address space
    (RLIMIT_DATA's rlim_max, RLIM_INFINITY), for len 0, and for an address
    that is not page aligned."""
    p = machine(kernel, fs=None).spawn()
    map_len = 2 * PAGE
    map_addr = p.mmap(0, map_len, RW, ANON)
    addr, length = {"outside": ((1 << 64) - 1, map_len), "len0": (map_addr, 0),
                    "unaligned": (map_addr + 8, map_len)}[case]
    assert errno_of(p.munmap, addr, length) == EINVAL
    assert p.smaps(map_addr)["Size"] * 1024 == map_len
