"""LTP's mlock family, ported: testcases/kernel/syscalls/{mlock,mlock2,mlockall,
munlock,munlockall}/ of linux-test-project/ltp (read at 695827725f4f).

Each test is named after its LTP case and runs on the kernels the case makes
sense on. The translation of LTP's set-up:
- needs_root: the process has CAP_IPC_LOCK (peer_support.root);
- SAFE_SETEUID(nobody) after setrlimit: a process without capabilities and
  that RLIMIT_MEMLOCK (peer_support.nobody);
- malloc(): an anonymous mapping, the pointer 16 bytes in (peer_support.malloc);
- /proc/self/status VmLck and /proc/self/smaps: p.status(), p.smaps().
"""

import pytest

from mmsim import (MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MCL_CURRENT, MCL_FUTURE,
                   MLOCK_ONFAULT, PROT_READ, PROT_WRITE)
from mmsim.testbed import regression

from peer_support import (ENOMEM, ENOSYS, EINVAL, EPERM, KB, PAGE, RELEASES, errno_of,
                          machine, malloc, needs_mincore, new_file, nobody, root, vmlck_kb)

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
U64 = (1 << 64) - 1


def pages_spanned(addr, length):
    """Pages mlock() counts for [addr, addr+length): PAGE_ALIGN(len + offset in page)."""
    return -(-(length + (addr & (PAGE - 1))) // PAGE)


# -- mlock01.c: valid addresses and lengths ------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("length", [1, 1024, 1024 * 1024, 1024 * 1024 * 10])
def test_mlock01(kernel, length):
    """mlock01.c (testcases/kernel/syscalls/mlock/mlock01.c), tcases "mlock 1 byte" ...
    "mlock 1024 * 1024 * 10 bytes": mlock of a malloc()ed buffer succeeds."""
    m = machine(kernel, fs=None)
    p = root(m)
    addr = malloc(p, length)
    p.mlock(addr, length)
    # beyond LTP's TST_EXP_PASS: what the success locked
    assert vmlck_kb(p) == pages_spanned(addr, length) * KB


# -- mlock02.c: ENOMEM and EPERM -----------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
def test_mlock02_enomem1(kernel):
    """mlock02.c test_enomem1: a range that is no longer mapped gives ENOMEM."""
    m = machine(kernel, fs=None)
    p = root(m)
    addr = p.mmap(0, PAGE, PROT_READ, ANON)
    p.munmap(addr, PAGE)
    assert errno_of(p.mlock, addr, PAGE) == ENOMEM


@pytest.mark.parametrize("kernel", RELEASES)
def test_mlock02_enomem2(kernel):
    """mlock02.c test_enomem2: RLIMIT_MEMLOCK = len - 1 (non-zero, under a page), no
    CAP_IPC_LOCK: can_do_mlock() passes, the page count fails with ENOMEM."""
    m = machine(kernel, fs=None)
    p = nobody(m, PAGE - 1)
    addr = p.mmap(0, PAGE, PROT_READ, ANON)
    assert errno_of(p.mlock, addr, PAGE) == ENOMEM


@pytest.mark.parametrize("kernel", RELEASES)
def test_mlock02_eperm(kernel):
    """mlock02.c test_eperm: RLIMIT_MEMLOCK 0 and no CAP_IPC_LOCK gives EPERM."""
    m = machine(kernel, fs=None)
    p = nobody(m, 0)
    addr = p.mmap(0, PAGE, PROT_READ, ANON)
    assert errno_of(p.mlock, addr, PAGE) == EPERM


# -- mlock03.c: mlock/munlock of every mapping leaves its size -----------------------------

@pytest.mark.parametrize("kernel", RELEASES)
def test_mlock03(kernel):
    """mlock03.c: mlock and munlock every range /proc/self/maps lists; no mapping shrinks.

    Not expressible: the [stack] VMA with VM_GROWSDOWN and its guard page (the
    RHEL5 bug, bugzilla 643426); the ranges here are the kinds of VMA the
    simulator has (private and shared anonymous, file-backed, read-only).
    """
    m = machine(kernel)
    p = root(m)
    fd = new_file(p, "/mnt/f", 8 * PAGE)
    p.mmap(0, 8 * PAGE, RW, MAP_SHARED, fd, 0)
    p.mmap(0, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    p.mmap(0, 16 * PAGE, RW, ANON)
    p.mmap(0, 3 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    first = [(v["start"], v["end"]) for v in p.smaps()]
    for start, end in first:
        p.mlock(start, end - start)
        p.munlock(start, end - start)
    assert [(v["start"], v["end"]) for v in p.smaps()] == first
    assert vmlck_kb(p) == 0


# -- mlock04.c: PROT_WRITE-only shared file mapping (fdf4c587a793) -------------------------

@pytest.mark.parametrize("kernel", [
    "2.6.37",
    pytest.param("2.6.38-rc2", marks=pytest.mark.xfail(
        strict=True, raises=AssertionError,
        reason="the regression fdf4c587a793 fixes: 5ecfda041e4b read-faults shared "
               "mappings without FOLL_FORCE, and a PROT_WRITE-only vma refuses reads")),
    "2.6.38", "6.18"])
def test_mlock04(kernel):
    """mlock04.c (tag linux-git fdf4c587a793): mlock of a 40960-byte file mapped
    PROT_WRITE, MAP_SHARED succeeds; munlock and munmap too."""
    m = machine(kernel)
    r = regression.mlock04_experiment(m, m.spawn(), where="/mnt")   # the port, chapter 09's
    assert regression.mlock04_check(r) == ("passed", ""), r


def test_mlock04_errno_on_2_6_38_rc2():
    """mlock04.c on the unfixed kernel: get_user_pages' EFAULT comes back as ENOMEM
    (__mlock_posix_error_return), after VM_LOCKED was set on the vma."""
    m = machine("2.6.38-rc2")
    p = m.spawn()
    fd = new_file(p, "/mnt/test_mlock", 40960)
    buf = p.mmap(0, 40960, PROT_WRITE, MAP_SHARED, fd, 0)
    assert errno_of(p.mlock, buf, 40960) == ENOMEM
    assert p.smaps(buf)["Rss"] == 0


# -- mlock05.c: mlock pre-faults, Rss == Locked --------------------------------------------

@pytest.mark.parametrize("kernel", ["2.6.38", "6.18"])
def test_mlock05(kernel):
    """mlock05.c: after mlock of a 1 MiB PROT_WRITE private anonymous mapping, its
    smaps Rss and Locked are both 1 MiB.

    2.6.37 is left out: smaps has no Locked: line before 2.6.38, so the LTP
    case breaks (TBROK) there.
    """
    m = machine(kernel, fs=None)
    p = m.spawn(memlock=(1 << 20, 1 << 20))
    buf = p.mmap(0, 1 << 20, PROT_WRITE, ANON)
    p.mlock(buf, 1 << 20)
    s = p.smaps(buf)
    assert s["Rss"] * 1024 == 1 << 20
    assert s["Locked"] * 1024 == 1 << 20
    p.munlock(buf, 1 << 20)
    p.munmap(buf, 1 << 20)


# -- mlock201.c: mlock2() and MLOCK_ONFAULT -------------------------------------------------

MLOCK201_PAGES = 8
MLOCK201 = [  # populate_pages, lock_pages, offset, exp_vmlcks, exp_present_pages, flag
    (0, 1, 0, 1, 1, 0),
    (0, 8, 0, 8, 8, 0),
    (0, 2, 1, 3, 3, 0),
    (0, 2, -1, 2, 2, 0),
    (0, 1, 0, 1, 0, MLOCK_ONFAULT),
    (4, 8, 0, 8, 4, MLOCK_ONFAULT),
    (1, 4, 1, 5, 1, MLOCK_ONFAULT),
    (4, 4, -1, 4, 4, MLOCK_ONFAULT),
]


def _mlock201(tc):
    populate, lock, offset, exp_vmlcks, _, flag = tc
    m = machine("6.18", fs=None)
    p = root(m)
    addr = p.mmap(0, MLOCK201_PAGES * PAGE, PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    if populate:
        p.write(addr, bytes(populate * PAGE))
    before = vmlck_kb(p)
    p.mlock2(addr, (lock * PAGE + offset) & U64, flag)
    assert (vmlck_kb(p) - before) * 1024 // PAGE == exp_vmlcks
    return p, addr


@pytest.mark.parametrize("tc", MLOCK201)
def test_mlock201_vmlck(tc):
    """mlock201.c tcases: VmLck grows by the pages of the (page-rounded) range,
    MLOCK_ONFAULT or not."""
    p, addr = _mlock201(tc)
    p.munlock(addr, tc[1] * PAGE + tc[2])
    assert vmlck_kb(p) == 0


@needs_mincore
@pytest.mark.parametrize("tc", MLOCK201)
def test_mlock201(tc):
    """mlock201.c tcases, whole: VmLck, then mincore() counts the present pages:
    all locked ones without MLOCK_ONFAULT, only the populated ones with it."""
    p, addr = _mlock201(tc)
    vec = p.mincore(addr, MLOCK201_PAGES * PAGE)
    assert sum(b & 1 for b in vec[:MLOCK201_PAGES]) == tc[4]


@pytest.mark.parametrize("kernel", ["2.6.37", "2.6.38"])
def test_mlock201_enosys_before_4_4(kernel):
    """mlock201.c, tst_syscall(__NR_mlock2) on a kernel before 4.4: ENOSYS (TCONF)."""
    m = machine(kernel, fs=None)
    p = root(m)
    addr = p.mmap(0, PAGE, PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    assert errno_of(p.mlock2, addr, PAGE, 0) == ENOSYS


# -- mlock202.c: mlock2() errnos ------------------------------------------------------------

def _mlock202_setup(p):
    addr = p.mmap(0, PAGE, PROT_WRITE, ANON)
    unmapped = p.mmap(0, PAGE * 8, PROT_READ, ANON)
    p.munmap(unmapped, PAGE * 8)
    return addr, unmapped + PAGE * 4


def test_mlock202_einval():
    """mlock202.c tcase 1: an unknown flag (-1) gives EINVAL."""
    p = root(machine(fs=None))
    addr, _ = _mlock202_setup(p)
    assert errno_of(p.mlock2, addr, PAGE, -1) == EINVAL


def test_mlock202_enomem_limit():
    """mlock202.c tcase 2: nobody, RLIMIT_MEMLOCK = pgsz - 1: ENOMEM."""
    p = nobody(machine(fs=None), PAGE - 1)
    addr, _ = _mlock202_setup(p)
    assert errno_of(p.mlock2, addr, PAGE, 0) == ENOMEM


def test_mlock202_eperm():
    """mlock202.c tcase 3: nobody, RLIMIT_MEMLOCK = 0: EPERM."""
    p = nobody(machine(fs=None), 0)
    addr, _ = _mlock202_setup(p)
    assert errno_of(p.mlock2, addr, PAGE, 0) == EPERM


def test_mlock202_enomem_unmapped():
    """mlock202.c tcase 4: an address in the middle of an unmapped range: ENOMEM."""
    p = root(machine(fs=None))
    _, unmapped = _mlock202_setup(p)
    assert errno_of(p.mlock2, unmapped, PAGE, 0) == ENOMEM


# -- mlock203.c: MLOCK_ONFAULT then mlock2(0) counts once (b155b4fde5bd) -------------------

def test_mlock203():
    """mlock203.c (b155b4fde5bd): VmLck grows by one page at mlock2(MLOCK_ONFAULT)
    and not again at mlock2(0) of the same page."""
    p = root(machine(fs=None))
    addr = p.mmap(0, PAGE, PROT_WRITE, ANON)
    before = vmlck_kb(p)
    p.mlock2(addr, PAGE, MLOCK_ONFAULT)
    after1 = vmlck_kb(p)
    assert (after1 - before) * 1024 == PAGE
    p.mlock2(addr, PAGE, 0)
    assert vmlck_kb(p) == after1
    p.munlock(addr, PAGE)


# -- munlock01.c, munlock02.c -----------------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("length", [1, 1024, 1024 * 1024, 1024 * 1024 * 10])
def test_munlock01(kernel, length):
    """munlock01.c tcases "munlock 1 byte" ... "munlock 1024 * 1024 * 10 bytes":
    munlock of a malloc()ed, mlocked buffer succeeds."""
    m = machine(kernel, fs=None)
    p = root(m)
    addr = malloc(p, length)
    p.mlock(addr, length)
    p.munlock(addr, length)
    assert vmlck_kb(p) == 0


@pytest.mark.parametrize("kernel", RELEASES)
def test_munlock02(kernel):
    """munlock02.c: 8 locked pages, pages 2-5 unmapped; munlock from page 2 over 8
    pages gives ENOMEM."""
    m = machine(kernel, fs=None)
    p = root(m)
    length = 8 * PAGE
    addr = p.mmap(0, length, RW, ANON)
    p.write(addr, b"\x20" * length)
    p.mlock(addr, length)
    addr += 2 * PAGE
    p.munmap(addr, 4 * PAGE)
    assert errno_of(p.munlock, addr, length) == ENOMEM


# -- mlockall01.c, mlockall02.c, mlockall03.c --------------------------------------------------

def _image(p):
    """A little of what every real process has mapped (mlockall counts total_vm)."""
    fd = new_file(p, "/mnt/a.out", 4 * PAGE)
    p.mmap(0, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    p.mmap(0, 4 * PAGE, RW, ANON)


@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("flags", [MCL_CURRENT, MCL_FUTURE, MCL_CURRENT | MCL_FUTURE],
                         ids=["MCL_CURRENT", "MCL_FUTURE", "MCL_CURRENT|MCL_FUTURE"])
def test_mlockall01(kernel, flags):
    """mlockall01.c TC[]: mlockall(MCL_CURRENT), (MCL_FUTURE), (both) succeed as root."""
    m = machine(kernel)
    p = root(m)
    _image(p)
    p.mlockall(flags)
    assert vmlck_kb(p) == (8 * KB if flags & MCL_CURRENT else 0)


@pytest.mark.parametrize("case", ["mlockall02", "mlockall03"])
@pytest.mark.parametrize("kernel", RELEASES)
def test_mlockall02_enomem(case, kernel):
    """mlockall02.c / mlockall03.c case 0: nobody with RLIMIT_MEMLOCK (7, 10) bytes:
    mlockall(MCL_CURRENT) of a process with mappings gives ENOMEM."""
    m = machine(kernel)
    p = m.spawn(memlock=(7, 10))
    _image(p)
    assert errno_of(p.mlockall, MCL_CURRENT) == ENOMEM
    assert vmlck_kb(p) == 0


@pytest.mark.parametrize("case", ["mlockall02", "mlockall03"])
@pytest.mark.parametrize("kernel", RELEASES)
def test_mlockall02_eperm(case, kernel):
    """mlockall02.c / mlockall03.c case 1: nobody with RLIMIT_MEMLOCK 0: EPERM."""
    m = machine(kernel)
    p = nobody(m, 0)
    _image(p)
    assert errno_of(p.mlockall, MCL_CURRENT) == EPERM


@pytest.mark.parametrize("kernel", RELEASES)
@pytest.mark.parametrize("flags", [0, ~(MCL_CURRENT | MCL_FUTURE)],
                         ids=["mlockall02-0", "mlockall03-~(MCL_CURRENT|MCL_FUTURE)"])
def test_mlockall02_einval(kernel, flags):
    """mlockall02.c case 2 (flags 0) and mlockall03.c case 2 (~(MCL_CURRENT |
    MCL_FUTURE), unknown bits on every kernel): EINVAL."""
    m = machine(kernel)
    p = root(m)
    _image(p)
    assert errno_of(p.mlockall, flags) == EINVAL


# -- munlockall01.c ----------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", RELEASES)
def test_munlockall01(kernel):
    """munlockall01.c: VmLck 0, > 0 after mlockall(MCL_CURRENT | MCL_FUTURE), 0
    after munlockall(); run unprivileged with the kernel's default limit (the
    process image here is smaller than 2.6.x's 64 KiB)."""
    m = machine(kernel)
    p = m.spawn()
    _image(p)
    assert vmlck_kb(p) == 0
    p.mlockall(MCL_CURRENT | MCL_FUTURE)
    assert vmlck_kb(p) > 0
    p.munlockall()
    assert vmlck_kb(p) == 0
    # MCL_FUTURE went with it: a new mapping is not locked
    a = p.mmap(0, PAGE, RW, ANON)
    assert "lo" not in p.smaps(a).get("VmFlags", "") and vmlck_kb(p) == 0
