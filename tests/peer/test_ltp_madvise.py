"""LTP's madvise cases about MADV_DONTNEED and the errnos, ported:
testcases/kernel/syscalls/madvise/ of linux-test-project/ltp (read at 695827725f4f).

They run once p.madvise lands (the simulator models MADV_DONTNEED and
MADV_POPULATE_READ/WRITE). madvise02's EINVAL-by-alignment and ENOMEM cases
use MADV_DONTNEED where LTP uses MADV_NORMAL / MADV_WILLNEED: the check they
exercise comes before the advice is acted on (madvise_walk_vmas), and those
advices are not modelled.

Not expressible: the advices the simulator has no notion of (madvise01's
RANDOM, SEQUENTIAL, WILLNEED, REMOVE, DONTFORK, HWPOISON, MERGEABLE,
HUGEPAGE, DONTDUMP, FREE, WIPEONFORK, COLD, PAGEOUT ...; madvise05-12: swap,
hwpoison, core dumps, cgroups, KSM, guard pages).
"""

import pytest

from mmsim import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE
from mmsim._abi import MADV_DONTNEED

from peer_support import (EINVAL, ENOMEM, PAGE, RELEASES, errno_of, machine, needs_madvise,
                          new_file, root)

RW = PROT_READ | PROT_WRITE
STR = b"abcdefghijklmnopqrstuvwxyz12345\n"

pytestmark = needs_madvise


@pytest.mark.parametrize("kernel", RELEASES)
def test_madvise01_dontneed(kernel):
    """madvise01.c tcase MADV_DONTNEED on the shared file mapping (40 KiB of STR):
    no error, and the data is still the file's when read again."""
    m = machine(kernel)
    p = m.spawn()
    size = 1280 * len(STR)
    fd = new_file(p, "/mnt/testfile", size)
    sfile = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    p.write(sfile, STR * 1280)
    p.madvise(sfile, size, MADV_DONTNEED)
    assert p.smaps(sfile)["Rss"] == 0
    assert p.read(sfile, size) == STR * 1280


def _madvise02(kernel):
    """madvise02.c setup: 16 pages of STR; file1 shared, file2 shared with its
    last page unmapped, both PROT_READ."""
    m = machine(kernel)
    p = root(m)
    size = (PAGE // 2) * len(STR)             # STR written pagesize / 2 times
    fd = new_file(p, "/mnt/testfile", size)
    w = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    p.write(w, STR * (PAGE // 2))
    p.munmap(w, size)
    file1 = p.mmap(0, size, PROT_READ, MAP_SHARED, fd, 0)
    file2 = p.mmap(0, size, PROT_READ, MAP_SHARED, fd, 0)
    p.munmap(file2 + size - PAGE, PAGE)
    p.close(fd)
    return p, size, file1, file2


@pytest.mark.parametrize("kernel", RELEASES)
def test_madvise02_nonalign(kernel):
    """madvise02.c TCASE(MADV_NORMAL, &nonalign, EINVAL): start = file1 + 100."""
    p, size, file1, _ = _madvise02(kernel)
    assert errno_of(p.madvise, file1 + 100, size, MADV_DONTNEED) == EINVAL


@pytest.mark.parametrize("kernel", RELEASES)
def test_madvise02_bad_advice(kernel):
    """madvise02.c TCASE(1212, &file1, EINVAL): an advice that does not exist."""
    p, size, file1, _ = _madvise02(kernel)
    assert errno_of(p.madvise, file1, size, 1212) == EINVAL


@pytest.mark.parametrize("kernel", RELEASES)
def test_madvise02_dontneed_locked(kernel):
    """madvise02.c TCASE(MADV_DONTNEED, &file1, EINVAL): file1 mlocked
    (tcases_filter) cannot be released."""
    p, size, file1, _ = _madvise02(kernel)
    p.mlock(file1, size)
    assert errno_of(p.madvise, file1, size, MADV_DONTNEED) == EINVAL


@pytest.mark.parametrize("kernel", RELEASES)
def test_madvise02_enomem(kernel):
    """madvise02.c TCASE(MADV_NORMAL / MADV_WILLNEED, &file2, ENOMEM): the range's
    last page is not mapped."""
    p, size, _, file2 = _madvise02(kernel)
    assert errno_of(p.madvise, file2, size, MADV_DONTNEED) == ENOMEM


@pytest.mark.parametrize("kernel", RELEASES)
def test_madvise03(kernel):
    """madvise03.c: 8 KiB of private anonymous memory filled with 1; after
    MADV_DONTNEED every byte reads 0 (zero-fill-on-demand)."""
    p = machine(kernel, fs=None).spawn()
    addr = p.mmap(0, 8192, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    p.write(addr, b"\x01" * 8192)
    p.madvise(addr, 8192, MADV_DONTNEED)
    assert p.read(addr, 8192) == bytes(8192)
