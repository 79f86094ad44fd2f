"""Filesystem personalities: ->page_mkwrite per filesystem and kernel version,
delayed allocation, unwritten extents, fallocate, truncate, writeback
conversion, and what a filesystem without ->page_mkwrite loses.

References: kernel-facts.md section 3; kernel-lookups.md section 9
(st_blocks includes delalloc reservations).
"""

import errno
import math
import os
import signal

import pytest

import mmsim
from mmsim import (FALLOC_FL_KEEP_SIZE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MS_SYNC, MiB, PAGE_SIZE,
                   PROT_READ, PROT_WRITE, RLIM_INFINITY)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
KB = PAGE // 1024
SECTORS = PAGE // 512
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def small_fs(make_machine, fs, nblocks=64, options=""):
    """A machine with an nblocks-block filesystem of type fs on /data."""
    m = make_machine(fs=fs, size=nblocks * PAGE, options=options)
    return m, m.spawn(memlock=UNLIMITED)


def fill_by_writeback(m, p, name, npages):
    """Allocate npages blocks the only way ext2 can: write through a mapping, fsync."""
    fd = p.open(name, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, npages * PAGE)
    a = p.mmap(0, npages * PAGE, RW, MAP_SHARED, fd, 0)
    p.touch(a, npages * PAGE, write=True)
    p.fsync(fd)
    p.munmap(a, npages * PAGE)
    return fd


# -- filesystems without ->page_mkwrite: no SIGBUS when full ------------------------------

@pytest.mark.parametrize("fs", ["ext2", "ext3"])
def test_no_page_mkwrite_full_fs_store_does_not_sigbus(make_machine, kernel, fs, sparse_map):
    m, p = small_fs(make_machine, fs)
    fill_by_writeback(m, p, "/data/fill", 64)
    assert m.statfs("/data").f_bfree == 0
    fd, a = sparse_map(p, "/data/hole", 8 * PAGE)
    if kernel == "6.18":
        # the ext4 driver mounts both (test_ext3_on_6_18..., test_ext2_on_6_18...):
        # ext4_page_mkwrite -> SIGBUS
        with pytest.raises(mmsim.Signal) as exc:
            p.touch(a, 8 * PAGE, write=True)
        assert exc.value.signo == signal.SIGBUS and exc.value.addr == a
        return
    r = p.touch(a, 8 * PAGE, write=True)           # no ->page_mkwrite: no SIGBUS
    assert r.pages == 8
    assert m.meminfo()["Dirty"] == 8 * KB
    assert m.stat("/data/hole").st_blocks == 0
    # ENOSPC is only met at writeback, reported by fsync
    assert errno_of(p.fsync, fd) == errno.ENOSPC


def test_ext2_on_6_18_is_mounted_by_ext4_unless_the_ext2_driver_is_asked_for(make_machine):
    """CONFIG_EXT4_USE_FOR_EXT2: "mounting ext2 file system using the ext4 subsystem";
    the simulator's ext2_driver option keeps fs/ext2 (filemap_page_mkwrite, no allocation)."""
    m = make_machine(kernel="6.18", fs="ext2")
    assert m.mounts["/data"].mkwrite_name() == "ext4_page_mkwrite"
    old = make_machine(kernel="6.18", fs="ext2", options="ext2_driver")
    assert old.mounts["/data"].mkwrite_name() == "filemap_page_mkwrite"
    for k in ("2.6.37", "2.6.38"):
        assert make_machine(kernel=k, fs="ext2").mounts["/data"].page_mkwrite is None
    same = make_machine(kernel="2.6.37", fs="ext2", options="ext2_driver")   # fs/ext2 anyway
    assert same.mounts["/data"].page_mkwrite is None
    with pytest.raises(OSError) as e:
        make_machine(kernel="2.6.37", fs="ext2", options="nodelalloc")
    assert e.value.errno == errno.EINVAL


def test_ext3_on_6_18_is_ext4_and_sigbuses_when_full(make_machine, kernel, sparse_map):
    """ext3 was removed in 4.3; the ext4 driver mounts ext3 filesystems and
    brings ext4_page_mkwrite along, which allocates: ENOSPC -> SIGBUS."""
    m, p = small_fs(make_machine, "ext3")
    fill_by_writeback(m, p, "/data/fill", 60)
    fd, a = sparse_map(p, "/data/hole", 8 * PAGE)
    if kernel != "6.18":
        assert p.touch(a, 8 * PAGE, write=True).pages == 8
        return
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a, 8 * PAGE, write=True)
    assert exc.value.signo == signal.SIGBUS
    assert exc.value.addr == a + 4 * PAGE


def test_ext2_first_store_allocates_nothing(make_machine, kernel, sparse_map):
    m, p = small_fs(make_machine, "ext2", options="ext2_driver")
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    bfree = m.statfs("/data").f_bfree
    p.touch(a, 8 * PAGE, write=True)
    assert m.stat("/data/f").st_blocks == 0
    assert m.statfs("/data").f_bfree == bfree
    assert m.fiemap("/data/f") == []
    p.fsync(fd)
    assert m.stat("/data/f").st_blocks == 8 * SECTORS
    assert m.statfs("/data").f_bfree == bfree - 8


# -- ext4: delalloc and nodelalloc ----------------------------------------------------------

def test_ext4_delalloc_reserves_on_first_store(make_machine, sparse_map):
    m, p = small_fs(make_machine, "ext4", nblocks=256)
    fd, a = sparse_map(p, "/data/f", 16 * PAGE)
    bfree = m.statfs("/data").f_bfree
    p.touch(a, 16 * PAGE)                           # reads reserve nothing
    assert m.stat("/data/f").st_blocks == 0
    p.touch(a, 4 * PAGE, write=True)
    assert m.stat("/data/f").st_blocks == 4 * SECTORS
    assert m.statfs("/data").f_bfree == bfree - 4
    ext = m.fiemap("/data/f")
    assert [(e.logical, e.length, e.delalloc, e.unwritten) for e in ext] == \
        [(0, 4 * PAGE, True, False)]
    # writeback chooses the blocks: the reservation becomes an allocation
    p.fsync(fd)
    assert m.stat("/data/f").st_blocks == 4 * SECTORS
    assert m.statfs("/data").f_bfree == bfree - 4
    ext = m.fiemap("/data/f")
    assert [(e.logical, e.length, e.delalloc, e.unwritten) for e in ext] == \
        [(0, 4 * PAGE, False, False)]
    # a second store to the same pages reserves nothing more
    p.touch(a, 4 * PAGE, write=True)
    assert m.stat("/data/f").st_blocks == 4 * SECTORS


def test_ext4_nodelalloc_allocates_on_first_store(make_machine, sparse_map):
    m, p = small_fs(make_machine, "ext4", nblocks=256, options="nodelalloc")
    fd, a = sparse_map(p, "/data/f", 16 * PAGE)
    bfree = m.statfs("/data").f_bfree
    p.touch(a + 2 * PAGE, 3 * PAGE, write=True)
    ext = m.fiemap("/data/f")
    assert [(e.logical, e.length, e.delalloc, e.unwritten) for e in ext] == \
        [(2 * PAGE, 3 * PAGE, False, False)]
    assert m.stat("/data/f").st_blocks == 3 * SECTORS
    assert m.statfs("/data").f_bfree == bfree - 3


@pytest.mark.parametrize("options", ["", "nodelalloc"])
def test_ext4_full_fs_sigbus_at_first_store_past_free_space(make_machine, kernel, options,
                                                            sparse_map):
    m, p = small_fs(make_machine, "ext4", nblocks=64, options=options)
    fd0 = p.open("/data/big", os.O_RDWR | os.O_CREAT)
    p.fallocate(fd0, 0, 0, 60 * PAGE)
    assert m.statfs("/data").f_bfree == 4
    fd, a = sparse_map(p, "/data/hole", 10 * PAGE)
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a, 10 * PAGE, write=True)
    assert exc.value.signo == signal.SIGBUS
    assert exc.value.addr == a + 4 * PAGE
    assert exc.value.pages == 4
    # the pages before it are fine, and stay writable
    assert m.meminfo()["Dirty"] == 4 * KB
    p.write(a + 3 * PAGE, b"fits")
    assert p.read(a + 3 * PAGE, 4) == b"fits"
    assert m.statfs("/data").f_bfree == 0
    with pytest.raises(mmsim.Signal):
        p.write(a + 9 * PAGE, b"no room")
    # reads of the holes past the free space are fine
    assert p.read(a + 8 * PAGE, 4) == bytes(4)
    p.fsync(fd)
    p.munmap(a, 10 * PAGE)
    m.drop_caches()
    b = p.mmap(0, 10 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(b + 3 * PAGE, 4) == b"fits"


def test_xfs_full_fs_sigbus(make_machine, sparse_map):
    m, p = small_fs(make_machine, "xfs", nblocks=64)
    fd0 = p.open("/data/big", os.O_RDWR | os.O_CREAT)
    p.fallocate(fd0, 0, 0, 62 * PAGE)
    fd, a = sparse_map(p, "/data/hole", 4 * PAGE)
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a, 4 * PAGE, write=True)
    assert exc.value.signo == signal.SIGBUS and exc.value.pages == 2


def test_btrfs_reserves_even_over_existing_blocks(make_machine, sparse_map):
    m, p = small_fs(make_machine, "btrfs", nblocks=256)
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    p.touch(a, 4 * PAGE, write=True)
    p.fsync(fd)
    bfree = m.statfs("/data").f_bfree
    p.touch(a, 4 * PAGE, write=True)                # copy-on-write: new space again
    assert m.statfs("/data").f_bfree == bfree - 4
    p.fsync(fd)
    assert m.statfs("/data").f_bfree == bfree       # the old extent was freed
    assert m.stat("/data/f").st_blocks == 4 * SECTORS


# -- fallocate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fs", ["ext2", "ext3"])
def test_fallocate_eopnotsupp_on_ext2_ext3(make_machine, fs):
    m, p = small_fs(make_machine, fs)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    assert errno_of(p.fallocate, fd, 0, 0, 4 * PAGE) == errno.EOPNOTSUPP
    assert m.stat("/data/f").st_blocks == 0 and m.stat("/data/f").st_size == 0


@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_fallocate_unwritten_extents(make_machine, fs, sparse_map):
    m, p = small_fs(make_machine, fs, nblocks=256)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    bfree = m.statfs("/data").f_bfree
    p.fallocate(fd, 0, 0, 8 * PAGE)
    st = m.stat("/data/f")
    assert st.st_size == 8 * PAGE and st.st_blocks == 8 * SECTORS
    assert m.statfs("/data").f_bfree == bfree - 8
    ext = m.fiemap("/data/f")
    assert sum(e.length for e in ext) == 8 * PAGE
    assert all(e.unwritten and not e.delalloc for e in ext)
    # preallocated space reads as zeros
    a = p.mmap(0, 8 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(a + 5 * PAGE, 16) == bytes(16)
    # KEEP_SIZE: blocks past EOF, size unchanged
    p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 8 * PAGE, 4 * PAGE)
    assert m.stat("/data/f").st_size == 8 * PAGE
    assert m.stat("/data/f").st_blocks == 12 * SECTORS


@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_fallocate_enospc_when_too_big(make_machine, fs):
    m, p = small_fs(make_machine, fs, nblocks=64)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    assert errno_of(p.fallocate, fd, 0, 0, 65 * PAGE) == errno.ENOSPC
    p.fallocate(fd, 0, 0, 32 * PAGE)
    assert errno_of(p.fallocate, fd, 0, 32 * PAGE, 33 * PAGE) == errno.ENOSPC


def test_fallocate_bad_arguments(m, p):
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    assert errno_of(p.fallocate, fd, 0, 0, 0) == errno.EINVAL
    assert errno_of(p.fallocate, fd, 0, -1, PAGE) == errno.EINVAL
    ro = p.open("/data/f", os.O_RDONLY)
    assert errno_of(p.fallocate, ro, 0, 0, PAGE) == errno.EBADF


# -- truncate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs", "gfs2"])
def test_ftruncate_shrink_drops_pages_and_blocks(make_machine, fs, sparse_map):
    m, p = small_fs(make_machine, fs, nblocks=256)
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.write(a, b"keep")
    p.touch(a, 8 * PAGE, write=True)
    p.fsync(fd)
    assert m.stat("/data/f").st_blocks == 8 * SECTORS
    bfree = m.statfs("/data").f_bfree
    cached = m.meminfo()["Cached"]
    p.ftruncate(fd, 2 * PAGE)
    assert m.stat("/data/f").st_blocks == 2 * SECTORS
    assert m.stat("/data/f").st_size == 2 * PAGE
    assert m.statfs("/data").f_bfree == bfree + 6
    assert m.meminfo()["Cached"] == cached - 6 * KB
    assert p.smaps(a)["Rss"] == 2 * KB
    with pytest.raises(mmsim.Signal) as exc:
        p.read(a + 5 * PAGE, 1)
    assert exc.value.signo == signal.SIGBUS and exc.value.addr == a + 5 * PAGE
    # still readable: "keep" with memtoy's touch byte stored over its first byte
    assert p.read(a, 4) == b"\x5aeep"
    # growing again gives zeros, not the old data
    p.ftruncate(fd, 8 * PAGE)
    assert p.read(a + 5 * PAGE, 4) == bytes(4)


def test_ftruncate_drops_private_cow_copies_past_eof(m, p, sparse_map):
    fd, s = sparse_map(p, "/data/f", 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, RW, MAP_PRIVATE, fd, 0)
    p.write(a + 3 * PAGE, b"cow")
    assert p.smaps(a)["Anonymous"] == KB
    p.ftruncate(fd, 2 * PAGE)
    assert p.smaps(a)["Anonymous"] == 0
    with pytest.raises(mmsim.Signal) as exc:
        p.read(a + 3 * PAGE, 1)
    assert exc.value.signo == signal.SIGBUS


def test_ftruncate_shrink_releases_delalloc_reservations(make_machine, sparse_map):
    m, p = small_fs(make_machine, "ext4", nblocks=64)
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    bfree = m.statfs("/data").f_bfree
    p.touch(a, 8 * PAGE, write=True)
    assert m.statfs("/data").f_bfree == bfree - 8
    p.ftruncate(fd, 0)
    assert m.statfs("/data").f_bfree == bfree
    assert m.stat("/data/f").st_blocks == 0
    assert m.meminfo()["Dirty"] == 0


# -- mkfs/mount errors -------------------------------------------------------------------------------

def test_unknown_fs_type_enodev(kernel):
    m = mmsim.Machine(kernel=kernel)
    assert errno_of(m.mkfs, "/data", "reiserfs", 64 * PAGE) == errno.ENODEV
    assert errno_of(m.mkfs, "/data", "", 64 * PAGE) == errno.ENODEV
    assert m.mounts == {}


@pytest.mark.parametrize("fs,option", [("ext4", "bogus"), ("ext2", "ext2_driver,bogus"),
                                       ("xfs", "delalloc,frobnicate")])
def test_unknown_mount_option_einval(kernel, fs, option):
    m = mmsim.Machine(kernel=kernel)
    with pytest.raises(OSError) as exc:
        m.mkfs("/data", fs=fs, size=64 * PAGE, options=option)
    assert exc.value.errno == errno.EINVAL
    assert m.mounts == {}


def test_known_mount_options(kernel):
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/a", fs="ext4", size=64 * PAGE, options="nodelalloc")
    m.mkfs("/b", fs="ext4", size=64 * PAGE, options="delalloc")
    m.mkfs("/c", fs="xfs", size=64 * PAGE, options="no_page_mkwrite")
    assert set(m.mounts) == {"/a", "/b", "/c"}


# -- writeback and unwritten extents ------------------------------------------------------------------

def write_fallocated(m, p, n=4):
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.fallocate(fd, 0, 0, n * PAGE)
    a = p.mmap(0, n * PAGE, RW, MAP_SHARED, fd, 0)
    p.write(a, b"precious data")
    p.write(a + (n - 1) * PAGE, b"tail")
    p.msync(a, n * PAGE, MS_SYNC)
    return fd, a


@pytest.mark.parametrize("options", ["", "nodelalloc", "no_page_mkwrite"])
def test_ext4_writeback_converts_unwritten(make_machine, options):
    m, p = small_fs(make_machine, "ext4", nblocks=256, options=options)
    fd, a = write_fallocated(m, p)
    # pages 0 and 3 were written: converted; pages 1 and 2 stay unwritten
    states = [(e.logical // PAGE + i, e.unwritten) for e in m.fiemap("/data/f")
              for i in range(e.length // PAGE)]
    assert states == [(0, False), (1, True), (2, True), (3, False)]


def test_xfs_writeback_converts_where_page_mkwrite_ran(make_machine):
    m, p = small_fs(make_machine, "xfs", nblocks=256)
    write_fallocated(m, p)
    states = [(e.logical // PAGE + i, e.unwritten) for e in m.fiemap("/data/f")
              for i in range(e.length // PAGE)]
    assert states == [(0, False), (1, True), (2, True), (3, False)]


def test_xfs_without_page_mkwrite_leaves_extents_unwritten(make_machine):
    m, p = small_fs(make_machine, "xfs", nblocks=256, options="no_page_mkwrite")
    write_fallocated(m, p)
    assert all(e.unwritten for e in m.fiemap("/data/f"))
    assert m.meminfo()["Dirty"] == 0                # the data was written all the same


@pytest.mark.parametrize("options,survives", [("", True), ("no_page_mkwrite", False)])
def test_xfs_silent_data_loss_without_page_mkwrite(make_machine, options, survives):
    """xfstests 166 / Dave Chinner in the thread: without ->page_mkwrite the
    buffers are not marked unwritten, writeback does not convert the extent,
    and the data reads back as zeros once the page cache is dropped."""
    m, p = small_fs(make_machine, "xfs", nblocks=256, options=options)
    fd, a = write_fallocated(m, p)
    p.munmap(a, 4 * PAGE)
    m.drop_caches()
    assert m.meminfo()["Cached"] == 0
    b = p.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    got = p.read(b, 13), p.read(b + 3 * PAGE, 4)
    if survives:
        assert got == (b"precious data", b"tail")
    else:
        assert got == (bytes(13), bytes(4))


@pytest.mark.parametrize("fs", ["ext2", "ext3", "ext4", "xfs", "btrfs", "gfs2"])
def test_data_survives_writeback_and_drop_caches(make_machine, fs, sparse_map):
    m, p = small_fs(make_machine, fs, nblocks=256)
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.write(a + PAGE - 3, b"across pages")
    p.msync(a, 8 * PAGE, MS_SYNC)
    p.munmap(a, 8 * PAGE)
    m.drop_caches()
    b = p.mmap(0, 8 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(b + PAGE - 3, 12) == b"across pages"
    assert m.stat("/data/f").st_blocks == 2 * SECTORS


# -- hole punching ------------------------------------------------------------------------------------------

def punch_setup(m, p):
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED, fd, 0)
    p.write(a, b"A" * (4 * PAGE))
    p.fsync(fd)
    return fd, a


def test_punch_hole_ext4_6_18(sparse_map):
    m = mmsim.Machine(kernel="6.18")
    m.mkfs("/data", fs="ext4", size=256 * PAGE)
    p = m.spawn()
    fd, a = punch_setup(m, p)
    p.fallocate(fd, mmsim.FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PAGE, 2 * PAGE)
    assert m.stat("/data/f").st_blocks == 2 * SECTORS
    assert m.stat("/data/f").st_size == 4 * PAGE
    assert p.read(a + PAGE, 4) == bytes(4)
    assert p.read(a, 1) == p.read(a + 3 * PAGE, 1) == b"A"
    # PUNCH_HOLE without KEEP_SIZE is EOPNOTSUPP
    assert errno_of(p.fallocate, fd, mmsim.FALLOC_FL_PUNCH_HOLE, 0, PAGE) == errno.EOPNOTSUPP


@pytest.mark.parametrize("version", ["2.6.37", "2.6.38"])
def test_no_punch_hole_on_ext4_before_3_0(version):
    m = mmsim.Machine(kernel=version)
    m.mkfs("/data", fs="ext4", size=256 * PAGE)
    p = m.spawn()
    fd, a = punch_setup(m, p)
    try:
        p.fallocate(fd, mmsim.FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PAGE, 2 * PAGE)
    except OSError as e:
        assert e.errno == errno.EOPNOTSUPP
    assert m.stat("/data/f").st_blocks == 4 * SECTORS
    assert p.read(a + PAGE, 4) == b"AAAA"


@pytest.mark.parametrize("fs,options", [("ext4", "nodelalloc"), ("gfs2", "")])
def test_a_block_page_mkwrite_allocates_is_not_read_back(kernel, fs, options):
    """__do_fault reads the page before ->page_mkwrite allocates its block, so a
    write fault into a hole never reads the new block (and its stale contents)
    from the disk: buffer_new, zero-filled (2.6.37 mlock and MAP_POPULATE take it)."""
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs=fs, size=64 * MiB, options=options)
    p = m.spawn(memlock=UNLIMITED)
    stale = p.open("/data/stale", os.O_RDWR | os.O_CREAT)
    p.pwrite(stale, b"\xee" * (64 * PAGE), 0)
    p.fsync(stale)
    p.close(stale)
    m.mounts["/data"].truncate(m.mounts["/data"].lookup("stale"), 0)   # blocks free, contents stay
    m.drop_caches()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 64 * PAGE)
    a = p.mmap(0, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0)
    p.touch(a, 64 * PAGE, write=True)
    assert m.mounts["/data"].disk.counters["read_bytes"] == 0
    assert p.getrusage().ru_majflt == 0
    assert p.read(a, 64 * PAGE) == (bytes([0x5A]) + bytes(PAGE - 1)) * 64   # no 0xee


# -- when each block was allocated (Machine.layout) ---------------------------------------

@pytest.mark.parametrize("fs,options", [("ext2", ""), ("ext4", ""), ("ext4", "nodelalloc"),
                                        ("btrfs", "")])
def test_layout_records_when_each_block_was_allocated(make_machine, fs, options, sparse_map):
    m, p = small_fs(make_machine, fs, nblocks=256, options=options)
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    m.sleep(2.0)
    p.touch(a + 4 * PAGE, 2 * PAGE, write=True)
    stored = m.now
    m.sleep(3.0)
    p.fsync(fd)
    lay = m.layout("/data/f")
    at, block = lay["allocated_at"], lay["block"]
    assert len(at) == len(block) == 8
    assert list(block >= 0) == [False] * 4 + [True] * 2 + [False] * 2
    assert all(math.isnan(t) for t in list(at[:4]) + list(at[6:]))    # no block, no time
    # ext4 nodelalloc allocates in ->page_mkwrite, the others at writeback (the fsync)
    expected = stored if options == "nodelalloc" else m.now
    assert at[4] == at[5] == pytest.approx(expected, abs=1e-3)
    at[4] = -1.0                                                   # a copy: the file is untouched
    assert m.layout("/data/f")["allocated_at"][4] != -1.0
    p.munmap(a, 8 * PAGE)
    p.ftruncate(fd, 0)
    p.ftruncate(fd, 8 * PAGE)
    assert (m.layout("/data/f")["block"] == -1).all()
    assert all(math.isnan(t) for t in m.layout("/data/f")["allocated_at"])


def test_fallocate_allocates_when_it_is_called(make_machine, sparse_map):
    m, p = small_fs(make_machine, "ext4", nblocks=256)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    m.sleep(7.0)
    p.fallocate(fd, 0, 0, 8 * PAGE)
    assert list(m.layout("/data/f")["allocated_at"]) == [pytest.approx(7.0)] * 8
