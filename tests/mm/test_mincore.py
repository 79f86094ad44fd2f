"""mincore (mm/mincore.c sys_mincore, do_mincore, mincore_pte_range,
mincore_unmapped_range): the errnos, and what is resident after touches,
reads, drop_caches and MADV_DONTNEED. For a file mapping the answer is the
page cache's, whether or not a PTE maps the page; for anonymous memory it is
the PTE's.
"""

import errno
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmsim
from mmsim import (MADV_DONTNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MS_SYNC,
                   MiB, PAGE_SIZE, PROT_READ, PROT_WRITE)
from mmsim.flags import PG_UPTODATE, PTE_PRESENT

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=os.environ.get("HYPOTHESIS_RANDOM") != "1")


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def vec(*bits):
    return bytes(bits)


# -- errnos -----------------------------------------------------------------------------------

def test_unaligned_start_einval(p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.mincore, a + 1, PAGE) == errno.EINVAL
    assert errno_of(p.mincore, 0x20000001, PAGE) == errno.EINVAL    # before the range check


def test_unmapped_enomem(p):
    a = p.mmap(0x30000000, 4 * PAGE, RW, ANON | MAP_FIXED)
    assert errno_of(p.mincore, 0x20000000, PAGE) == errno.ENOMEM
    assert errno_of(p.mincore, a, 5 * PAGE) == errno.ENOMEM          # runs past the end
    p.munmap(a + PAGE, PAGE)
    assert errno_of(p.mincore, a, 3 * PAGE) == errno.ENOMEM          # a hole inside
    assert errno_of(p.mincore, a, (1 << 64) - PAGE) == errno.ENOMEM  # past user space
    assert errno_of(p.mincore, a, -1) == errno.ENOMEM


def test_zero_length_and_partial_page(p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert p.mincore(a, 0) == b""
    assert p.mincore(0x20000000, 0) == b""        # nothing to look at: no ENOMEM
    assert len(p.mincore(a, PAGE + 1)) == 2       # one byte per page, rounded up


# -- anonymous memory: the PTE ------------------------------------------------------------------

def test_anonymous_residency_follows_the_ptes(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert p.mincore(a, 4 * PAGE) == vec(0, 0, 0, 0)
    p.touch(a, PAGE)                              # the zero page: present, resident
    p.touch(a + 2 * PAGE, PAGE, write=True)
    m.drop_caches()                               # not page cache: untouched
    assert p.mincore(a, 4 * PAGE) == vec(1, 0, 1, 0)
    p.madvise(a, 4 * PAGE, MADV_DONTNEED)
    assert p.mincore(a, 4 * PAGE) == vec(0, 0, 0, 0)


# -- file mappings: the page cache ---------------------------------------------------------------

def test_file_residency_after_touch_drop_caches_and_dontneed(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    assert p.mincore(a, 4 * PAGE) == vec(0, 0, 0, 0)
    p.touch(a, 2 * PAGE)
    assert p.mincore(a, 4 * PAGE) == vec(1, 1, 0, 0)
    m.drop_caches()                               # mapped pages stay
    assert p.mincore(a, 4 * PAGE) == vec(1, 1, 0, 0)
    p.madvise(a, 4 * PAGE, MADV_DONTNEED)         # unmapped, still cached
    assert p.mincore(a, 4 * PAGE) == vec(1, 1, 0, 0)
    assert p.smaps(a)["Rss"] == 0
    m.drop_caches()                               # now they go
    assert p.mincore(a, 4 * PAGE) == vec(0, 0, 0, 0)


def test_file_pages_cached_by_pread_are_resident_without_a_pte(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    p.pwrite(fd, b"x" * PAGE, 3 * PAGE)
    p.pread(fd, PAGE, PAGE)
    assert p.mincore(a, 4 * PAGE) == vec(0, 1, 0, 1)
    assert p.smaps(a)["Rss"] == 0
    m.sync()
    m.drop_caches()
    assert p.mincore(a, 4 * PAGE) == vec(0, 0, 0, 0)


def test_dirty_file_pages_survive_drop_caches(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 2 * PAGE)
    p.write(a, b"dirty")
    p.madvise(a, 2 * PAGE, MADV_DONTNEED)
    m.drop_caches()
    assert p.mincore(a, 2 * PAGE) == vec(1, 0)    # dirty: not dropped
    p.msync(a, 2 * PAGE, MS_SYNC)                 # msync writes the range back, mapped or not
    m.drop_caches()
    assert p.mincore(a, 2 * PAGE) == vec(0, 0)


def test_private_file_mapping_reports_cache_and_cow_copies(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 3 * PAGE, flags=MAP_PRIVATE)
    p.pread(fd, PAGE, 0)                          # page 0 cached, not mapped
    p.write(a + PAGE, b"cow")                     # page 1: an anonymous copy
    assert p.mincore(a, 3 * PAGE) == vec(1, 1, 0)
    m.drop_caches()                               # page 0 dropped; page 1's file page too
    assert p.mincore(a, 3 * PAGE) == vec(0, 1, 0)


def test_mapping_past_eof_is_not_resident(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE, size=2 * PAGE)
    p.touch(a, 2 * PAGE)
    assert p.mincore(a, 4 * PAGE) == vec(1, 1, 0, 0)


def test_shared_anonymous_memory_reports_its_shmem_pages(m, p):
    a = p.mmap(0, 3 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.write(a + PAGE, b"shm")
    p.madvise(a, 3 * PAGE, MADV_DONTNEED)
    assert p.mincore(a, 3 * PAGE) == vec(0, 1, 0)


def test_mincore_changes_nothing(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.touch(a, 4 * PAGE, write=True)
    before = (m.now, len(m.trace), m.meminfo(), p.smaps(a), p.getrusage())
    p.mincore(a, 8 * PAGE)
    assert (m.now, len(m.trace), m.meminfo(), p.smaps(a), p.getrusage()) == before


# -- a property: mincore is the page cache for files, the PTEs for anonymous memory --------------

OPS = st.lists(st.tuples(st.sampled_from(["read", "write", "pread", "dontneed", "drop", "sync"]),
                         st.sampled_from(["file", "anon", "private"]),
                         st.integers(0, 7), st.integers(1, 4)),
               min_size=1, max_size=20)


@settings(max_examples=60, **SETTINGS)
@given(ops=OPS, kernel=st.sampled_from(["2.6.37", "6.18"]), fs=st.sampled_from(["ext2", "ext4"]))
def test_mincore_is_the_page_cache_for_files_and_the_ptes_for_anonymous_memory(ops, kernel, fs):
    m = mmsim.Machine(kernel=kernel, ram=256 * MiB)
    m.mkfs("/data", fs=fs, size=4 * MiB)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 8 * PAGE)
    maps = {"file": p.mmap(0, 8 * PAGE, RW, MAP_SHARED, fd, 0),
            "anon": p.mmap(0, 8 * PAGE, RW, ANON),
            "private": p.mmap(0, 8 * PAGE, RW, MAP_PRIVATE, fd, 0)}
    for op, which, page, n in ops:
        a, length = maps[which] + page * PAGE, min(n, 8 - page) * PAGE
        if op == "read":
            p.touch(a, length)
        elif op == "write":
            p.touch(a, length, write=True)
        elif op == "pread":
            p.pread(fd, length, page * PAGE)
        elif op == "dontneed":
            p.madvise(a, length, MADV_DONTNEED)
        elif op == "drop":
            m.drop_caches()
        else:
            m.sync()
        inode = m.mounts["/data"].inodes["f"]
        cached = (inode.mapping.flags[:8] & PG_UPTODATE) != 0
        for name, addr in maps.items():
            got = np.frombuffer(p.mincore(addr, 8 * PAGE), np.uint8)
            vma = p.mm.find_vma(addr)
            present = (vma.pte & PTE_PRESENT) != 0
            want = present if name == "anon" else present | cached
            assert np.array_equal(got, want.astype(np.uint8)), (name, op)
            if name == "file":
                assert np.array_equal(got.astype(bool), cached)   # mapped implies cached
