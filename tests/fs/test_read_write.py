"""pread and pwrite (fs/read_write.c ksys_pread64/ksys_pwrite64, vfs_read/vfs_write,
rw_verify_area; mm/filemap.c generic_write_checks, generic_perform_write,
do_generic_file_read): the errnos in the kernel's order, the data through the
page cache and the disk, ->write_begin's ENOSPC where a mapped store has none,
and the dirty accounting and throttling of a write.
"""

import errno
import os
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmsim
from mmsim import (MAP_SHARED, MS_SYNC, MiB, PAGE_SIZE, PROT_READ, PROT_WRITE,
                   RLIM_INFINITY)
from mmsim.fs.read_write import generic_write_checks
from mmsim.fs.super import MAX_FILE_SIZE

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture],
                derandomize=os.environ.get("HYPOTHESIS_RANDOM") != "1")


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def pattern(n, seed=0):
    """n bytes that differ from page to page and within a page."""
    return ((np.arange(n) * 7 + seed) & 0xFF).astype(np.uint8).tobytes()


@pytest.fixture
def rw(m, p):
    """A process and an empty file open read-write on the test's kernel."""
    return p, p.open("/data/f", os.O_RDWR | os.O_CREAT)


# -- errnos --------------------------------------------------------------------------------------

def test_negative_offset_einval_before_the_fd(rw):
    # ksys_pread64/ksys_pwrite64: "if (pos < 0) return -EINVAL" before fdget
    p, fd = rw
    assert errno_of(p.pread, 999, 10, -1) == errno.EINVAL
    assert errno_of(p.pwrite, 999, b"x", -PAGE) == errno.EINVAL
    assert errno_of(p.pread, fd, 10, -1) == errno.EINVAL
    assert errno_of(p.pwrite, fd, b"x", -1) == errno.EINVAL


def test_bad_or_closed_fd_ebadf(rw):
    p, fd = rw
    assert errno_of(p.pread, 999, 10, 0) == errno.EBADF
    assert errno_of(p.pwrite, 999, b"x", 0) == errno.EBADF
    p.close(fd)
    assert errno_of(p.pread, fd, 10, 0) == errno.EBADF
    assert errno_of(p.pwrite, fd, b"x", 0) == errno.EBADF


def test_wrong_access_mode_ebadf(m, p):
    # vfs_read/vfs_write: !(f_mode & FMODE_READ / FMODE_WRITE) -> -EBADF
    wo = p.open("/data/f", os.O_WRONLY | os.O_CREAT)
    ro = p.open("/data/f", os.O_RDONLY)
    assert errno_of(p.pread, wo, 10, 0) == errno.EBADF
    assert errno_of(p.pwrite, ro, b"x", 0) == errno.EBADF
    assert p.pwrite(wo, b"abc", 0) == 3
    assert p.pread(ro, 10, 0) == b"abc"


@pytest.mark.parametrize("count", [1 << 63, -1, (1 << 64) - 1])
def test_count_past_loff_t_einval(rw, count):
    # rw_verify_area: (ssize_t)count < 0 -> -EINVAL (a negative count is a huge size_t)
    p, fd = rw
    assert errno_of(p.pread, fd, count, 0) == errno.EINVAL


def test_end_past_loff_t_einval(rw):
    # rw_verify_area: (loff_t)(pos + count) < 0 -> -EINVAL
    p, fd = rw
    assert errno_of(p.pread, fd, 10, (1 << 63) - 5) == errno.EINVAL
    assert errno_of(p.pwrite, fd, b"0123456789", (1 << 63) - 5) == errno.EINVAL
    assert errno_of(p.pread, fd, 10, 1 << 63) == errno.EINVAL     # not an loff_t at all


def test_efbig_at_or_past_the_max_file_size(m, rw):
    # generic_write_checks: pos >= s_maxbytes -> -EFBIG
    p, fd = rw
    assert errno_of(p.pwrite, fd, b"x", MAX_FILE_SIZE) == errno.EFBIG
    assert errno_of(p.pwrite, fd, b"x", MAX_FILE_SIZE + PAGE) == errno.EFBIG
    assert m.stat("/data/f").st_size == 0


def test_a_write_across_the_max_file_size_is_cut_there(m, rw):
    # generic_write_checks: *count = s_maxbytes - pos. Checked on the function:
    # the simulator cannot hold the arrays of a 16 TiB file.
    p, fd = rw
    inode = m.mounts["/data"].inodes["f"]
    assert generic_write_checks(inode, MAX_FILE_SIZE - 10, 100) == 10
    assert generic_write_checks(inode, 0, 100) == 100


def test_data_not_bytes_efault(rw):
    p, fd = rw
    for bad in ("text", 12, None, [1, 2]):
        assert errno_of(p.pwrite, fd, bad, 0) == errno.EFAULT


def test_zero_length_is_zero(m, rw):
    p, fd = rw
    assert p.pwrite(fd, b"", 5 * PAGE) == 0
    assert p.pread(fd, 0, 0) == b""
    assert m.stat("/data/f").st_size == 0


def test_pread_past_eof_short_and_empty(rw):
    p, fd = rw
    assert p.pwrite(fd, b"0123456789", 0) == 10
    assert p.pread(fd, 100, 4) == b"456789"
    assert p.pread(fd, 100, 10) == b""
    assert p.pread(fd, 100, 50 * PAGE) == b""


def test_killed_process_esrch(rw):
    p, fd = rw
    p.kill()
    assert errno_of(p.pread, fd, 1, 0) == errno.ESRCH
    assert errno_of(p.pwrite, fd, b"x", 0) == errno.ESRCH


# -- data through the page cache and the disk ------------------------------------------------------

@pytest.mark.parametrize("fs", ["ext2", "ext3", "ext4", "xfs", "btrfs", "gfs2"])
def test_pwrite_reads_back_through_pread_mapping_and_disk(make_machine, fs):
    m = make_machine(fs=fs)
    p = m.spawn(memlock=UNLIMITED)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    data = pattern(5 * PAGE + 123, seed=3)
    assert p.pwrite(fd, data, 1000) == len(data)
    assert m.stat("/data/f").st_size == 1000 + len(data)
    assert p.pread(fd, len(data) + 1000, 0) == bytes(1000) + data
    a = p.mmap(0, 8 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(a + 1000, len(data)) == data
    p.munmap(a, 8 * PAGE)
    m.sync()
    assert m.drop_caches() > 0
    disk = m.mounts["/data"].disk.counters
    before = disk["read_bytes"]
    assert p.pread(fd, len(data), 1000) == data
    assert disk["read_bytes"] - before == 6 * PAGE      # the six pages the data is in


@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs"])
def test_mapped_store_reads_back_through_pread(make_machine, fs, sparse_map):
    m = make_machine(fs=fs)
    p = m.spawn(memlock=UNLIMITED)
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    data = pattern(PAGE + 50, seed=9)
    p.write(a + PAGE - 25, data)
    assert p.pread(fd, len(data), PAGE - 25) == data        # the same page-cache pages
    p.msync(a, 4 * PAGE, MS_SYNC)
    p.munmap(a, 4 * PAGE)
    m.drop_caches()
    assert p.pread(fd, len(data), PAGE - 25) == data        # from the disk


def test_pwrite_is_seen_by_a_shared_mapping_at_once(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 2 * PAGE)
    assert p.read(a, 4) == bytes(4)                  # page cached and mapped
    p.pwrite(fd, b"new!", 0)
    assert p.read(a, 4) == b"new!"


def test_partial_page_write_keeps_the_rest_of_the_page_from_disk(m, rw):
    p, fd = rw
    p.pwrite(fd, b"A" * PAGE, 0)
    m.sync()
    m.drop_caches()
    disk = m.mounts["/data"].disk.counters
    before = disk["read_bytes"]
    p.pwrite(fd, b"bb", 10)                      # __block_write_begin reads the block first
    assert disk["read_bytes"] - before == PAGE
    assert p.pread(fd, PAGE, 0) == b"A" * 10 + b"bb" + b"A" * (PAGE - 12)


def test_full_page_write_over_uncached_block_reads_nothing(m, rw):
    p, fd = rw
    p.pwrite(fd, b"A" * 4 * PAGE, 0)
    m.sync()
    m.drop_caches()
    disk = m.mounts["/data"].disk.counters
    before = disk["read_bytes"]
    p.pwrite(fd, b"B" * 2 * PAGE, PAGE)
    assert disk["read_bytes"] == before
    assert p.pread(fd, 4 * PAGE, 0) == b"A" * PAGE + b"B" * 2 * PAGE + b"A" * PAGE


def test_holes_read_as_zeros_without_io(m, rw):
    p, fd = rw
    p.ftruncate(fd, 256 * PAGE)
    disk = m.mounts["/data"].disk.counters
    t0 = m.now
    assert p.pread(fd, 256 * PAGE, 0) == bytes(256 * PAGE)
    assert disk["read_bytes"] == 0 and disk["reads"] == 0
    assert m.now - t0 == pytest.approx(256 * m.profile.file_fill_hole)   # CPU only, no disk
    assert m.meminfo()["Cached"] == 256 * PAGE // 1024              # now cached, zero-filled


def test_uncached_blocks_cost_disk_time(m, rw):
    p, fd = rw
    n = 512
    p.pwrite(fd, pattern(n * PAGE), 0)
    m.sync()
    m.drop_caches()
    t0 = m.now
    assert p.pread(fd, n * PAGE, 0) == pattern(n * PAGE)
    assert m.now - t0 >= n * PAGE / m.profile.disk_bandwidth
    reads = m.trace.query(op="pread")
    assert sum(e.pages for e in reads if e.path[-1] == "submit_bio") == n


def test_pwrite_dirties_pages_and_extends_the_size(m, rw):
    p, fd = rw
    assert m.meminfo()["Dirty"] == 0
    p.pwrite(fd, b"z" * (3 * PAGE + 1), PAGE)
    assert m.meminfo()["Dirty"] == 4 * PAGE // 1024
    assert m.stat("/data/f").st_size == 4 * PAGE + 1
    inode = m.mounts["/data"].inodes["f"]
    assert inode.dirtied_when is not None                    # mark_inode_dirty
    m.sync()
    assert m.meminfo()["Dirty"] == 0
    p.pwrite(fd, b"q", 2 * PAGE)                                 # rewrite one page
    assert m.meminfo()["Dirty"] == PAGE // 1024


def test_pwrite_trace_names_the_write_path(make_machine, kernel):
    m = make_machine(fs="ext4")
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.pwrite(fd, b"x" * 3 * PAGE, 0)
    (ev,) = m.trace.query(op="pwrite")
    entry = "ksys_pwrite64" if kernel == "6.18" else "sys_pwrite64"
    assert ev.path == (entry, "vfs_write", "generic_perform_write", "ext4_da_write_begin")
    assert ev.pages == 3


def test_pwrite_is_throttled_by_the_dirty_limit(kernel):
    """A write three times the dirty limit meets balance_dirty_pages on the way:
    it is slowed to the disk's pace (the 2010 disk is slower than the copying),
    its pages reach the disk before it returns, and Dirty stays near the limit."""
    m = mmsim.Machine(kernel=kernel, ram=64 * MiB, profile="2010")
    m.mkfs("/data", fs="ext4", size=64 * MiB)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    _, thresh = m.wb.global_dirty_limits()
    n = 3 * thresh
    prof = m.profile
    copying = n * (prof.file_map_cached + prof.wp_reuse + prof.file_fill_hole
                   + prof.mkwrite_reserve)
    assert p.pwrite(fd, b"d" * (n * PAGE), 0) == n * PAGE
    disk = m.mounts["/data"].disk.counters
    assert disk["write_bytes"] >= (n - 2 * thresh) * PAGE
    assert m.now > 2 * copying
    assert m.now >= 0.9 * disk["write_bytes"] / prof.disk_bandwidth
    assert m.vmstat.nr_file_dirty <= thresh + m.wb.ratelimit(p, m.mounts["/data"].bdi)


# -- ENOSPC: ->write_begin fails at once, a mapped store may not ------------------------------------

FULL_FS = [("ext2", ""), ("ext3", ""), ("ext4", ""), ("ext4", "nodelalloc"), ("xfs", ""),
           ("btrfs", ""), ("gfs2", "")]


@pytest.mark.parametrize("fs,options", FULL_FS)
def test_pwrite_short_then_enospc_on_a_full_filesystem(make_machine, fs, options):
    m = make_machine(fs=fs, size=64 * PAGE, options=options)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    # 70 pages asked, 64 blocks there: a short write of what fits, from an unaligned start
    assert p.pwrite(fd, b"s" * (70 * PAGE), 100) == 64 * PAGE - 100
    assert m.stat("/data/f").st_size == 64 * PAGE
    assert m.statfs("/data").f_bfree == 0
    assert errno_of(p.pwrite, fd, b"t", 64 * PAGE) == errno.ENOSPC
    g = p.open("/data/g", os.O_RDWR | os.O_CREAT)
    assert errno_of(p.pwrite, g, b"t", 0) == errno.ENOSPC
    assert m.stat("/data/g").st_size == 0
    # what was written is there, to the last byte
    assert p.pread(fd, 64 * PAGE, 0) == bytes(100) + b"s" * (64 * PAGE - 100)


@pytest.mark.parametrize("fs,cow", [("ext2", False), ("ext4", False), ("xfs", False),
                                    ("btrfs", True), ("gfs2", False)])
def test_overwrite_on_a_full_filesystem_needs_space_only_when_cow(make_machine, fs, cow):
    m = make_machine(fs=fs, size=32 * PAGE)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    assert p.pwrite(fd, b"a" * (32 * PAGE), 0) == 32 * PAGE
    m.sync()
    assert m.statfs("/data").f_bfree == 0
    if cow:       # btrfs writes every page somewhere new: no space, no write
        assert errno_of(p.pwrite, fd, b"b" * PAGE, 0) == errno.ENOSPC
    else:
        assert p.pwrite(fd, b"b" * PAGE, 0) == PAGE
        assert p.pread(fd, 2, PAGE - 1) == b"ba"


def full_with_a_sparse_mapping(make_machine, fs, options=""):
    m = make_machine(fs=fs, size=64 * PAGE, options=options)
    p = m.spawn()
    fd = p.open("/data/big", os.O_RDWR | os.O_CREAT)
    assert p.pwrite(fd, b"f" * (64 * PAGE), 0) == 64 * PAGE
    m.sync()
    g = p.open("/data/sparse", os.O_RDWR | os.O_CREAT)
    p.ftruncate(g, 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED, g, 0)
    return m, p, g, a


def test_full_ext4_pwrite_enospc_mapped_store_sigbus(make_machine):
    m, p, g, a = full_with_a_sparse_mapping(make_machine, "ext4")
    assert errno_of(p.pwrite, g, b"w", 0) == errno.ENOSPC
    with pytest.raises(mmsim.Signal) as sig:
        p.write(a, b"w")                            # ext4_page_mkwrite: ENOSPC -> SIGBUS
    assert sig.value.signo == signal.SIGBUS


def test_full_ext2_pwrite_enospc_mapped_store_succeeds(make_machine, kernel):
    """fs/ext2 (on 6.18 what CONFIG_EXT2_FS builds, the ext2_driver option)."""
    m, p, g, a = full_with_a_sparse_mapping(make_machine, "ext2", options="ext2_driver")
    assert errno_of(p.pwrite, g, b"w", 0) == errno.ENOSPC
    # no ->page_mkwrite (2.6.37) or one that allocates nothing (today): the
    # store dirties the page; ENOSPC waits for writeback
    assert p.write(a, b"w") == 1
    assert m.meminfo()["Dirty"] == PAGE // 1024
    assert errno_of(p.msync, a, PAGE, MS_SYNC) == errno.ENOSPC


# -- a property: pwrite and pread agree with a byte array, across sync and drop_caches --------------

WRITES = st.lists(
    st.one_of(
        st.tuples(st.just("w"), st.integers(0, 12 * PAGE), st.binary(min_size=1, max_size=3 * PAGE)),
        st.tuples(st.just("sync"), st.just(0), st.just(b"")),
        st.tuples(st.just("drop"), st.just(0), st.just(b""))),
    min_size=1, max_size=12)


@settings(max_examples=40, **SETTINGS)
@given(ops=WRITES, fs=st.sampled_from(["ext2", "ext4", "xfs", "btrfs"]),
       kernel=st.sampled_from(["2.6.37", "6.18"]))
def test_pwrite_pread_match_a_byte_array(ops, fs, kernel):
    m = mmsim.Machine(kernel=kernel, ram=256 * MiB)
    m.mkfs("/data", fs=fs, size=4 * MiB)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    model = bytearray()
    touched = set()
    for op, off, data in ops:
        if op == "w":
            assert p.pwrite(fd, data, off) == len(data)
            touched.update(range(off // PAGE, (off + len(data) - 1) // PAGE + 1))
            if len(model) < off + len(data):
                model.extend(bytes(off + len(data) - len(model)))
            model[off:off + len(data)] = data
        elif op == "sync":
            m.sync()
        else:
            m.drop_caches()
        assert m.stat("/data/f").st_size == len(model)
    assert p.pread(fd, len(model) + PAGE, 0) == bytes(model)
    m.sync()
    m.drop_caches()
    assert p.pread(fd, len(model) + PAGE, 0) == bytes(model)
    assert m.vmstat.nr_file_dirty == 0
    # every page a write touched has its block (reservations all converted), no other page has one
    inode = m.mounts["/data"].inodes["f"]
    assert set(np.flatnonzero(inode.block >= 0).tolist()) == touched
    assert inode.nreserved == 0 and m.stat("/data/f").st_blocks == len(touched) * PAGE // 512
