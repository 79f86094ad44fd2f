"""File timestamps (fs/inode.c current_time, file_update_time, touch_atime; fs/open.c
do_truncate): what moves mtime, ctime and atime, and when, per kernel and filesystem.

fstests generic/080 checks the mmap case: a store through a shared mapping
updates mtime (and ctime) by the time msync returns. In the kernel the update
happens at the write fault, the first store to a clean page: later stores
to the same page do not fault and do not move mtime until writeback has
cleaned and write-protected the page again.
"""

import errno
import os

import pytest

import mmsim
from mmsim import MAP_SHARED, MS_SYNC, PAGE_SIZE, PROT_READ, PROT_WRITE

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
NS = 1_000_000_000


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def times(m, path="/data/f"):
    st = m.stat(path)
    return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def stamp(m, gran=1):
    """Now as the kernel stamps it: the jiffy, then the filesystem's granularity."""
    ns = int(round(m.now * NS))
    ns -= ns % (NS // m.kernel.hz)
    return ns - ns % gran


@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs", "btrfs", "gfs2"])
def test_mmap_store_moves_mtime_at_the_first_write_fault_only(make_machine, fs, sparse_map):
    """generic/080: mtime after a store + msync; no second update for a store
    to a page still writable; a new one once msync has cleaned the page."""
    m = make_machine(fs=fs)
    gran = NS if fs == "ext2" else 1
    p = m.spawn()
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    m.sleep(2)
    _, mtime0, ctime0 = times(m)
    p.read(a, 4 * PAGE)                           # read faults: no mtime
    assert times(m)[1:] == (mtime0, ctime0)
    m.sleep(2)
    p.write(a + 10, b"first")
    t1 = stamp(m, gran)
    p.msync(a, 4 * PAGE, MS_SYNC)
    _, mtime1, ctime1 = times(m)
    assert mtime1 == ctime1 == t1 > mtime0
    m.sleep(2)
    p.write(a + 100, b"again")                   # the PTE is write-protected again
    t2 = stamp(m, gran)
    assert times(m)[1] == t2 > mtime1
    m.sleep(2)
    p.write(a + 200, b"third")                   # still writable and dirty: no fault
    assert times(m)[1] == t2
    assert p.pread(fd, 5, 200) == b"third"


def test_ext2_and_ext3_stamp_whole_seconds(make_machine, kernel):
    for fs in ("ext2", "ext3"):
        m = make_machine(fs=fs, mount="/data")
        p = m.spawn()
        fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
        m.sleep(1.75)
        p.pwrite(fd, b"x", 0)
        # ext2 and ext3 mounted by today's ext4 driver have nanosecond timestamps
        ns = kernel == "6.18"
        assert times(m)[1] == (stamp(m) if ns else NS)


def test_timestamps_follow_the_jiffy(make_machine, kernel):
    m = make_machine(fs="ext4")
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    m.sleep(1.0003)
    p.pwrite(fd, b"x", 0)
    jiffy = NS // m.kernel.hz                         # 4 ms at HZ=250, 1 ms at HZ=1000
    assert times(m)[1] == (1.0003 * NS // jiffy) * jiffy


def test_pwrite_moves_mtime_and_ctime_pread_moves_only_atime(make_machine, kernel):
    m = make_machine(fs="ext4")
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    created = times(m)
    m.sleep(3)
    p.pwrite(fd, b"hello", 0)
    t1 = stamp(m)
    assert times(m) == (created[0], t1, t1)
    m.sleep(3)
    assert p.pread(fd, 5, 0) == b"hello"
    t2 = stamp(m)
    assert times(m) == (t2, t1, t1)       # relatime: atime was older than mtime
    m.sleep(3)
    p.pread(fd, 5, 0)
    assert times(m)[0] == t2              # relatime: atime newer than m/ctime, < 1 day
    m.sleep(24 * 3600)
    p.pread(fd, 5, 0)
    assert times(m)[0] == stamp(m)        # a day later it moves again
    t3 = stamp(m)
    p.pread(fd, 0, 0)                     # an empty read touches nothing
    assert times(m)[0] == t3


def test_mmap_touches_atime_not_mtime(make_machine, kernel):
    m = make_machine(fs="ext4")
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.pwrite(fd, b"x" * PAGE, 0)
    m.sleep(5)
    _, mtime, ctime = times(m)
    p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)    # generic_file_mmap: file_accessed
    assert times(m) == (stamp(m), mtime, ctime)


def test_ftruncate_moves_mtime_even_without_a_size_change(make_machine, kernel):
    # do_sys_ftruncate passes ATTR_MTIME | ATTR_CTIME unconditionally
    m = make_machine(fs="ext4")
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 8 * PAGE)
    m.sleep(2)
    p.ftruncate(fd, 8 * PAGE)
    t = stamp(m)
    assert times(m)[1:] == (t, t)
    m.sleep(2)
    assert errno_of(p.ftruncate, fd, 1 << 50) == errno.EFBIG     # a failed one does not
    assert times(m)[1:] == (t, t)


def test_open_o_trunc_moves_mtime(make_machine, kernel):
    m = make_machine(fs="ext4")
    p = m.spawn()
    p.open("/data/f", os.O_RDWR | os.O_CREAT)
    m.sleep(2)
    p.open("/data/f", os.O_RDWR | os.O_TRUNC)
    assert times(m)[1] == stamp(m)


def test_pwrite_that_fails_with_enospc_has_moved_mtime(make_machine, kernel):
    # file_update_time runs before generic_perform_write (2.6.37 and today)
    m = make_machine(fs="ext4", size=32 * PAGE)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.pwrite(fd, b"a" * 32 * PAGE, 0)
    g = p.open("/data/g", os.O_RDWR | os.O_CREAT)
    m.sleep(2)
    assert errno_of(p.pwrite, g, b"b", 0) == errno.ENOSPC
    assert times(m, "/data/g")[1] == stamp(m)


def test_sigbus_store_moves_mtime_only_where_page_mkwrite_updates_it(make_machine, kernel):
    """Since 2012 ext4_page_mkwrite calls file_update_time before it tries to
    reserve, so a store that gets SIGBUS has moved mtime; 2.6.37 updates the
    times in __do_fault after a fault that worked."""
    m = make_machine(fs="ext4", size=32 * PAGE)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.pwrite(fd, b"a" * 32 * PAGE, 0)
    g = p.open("/data/g", os.O_RDWR | os.O_CREAT)
    p.ftruncate(g, PAGE)
    a = p.mmap(0, PAGE, RW, MAP_SHARED, g, 0)
    before = times(m, "/data/g")[1]
    m.sleep(2)
    with pytest.raises(mmsim.Signal):
        p.write(a, b"b")
    moved = times(m, "/data/g")[1] == stamp(m)
    assert moved == (kernel == "6.18")
    if kernel != "6.18":
        assert times(m, "/data/g")[1] == before


def test_2637_mlock_of_a_shared_mapping_moves_mtime(make_machine, kernel, sparse_map):
    """The dirtying mlock of 2.6.37 write-faults every page, file_update_time
    included; after the patch mlock only reads them in."""
    m = make_machine(fs="ext4")
    p = m.spawn(memlock=(mmsim.RLIM_INFINITY, mmsim.RLIM_INFINITY))
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    m.sleep(2)
    _, mtime, _ = times(m)
    p.mlock(a, 8 * PAGE)
    assert (times(m)[1] != mtime) == (kernel == "2.6.37")


def test_compare_names_file_times_a_legitimate_difference():
    """The real kernel stamps files with the host's clock, the simulator with its own."""
    from mmsim import experiment
    for name in ("st.st_mtime_ns", "st_atime", "stat.st_ctime"):
        assert experiment._verdict(name, 1, 2, {})[0] == "differs (legitimate: file times)"
