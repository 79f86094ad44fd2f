"""GFS2: gfs2_page_mkwrite allocates at the first store, a full filesystem
SIGBUSes a mapped store and fails write(2) with ENOSPC, fallocate allocates
and zeroes (no unwritten extents), hole punching only today.

References: kernel-lookups.md section 14 (2.6.37 and 2.6.38 fs/gfs2/file.c,
ops_inode.c, aops.c; today's file.c, bmap.c, ops_fstype.c).
"""

import errno
import os
import signal

import pytest

import mmsim
from mmsim import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, MAP_SHARED, MS_SYNC, PAGE_SIZE,
                   PROT_READ, PROT_WRITE, RLIM_INFINITY, scenarios)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
KB = PAGE // 1024
SECTORS = PAGE // 512
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def gfs2(make_machine, nblocks=64):
    """A machine on the test's kernel with an nblocks-block gfs2 on /data."""
    m = make_machine(fs="gfs2", size=nblocks * PAGE)
    return m, m.spawn(memlock=UNLIMITED)


def gfs2_on(kernel, nblocks=256):
    """The same on a given kernel, for the tests about one version."""
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs="gfs2", size=nblocks * PAGE)
    return m, m.spawn(memlock=UNLIMITED)


def fill(p, name, npages):
    """Take npages blocks with write(2), which allocates them (gfs2_write_begin)."""
    fd = p.open(name, os.O_RDWR | os.O_CREAT)
    assert p.pwrite(fd, b"f" * (npages * PAGE), 0) == npages * PAGE
    return fd


# -- registration --------------------------------------------------------------------------------

def test_gfs2_mounts_on_every_kernel_and_is_not_offered_by_the_widgets(kernel):
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs="gfs2", size=64 * PAGE)
    sb = m.mounts["/data"]
    assert sb.fstype == "gfs2" and sb.mkwrite_name() == "gfs2_page_mkwrite"
    assert sb.time_gran_ns == 1
    assert "gfs2" in mmsim.ALL_FILESYSTEMS and "gfs2" not in mmsim.FILESYSTEMS
    assert mmsim.ALL_FILESYSTEMS[:len(mmsim.FILESYSTEMS)] == mmsim.FILESYSTEMS
    with pytest.raises(OSError) as exc:
        m.mkfs("/other", fs="gfs2", size=64 * PAGE, options="nodelalloc")
    assert exc.value.errno == errno.EINVAL


# -- ->page_mkwrite allocates ---------------------------------------------------------------------

def test_first_store_after_mlock_on_2_6_38_allocates_in_gfs2_page_mkwrite(sparse_map):
    m, p = gfs2_on("2.6.38")
    fd, a = sparse_map(p, "/data/f", 16 * PAGE)
    p.mlock(a, 16 * PAGE)
    assert m.stat("/data/f").st_blocks == 0 and m.fiemap("/data/f") == []
    bfree = m.statfs("/data").f_bfree
    since = m.now
    p.write(a + 5 * PAGE, b"x")
    path = m.trace.query(pid=p.pid, since=since)[0].path
    assert path[2:4] == ("do_wp_page", "gfs2_page_mkwrite")     # after do_page_fault
    # a block, not a reservation: placed at once, written, not delalloc
    assert m.stat("/data/f").st_blocks == SECTORS
    assert m.statfs("/data").f_bfree == bfree - 1
    assert [(e.logical, e.length, e.delalloc, e.unwritten) for e in m.fiemap("/data/f")] == \
        [(5 * PAGE, PAGE, False, False)]
    # writeback has nothing left to allocate
    p.fsync(fd)
    assert m.statfs("/data").f_bfree == bfree - 1


def test_2_6_37_mlock_allocates_every_block_2_6_38_none(sparse_map):
    """Before the patch mlock write-faulted every page of a shared writable
    mapping, and gfs2_page_mkwrite allocated each block (the behaviour Nick
    Piggin defended); after it mlock only reads the pages in."""
    got = {}
    for k in ("2.6.37", "2.6.38"):
        m, p = gfs2_on(k)
        fd, a = sparse_map(p, "/data/f", 32 * PAGE)
        p.mlock(a, 32 * PAGE)
        got[k] = (m.stat("/data/f").st_blocks, m.meminfo()["Dirty"],
                  sum(e.length for e in m.fiemap("/data/f")))
    assert got["2.6.37"] == (32 * SECTORS, 32 * KB, 32 * PAGE)
    assert got["2.6.38"] == (0, 0, 0)


def test_full_gfs2_mapped_store_sigbus_pwrite_enospc(make_machine, kernel, sparse_map):
    m, p = gfs2(make_machine)
    fill(p, "/data/big", 60)
    fd, a = sparse_map(p, "/data/hole", 8 * PAGE)
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a, 8 * PAGE, write=True)
    assert exc.value.signo == signal.SIGBUS
    assert exc.value.addr == a + 4 * PAGE and exc.value.pages == 4
    assert m.statfs("/data").f_bfree == 0
    assert m.stat("/data/hole").st_blocks == 4 * SECTORS
    # the four pages that got blocks stay writable; the others fail again
    p.write(a + 3 * PAGE, b"fits")
    with pytest.raises(mmsim.Signal):
        p.write(a + 6 * PAGE, b"no room")
    # ->write_begin allocates as well: ENOSPC at once, for a hole
    assert errno_of(p.pwrite, fd, b"w", 6 * PAGE) == errno.ENOSPC
    assert p.pwrite(fd, b"over", 3 * PAGE + 4) == 4       # a block it has: fine
    p.fsync(fd)
    p.munmap(a, 8 * PAGE)
    m.drop_caches()
    assert p.pread(fd, 8, 3 * PAGE) == b"fitsover"


def test_write_trace_names_gfs2_s_write_begin(make_machine, kernel):
    m, p = gfs2(make_machine)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    since = m.now
    p.pwrite(fd, b"w" * PAGE, 0)
    path = m.trace.query(pid=p.pid, since=since)[0].path
    assert path[-2:] == (("generic_perform_write", "gfs2_write_begin") if kernel != "6.18"
                         else ("iomap_file_buffered_write", "gfs2_iomap_begin_write"))


def test_christoph_s_test_on_gfs2_leaves_written_blocks(kernel):
    """mlock, dirty, munlock, msync (it passes on every kernel and filesystem:
    tests/test_scenarios.py), sparse and preallocated: the file ends with
    every block allocated and written, nothing unwritten or delayed."""
    for preallocate in (False, True):
        r = scenarios.mlock_dirty_munlock_sync(kernel, "gfs2", preallocate=preallocate)
        assert r.passed and r.error == ""
        assert r.blocks_after_sync_kb == 256
        assert not any(e.unwritten or e.delalloc for e in r.fiemap)
    assert r.blocks_after_mlock_kb == 256        # preallocated before the mlock


# -- fallocate: written, zeroed blocks ---------------------------------------------------------

def test_fallocate_allocates_written_zeroed_blocks(make_machine, kernel):
    m, p = gfs2(make_machine, nblocks=256)
    # stale data left on the disk by a deleted file must not show through
    old = fill(p, "/data/old", 8)
    p.fsync(old)
    p.ftruncate(old, 0)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.fallocate(fd, 0, 0, 8 * PAGE)
    st = m.stat("/data/f")
    assert st.st_size == 8 * PAGE and st.st_blocks == 8 * SECTORS
    assert all(not e.unwritten and not e.delalloc for e in m.fiemap("/data/f"))
    assert p.pread(fd, 8 * PAGE, 0) == bytes(8 * PAGE)
    p.fsync(fd)
    m.drop_caches()
    assert p.pread(fd, 8 * PAGE, 0) == bytes(8 * PAGE)


def test_fallocate_zeroes_through_the_page_cache_before_today(make_machine, kernel):
    """2.6.x fallocate_chunk: write_empty_blocks dirties a zeroed page per new
    block; today sb_issue_zeroout writes the zeros to the disk and waits."""
    m, p = gfs2(make_machine, nblocks=256)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    disk = m.mounts["/data"].disk.counters
    written, t0 = disk["write_bytes"], m.now
    p.fallocate(fd, 0, 0, 16 * PAGE)
    if kernel == "6.18":
        assert m.meminfo()["Dirty"] == 0 and m.meminfo()["Cached"] == 0
        assert disk["write_bytes"] - written == 16 * PAGE
        assert m.now - t0 >= 16 * PAGE / m.profile.disk_bandwidth
    else:
        assert m.meminfo()["Dirty"] == 16 * KB and m.meminfo()["Cached"] == 16 * KB
        assert disk["write_bytes"] == written
        p.fsync(fd)
        assert m.meminfo()["Dirty"] == 0
        assert disk["write_bytes"] - written == 16 * PAGE


def test_fallocate_size_is_page_rounded_before_today(make_machine, kernel):
    """2.6.x fallocate_chunk grows i_size to the end of each page it did (the
    range rounded to blocks first); today's __gfs2_fallocate sets offset + len."""
    m, p = gfs2(make_machine, nblocks=256)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.fallocate(fd, 0, 100, 2 * PAGE)
    assert m.stat("/data/f").st_size == (100 + 2 * PAGE if kernel == "6.18" else 3 * PAGE)
    p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 3 * PAGE, 4 * PAGE)
    assert m.stat("/data/f").st_blocks == 7 * SECTORS
    assert m.stat("/data/f").st_size == (100 + 2 * PAGE if kernel == "6.18" else 3 * PAGE)


def test_fallocate_on_a_nearly_full_gfs2_allocates_what_fits_then_enospc(make_machine, kernel):
    """gfs2_fallocate goes chunk by chunk as gfs2_inplace_reserve finds room:
    the blocks that fit stay allocated, and the call fails with ENOSPC."""
    m, p = gfs2(make_machine)
    fill(p, "/data/big", 54)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    assert errno_of(p.fallocate, fd, 0, 0, 16 * PAGE) == errno.ENOSPC
    assert m.statfs("/data").f_bfree == 0
    assert m.stat("/data/f").st_blocks == 10 * SECTORS
    # today the size moves only when it all succeeded; 2.6.x moved it page by page
    assert m.stat("/data/f").st_size == (0 if kernel == "6.18" else 10 * PAGE)
    assert errno_of(p.fallocate, fd, 0, 16 * PAGE, PAGE) == errno.ENOSPC


def test_fallocate_mode_errnos_per_version(make_machine, kernel):
    """2.6.37: do_fallocate lets PUNCH_HOLE|KEEP_SIZE through and gfs2 preallocates;
    2.6.38: gfs2_fallocate refuses it (EOPNOTSUPP); today it punches."""
    m, p = gfs2(make_machine, nblocks=256)
    fd = fill(p, "/data/f", 4)
    p.fsync(fd)
    punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    if kernel == "2.6.37":
        p.fallocate(fd, punch, PAGE, 2 * PAGE)
        assert m.stat("/data/f").st_blocks == 4 * SECTORS
        assert p.pread(fd, 4, PAGE) == b"ffff"
        assert errno_of(p.fallocate, fd, FALLOC_FL_PUNCH_HOLE, 8 * PAGE, PAGE) == \
            errno.EOPNOTSUPP
        p.fallocate(fd, punch, 8 * PAGE, PAGE)        # the unknown bit is ignored
        assert m.stat("/data/f").st_blocks == 5 * SECTORS
    elif kernel == "2.6.38":
        assert errno_of(p.fallocate, fd, punch, PAGE, 2 * PAGE) == errno.EOPNOTSUPP
        assert m.stat("/data/f").st_blocks == 4 * SECTORS
    else:
        p.fallocate(fd, punch, PAGE, 2 * PAGE)
        assert m.stat("/data/f").st_blocks == 2 * SECTORS
        assert m.stat("/data/f").st_size == 4 * PAGE
        assert p.pread(fd, 4 * PAGE, 0) == b"f" * PAGE + bytes(2 * PAGE) + b"f" * PAGE
        assert errno_of(p.fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, PAGE) == errno.EOPNOTSUPP
    assert errno_of(p.fallocate, fd, 0x10, 0, PAGE) == errno.EOPNOTSUPP   # ZERO_RANGE


def test_fallocate_then_mapped_stores_allocate_nothing_more(make_machine, kernel, sparse_map):
    m, p = gfs2(make_machine, nblocks=64)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.fallocate(fd, 0, 0, 8 * PAGE)
    fill(p, "/data/big", 56)
    assert m.statfs("/data").f_bfree == 0
    a = p.mmap(0, 8 * PAGE, RW, MAP_SHARED, fd, 0)
    assert p.touch(a, 8 * PAGE, write=True).pages == 8     # no SIGBUS: the blocks exist
    p.msync(a, 8 * PAGE, MS_SYNC)
    assert m.statfs("/data").f_bfree == 0
