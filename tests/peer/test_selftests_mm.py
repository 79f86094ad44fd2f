"""The kernel's own mm selftests, ported: tools/testing/selftests/mm/ of
torvalds/linux (tools/testing/selftests/vm/ before 6.3).

/proc/self/pagemap's present bit and /proc/kpageflags' UNEVICTABLE bit are
p.pageflags()'s "present" and "mlocked" (PG_mlocked: an mlocked page is the
unevictable one); /proc/self/maps and smaps are p.smaps().

madv_populate.c's cases run once p.madvise lands (and p.mincore for the
residency checks).

Not expressible here: MAP_DROPPABLE (mlock2-tests' droppable cases);
vmsplice, io_uring fixed buffers and the gup_test pins (cow.c's GUP cases);
swap, THP and hugetlb (cow.c's swapped-out, THP and hugetlb runs, mkdirty's
THP cases); memfd_create (cow.c's memfd run); ptrace writes through
/proc/self/mem, mbind migration and UFFDIO_COPY (mkdirty.c's ways of setting a
PTE dirty in a read-only vma: only the state they lead to is checked);
soft-dirty bits (madv_populate.c test_softdirty); mremap (merge.c's mremap_*
cases, handle_uprobe_upon_merged_vma) and KSM (the rest of merge.c).
"""

import random
import signal

import pytest

import mmsim
from mmsim import (MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE,
                   MAP_SHARED, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT, MS_SYNC,
                   PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE, RLIMIT_MEMLOCK)
from mmsim._abi import MADV_POPULATE_READ, MADV_POPULATE_WRITE

from peer_support import (EAGAIN, EEXIST, EINVAL, ENOMEM, PAGE, RELEASES, errno_of, machine,
                          malloc, needs_madvise, needs_mincore, needs_noreplace, new_file,
                          vma_of, vmlck_kb)

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def sigsegv(fn, *args):
    with pytest.raises(mmsim.Signal) as exc:
        fn(*args)
    return exc.value.signo == signal.SIGSEGV


# -- mlock2-tests.c ----------------------------------------------------------------------------

def vmflag(p, addr, flag):
    return flag in p.smaps(addr)["VmFlags"].split()


def lock_check(p, addr):
    """lock_check(): both pages present and unevictable, the vma "lo", Rss == Size."""
    pf = p.pageflags(addr, 2 * PAGE)
    s = p.smaps(addr)
    return (pf["present"].all() and pf["mlocked"].all() and vmflag(p, addr, "lo")
            and vmflag(p, addr + PAGE, "lo") and s["Rss"] == s["Size"])


def unlock_lock_check(p, addr):
    """unlock_lock_check(): no page unevictable, no "lo" on either page."""
    return (not p.pageflags(addr, 2 * PAGE)["mlocked"].any()
            and not vmflag(p, addr, "lo") and not vmflag(p, addr + PAGE, "lo"))


def is_vma_lock_on_fault(p, addr):
    """is_vma_lock_on_fault(): the vma is "lo" and not all of it is resident."""
    s = p.smaps(addr)
    return vmflag(p, addr, "lo") and s["Rss"] < s["Size"]


def onfault_check(p, addr):
    """onfault_check(): nothing present; one store makes page 1, only, present
    and unevictable; the vma is lock-on-fault."""
    pf = p.pageflags(addr, 2 * PAGE)
    if pf["present"].any():
        return False
    p.write(addr, b"a")
    pf = p.pageflags(addr, 2 * PAGE)
    return (bool(pf["present"][0]) and not pf["present"][1] and bool(pf["mlocked"][0])
            and is_vma_lock_on_fault(p, addr) and is_vma_lock_on_fault(p, addr + PAGE))


def unlock_onfault_check(p, addr):
    """unlock_onfault_check(): page 1 no longer unevictable, the vma not lock-on-fault."""
    return (not p.pageflags(addr, PAGE)["mlocked"][0]
            and not is_vma_lock_on_fault(p, addr) and not is_vma_lock_on_fault(p, addr + PAGE))


def _two_pages():
    p = machine("6.18", fs=None).spawn(memlock=(1 << 30, 1 << 30))
    return p, p.mmap(0, 2 * PAGE, RW, ANON)


def test_mlock2_tests_test_mlock_lock():
    """mlock2-tests.c test_mlock_lock: mlock2(0) of two private anonymous pages
    locks and populates both; munlock undoes it."""
    p, addr = _two_pages()
    p.mlock2(addr, 2 * PAGE, 0)
    assert lock_check(p, addr)
    p.munlock(addr, 2 * PAGE)
    assert unlock_lock_check(p, addr)


def test_mlock2_tests_test_mlock_onfault():
    """mlock2-tests.c test_mlock_onfault: mlock2(MLOCK_ONFAULT) populates nothing;
    a fault locks the page it brings in; munlock undoes it."""
    p, addr = _two_pages()
    p.mlock2(addr, 2 * PAGE, MLOCK_ONFAULT)
    assert onfault_check(p, addr)
    p.munlock(addr, 2 * PAGE)
    assert unlock_onfault_check(p, addr)


def test_mlock2_tests_test_lock_onfault_of_present():
    """mlock2-tests.c test_lock_onfault_of_present: a page present before
    mlock2(MLOCK_ONFAULT) is locked at once; the vma is lock-on-fault."""
    p, addr = _two_pages()
    p.write(addr, b"a")
    p.mlock2(addr, 2 * PAGE, MLOCK_ONFAULT)
    assert p.pageflags(addr, PAGE)["mlocked"][0]
    assert is_vma_lock_on_fault(p, addr) and is_vma_lock_on_fault(p, addr + PAGE)


def test_mlock2_tests_test_munlockall():
    """mlock2-tests.c test_munlockall (test_munlockall0 and 1 today):
    mlockall(MCL_CURRENT) locks, munlockall unlocks; mlockall(MCL_CURRENT |
    MCL_ONFAULT) locks on fault; mlockall(MCL_CURRENT | MCL_FUTURE) populates."""
    p, addr = _two_pages()
    p.mlockall(MCL_CURRENT)
    assert lock_check(p, addr)
    p.munlockall()
    assert unlock_lock_check(p, addr)
    p.munmap(addr, 2 * PAGE)
    addr = p.mmap(0, 2 * PAGE, RW, ANON)
    p.mlockall(MCL_CURRENT | MCL_ONFAULT)
    assert onfault_check(p, addr)
    p.munlockall()
    assert unlock_onfault_check(p, addr)
    p.mlockall(MCL_CURRENT | MCL_FUTURE)
    assert lock_check(p, addr)
    p.munlockall()
    assert unlock_lock_check(p, addr)


def _vma_management(p, call_mlock):
    addr = p.mmap(0, 3 * PAGE, RW, ANON)
    if call_mlock:
        p.mlock2(addr, 3 * PAGE, MLOCK_ONFAULT)
    areas = [vma_of(p, addr + i * PAGE) for i in range(3)]
    assert areas[0] == areas[1] == areas[2]          # one vma to start with
    p.munlock(addr + PAGE, PAGE)
    areas = [vma_of(p, addr + i * PAGE) for i in range(3)]
    assert len(set(areas)) == 3                       # split in three
    p.munlock(addr, 3 * PAGE)
    areas = [vma_of(p, addr + i * PAGE) for i in range(3)]
    assert areas[0] == areas[1] == areas[2]          # merged again


def test_mlock2_tests_test_vma_management():
    """mlock2-tests.c test_vma_management(true): mlock2(MLOCK_ONFAULT) of 3 pages,
    munlock of the middle one splits the vma in three, munlock of all merges it."""
    p = machine("6.18", fs=None).spawn(memlock=(1 << 30, 1 << 30))
    _vma_management(p, True)


def test_mlock2_tests_test_mlockall():
    """mlock2-tests.c test_mlockall(test_vma_management): the same after
    mlockall(MCL_CURRENT | MCL_ONFAULT | MCL_FUTURE), the new mapping locked by
    MCL_FUTURE."""
    p = machine("6.18", fs=None).spawn(memlock=(1 << 30, 1 << 30))
    p.mlockall(MCL_CURRENT | MCL_ONFAULT | MCL_FUTURE)
    _vma_management(p, False)
    p.munlockall()


# -- mlock-random-test.c -----------------------------------------------------------------------

CHUNK_UNIT = 128 * 1024
MLOCK_RLIMIT_SIZE = CHUNK_UNIT * 2
TEST_LOOP = 100


def _random_tester(seed):
    """set_cap_limits(MLOCK_RLIMIT_SIZE): no capabilities, RLIMIT_MEMLOCK 256 KiB;
    srand(time(NULL)) becomes a seeded generator."""
    p = machine("6.18", fs=None).spawn(memlock=(MLOCK_RLIMIT_SIZE, MLOCK_RLIMIT_SIZE))
    return p, random.Random(seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlock_random_test_mlock_within_limit(seed):
    """mlock-random-test.c test_mlock_within_limit: 100 random mlock() /
    mlock2(MLOCK_ONFAULT) calls inside a 128 KiB malloc()ed chunk all succeed,
    and VmLck ends at most PAGE_ALIGN(128 KiB) + one page."""
    p, rng = _random_tester(seed)
    alloc = CHUNK_UNIT
    buf = malloc(p, alloc)
    assert p.getrlimit(RLIMIT_MEMLOCK)[0] >= alloc
    for _ in range(TEST_LOOP):
        lock_size = rng.randrange(alloc)
        start = rng.randrange(alloc - lock_size)
        if rng.randrange(2):
            p.mlock(buf + start, lock_size)
        else:
            p.mlock2(buf + start, lock_size, MLOCK_ONFAULT)
    page_size = PAGE     # smaps MMUPageSize
    assert vmlck_kb(p) * 1024 <= -(-alloc // page_size) * page_size + page_size
    p.munlock(buf, alloc)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlock_random_test_mlock_outof_limit(seed):
    """mlock-random-test.c test_mlock_outof_limit: in a 384 KiB chunk, 100 random
    mlock() / mlock2(MLOCK_ONFAULT) calls of at least the 256 KiB limit all fail,
    and VmLck does not move."""
    p, rng = _random_tester(seed)
    alloc = CHUNK_UNIT * 3
    buf = malloc(p, alloc)
    limit = p.getrlimit(RLIMIT_MEMLOCK)[0]
    old = vmlck_kb(p)
    for _ in range(TEST_LOOP):
        is_mlock = rng.randrange(2)
        lock_size = rng.randrange(alloc - limit) + limit
        start = rng.randrange(alloc - lock_size)
        with pytest.raises(OSError):
            if is_mlock:
                p.mlock(buf + start, lock_size)
            else:
                p.mlock2(buf + start, lock_size, MLOCK_ONFAULT)
    assert vmlck_kb(p) == old


# -- on-fault-limit.c --------------------------------------------------------------------------

def test_on_fault_limit_test_limit():
    """on-fault-limit.c test_limit: after mlockall(MCL_ONFAULT | MCL_FUTURE), an
    unprivileged mmap of twice RLIMIT_MEMLOCK with MAP_POPULATE fails (EAGAIN:
    MCL_ONFAULT still counts the whole mapping against the limit)."""
    p = machine("6.18", fs=None).spawn()
    soft, hard = p.getrlimit(RLIMIT_MEMLOCK)
    p.mlockall(MCL_ONFAULT | MCL_FUTURE)
    assert errno_of(p.mmap, 0, 2 * hard, RW, ANON | MAP_POPULATE) == EAGAIN
    assert p.smaps() == [] and vmlck_kb(p) == 0
    p.munlockall()


# -- map_populate.c ----------------------------------------------------------------------------

MAGIC, BAD = (0xdeadbabe).to_bytes(8, "little"), (0x22222BAD).to_bytes(8, "little")


@pytest.mark.parametrize("kernel", RELEASES)
def test_map_populate(kernel):
    """map_populate.c: a 4 KiB file holds 0xdeadbabe (stored through a shared
    mapping, msync'ed); a forked child maps it MAP_PRIVATE | MAP_POPULATE and
    sees it; the parent stores 0x22222BAD through its shared mapping and
    msyncs; the child still reads 0xdeadbabe: MAP_POPULATE broke COW."""
    m = machine(kernel)
    parent = m.spawn()
    fd = new_file(parent, "/mnt/tmpfile", 4096)
    smap = parent.mmap(0, 4096, RW, MAP_SHARED, fd, 0)
    parent.write(smap, MAGIC)
    parent.msync(smap, 4096, MS_SYNC)
    child = parent.fork()
    cmap = child.mmap(0, 4096, RW, MAP_PRIVATE | MAP_POPULATE, fd, 0)
    assert child.read(cmap, 8) == MAGIC, "MAP_PRIVATE | MAP_POPULATE changed file"
    parent.write(smap, BAD)
    parent.msync(smap, 4096, MS_SYNC)
    assert child.read(cmap, 8) != BAD, "MAP_POPULATE COW private page"
    assert child.read(cmap, 8) == MAGIC, "The mapping state"


# -- map_fixed_noreplace.c ---------------------------------------------------------------------

@needs_noreplace
def test_map_fixed_noreplace():
    """map_fixed_noreplace.c: with a 3-page mapping at base + 1 page, the 5-page
    range at base, a page inside it, overlaps of its end and start all fail
    with EEXIST; pages adjacent at either end succeed; base unmaps whole."""
    p = machine("6.18", fs=None).spawn()
    flags = ANON | mmsim.MAP_FIXED_NOREPLACE
    base = p.mmap(0, 5 * PAGE, PROT_NONE, ANON)
    p.munmap(base, 5 * PAGE)
    assert p.mmap(base, 5 * PAGE, PROT_NONE, flags) == base
    p.munmap(base, 5 * PAGE)
    assert p.mmap(base + PAGE, 3 * PAGE, PROT_NONE, flags) == base + PAGE
    for addr, npages in ((base, 5), (base + 2 * PAGE, 1), (base + 3 * PAGE, 2), (base, 2)):
        assert errno_of(p.mmap, addr, npages * PAGE, PROT_NONE, flags) == EEXIST
    assert p.mmap(base, PAGE, PROT_NONE, flags) == base
    assert p.mmap(base + 4 * PAGE, PAGE, PROT_NONE, flags) == base + 4 * PAGE
    p.munmap(base, 5 * PAGE)
    assert p.smaps() == []


# -- cow.c: the anonymous and fork cases on a base page ----------------------------------------

def _base_page(p):
    """do_run_with_base_page(swapout=false): one populated private anonymous page."""
    mem = p.mmap(0, PAGE, RW, ANON)
    p.write(mem, b"\x01" * PAGE)
    return mem


@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("do_mprotect", [False, True],
                         ids=["Basic COW after fork()",
                              "Basic COW after fork() with mprotect() optimization"])
def test_cow_test_cow_in_parent(kernel, do_mprotect):
    """cow.c anon_test_cases "Basic COW after fork()" and "... with mprotect()
    optimization" (do_test_cow_in_parent with child_memcmp_fn), with a base
    page: the child's copy of the page does not see the parent's memset(0xff),
    mprotect(PROT_READ) + mprotect(PROT_READ | PROT_WRITE) first or not."""
    p = machine(kernel, fs=None).spawn()
    mem = _base_page(p)
    child = p.fork()
    old = child.read(mem, PAGE)
    if do_mprotect:
        p.mprotect(mem, PAGE, PROT_READ)
        p.mprotect(mem, PAGE, RW)
    p.write(mem, b"\xff" * PAGE)
    assert child.read(mem, PAGE) == old, "Leak from parent into child"
    assert p.read(mem, PAGE) == b"\xff" * PAGE


@pytest.mark.parametrize("kernel", RELEASES)
def test_cow_run_with_zeropage_test_cow(kernel):
    """cow.c non_anon_test_cases "Basic COW" ... with shared zeropage: two
    private anonymous pages read (both the shared zero page); memset(0xff) of
    one leaves the other zero."""
    p = machine(kernel, fs=None).spawn()
    mem = p.mmap(0, PAGE, RW, ANON)
    smem = p.mmap(0, PAGE, PROT_READ, ANON)
    p.read(mem, 1) + p.read(smem, 1)
    old = p.read(smem, PAGE)
    p.write(mem, b"\xff" * PAGE)
    assert p.read(smem, PAGE) == old == bytes(PAGE), "Other mapping not modified"


@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs"])
def test_cow_run_with_tmpfile_test_cow(fs):
    """cow.c non_anon_test_cases "Basic COW" ... with tmpfile: a one-page file
    (fallocate), mapped MAP_PRIVATE read-write and MAP_SHARED read-only, both
    read; memset(0xff) of the private one leaves the shared one (the page
    cache) unmodified."""
    m = machine("6.18", fs=fs)
    p = m.spawn()
    fd = new_file(p, "/mnt/tmpfile")
    p.fallocate(fd, 0, 0, PAGE)
    mem = p.mmap(0, PAGE, RW, MAP_PRIVATE, fd, 0)
    smem = p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    p.read(mem, 1) + p.read(smem, 1)
    old = p.read(smem, PAGE)
    p.write(mem, b"\xff" * PAGE)
    assert p.read(smem, PAGE) == old, "Other mapping not modified"


# -- mkdirty.c ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
def test_mkdirty_test_page_migration(kernel):
    """mkdirty.c test_page_migration, without the mbind(): a page populated and
    dirtied, then made PROT_READ: its PTE may stay dirty but must not be
    writable; do_test_write_sigsegv: a store raises SIGSEGV and the page is
    not modified."""
    p = machine(kernel, fs=None).spawn()
    mem = p.mmap(0, PAGE, RW, ANON)
    p.write(mem, b"\x01" * PAGE)
    p.mprotect(mem, PAGE, PROT_READ)
    assert not p.pageflags(mem, PAGE)["writable"][0]
    orig = p.read(mem, 1)
    assert sigsegv(p.write, mem, bytes([orig[0] + 1]))
    assert p.read(mem, 1) == orig, "SIGSEGV generated, page not modified"


# -- merge.c: vma merges around faulted, unfaulted and forked vmas ---------------------------

def _carveout(kernel="6.18"):
    """FIXTURE_SETUP(merge): a 30-page PROT_NONE region to map over."""
    p = machine(kernel, fs=None).spawn()
    return p, p.mmap(0, 30 * PAGE, PROT_NONE, ANON)


def _fixed(p, addr, npages, prot=RW):
    return p.mmap(addr, npages * PAGE, prot, ANON | MAP_FIXED | MAP_NORESERVE)


MERGE_MPROTECT = {
    # first page of the mapping in the carveout, its pages, the mprotect(PROT_READ)
    # calls (first page, pages) before the fault, the page faulted, and the calls after
    "mprotect_unfaulted_left": (1, 10, [(0, 5)], 5, [(5, 5)]),
    "mprotect_unfaulted_right": (1, 10, [(5, 5)], 0, [(0, 5)]),
    "mprotect_unfaulted_both": (2, 9, [(0, 3), (6, 3)], 3, [(3, 3)]),
    "mprotect_faulted_left_unfaulted_right": (2, 9, [(6, 3)], 0, [(0, 3), (3, 3)]),
    "mprotect_unfaulted_left_faulted_right": (2, 9, [(0, 3)], 3, [(6, 3), (3, 3)]),
}


@pytest.mark.parametrize("name", sorted(MERGE_MPROTECT))
def test_merge(name):
    """merge.c TEST_F(merge, mprotect_unfaulted_*, mprotect_*_faulted_*): a vma
    split by mprotect(PROT_READ), one part faulted (it gets an anon_vma), the
    rest made PROT_READ too: everything merges back into one vma (879bca0a2c4f,
    "mm/vma: fix incorrectly disallowed anonymous VMA merges")."""
    first, npages, before, fault, after = MERGE_MPROTECT[name]
    p, carveout = _carveout()
    ptr = _fixed(p, carveout + first * PAGE, npages)
    for at, n in before:
        p.mprotect(ptr + at * PAGE, n * PAGE, PROT_READ)
    p.write(ptr + fault * PAGE, b"x")
    for at, n in after:
        p.mprotect(ptr + at * PAGE, n * PAGE, PROT_READ)
    assert vma_of(p, ptr) == (ptr, ptr + npages * PAGE)


def test_merge_forked_target_vma():
    """merge.c TEST_F(merge, forked_target_vma): in a fork child, a vma that came
    from the parent (its anon_vma chained to the parent's) does not merge with
    a new unfaulted mapping next to it, even with every page unCOWed."""
    parent, carveout = _carveout()
    ptr = parent.mmap(carveout + PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    parent.write(ptr, b"x")
    child = parent.fork()
    for i in range(5):
        child.write(ptr + i * PAGE, b"x")
    child.mmap(ptr + 5 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    assert vma_of(child, ptr) == (ptr, ptr + 5 * PAGE)


def test_merge_forked_source_vma():
    """merge.c TEST_F(merge, forked_source_vma): in a fork child, the inherited
    vma made RWX next to an unfaulted RWX mapping does not merge into it."""
    parent, carveout = _carveout()
    ptr = _fixed(parent, carveout + PAGE, 5)
    parent.write(ptr, b"x")
    child = parent.fork()
    for i in range(5):
        child.write(ptr + i * PAGE, b"x")
    ptr2 = _fixed(child, carveout + 6 * PAGE, 5, RW | PROT_EXEC)
    assert vma_of(child, ptr2) == (ptr2, ptr2 + 5 * PAGE)
    child.mprotect(ptr, 5 * PAGE, RW | PROT_EXEC)
    assert vma_of(child, ptr2) == (ptr2, ptr2 + 5 * PAGE)


@pytest.mark.parametrize("kernel", ["2.6.37", "2.6.38"])
def test_merge_forked_target_vma_before_3_0(kernel):
    """merge.c forked_target_vma on a kernel before 965f55dea0e3 ("mmap: avoid
    merging cloned VMAs", 3.0): is_mergeable_anon_vma() only compared the
    anon_vmas, so the inherited vma and the new one did merge."""
    parent, carveout = _carveout(kernel)
    ptr = parent.mmap(carveout + PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    parent.write(ptr, b"x")
    child = parent.fork()
    child.mmap(ptr + 5 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    assert vma_of(child, ptr) == (ptr, ptr + 10 * PAGE)


def test_merge_ksm_merge_adjacent():
    """merge.c TEST_F(merge, ksm_merge), the part before PR_SET_MEMORY_MERGE (KSM
    is not expressible): two adjacent R/W anonymous pages merge; unmapped and
    mapped again, they merge again."""
    p, carveout = _carveout()
    for _ in range(2):
        ptr = p.mmap(carveout + PAGE, PAGE, RW, ANON | MAP_FIXED)
        p.mmap(carveout + 2 * PAGE, PAGE, RW, ANON | MAP_FIXED)
        assert vma_of(p, ptr) == (ptr, ptr + 2 * PAGE)
        p.munmap(ptr, 2 * PAGE)


# -- madv_populate.c: MADV_POPULATE_READ / MADV_POPULATE_WRITE -----------------------------------

POPULATE_SIZE = 2 * 1024 * 1024


def _populated(p, addr, size):
    """pagemap_is_populated() for every page, as mincore() tells it (the shared
    zero page counts: its PTE is present)."""
    return [bool(b & 1) for b in p.mincore(addr, size)]


@needs_madvise
@pytest.mark.parametrize("prot,read_err,write_err",
                         [(PROT_READ, 0, EINVAL), (PROT_WRITE, EINVAL, 0)],
                         ids=["test_prot_read", "test_prot_write"])
def test_madv_populate_prot(prot, read_err, write_err):
    """madv_populate.c test_prot_read / test_prot_write: MADV_POPULATE_READ needs
    PROT_READ and MADV_POPULATE_WRITE PROT_WRITE, else EINVAL."""
    p = machine(fs=None).spawn()
    addr = p.mmap(0, POPULATE_SIZE, prot, ANON)
    for advice, err in ((MADV_POPULATE_READ, read_err), (MADV_POPULATE_WRITE, write_err)):
        if err:
            assert errno_of(p.madvise, addr, POPULATE_SIZE, advice) == err
        else:
            p.madvise(addr, POPULATE_SIZE, advice)


@needs_madvise
@pytest.mark.parametrize("advice", [MADV_POPULATE_READ, MADV_POPULATE_WRITE],
                         ids=["MADV_POPULATE_READ", "MADV_POPULATE_WRITE"])
def test_madv_populate_test_holes(advice):
    """madv_populate.c test_holes: a hole in the middle, at the end or at the
    beginning of the range gives ENOMEM."""
    p = machine(fs=None).spawn()
    addr = p.mmap(0, POPULATE_SIZE, RW, ANON)
    p.munmap(addr + PAGE, PAGE)
    for start, length in ((addr, POPULATE_SIZE), (addr, 2 * PAGE), (addr + PAGE, PAGE)):
        assert errno_of(p.madvise, start, length, advice) == ENOMEM


@needs_madvise
@needs_mincore
@pytest.mark.parametrize("advice", [MADV_POPULATE_READ, MADV_POPULATE_WRITE],
                         ids=["test_populate_read", "test_populate_write"])
def test_madv_populate(advice):
    """madv_populate.c test_populate_read / test_populate_write: 2 MiB of private
    anonymous memory, not populated at first, is populated after the madvise."""
    p = machine(fs=None).spawn()
    addr = p.mmap(0, POPULATE_SIZE, RW, ANON)
    assert not any(_populated(p, addr, POPULATE_SIZE)), "range initially not populated"
    p.madvise(addr, POPULATE_SIZE, advice)
    assert all(_populated(p, addr, POPULATE_SIZE)), "range is populated"
