"""mlock, munlock, mlock2, mlockall, munlockall and MAP_LOCKED (mm/mlock.c,
mm/mmap.c), per kernel version, and the central fact of the thread: what an
mlock of a shared writable file mapping does to its pages.

References: kernel-facts.md sections 1 and 5; kernel-lookups.md sections 0
(the patch), 1 (2.6.37 mlock.c), 2 (2.6.38), 3 (6.x), 4.1 (do_mmap_pgoff),
6 (MLOCK_LIMIT) and the "CONTRADICTED / CORRECTIONS" summary.
"""

import errno
import os

import pytest

import mmsim
from mmsim import (KiB, MiB, MAP_ANONYMOUS, MAP_LOCKED, MAP_PRIVATE, MAP_SHARED,
                   MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT, PAGE_SIZE,
                   PROT_NONE, PROT_READ, PROT_WRITE, RLIM_INFINITY, RLIMIT_MEMLOCK)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
KB = PAGE // 1024
U64 = (1 << 64) - 1
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)
BEFORE_PATCH = "2.6.37"


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def limited(m, npages, caps=()):
    """A process whose RLIMIT_MEMLOCK is npages pages (soft = hard)."""
    return m.spawn(memlock=(npages * PAGE, npages * PAGE), caps=caps)


def vmlck(p):
    return p.status()["VmLck"]


def vmflags(p, addr):
    return p.smaps(addr)["VmFlags"].split()


# -- the default limit -----------------------------------------------------------------

def test_default_rlimit_memlock(m, kernel):
    """MLOCK_LIMIT: 64 KiB in 2.6.37/2.6.38, 8 MiB since 9dcc38e2813e (5.16)."""
    p = m.spawn()
    want = 8 * MiB if kernel == "6.18" else 64 * KiB
    assert p.getrlimit(RLIMIT_MEMLOCK) == (want, want)
    a = p.mmap(0, want + PAGE, RW, ANON)
    assert errno_of(p.mlock, a, want + PAGE) == errno.ENOMEM
    p.mlock(a, want)
    assert vmlck(p) == want // 1024


# -- EPERM, ENOMEM, CAP_IPC_LOCK -----------------------------------------------------------

def test_eperm_with_zero_limit_before_any_address_check(m, kernel):
    p = m.spawn(memlock=(0, 0))
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.mlock, a, 4 * PAGE) == errno.EPERM
    assert errno_of(p.mlock, 0x1000, PAGE) == errno.EPERM        # unmapped
    assert errno_of(p.mlock, a, U64) == errno.EPERM              # wraps
    assert errno_of(p.mlock, a, 0) == errno.EPERM                # empty
    assert vmlck(p) == 0
    # munlock makes no check at all
    p.munlock(a, 4 * PAGE)


def test_eperm_mlockall_and_map_locked_with_zero_limit(m):
    p = m.spawn(memlock=(0, 0))
    assert errno_of(p.mlockall, MCL_CURRENT) == errno.EPERM
    assert errno_of(p.mlockall, MCL_FUTURE) == errno.EPERM
    assert errno_of(p.mmap, 0, PAGE, RW, ANON | MAP_LOCKED) == errno.EPERM
    assert p.smaps() == []


def test_enomem_over_the_limit(m):
    p = limited(m, 4)
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    assert errno_of(p.mlock, a, 5 * PAGE) == errno.ENOMEM
    assert vmlck(p) == 0 and p.smaps(a)["Rss"] == 0      # checked before anything
    p.mlock(a, 4 * PAGE)
    assert vmlck(p) == 4 * KB
    assert errno_of(p.mlock, a + 4 * PAGE, PAGE) == errno.ENOMEM
    assert vmlck(p) == 4 * KB


def test_limit_rounds_down_to_pages(m):
    p = m.spawn(memlock=(2 * PAGE + 100, 2 * PAGE + 100))
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.mlock, a, 3 * PAGE) == errno.ENOMEM
    p.mlock(a, 2 * PAGE)


def test_unaligned_start_rounds_down(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a + 100, 10)
    assert vmlck(p) == KB
    p.mlock(a + 2 * PAGE - 1, 2)                          # straddles pages 1 and 2
    assert vmlck(p) == 3 * KB


def test_cap_ipc_lock_bypasses_the_limit(m):
    p = m.spawn(memlock=(0, 0), caps={"CAP_IPC_LOCK"})
    a = p.mmap(0, 32 * PAGE, RW, ANON)
    p.mlock(a, 32 * PAGE)
    assert vmlck(p) == 32 * KB
    q = m.spawn(memlock=(PAGE, PAGE), caps={"CAP_IPC_LOCK"})
    b = q.mmap(0, 8 * PAGE, RW, ANON | MAP_LOCKED)
    assert vmlck(q) == 8 * KB and q.smaps(b)["Rss"] == 8 * KB
    q.munlockall()
    q.mlockall(MCL_CURRENT | MCL_FUTURE)
    q.mmap(0, 8 * PAGE, RW, ANON)
    assert vmlck(q) == 16 * KB


def test_mlock_populates_and_munlock_keeps_pages(m, p):
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.mlock(a, 8 * PAGE)
    s = p.smaps(a)
    assert s["Rss"] == s["Anonymous"] == 8 * KB
    assert m.meminfo()["Mlocked"] == 8 * KB
    p.munlock(a, 8 * PAGE)
    assert vmlck(p) == 0
    assert m.meminfo()["Mlocked"] == 0
    assert p.smaps(a)["Rss"] == 8 * KB


def test_locks_do_not_stack(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    p.mlock(a, 4 * PAGE)
    assert vmlck(p) == 4 * KB
    p.munlock(a, 4 * PAGE)
    assert vmlck(p) == 0
    assert m.meminfo()["Mlocked"] == 0


def test_mlock_errnos_for_ranges(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.mlock, 0x1000, PAGE) == errno.ENOMEM          # not mapped
    p.mlock(a, 0)                                                  # nothing to do
    assert vmlck(p) == 0
    # start + len wraps past the top of the address space: EINVAL (do_mlock)
    assert errno_of(p.mlock, a, (1 << 64) - a + PAGE) == errno.EINVAL
    assert errno_of(p.munlock, 0x1000, PAGE) == errno.ENOMEM


# -- locking twice ---------------------------------------------------------------------------

def test_lock_same_range_twice_over_double_the_limit(m, kernel):
    """2.6.x sys_mlock counts len + locked_vm; count_mm_mlocked_page_nr (4.9)
    subtracts the pages already locked in the range."""
    p = limited(m, 6)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    if kernel == "6.18":
        p.mlock(a, 4 * PAGE)
    else:
        assert errno_of(p.mlock, a, 4 * PAGE) == errno.ENOMEM
    assert vmlck(p) == 4 * KB


def test_lock_same_range_twice_within_the_limit(m):
    p = limited(m, 8)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    p.mlock(a, 4 * PAGE)
    assert vmlck(p) == 4 * KB


def test_lock_overlapping_range_counts_new_pages_once(m, kernel):
    p = limited(m, 6)
    a = p.mmap(0, 6 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    # 2 new pages: 6.18 counts 4 + 2 = 6; 2.6.x counts 4 + 4 = 8 > 6
    if kernel == "6.18":
        p.mlock(a + 2 * PAGE, 4 * PAGE)
        assert vmlck(p) == 6 * KB
    else:
        assert errno_of(p.mlock, a + 2 * PAGE, 4 * PAGE) == errno.ENOMEM
        assert vmlck(p) == 4 * KB


# -- holes and PROT_NONE ------------------------------------------------------------------------

def test_hole_enomem_earlier_vmas_stay_locked(m, p, kernel):
    """2.6.37 populates inside mlock_fixup, VMA by VMA; 2.6.38 and later set
    the flags first and populate only if that succeeded (kernel-lookups.md C)."""
    a = p.mmap(0, 6 * PAGE, RW, ANON)
    p.munmap(a + 2 * PAGE, 2 * PAGE)
    assert errno_of(p.mlock, a, 6 * PAGE) == errno.ENOMEM
    assert vmlck(p) == 2 * KB
    first, last = p.smaps(a), p.smaps(a + 4 * PAGE)
    if kernel == BEFORE_PATCH:
        assert first["Rss"] == 2 * KB
    else:
        assert first["Rss"] == 0
        assert first["Locked"] == first["Pss"]
    if kernel == "6.18":
        assert "lo" in vmflags(p, a)
        assert "lo" not in vmflags(p, a + 4 * PAGE)
    assert last["Rss"] == 0
    # munlock of the same range undoes it (munlock with a hole: ENOMEM as well)
    assert errno_of(p.munlock, a, 6 * PAGE) == errno.ENOMEM
    assert vmlck(p) == 0


def test_hole_locked_file_pages_are_populated_only_on_2_6_37(m, p, sparse_map, kernel):
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.munmap(a + 4 * PAGE, 2 * PAGE)
    assert errno_of(p.mlock, a, 8 * PAGE) == errno.ENOMEM
    assert vmlck(p) == 4 * KB
    rss = p.smaps(a)["Rss"]
    assert rss == (4 * KB if kernel == BEFORE_PATCH else 0)
    assert m.meminfo()["Dirty"] == (4 * KB if kernel == BEFORE_PATCH else 0)


def test_prot_none_enomem_but_stays_locked(m, p, kernel):
    a = p.mmap(0, 4 * PAGE, PROT_NONE, ANON)
    assert errno_of(p.mlock, a, 4 * PAGE) == errno.ENOMEM
    assert vmlck(p) == 4 * KB
    assert p.smaps(a)["Rss"] == 0
    if kernel == "6.18":
        assert "lo" in vmflags(p, a)
    p.munlock(a, 4 * PAGE)
    assert vmlck(p) == 0


def test_prot_none_then_writable_populates_only_since_4_5(m, p, kernel):
    """36f881883c57 (4.5): mprotect of a private VM_LOCKED vma gaining
    PROT_WRITE faults it in; 2.6.x leaves it to later faults."""
    a = p.mmap(0, 4 * PAGE, PROT_NONE, ANON)
    with pytest.raises(OSError):
        p.mlock(a, 4 * PAGE)
    p.mprotect(a, 4 * PAGE, RW)
    assert vmlck(p) == 4 * KB
    assert p.smaps(a)["Rss"] == (4 * KB if kernel == "6.18" else 0)


def test_population_error_leaves_later_vmas(m, p, kernel):
    """[PROT_NONE][RW] locked together. 2.6.37 stops in mlock_fixup of the
    PROT_NONE vma: the RW one is never locked. 2.6.38+ locks both, then
    population stops at the PROT_NONE one: the RW vma is locked, unpopulated."""
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mprotect(a, 2 * PAGE, PROT_NONE)
    assert errno_of(p.mlock, a, 4 * PAGE) == errno.ENOMEM
    rw = p.smaps(a + 2 * PAGE)
    assert rw["Rss"] == 0
    assert vmlck(p) == (2 * KB if kernel == BEFORE_PATCH else 4 * KB)


def test_population_error_after_populated_vma(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mprotect(a + 2 * PAGE, 2 * PAGE, PROT_NONE)
    assert errno_of(p.mlock, a, 4 * PAGE) == errno.ENOMEM
    assert vmlck(p) == 4 * KB
    assert p.smaps(a)["Rss"] == 2 * KB


def test_read_only_private_anonymous_maps_zero_page(m, p):
    a = p.mmap(0, 8 * PAGE, PROT_READ, ANON)
    p.mlock(a, 8 * PAGE)
    assert vmlck(p) == 8 * KB
    assert p.smaps(a)["Rss"] == 0
    assert m.meminfo()["Mlocked"] == 0
    assert p.read(a, 8) == bytes(8)


# -- mlock2 -----------------------------------------------------------------------------------

def test_mlock2_enosys_before_4_4(m, p, kernel):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    if kernel == "6.18":
        p.mlock2(a, 4 * PAGE, 0)
        assert vmlck(p) == 4 * KB
        assert p.smaps(a)["Rss"] == 4 * KB
    else:
        assert errno_of(p.mlock2, a, 4 * PAGE, 0) == errno.ENOSYS
        assert errno_of(p.mlock2, a, 4 * PAGE, MLOCK_ONFAULT) == errno.ENOSYS
        assert vmlck(p) == 0


@pytest.mark.parametrize("flags", [2, 3, 0x100, -1])
def test_mlock2_bad_flags(m, kernel, flags):
    p = m.spawn(memlock=(0, 0))
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    want = errno.EINVAL if kernel == "6.18" else errno.ENOSYS
    # the flags check comes before can_do_mlock (EPERM)
    assert errno_of(p.mlock2, a, 4 * PAGE, flags) == want


def test_mlock2_onfault(m, p, kernel):
    if kernel != "6.18":
        assert errno_of(p.mlock2, 0, PAGE, MLOCK_ONFAULT) == errno.ENOSYS
        return
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.mlock2(a, 8 * PAGE, MLOCK_ONFAULT)
    assert vmlck(p) == 8 * KB
    assert p.smaps(a)["Rss"] == 0
    flags = vmflags(p, a)
    assert "lo" in flags and "lf" in flags
    assert "lo lf" in p.smaps(a)["VmFlags"]
    p.touch(a, 3 * PAGE, write=True)
    s = p.smaps(a)
    assert s["Rss"] == 3 * KB and s["Locked"] == 3 * KB
    assert m.meminfo()["Mlocked"] == 3 * KB
    # a plain mlock of the same range now populates it, without counting again
    p.mlock(a, 8 * PAGE)
    assert vmlck(p) == 8 * KB
    assert p.smaps(a)["Rss"] == 8 * KB
    assert "lf" not in vmflags(p, a)


def test_mlock2_onfault_limit(m, kernel):
    p = limited(m, 4)
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    if kernel != "6.18":
        assert errno_of(p.mlock2, a, 4 * PAGE, MLOCK_ONFAULT) == errno.ENOSYS
        return
    assert errno_of(p.mlock2, a, 8 * PAGE, MLOCK_ONFAULT) == errno.ENOMEM
    p.mlock2(a, 4 * PAGE, MLOCK_ONFAULT)
    assert vmlck(p) == 4 * KB


# -- mlockall ---------------------------------------------------------------------------------

@pytest.mark.parametrize("flags", [0, 8, 0x100, MCL_ONFAULT, -1])
def test_mlockall_bad_flags(m, p, flags):
    assert errno_of(p.mlockall, flags) == errno.EINVAL


def test_mlockall_onfault_with_current(m, p, kernel):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    if kernel == "6.18":
        p.mlockall(MCL_CURRENT | MCL_ONFAULT)
        assert vmlck(p) == 4 * KB
        assert p.smaps(a)["Rss"] == 0
        assert "lf" in vmflags(p, a)
    else:
        # MCL_ONFAULT is an unknown bit before 4.4
        assert errno_of(p.mlockall, MCL_CURRENT | MCL_ONFAULT) == errno.EINVAL
        assert vmlck(p) == 0


def test_mlockall_current_compares_total_vm(m):
    p = limited(m, 8)
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.mlockall(MCL_CURRENT)                  # total_vm == limit: fine
    assert vmlck(p) == 8 * KB
    assert p.smaps(a)["Rss"] == 8 * KB
    p.mmap(0, PAGE, PROT_NONE, ANON)         # total_vm 9 > 8
    assert errno_of(p.mlockall, MCL_CURRENT) == errno.ENOMEM
    # MCL_FUTURE alone does not look at total_vm
    p.mlockall(MCL_FUTURE)


def test_mlockall_current_ignores_population_errors(m, p):
    p.mmap(0, 2 * PAGE, PROT_NONE, ANON)
    b = p.mmap(0, 2 * PAGE, RW, ANON)
    p.mlockall(MCL_CURRENT)
    assert vmlck(p) == 4 * KB
    assert p.smaps(b)["Rss"] == 2 * KB


def test_mcl_future_then_mmap_past_the_limit_eagain(m):
    p = limited(m, 8)
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.mlockall(MCL_CURRENT | MCL_FUTURE)
    assert vmlck(p) == 2 * KB
    p.mmap(0, 6 * PAGE, RW, ANON)            # locked and faulted in at once
    assert vmlck(p) == 8 * KB
    assert p.status()["VmRSS"] == 8 * KB
    assert errno_of(p.mmap, 0, PAGE, RW, ANON) == errno.EAGAIN
    assert vmlck(p) == 8 * KB
    assert p.status()["VmSize"] == 8 * KB
    assert p.smaps(a)["Rss"] == 8 * KB             # a and b merged: both locked


def test_mcl_future_only_locks_later_mappings(m, p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.mlockall(MCL_FUTURE)
    assert vmlck(p) == 0
    b = p.mmap(0, 3 * PAGE, RW, ANON)
    assert vmlck(p) == 3 * KB
    assert p.smaps(b)["Rss"] == 3 * KB
    assert p.smaps(a)["Rss"] == 0


def test_mlockall_current_clears_mcl_future(m, p):
    p.mlockall(MCL_FUTURE)
    p.mlockall(MCL_CURRENT)
    p.mmap(0, 3 * PAGE, RW, ANON)
    assert vmlck(p) == 0


def test_mcl_future_onfault(m, p, kernel):
    if kernel != "6.18":
        assert errno_of(p.mlockall, MCL_FUTURE | MCL_ONFAULT) == errno.EINVAL
        return
    p.mlockall(MCL_FUTURE | MCL_ONFAULT)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert vmlck(p) == 4 * KB
    assert p.smaps(a)["Rss"] == 0
    assert "lf" in vmflags(p, a)


def test_mcl_future_again_clears_onfault(m, p, kernel):
    """apply_mlockall_flags clears VM_LOCKED_MASK from def_flags before setting."""
    if kernel != "6.18":
        assert errno_of(p.mlockall, MCL_FUTURE | MCL_ONFAULT) == errno.EINVAL
        return
    p.mlockall(MCL_FUTURE | MCL_ONFAULT)
    p.mlockall(MCL_FUTURE)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert p.smaps(a)["Rss"] == 4 * KB
    assert "lf" not in vmflags(p, a)


def test_map_locked_over_the_limit_eagain(m):
    p = limited(m, 4)
    assert errno_of(p.mmap, 0, 5 * PAGE, RW, ANON | MAP_LOCKED) == errno.EAGAIN
    assert p.smaps() == []
    a = p.mmap(0, 4 * PAGE, RW, ANON | MAP_LOCKED)
    assert vmlck(p) == 4 * KB and p.smaps(a)["Rss"] == 4 * KB
    assert errno_of(p.mmap, 0, PAGE, RW, ANON | MAP_LOCKED) == errno.EAGAIN


def test_munlockall_clears_everything(m):
    p = limited(m, 8)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlockall(MCL_CURRENT | MCL_FUTURE)
    p.mmap(0, 2 * PAGE, RW, ANON)
    assert vmlck(p) == 6 * KB
    p.munlockall()
    assert vmlck(p) == 0
    assert m.meminfo()["Mlocked"] == 0
    # no MCL_FUTURE any more: mapping past the limit is fine and not locked
    p.mmap(0, 16 * PAGE, RW, ANON)
    assert vmlck(p) == 0
    assert p.status()["VmRSS"] == 6 * KB             # the new pages are not faulted in
    assert p.status()["VmSize"] == 22 * KB
    if m.kernel.version == "6.18":
        assert all("lo" not in v["VmFlags"].split() for v in p.smaps())
    elif m.kernel.smaps_locked:
        assert all(v["Locked"] == 0 for v in p.smaps())
    assert len(p.smaps()) == 1 and p.smaps(a)["Rss"] == 6 * KB     # all merged again


# -- the thread: mlock of a shared writable file mapping ---------------------------------------------

def test_mlock_shared_writable_ext4(m, p, sparse_map, kernel):
    """2.6.37: FOLL_WRITE for every VM_WRITE vma: every page write-faulted,
    dirtied, and on ext4 its block reserved. 2.6.38+ (5ecfda041e4b): read
    faults, pages clean, no blocks."""
    n = 32
    fd, a = sparse_map(p, "/data/f", n * PAGE)
    bfree = m.statfs("/data").f_bfree
    p.mlock(a, n * PAGE)
    s = p.smaps(a)
    assert s["Rss"] == n * KB and s["Anonymous"] == 0
    assert vmlck(p) == n * KB
    if kernel == BEFORE_PATCH:
        assert m.meminfo()["Dirty"] == n * KB
        assert s["Private_Dirty"] == n * KB
        assert m.stat("/data/f").st_blocks == n * PAGE // 512
        assert m.statfs("/data").f_bfree == bfree - n
        assert m.trace.query(a, a + n * PAGE, function="ext4_page_mkwrite")
    else:
        assert m.meminfo()["Dirty"] == 0
        assert s["Private_Clean"] == n * KB and s["Private_Dirty"] == 0
        assert m.stat("/data/f").st_blocks == 0
        assert m.statfs("/data").f_bfree == bfree
        assert not m.trace.query(function="ext4_page_mkwrite")


@pytest.mark.parametrize("fs", ["ext2", "ext3", "ext4", "xfs", "btrfs"])
def test_mlock_shared_writable_dirty_only_before_the_patch(make_machine, kernel, fs,
                                                           sparse_map):
    m = make_machine(fs=fs)
    p = m.spawn(memlock=UNLIMITED)
    n = 16
    fd, a = sparse_map(p, "/data/f", n * PAGE)
    p.mlock(a, n * PAGE)
    dirty = m.meminfo()["Dirty"]
    assert dirty == (n * KB if kernel == BEFORE_PATCH else 0)
    assert p.smaps(a)["Rss"] == n * KB
    # the pages stay clean until really written, then get dirty one by one
    p.write(a + 3 * PAGE, b"data")
    assert m.meminfo()["Dirty"] == (n * KB if kernel == BEFORE_PATCH else KB)


def test_mlock_shared_writable_ext2_no_blocks_at_mlock(make_machine, kernel, sparse_map):
    """ext2 has no ->page_mkwrite on 2.6.37 (and today's allocates nothing):
    the dirtied pages get blocks only at writeback."""
    m = make_machine(fs="ext2")
    p = m.spawn(memlock=UNLIMITED)
    fd, a = sparse_map(p, "/data/f", 16 * PAGE)
    p.mlock(a, 16 * PAGE)
    assert m.stat("/data/f").st_blocks == 0
    p.fsync(fd)
    assert m.stat("/data/f").st_blocks == (16 * PAGE // 512 if kernel == BEFORE_PATCH else 0)


def test_mlockall_shared_writable(m, p, sparse_map, kernel):
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.mlockall(MCL_CURRENT)
    assert p.smaps(a)["Rss"] == 8 * KB
    assert m.meminfo()["Dirty"] == (8 * KB if kernel == BEFORE_PATCH else 0)


def test_map_locked_shared_writable(m, p, sparse_map, kernel):
    fd, _ = sparse_map(p, "/data/f", 8 * PAGE)
    a = p.mmap(0, 8 * PAGE, RW, MAP_SHARED | MAP_LOCKED, fd, 0)
    assert p.smaps(a)["Rss"] == 8 * KB
    assert vmlck(p) == 8 * KB
    assert m.meminfo()["Dirty"] == (8 * KB if kernel == BEFORE_PATCH else 0)


def test_mlock_shared_read_only_mapping_stays_clean(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 8 * PAGE, prot=PROT_READ)
    p.mlock(a, 8 * PAGE)
    assert p.smaps(a)["Rss"] == 8 * KB
    assert m.meminfo()["Dirty"] == 0


def test_mlock_private_writable_file_cows_everything(m, p, sparse_map):
    fd, _ = sparse_map(p, "/data/f", 8 * PAGE)
    a = p.mmap(0, 8 * PAGE, RW, MAP_PRIVATE, fd, 0)
    p.mlock(a, 8 * PAGE)
    s = p.smaps(a)
    assert s["Anonymous"] == s["Size"] == s["Rss"] == 8 * KB
    assert m.meminfo()["Dirty"] == 0
    assert m.stat("/data/f").st_blocks == 0
    assert m.meminfo()["Mlocked"] == 8 * KB


def test_mlock_write_only_shared_mapping(m, p, sparse_map, kernel):
    """PROT_WRITE only: 2.6.37 write-faults it (FOLL_WRITE, allowed); 2.6.38
    read-faults it with FOLL_FORCE (fdf4c587a793, LTP mlock04): clean."""
    fd, a = sparse_map(p, "/data/f", 8 * PAGE, prot=PROT_WRITE)
    p.mlock(a, 8 * PAGE)
    assert vmlck(p) == 8 * KB
    assert p.smaps(a)["Rss"] == 8 * KB
    assert m.meminfo()["Dirty"] == (8 * KB if kernel == BEFORE_PATCH else 0)
    if kernel != BEFORE_PATCH:
        assert m.stat("/data/f").st_blocks == 0


def test_mlock_write_only_shared_mapping_fails_on_2_6_38_rc2(sparse_map):
    """Between 5ecfda041e4b and fdf4c587a793 the read fault without FOLL_FORCE
    is refused: get_user_pages returns EFAULT, mlock reports ENOMEM, and the
    VMA stays VM_LOCKED with nothing resident."""
    m = mmsim.Machine(kernel="2.6.38-rc2")
    m.mkfs("/data", fs="ext2", size=64 * MiB)
    p = m.spawn(memlock=UNLIMITED)
    fd, a = sparse_map(p, "/data/f", 8 * PAGE, prot=PROT_WRITE)
    with pytest.raises(OSError) as e:
        p.mlock(a, 8 * PAGE)
    assert e.value.errno == errno.ENOMEM
    assert vmlck(p) == 8 * KB and p.smaps(a)["Rss"] == 0
    assert "2.6.38-rc2" not in mmsim.KERNEL_VERSIONS      # not one of the book's releases


def test_mlock_shared_anonymous(m, p, kernel):
    a = p.mmap(0, 8 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.mlock(a, 8 * PAGE)
    assert p.smaps(a)["Rss"] == 8 * KB
    assert m.meminfo()["Shmem"] == 8 * KB
    assert m.meminfo()["Mlocked"] == 8 * KB
    assert m.meminfo()["Dirty"] == 0          # shmem pages are not counted in Dirty


def test_mlock_then_write_after_the_patch_faults_each_page(m, p, sparse_map, kernel):
    """After the patch the locked pages are mapped read-only (write-notify): the
    first real store to each page is a minor fault (do_wp_page)."""
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.mlock(a, 8 * PAGE)
    flt = p.getrusage().ru_minflt
    p.touch(a, 8 * PAGE, write=True)
    extra = p.getrusage().ru_minflt - flt
    assert extra == (0 if kernel == BEFORE_PATCH else 8)
    assert m.meminfo()["Dirty"] == 8 * KB


def test_munlock_no_checks_and_merges(m):
    p = m.spawn(memlock=(0, 0))
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.munlock(a + PAGE, PAGE)
    assert len(p.smaps()) == 1


# -- more of mlock's bookkeeping ---------------------------------------------------------------

def test_populate_faults_count_in_rusage(m, p):
    """__get_user_pages (2.6.37) and mm_account_fault (today) charge the faults
    taken on behalf of mlock to the calling task's min_flt."""
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.mlock(a, 8 * PAGE)
    assert p.getrusage().ru_minflt == 8
    p.touch(a, 8 * PAGE, write=True)
    assert p.getrusage().ru_minflt == 8


def test_munmap_part_of_locked_vma(m, p):
    a = p.mmap(0, 6 * PAGE, RW, ANON)
    p.mlock(a, 6 * PAGE)
    p.munmap(a + 2 * PAGE, 2 * PAGE)
    assert vmlck(p) == 4 * KB
    assert m.meminfo()["Mlocked"] == 4 * KB
    p.munmap(a, 6 * PAGE)
    assert vmlck(p) == 0


def test_mcl_future_map_fixed_over_locked_counts_before_unmapping(m):
    """do_mmap_pgoff checks len + locked_vm against the limit before
    mmap_region unmaps what MAP_FIXED replaces: EAGAIN even at no net gain."""
    p = limited(m, 4)
    p.mlockall(MCL_FUTURE)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert vmlck(p) == 4 * KB
    assert errno_of(p.mmap, a, 2 * PAGE, RW, ANON | mmsim.MAP_FIXED) == errno.EAGAIN
    assert vmlck(p) == 4 * KB


def test_locked_read_only_then_writable(m, p, kernel):
    """36f881883c57 (4.5): a private VM_LOCKED vma that becomes writable is
    write-faulted (COW broken) at mprotect time; 2.6.x leaves the zero page."""
    a = p.mmap(0, 4 * PAGE, PROT_READ, ANON)
    p.mlock(a, 4 * PAGE)
    p.mprotect(a, 4 * PAGE, RW)
    assert p.smaps(a)["Rss"] == (4 * KB if kernel == "6.18" else 0)
    assert vmlck(p) == 4 * KB


def test_truncate_under_a_locked_mapping(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.mlock(a, 8 * PAGE)
    assert m.meminfo()["Mlocked"] == 8 * KB
    p.ftruncate(fd, 3 * PAGE)
    assert m.meminfo()["Mlocked"] == 3 * KB
    assert vmlck(p) == 8 * KB                  # the vma is still locked
    assert p.smaps(a)["Rss"] == 3 * KB


def test_mlock_shared_writable_on_a_full_ext4(make_machine, kernel, sparse_map):
    """The thread's ENOSPC case: 2.6.37's write faults go through
    ext4_page_mkwrite, which fails past the free space (VM_FAULT_SIGBUS ->
    -EFAULT -> ENOMEM); after the patch mlock only reads and succeeds."""
    m = make_machine(fs="ext4", size=64 * PAGE)
    p = m.spawn(memlock=UNLIMITED)
    big = p.open("/data/big", os.O_RDWR | os.O_CREAT)
    p.fallocate(big, 0, 0, 60 * PAGE)
    fd, a = sparse_map(p, "/data/f", 10 * PAGE)
    if kernel == BEFORE_PATCH:
        assert errno_of(p.mlock, a, 10 * PAGE) == errno.ENOMEM
        assert m.meminfo()["Dirty"] == 4 * KB
        assert m.statfs("/data").f_bfree == 0
        assert p.smaps(a)["Rss"] == 4 * KB
    else:
        p.mlock(a, 10 * PAGE)
        assert m.meminfo()["Dirty"] == 0
        assert m.statfs("/data").f_bfree == 4
        assert p.smaps(a)["Rss"] == 10 * KB
    assert vmlck(p) == 10 * KB


def test_populate_path_names_in_the_trace(m, p, kernel):
    """mlock faults pages in through __mlock_vma_pages_range (2.6.x) or
    populate_vma_page_range (today), MAP_POPULATE through make_pages_present
    (2.6.x) or populate_vma_page_range, both via __get_user_pages."""
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    b = p.mmap(0, 3 * PAGE, RW, ANON | mmsim.MAP_POPULATE)
    lock_fn = "populate_vma_page_range" if kernel == "6.18" else "__mlock_vma_pages_range"
    pop_fn = "populate_vma_page_range" if kernel == "6.18" else "make_pages_present"
    ev = m.trace.query(a, a + 4 * PAGE, function=lock_fn, op="mlock")
    assert sum(e.pages for e in ev) == 4
    assert all("__get_user_pages" in e.path and "do_anonymous_page" in e.path for e in ev)
    ev = m.trace.query(b, b + 3 * PAGE, function=pop_fn)
    assert sum(e.pages for e in ev) == 3
    # a user fault is entered through do_page_fault; a populate is not
    assert not m.trace.query(a, a + 4 * PAGE, function="do_page_fault")
