"""madvise (mm/madvise.c do_madvise, madvise_walk_vmas, madvise_dontneed,
madvise_populate): the errnos per kernel, MADV_DONTNEED on anonymous, shared
and private file memory, and MADV_POPULATE_READ/WRITE (5.14), whose write
populate is the dirtying the 2.6.37 mlock did, asked for on purpose.
"""

import errno
import os

import pytest

import mmsim
from mmsim._abi import MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL
from mmsim import (MADV_DONTNEED, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MAP_ANONYMOUS,
                   MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MLOCK_ONFAULT, MS_SYNC, MiB, PAGE_SIZE,
                   PROT_NONE, PROT_READ, PROT_WRITE, RLIM_INFINITY)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
KB = PAGE // 1024
U64 = (1 << 64) - 1
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)
POPULATE = (MADV_POPULATE_READ, MADV_POPULATE_WRITE)


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


# -- errnos -----------------------------------------------------------------------------------

@pytest.mark.parametrize("advice", [99, -1, 1 << 20])
def test_unknown_advice_einval(p, advice):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.madvise, a, 4 * PAGE, advice) == errno.EINVAL


@pytest.mark.parametrize("advice", POPULATE)
def test_populate_is_einval_before_5_14(p, kernel, advice):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    if kernel == "6.18":
        p.madvise(a, 4 * PAGE, advice)
        assert p.mincore(a, 4 * PAGE) == b"\x01" * 4
        # a read populate maps the zero page, which Rss does not count
        assert p.smaps(a)["Rss"] == (4 * KB if advice == MADV_POPULATE_WRITE else 0)
    else:
        assert errno_of(p.madvise, a, 4 * PAGE, advice) == errno.EINVAL
        assert p.smaps(a)["Rss"] == 0


@pytest.mark.parametrize("advice", (MADV_DONTNEED,) + POPULATE)
def test_advice_is_checked_before_the_range(p, kernel, advice):
    # madvise_behavior_valid comes first: an unknown advice on an unmapped,
    # unaligned range is EINVAL, a known one ENOMEM (aligned) or EINVAL (not)
    known = advice == MADV_DONTNEED or kernel == "6.18"
    assert errno_of(p.madvise, 0x20000000, PAGE, advice) == (
        errno.ENOMEM if known else errno.EINVAL)
    assert errno_of(p.madvise, 0x20000001, PAGE, advice) == errno.EINVAL


@pytest.mark.parametrize("advice", (MADV_DONTNEED, MADV_POPULATE_READ))
def test_unaligned_start_or_wrapping_length_einval(p, kernel, advice):
    # (before 5.14 a populate is EINVAL for its advice already)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.madvise, a + 8, PAGE, advice) == errno.EINVAL
    assert errno_of(p.madvise, a, -1, advice) == errno.EINVAL        # rounds up to 0
    assert errno_of(p.madvise, a, U64 - PAGE, advice) == errno.EINVAL  # start + len wraps


def test_zero_length_is_a_no_op_even_unmapped(p, kernel):
    p.madvise(0x20000000, 0, MADV_DONTNEED)
    if kernel == "6.18":
        p.madvise(0x20000000, 0, MADV_POPULATE_WRITE)


def test_dontneed_unmapped_enomem_after_the_mapped_parts(p):
    """madvise_walk_vmas: a hole gives ENOMEM at the end; both sides are zapped."""
    a = p.mmap(0x30000000, 6 * PAGE, RW, ANON | MAP_FIXED)
    p.munmap(a + 2 * PAGE, 2 * PAGE)
    p.touch(a, 2 * PAGE, write=True)
    p.touch(a + 4 * PAGE, 2 * PAGE, write=True)
    assert p.status()["VmRSS"] == 4 * KB
    assert errno_of(p.madvise, a, 6 * PAGE, MADV_DONTNEED) == errno.ENOMEM
    assert p.status()["VmRSS"] == 0
    # a range that runs past the last mapping: ENOMEM too, what was mapped zapped
    p.touch(a + 4 * PAGE, 2 * PAGE, write=True)
    assert errno_of(p.madvise, a + 4 * PAGE, 8 * PAGE, MADV_DONTNEED) == errno.ENOMEM
    assert p.status()["VmRSS"] == 0


def test_dontneed_on_locked_memory_einval(p, kernel):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    b = p.mmap(0, 4 * PAGE, RW, ANON)
    p.touch(a, 4 * PAGE, write=True)
    p.mlock(a, 4 * PAGE)
    assert errno_of(p.madvise, a, 4 * PAGE, MADV_DONTNEED) == errno.EINVAL
    assert p.smaps(a)["Rss"] == 4 * KB
    if kernel == "6.18":                           # VM_LOCKONFAULT is VM_LOCKED too
        p.mlock2(b, 4 * PAGE, MLOCK_ONFAULT)
        assert errno_of(p.madvise, b, 4 * PAGE, MADV_DONTNEED) == errno.EINVAL
    p.munlock(a, 4 * PAGE)
    p.madvise(a, 4 * PAGE, MADV_DONTNEED)
    assert p.smaps(a)["Rss"] == 0


# -- MADV_DONTNEED ------------------------------------------------------------------------------

def test_dontneed_frees_anonymous_pages_and_they_read_back_as_zeros(m, p):
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.write(a + 3 * PAGE, b"secret")
    p.touch(a, 8 * PAGE, write=True)
    assert m.meminfo()["AnonPages"] == 8 * KB
    p.madvise(a + 2 * PAGE, 4 * PAGE, MADV_DONTNEED)
    assert m.meminfo()["AnonPages"] == 4 * KB
    assert p.smaps(a)["Rss"] == 4 * KB
    assert p.read(a + 3 * PAGE, 6) == bytes(6)
    assert p.read(a, 1) == bytes([mmsim.contents.TOUCH_BYTE])   # outside the range: kept


def test_dontneed_keeps_shared_file_pages_in_the_page_cache(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.write(a + PAGE, b"kept")
    p.touch(a, 8 * PAGE)
    before = m.meminfo()
    p.madvise(a, 8 * PAGE, MADV_DONTNEED)
    after = m.meminfo()
    assert p.smaps(a)["Rss"] == 0
    assert after["Cached"] == before["Cached"] and after["Dirty"] == before["Dirty"] == KB
    assert after["Mapped"] == 0
    assert p.read(a + PAGE, 4) == b"kept"          # from the page cache, a minor fault
    assert p.getrusage().ru_majflt == 0
    p.msync(a, 8 * PAGE, MS_SYNC)
    p.munmap(a, 8 * PAGE)
    m.drop_caches()
    assert p.pread(fd, 4, PAGE) == b"kept"         # and it was written back


def test_dontneed_drops_private_cow_copies_back_to_the_file(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE, flags=MAP_PRIVATE)
    p.pwrite(fd, b"file", 0)
    p.write(a, b"COW!")
    assert p.read(a, 4) == b"COW!" and m.meminfo()["AnonPages"] == KB
    p.madvise(a, 4 * PAGE, MADV_DONTNEED)
    assert m.meminfo()["AnonPages"] == 0
    assert p.read(a, 4) == b"file"


def test_dontneed_on_shared_anonymous_memory_keeps_the_data(m, p):
    # shmem pages live in their file's page cache; zapping only unmaps them
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.write(a, b"shm")
    p.madvise(a, 4 * PAGE, MADV_DONTNEED)
    assert p.smaps(a)["Rss"] == 0
    assert p.read(a, 3) == b"shm"


# -- MADV_POPULATE_READ / MADV_POPULATE_WRITE (6.18) ------------------------------------------------

def machine(kernel="6.18", fs="ext4", size=64 * MiB, options=""):
    """A machine of its own kernel (these tests do not run once per kernel)."""
    m = mmsim.Machine(kernel=kernel, ram=mmsim.GiB)
    m.mkfs("/data", fs=fs, size=size, options=options)
    return m


@pytest.fixture
def m618():
    return machine()


def test_populate_read_maps_clean_pages(m618, sparse_map):
    m = m618
    p = m.spawn()
    fd, a = sparse_map(p, "/data/f", 16 * PAGE)
    p.madvise(a, 16 * PAGE, MADV_POPULATE_READ)
    sm = p.smaps(a)
    assert sm["Rss"] == 16 * KB and sm["Shared_Dirty"] + sm["Private_Dirty"] == 0
    assert m.meminfo()["Dirty"] == 0 and m.stat("/data/f").st_blocks == 0
    assert not p.pageflags(a, 16 * PAGE)["writable"].any()      # write-notify stays


def test_populate_write_dirties_and_reserves_every_page(m618, sparse_map):
    m = m618
    p = m.spawn()
    fd, a = sparse_map(p, "/data/f", 16 * PAGE)
    p.madvise(a, 16 * PAGE, MADV_POPULATE_WRITE)
    assert m.meminfo()["Dirty"] == 16 * KB
    assert m.stat("/data/f").st_blocks == 16 * PAGE // 512    # ext4_page_mkwrite reserved
    assert p.pageflags(a, 16 * PAGE)["writable"].all()
    paths = {e.path for e in m.trace.query(op="madvise")}
    assert any("madvise_populate" in path and "ext4_page_mkwrite" in path for path in paths)


def test_populate_write_breaks_cow_of_a_private_mapping(m618, sparse_map):
    m = m618
    p = m.spawn()
    fd, a = sparse_map(p, "/data/f", 4 * PAGE, flags=MAP_PRIVATE)
    p.madvise(a, 4 * PAGE, MADV_POPULATE_WRITE)
    assert m.meminfo()["AnonPages"] == 4 * KB and m.meminfo()["Dirty"] == 0


@pytest.mark.parametrize("prot,advice", [(PROT_NONE, MADV_POPULATE_READ),
                                         (PROT_NONE, MADV_POPULATE_WRITE),
                                         (PROT_READ, MADV_POPULATE_WRITE),
                                         (PROT_WRITE, MADV_POPULATE_READ)])
def test_populate_of_a_mapping_that_refuses_the_access_einval(m618, prot, advice):
    # __get_user_pages with FOLL_MADV_POPULATE: check_vma_flags fails -> -EINVAL
    # (no FOLL_FORCE: a PROT_WRITE-only mapping has no VM_READ)
    p = m618.spawn()
    a = p.mmap(0, 4 * PAGE, prot, ANON)
    assert errno_of(p.madvise, a, 4 * PAGE, advice) == errno.EINVAL
    assert p.smaps(a)["Rss"] == 0


def test_populate_unmapped_enomem_after_the_pages_before(m618):
    p = m618.spawn()
    a = p.mmap(0x30000000, 6 * PAGE, RW, ANON | MAP_FIXED)
    p.munmap(a + 2 * PAGE, 2 * PAGE)
    assert errno_of(p.madvise, a, 6 * PAGE, MADV_POPULATE_WRITE) == errno.ENOMEM
    assert p.status()["VmRSS"] == 2 * KB            # stopped at the hole


def test_populate_past_eof_efault_after_the_pages_before(m618, sparse_map):
    # a fault past EOF is VM_FAULT_SIGBUS -> -EFAULT
    p = m618.spawn()
    fd, a = sparse_map(p, "/data/f", 8 * PAGE, size=3 * PAGE)
    assert errno_of(p.madvise, a, 8 * PAGE, MADV_POPULATE_READ) == errno.EFAULT
    assert p.smaps(a)["Rss"] == 3 * KB


@pytest.mark.parametrize("fs,err", [("ext4", errno.EFAULT), ("xfs", errno.EFAULT),
                                    ("btrfs", errno.EFAULT), ("ext2", errno.EFAULT),
                                    ("ext2,ext2_driver", None)])
def test_populate_write_on_a_full_filesystem(fs, err):
    """ENOSPC in ->page_mkwrite is SIGBUS for a store and EFAULT for
    MADV_POPULATE_WRITE (ext2 too, mounted by the ext4 driver); fs/ext2's
    filemap_page_mkwrite allocates nothing, so the populate succeeds and
    ENOSPC waits for writeback."""
    fs, _, options = fs.partition(",")
    m = machine(fs=fs, size=32 * PAGE, options=options)
    p = m.spawn()
    fd = p.open("/data/fill", os.O_RDWR | os.O_CREAT)
    assert p.pwrite(fd, b"f" * (28 * PAGE), 0) == 28 * PAGE
    g = p.open("/data/g", os.O_RDWR | os.O_CREAT)
    p.ftruncate(g, 8 * PAGE)
    a = p.mmap(0, 8 * PAGE, RW, MAP_SHARED, g, 0)
    if err is None:
        p.madvise(a, 8 * PAGE, MADV_POPULATE_WRITE)
        assert m.meminfo()["Dirty"] == 36 * KB
    else:
        assert errno_of(p.madvise, a, 8 * PAGE, MADV_POPULATE_WRITE) == err
        assert m.meminfo()["Dirty"] == 32 * KB          # the 4 that had room, dirtied


@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_populate_write_then_mlock_on_6_18_is_2_6_37s_mlock(fs):
    """The patch made mlock read-fault shared mappings; MADV_POPULATE_WRITE
    asks for the write faults 2.6.37's mlock did: the same Dirty, st_blocks,
    writable PTEs and VmLck."""
    n = 256
    results = {}
    for kernel, populate in (("2.6.37", False), ("6.18", True), ("6.18", False)):
        m = machine(kernel, fs, 8 * MiB)
        p = m.spawn(memlock=UNLIMITED)
        fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, n * PAGE)
        a = p.mmap(0, n * PAGE, RW, MAP_SHARED, fd, 0)
        if populate:
            p.madvise(a, n * PAGE, MADV_POPULATE_WRITE)
        p.mlock(a, n * PAGE)
        results[kernel, populate] = (m.meminfo()["Dirty"], m.stat("/data/f").st_blocks,
                                     int(p.pageflags(a, n * PAGE)["writable"].sum()),
                                     p.status()["VmLck"], m.meminfo()["Mlocked"])
    assert results["2.6.37", False] == results["6.18", True] == (
        n * KB, n * PAGE // 512, n, n * KB, n * KB)
    assert results["6.18", False] == (0, 0, 0, n * KB, n * KB)     # the patch


def test_populate_of_a_locked_range_mlocks_what_it_faults(m618):
    p = m618.spawn(memlock=UNLIMITED)
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.mlock2(a, 8 * PAGE, MLOCK_ONFAULT)
    assert m618.meminfo()["Mlocked"] == 0
    p.madvise(a, 4 * PAGE, MADV_POPULATE_WRITE)
    assert m618.meminfo()["Mlocked"] == 4 * KB


@pytest.mark.parametrize("advice", (MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL))
def test_readahead_hints_are_accepted_and_change_nothing(p, kernel, advice):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.touch(a, 4 * PAGE, write=True)
    before = p.smaps(a)
    p.madvise(a, 4 * PAGE, advice)
    assert p.smaps(a) == before
    # madvise_walk_vmas: ENOMEM for a hole, after the mapped part
    assert errno_of(p.madvise, a, 8 * PAGE, advice) == errno.ENOMEM
