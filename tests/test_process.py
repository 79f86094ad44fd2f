"""The Process API contract (DESIGN.md section 2): bad input gets the kernel's
errno as an OSError (or a Signal for a faulting access), never a bare Python
exception; a killed process answers ESRCH; rlimits and open() behave as
setrlimit(2) and open(2) do.
"""

import errno
import os

import pytest

import mmsim
from mmsim import (MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MCL_CURRENT, MS_SYNC,
                   PAGE_SIZE, PROT_READ, PROT_WRITE, RLIM_INFINITY, RLIMIT_MEMLOCK)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
U64 = (1 << 64) - 1


def errno_of(fn, *args, **kw):
    with pytest.raises(OSError) as exc:
        fn(*args, **kw)
    return exc.value.errno


def only_kernel_errors(fn, *args, **kw):
    """Call fn: it may succeed, raise OSError or mmsim.Signal, nothing else."""
    try:
        fn(*args, **kw)
    except (OSError, mmsim.Signal):
        pass


@pytest.fixture
def setup(m, p, sparse_map):
    """A process with an anonymous mapping, a file mapping and an open fd."""
    fd, f = sparse_map(p, "/data/f", 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    return p, a, f, fd


# -- lengths ---------------------------------------------------------------------------------

BAD_LENGTHS = [0, -1, -PAGE, 1, PAGE - 1, 1 << 63, U64, 1 << 64, (1 << 64) + PAGE, 1 << 200,
               -(1 << 200)]


@pytest.mark.parametrize("length", BAD_LENGTHS)
def test_lengths_never_raise_bare_exceptions(setup, length):
    p, a, f, fd = setup
    for call in (lambda: p.mmap(0, length, RW, ANON),
                 lambda: p.mmap(0, length, RW, MAP_SHARED, fd, 0),
                 lambda: p.munmap(a, length),
                 lambda: p.mprotect(a, length, PROT_READ),
                 lambda: p.msync(f, length, MS_SYNC),
                 lambda: p.mlock(a, length),
                 lambda: p.munlock(a, length),
                 lambda: p.mlock2(a, length, 0),
                 lambda: p.touch(a, length),
                 lambda: p.touch(a, length, write=True),
                 lambda: p.read(a, length if abs(length) < 1 << 20 else 16),
                 lambda: p.ftruncate(fd, length),
                 lambda: p.fallocate(fd, 0, 0, length)):
        only_kernel_errors(call)


def test_mmap_length_errnos(p):
    assert errno_of(p.mmap, 0, 0, RW, ANON) == errno.EINVAL
    assert errno_of(p.mmap, 0, -1, RW, ANON) == errno.ENOMEM
    assert errno_of(p.mmap, 0, 1 << 63, RW, ANON) == errno.ENOMEM


def test_munmap_negative_length_einval(setup):
    p, a, f, fd = setup
    assert errno_of(p.munmap, a, -PAGE) == errno.EINVAL
    assert len(p.smaps()) == 2


def test_mprotect_wrapping_length_enomem(setup):
    p, a, f, fd = setup
    assert errno_of(p.mprotect, a, -PAGE, PROT_READ) == errno.ENOMEM
    p.mprotect(a, 0, PROT_READ)                     # len 0: nothing, success
    assert "wr" in p.smaps(a).get("VmFlags", "wr")


def test_msync_errnos(setup):
    p, a, f, fd = setup
    assert errno_of(p.msync, f + 1, PAGE, MS_SYNC) == errno.EINVAL
    assert errno_of(p.msync, f, PAGE, 0x10) == errno.EINVAL
    assert errno_of(p.msync, f, PAGE, MS_SYNC | mmsim.MS_ASYNC) == errno.EINVAL
    assert errno_of(p.msync, f, -PAGE, MS_SYNC) == errno.ENOMEM
    assert errno_of(p.msync, 0x10000, PAGE, MS_SYNC) == errno.ENOMEM
    p.msync(f, 0, MS_SYNC)


def test_ftruncate_negative_einval(setup):
    p, a, f, fd = setup
    assert errno_of(p.ftruncate, fd, -1) == errno.EINVAL
    assert p.machine.stat("/data/f").st_size == 4 * PAGE


def test_ftruncate_too_big_efbig(setup):
    p, a, f, fd = setup
    assert errno_of(p.ftruncate, fd, 1 << 62) == errno.EFBIG


# -- addresses --------------------------------------------------------------------------------------

@pytest.mark.parametrize("delta", [1, PAGE - 1, -1, 17])
def test_unaligned_addresses(setup, delta):
    p, a, f, fd = setup
    addr = a + delta
    assert errno_of(p.munmap, addr, PAGE) == errno.EINVAL
    assert errno_of(p.mprotect, addr, PAGE, PROT_READ) == errno.EINVAL
    assert errno_of(p.msync, addr, PAGE, MS_SYNC) == errno.EINVAL
    assert errno_of(p.mmap, addr, PAGE, RW, ANON | mmsim.MAP_FIXED) == errno.EINVAL
    # mlock rounds the start down; these are fine or fail as the range says
    only_kernel_errors(p.mlock, addr, PAGE)
    only_kernel_errors(p.munlock, addr, PAGE)


@pytest.mark.parametrize("addr", [0, 1, PAGE, -1, -PAGE, U64, 1 << 64, 1 << 47, 1 << 200])
def test_odd_addresses(setup, addr):
    p, a, f, fd = setup
    for call in (lambda: p.mmap(addr, PAGE, RW, ANON),
                 lambda: p.mmap(addr, PAGE, RW, ANON | mmsim.MAP_FIXED),
                 lambda: p.munmap(addr, PAGE),
                 lambda: p.mprotect(addr, PAGE, PROT_READ),
                 lambda: p.msync(addr, PAGE, MS_SYNC),
                 lambda: p.mlock(addr, PAGE),
                 lambda: p.munlock(addr, PAGE),
                 lambda: p.touch(addr, PAGE),
                 lambda: p.read(addr, 8),
                 lambda: p.write(addr, b"x"),
                 lambda: p.smaps(addr)):
        only_kernel_errors(call)


def test_access_to_unmapped_address_is_sigsegv(p):
    for call in (lambda: p.read(0, 1), lambda: p.write(U64, b"x"),
                 lambda: p.touch(1 << 47, PAGE)):
        with pytest.raises(mmsim.Signal) as exc:
            call()
        assert exc.value.signo == 11


def test_map_fixed_at_zero_eperm(p):
    """mmap_min_addr: a MAP_FIXED mapping at 0 needs CAP_SYS_RAWIO."""
    assert errno_of(p.mmap, 0, PAGE, RW, ANON | mmsim.MAP_FIXED) == errno.EPERM


# -- flags ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags", [0, 0x10, 0x1000, -1, 1 << 31, 1 << 40])
def test_unknown_flags(setup, flags):
    p, a, f, fd = setup
    for call in (lambda: p.mmap(0, PAGE, RW, flags),
                 lambda: p.mmap(0, PAGE, flags, ANON),
                 lambda: p.mprotect(a, PAGE, flags),
                 lambda: p.msync(f, PAGE, flags),
                 lambda: p.mlock2(a, PAGE, flags),
                 lambda: p.mlockall(flags),
                 lambda: p.open("/data/g", flags),
                 lambda: p.fallocate(fd, flags, 0, PAGE)):
        only_kernel_errors(call)


def test_unknown_flag_errnos(setup, kernel):
    p, a, f, fd = setup
    assert errno_of(p.mprotect, a, PAGE, 0x100) == errno.EINVAL
    assert errno_of(p.msync, f, PAGE, 0x100) == errno.EINVAL
    assert errno_of(p.mlockall, 0x100) == errno.EINVAL
    assert errno_of(p.mlock2, a, PAGE, 0x100) == (errno.EINVAL if kernel == "6.18"
                                                 else errno.ENOSYS)
    assert errno_of(p.fallocate, fd, 0x100, 0, PAGE) == errno.EOPNOTSUPP
    assert errno_of(p.open, "/data/f", os.O_ACCMODE) == errno.EINVAL


# -- file descriptors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fd", [-1, 3, 99, 1 << 31, -(1 << 31), 1 << 70])
def test_bad_fds_ebadf(p, fd):
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_SHARED, fd, 0) == errno.EBADF
    assert errno_of(p.close, fd) == errno.EBADF
    assert errno_of(p.fsync, fd) == errno.EBADF
    assert errno_of(p.ftruncate, fd, PAGE) == errno.EBADF
    assert errno_of(p.fallocate, fd, 0, 0, PAGE) == errno.EBADF


def test_closed_fd_ebadf(setup):
    p, a, f, fd = setup
    p.close(fd)
    assert errno_of(p.close, fd) == errno.EBADF
    assert errno_of(p.fsync, fd) == errno.EBADF
    assert errno_of(p.ftruncate, fd, 0) == errno.EBADF
    assert errno_of(p.fallocate, fd, 0, 0, PAGE) == errno.EBADF
    assert errno_of(p.mmap, 0, PAGE, PROT_READ, MAP_SHARED, fd, 0) == errno.EBADF
    # the mapping made before close still works
    p.write(f, b"still mapped")
    assert p.read(f, 12) == b"still mapped"


def test_fds_are_lowest_free(p, m):
    fds = [p.open("/data/x%d" % i, os.O_RDWR | os.O_CREAT) for i in range(3)]
    assert fds == [0, 1, 2]
    p.close(1)
    assert p.open("/data/x9", os.O_RDWR | os.O_CREAT) == 1


def test_ftruncate_rdonly_fd_einval(setup):
    p, a, f, fd = setup
    ro = p.open("/data/f", os.O_RDONLY)
    assert errno_of(p.ftruncate, ro, 0) == errno.EINVAL


# -- non-integers -----------------------------------------------------------------------------------------

NON_INTS = [None, 1.5, "4096", b"\x00", [], object(), 3j]


@pytest.mark.parametrize("bad", NON_INTS, ids=lambda v: type(v).__name__)
def test_non_integer_arguments_oserror(setup, bad):
    p, a, f, fd = setup
    calls = [
        lambda: p.mmap(bad, PAGE, RW, ANON),
        lambda: p.mmap(0, bad, RW, ANON),
        lambda: p.mmap(0, PAGE, bad, ANON),
        lambda: p.mmap(0, PAGE, RW, bad),
        lambda: p.mmap(0, PAGE, PROT_READ, MAP_SHARED, bad, 0),
        lambda: p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, bad),
        lambda: p.munmap(bad, PAGE), lambda: p.munmap(a, bad),
        lambda: p.mprotect(bad, PAGE, RW), lambda: p.mprotect(a, PAGE, bad),
        lambda: p.msync(bad, PAGE, MS_SYNC), lambda: p.msync(f, PAGE, bad),
        lambda: p.mlock(bad, PAGE), lambda: p.mlock(a, bad),
        lambda: p.munlock(bad, PAGE), lambda: p.munlock(a, bad),
        lambda: p.mlock2(a, PAGE, bad),
        lambda: p.mlockall(bad),
        lambda: p.touch(bad, PAGE), lambda: p.touch(a, bad),
        lambda: p.read(bad, 4),
        lambda: p.write(bad, b"x"),
        lambda: p.close(bad), lambda: p.fsync(bad),
        lambda: p.ftruncate(bad, 0), lambda: p.ftruncate(fd, bad),
        lambda: p.fallocate(fd, bad, 0, PAGE), lambda: p.fallocate(fd, 0, bad, PAGE),
        lambda: p.fallocate(fd, 0, 0, bad),
        lambda: p.open("/data/f", bad),
        lambda: p.setrlimit(RLIMIT_MEMLOCK, (bad, bad)),
        lambda: p.setrlimit(RLIMIT_MEMLOCK, bad),
        lambda: p.setrlimit(bad, (PAGE, PAGE)),
        lambda: p.getrlimit(bad),
        lambda: p.smaps(bad) if bad is not None else p.smaps(a),
    ]
    for i, call in enumerate(calls):
        try:
            call()
        except (OSError, mmsim.Signal):
            pass
        except Exception as e:          # noqa: BLE001 - the point of the test
            pytest.fail(f"call #{i} raised {type(e).__name__}: {e}")
    assert p.smaps(a)["Size"] == 16                 # nothing was corrupted


@pytest.mark.parametrize("bad", [1.5, "4", None], ids=lambda v: type(v).__name__)
def test_read_non_integer_count(setup, bad):
    p, a, f, fd = setup
    with pytest.raises(OSError):
        p.read(a, bad)


@pytest.mark.parametrize("data", ["text", 1.5, None, object(), [1, 2, 300]],
                         ids=lambda v: type(v).__name__)
def test_write_non_bytes_data(setup, data):
    p, a, f, fd = setup
    assert p.write(a, bytearray(b"ok")) == 2 and p.write(a + 2, memoryview(b"!")) == 1
    with pytest.raises(OSError):
        p.write(a, data)


def test_write_int_data_is_not_a_length(setup):
    """bytes(n) would make n zero bytes: write(a, 10**12) must not build 1 TB."""
    p, a, f, fd = setup
    with pytest.raises(OSError):
        p.write(a, 3)
    with pytest.raises(OSError):
        p.write(a, 10 ** 12)
    assert p.read(a, 3) == bytes(3)


def test_open_non_string_path(p):
    for path in (None, 5, b"/data/f", ["/data/f"]):
        only_kernel_errors(p.open, path, os.O_RDWR | os.O_CREAT)


# -- a killed process -------------------------------------------------------------------------------------

LIVE_CALLS = {
    "mmap": lambda p, a, fd: p.mmap(0, PAGE, RW, ANON),
    "munmap": lambda p, a, fd: p.munmap(a, PAGE),
    "mprotect": lambda p, a, fd: p.mprotect(a, PAGE, PROT_READ),
    "msync": lambda p, a, fd: p.msync(a, PAGE, MS_SYNC),
    "mlock": lambda p, a, fd: p.mlock(a, PAGE),
    "munlock": lambda p, a, fd: p.munlock(a, PAGE),
    "mlock2": lambda p, a, fd: p.mlock2(a, PAGE, 0),
    "mlockall": lambda p, a, fd: p.mlockall(MCL_CURRENT),
    "munlockall": lambda p, a, fd: p.munlockall(),
    "touch": lambda p, a, fd: p.touch(a, PAGE),
    "read": lambda p, a, fd: p.read(a, 4),
    "write": lambda p, a, fd: p.write(a, b"x"),
    "open": lambda p, a, fd: p.open("/data/f", os.O_RDWR),
    "close": lambda p, a, fd: p.close(fd),
    "ftruncate": lambda p, a, fd: p.ftruncate(fd, 0),
    "fallocate": lambda p, a, fd: p.fallocate(fd, 0, 0, PAGE),
    "fsync": lambda p, a, fd: p.fsync(fd),
    "setrlimit": lambda p, a, fd: p.setrlimit(RLIMIT_MEMLOCK, (0, 0)),
    "fork": lambda p, a, fd: p.fork(),
    "getrlimit": lambda p, a, fd: p.getrlimit(RLIMIT_MEMLOCK),
    "getrusage": lambda p, a, fd: p.getrusage(),
    "smaps": lambda p, a, fd: p.smaps(),
    "status": lambda p, a, fd: p.status(),
    "kill": lambda p, a, fd: p.kill(),
}


@pytest.mark.parametrize("name", list(LIVE_CALLS))
def test_killed_process_esrch(setup, name):
    p, a, f, fd = setup
    p.kill()
    assert errno_of(LIVE_CALLS[name], p, a, fd) == errno.ESRCH


def test_kill_releases_everything(m, setup):
    p, a, f, fd = setup
    p.mlock(a, 4 * PAGE)
    p.touch(f, 4 * PAGE, write=True)
    p.kill()
    mi = m.meminfo()
    assert mi["AnonPages"] == 0 and mi["Mlocked"] == 0 and mi["Mapped"] == 0
    assert mi["Dirty"] == 4 * PAGE // 1024        # the page cache keeps the data
    q = m.spawn()
    qfd = q.open("/data/f", os.O_RDONLY)
    b = q.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, qfd, 0)
    assert q.read(b, 1) == b"\x5a"               # memtoy's touch byte


# -- rlimits ------------------------------------------------------------------------------------------------

def test_setrlimit_soft_above_hard_einval(m):
    p = m.spawn(memlock=(PAGE, 4 * PAGE))
    assert errno_of(p.setrlimit, RLIMIT_MEMLOCK, (8 * PAGE, 4 * PAGE)) == errno.EINVAL
    assert p.getrlimit(RLIMIT_MEMLOCK) == (PAGE, 4 * PAGE)


def test_setrlimit_raise_hard_needs_cap_sys_resource(m):
    p = m.spawn(memlock=(PAGE, 4 * PAGE))
    p.setrlimit(RLIMIT_MEMLOCK, (4 * PAGE, 4 * PAGE))        # soft up to hard: fine
    assert errno_of(p.setrlimit, RLIMIT_MEMLOCK, (4 * PAGE, 8 * PAGE)) == errno.EPERM
    assert errno_of(p.setrlimit, RLIMIT_MEMLOCK,
                    (RLIM_INFINITY, RLIM_INFINITY)) == errno.EPERM
    p.setrlimit(RLIMIT_MEMLOCK, (PAGE, 2 * PAGE))            # lowering: fine
    assert errno_of(p.setrlimit, RLIMIT_MEMLOCK, (PAGE, 4 * PAGE)) == errno.EPERM
    assert p.getrlimit(RLIMIT_MEMLOCK) == (PAGE, 2 * PAGE)
    q = m.spawn(memlock=(PAGE, PAGE), caps={"CAP_SYS_RESOURCE"})
    q.setrlimit(RLIMIT_MEMLOCK, (RLIM_INFINITY, RLIM_INFINITY))
    assert q.getrlimit(RLIMIT_MEMLOCK) == (RLIM_INFINITY, RLIM_INFINITY)


def test_setrlimit_takes_effect_for_mlock(m):
    p = m.spawn(memlock=(8 * PAGE, 8 * PAGE))
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.setrlimit(RLIMIT_MEMLOCK, (2 * PAGE, 8 * PAGE))
    assert errno_of(p.mlock, a, 4 * PAGE) == errno.ENOMEM
    p.setrlimit(RLIMIT_MEMLOCK, (0, 8 * PAGE))
    assert errno_of(p.mlock, a, PAGE) == errno.EPERM


def test_spawn_bad_limits_and_caps(m):
    assert errno_of(m.spawn, memlock=(2 * PAGE, PAGE)) == errno.EINVAL
    assert errno_of(m.spawn, memlock="lots") == errno.EINVAL
    assert errno_of(m.spawn, caps={"CAP_NOT_A_CAP"}) == errno.EINVAL


def test_fork_inherits_limits_and_caps(m):
    p = m.spawn(memlock=(PAGE, 2 * PAGE), caps={"CAP_IPC_LOCK"})
    c = p.fork()
    assert c.getrlimit(RLIMIT_MEMLOCK) == (PAGE, 2 * PAGE)
    a = c.mmap(0, 8 * PAGE, RW, ANON)
    c.mlock(a, 8 * PAGE)                       # CAP_IPC_LOCK came along


# -- open ----------------------------------------------------------------------------------------------------

def test_open_missing_file_enoent(m, p):
    assert errno_of(p.open, "/data/missing", os.O_RDWR) == errno.ENOENT
    assert errno_of(p.open, "/nowhere/f", os.O_RDWR | os.O_CREAT) == errno.ENOENT
    assert errno_of(p.open, "relative", os.O_RDWR | os.O_CREAT) == errno.ENOENT


def test_open_excl_existing_eexist(m, p):
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT | os.O_EXCL)
    assert errno_of(p.open, "/data/f", os.O_RDWR | os.O_CREAT | os.O_EXCL) == errno.EEXIST
    assert p.open("/data/f", os.O_RDWR | os.O_CREAT) == fd + 1


def test_open_trunc(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 2 * PAGE)
    p.write(a, b"gone")
    p.open("/data/f", os.O_RDWR | os.O_TRUNC)
    assert m.stat("/data/f").st_size == 0
    with pytest.raises(mmsim.Signal):
        p.read(a, 1)


# -- stores land as their faults return ------------------------------------------------------

def _full_disk_machine(kernel="2.6.38"):
    """A 4 MiB ext2 filesystem, RAM small enough that 8 MiB of stores are throttled."""
    m = mmsim.Machine(kernel=kernel, ram=16 * 1024 * 1024, profile="2010", hung_timeout=2.0)
    m.mkfs("/data", fs="ext2", size=1024 * PAGE)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 2048 * PAGE)
    return m, p, fd, p.mmap(0, 2048 * PAGE, RW, MAP_SHARED, fd, 0)


def test_stores_written_back_during_a_long_touch_reach_the_disk():
    m, p, fd, a = _full_disk_machine()
    with pytest.raises(mmsim.Hung):
        p.touch(a, 2048 * PAGE, write=True)      # 8 MiB of stores, 4 MiB of room
    p.kill()
    m.drop_caches()
    q = m.spawn()
    back = q.pread(q.open("/data/f", os.O_RDONLY), 2048 * PAGE, 0)[::PAGE]
    # the first 4 MiB were written back while the touch went on: with the stores in them
    assert back[:1024] == b"\x5a" * 1024


def test_a_touch_that_hangs_says_how_far_it_got():
    m, p, fd, a = _full_disk_machine()
    with pytest.raises(mmsim.Hung) as e:
        p.touch(a, 2048 * PAGE, write=True)
    assert e.value.function == "balance_dirty_pages"
    assert 1024 < e.value.pages < 2048 and e.value.seconds >= 2.0
    with pytest.raises(mmsim.Hung):              # it is still stuck in the kernel
        p.msync(a, PAGE, MS_SYNC)
    assert p.smaps(a)["Rss"] == e.value.pages * 4  # the pages it stored are mapped
