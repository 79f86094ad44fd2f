"""Properties of the engine over random call sequences (hypothesis).

1. Whatever the calls and arguments, only OSError or mmsim.Signal come out.
2. Page accounting adds up after every call: the vmstat counters against a
   recount, locked_vm against the VM_LOCKED vmas, Rss against the mapcounts,
   mlock counts against the locked PTEs.
3. Without CAP_IPC_LOCK, VmLck never exceeds RLIMIT_MEMLOCK: every path that
   adds to locked_vm (mlock, mlock2, mlockall, MAP_LOCKED, MCL_FUTURE) checks
   the limit before it locks anything. (A failed mlock may still leave pages
   counted, e.g. a PROT_NONE vma: only the bound is guaranteed.)
4. No dirty data is lost: bytes written through a shared mapping, msync'ed,
   unmapped and dropped from the page cache read back the same.
The call sequences include pread, pwrite, madvise and mincore.
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmsim
from mmsim import (FALLOC_FL_KEEP_SIZE, GiB, MADV_DONTNEED, MADV_POPULATE_READ,
                   MADV_POPULATE_WRITE, MAP_ANONYMOUS, MAP_FIXED, MAP_LOCKED,
                   MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE,
                   MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT, MS_ASYNC,
                   MS_INVALIDATE, MS_SYNC, MiB, PAGE_SIZE, RLIM_INFINITY, RLIMIT_MEMLOCK)
from mmsim.fs.super import iterate_inodes
from mmsim.flags import (PG_DIRTY, PG_UPTODATE, PG_WRITEBACK, PTE_ANON, PTE_MLOCKED, PTE_PRESENT,
                         PTE_ZERO, VM_LOCKED)

PAGE = PAGE_SIZE
U64 = (1 << 64) - 1
BASE = 0x10000000                 # the small address space the calls work in
NSLOTS = 24
KERNELS = ("2.6.37", "2.6.38", "6.18")

# Derandomized, so CI and every developer run the same examples; set
# HYPOTHESIS_RANDOM=1 to explore new ones.
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=os.environ.get("HYPOTHESIS_RANDOM") != "1")

# -- strategies --------------------------------------------------------------------------------

WILD = st.one_of(st.integers(-(1 << 66), 1 << 66),
                 st.sampled_from([0, 1, -1, -PAGE, PAGE - 1, U64, 1 << 63, 1 << 64,
                                  (1 << 64) - PAGE]))
SLOT = st.integers(-2, NSLOTS + 2).map(lambda k: BASE + k * PAGE)
ADDR = st.one_of(SLOT, SLOT, SLOT, SLOT.map(lambda a: a + 1), st.just(0), WILD)
LEN = st.one_of(st.integers(0, 8).map(lambda k: k * PAGE), st.integers(0, 3 * PAGE), WILD)
PROT = st.one_of(st.sampled_from([0, 1, 2, 3, 3, 3, 4, 5, 7]), WILD)
MAPTYPE = st.sampled_from([MAP_SHARED, MAP_PRIVATE, MAP_PRIVATE, MAP_SHARED_VALIDATE, 0])
MAPFLAGS = st.one_of(
    st.builds(lambda t, anon, fixed, pop, lock, extra: t | anon | fixed | pop | lock | extra,
              MAPTYPE,
              st.sampled_from([0, MAP_ANONYMOUS]),
              st.sampled_from([0, MAP_FIXED, MAP_FIXED]),
              st.sampled_from([0, 0, MAP_POPULATE]),
              st.sampled_from([0, 0, MAP_LOCKED]),
              st.sampled_from([0, 0, 0, 0x200000])),
    WILD)
FD = st.sampled_from(["rw", "rw", "ro", "bad", "closed"])
MCL = st.one_of(st.sampled_from([MCL_CURRENT, MCL_FUTURE, MCL_CURRENT | MCL_FUTURE,
                                 MCL_CURRENT | MCL_ONFAULT, MCL_FUTURE | MCL_ONFAULT, 0,
                                 MCL_ONFAULT]), WILD)
MLOCK2 = st.one_of(st.sampled_from([0, MLOCK_ONFAULT, 2]), WILD)
MSFLAGS = st.one_of(st.sampled_from([MS_SYNC, MS_ASYNC, MS_INVALIDATE, MS_SYNC | MS_ASYNC]),
                    WILD)
PROC = st.integers(0, 3)

# Calls with arguments that mostly make sense (aligned slots, a few pages,
# valid flags), so that sequences build up state ...
SADDR = st.integers(0, NSLOTS).map(lambda k: BASE + k * PAGE)
SLEN = st.integers(1, 8).map(lambda k: k * PAGE)
SPROT = st.sampled_from([0, 1, 2, 3, 3, 3])
SFLAGS = st.builds(lambda t, anon, pop, lock: t | anon | MAP_FIXED | pop | lock,
                   st.sampled_from([MAP_SHARED, MAP_PRIVATE]),
                   st.sampled_from([0, MAP_ANONYMOUS]),
                   st.sampled_from([0, 0, 0, MAP_POPULATE]),
                   st.sampled_from([0, 0, 0, MAP_LOCKED]))
SANE_OPS = st.one_of(
    st.tuples(st.just("mmap"), PROC, SADDR, SLEN, SPROT, SFLAGS,
              st.sampled_from(["rw", "rw", "ro"]), st.integers(0, 8).map(lambda k: k * PAGE)),
    st.tuples(st.just("munmap"), PROC, SADDR, SLEN),
    st.tuples(st.just("mprotect"), PROC, SADDR, SLEN, SPROT),
    st.tuples(st.just("mlock"), PROC, SADDR, SLEN),
    st.tuples(st.just("munlock"), PROC, SADDR, SLEN),
    st.tuples(st.just("mlock2"), PROC, SADDR, SLEN, st.sampled_from([0, MLOCK_ONFAULT])),
    st.tuples(st.just("mlockall"), PROC, st.sampled_from([MCL_CURRENT, MCL_FUTURE,
                                                          MCL_CURRENT | MCL_FUTURE,
                                                          MCL_CURRENT | MCL_ONFAULT])),
    st.tuples(st.just("munlockall"), PROC),
    st.tuples(st.just("touch"), PROC, SADDR, SLEN, st.booleans()),
    st.tuples(st.just("touch"), PROC, SADDR, SLEN, st.booleans()),
    st.tuples(st.just("write"), PROC, SADDR.map(lambda a: a + 5), st.binary(min_size=1,
                                                                            max_size=64)),
    st.tuples(st.just("read"), PROC, SADDR, st.integers(1, 64)),
    st.tuples(st.just("msync"), PROC, SADDR, SLEN, st.sampled_from([MS_SYNC, MS_ASYNC])),
    st.tuples(st.just("ftruncate"), PROC, st.integers(0, 20).map(lambda k: k * PAGE)),
    st.tuples(st.just("fallocate"), PROC, st.sampled_from([0, FALLOC_FL_KEEP_SIZE]),
              st.integers(0, 20).map(lambda k: k * PAGE), SLEN),
    st.tuples(st.just("fork"), PROC),
    st.tuples(st.just("drop_caches")),
    st.tuples(st.just("pwrite"), PROC, st.sampled_from(["rw", "rw", "ro"]),
              st.binary(min_size=1, max_size=3 * PAGE), st.integers(0, 20 * PAGE)),
    st.tuples(st.just("pread"), PROC, st.sampled_from(["rw", "ro"]), st.integers(0, 4 * PAGE),
              st.integers(0, 20 * PAGE)),
    st.tuples(st.just("madvise"), PROC, SADDR, SLEN,
              st.sampled_from([MADV_DONTNEED, MADV_POPULATE_READ, MADV_POPULATE_WRITE])),
    st.tuples(st.just("mincore"), PROC, SADDR, SLEN),
)
# ... and calls with anything at all in them.
WILD_OPS = st.one_of(
    st.tuples(st.just("mmap"), PROC, ADDR, LEN, PROT, MAPFLAGS, FD,
              st.integers(0, 8).map(lambda k: k * PAGE)),
    st.tuples(st.just("munmap"), PROC, ADDR, LEN),
    st.tuples(st.just("mprotect"), PROC, ADDR, LEN, PROT),
    st.tuples(st.just("mlock"), PROC, ADDR, LEN),
    st.tuples(st.just("munlock"), PROC, ADDR, LEN),
    st.tuples(st.just("mlock2"), PROC, ADDR, LEN, MLOCK2),
    st.tuples(st.just("mlockall"), PROC, MCL),
    st.tuples(st.just("touch"), PROC, ADDR, LEN, st.booleans()),
    st.tuples(st.just("write"), PROC, ADDR, st.binary(min_size=0, max_size=64)),
    st.tuples(st.just("read"), PROC, ADDR, st.integers(-4, 64)),
    st.tuples(st.just("msync"), PROC, ADDR, LEN, MSFLAGS),
    st.tuples(st.just("kill"), PROC),
    st.tuples(st.just("ftruncate"), PROC, WILD),
    st.tuples(st.just("fallocate"), PROC, st.one_of(st.sampled_from([0, 1, 3]), WILD),
              st.one_of(st.integers(0, 20).map(lambda k: k * PAGE), WILD), LEN),
    st.tuples(st.just("sleep"), st.floats(0, 60)),
    # offsets that a pwrite would grow the file to stay small: the simulator
    # holds per-page arrays for a file's whole size
    st.tuples(st.just("pwrite"), PROC, FD, st.one_of(st.binary(max_size=64), WILD),
              st.one_of(st.integers(-(1 << 66), -1), st.integers(0, 20 * PAGE),
                        st.sampled_from([1 << 44, 1 << 63, 1 << 64, U64]))),
    st.tuples(st.just("pread"), PROC, FD, st.one_of(st.integers(-4, 64), WILD), WILD),
    st.tuples(st.just("madvise"), PROC, ADDR, LEN,
              st.one_of(st.sampled_from([MADV_DONTNEED, MADV_POPULATE_READ,
                                         MADV_POPULATE_WRITE]), WILD)),
    st.tuples(st.just("mincore"), PROC, ADDR, LEN),
)
OPS = st.one_of(SANE_OPS, SANE_OPS, SANE_OPS, WILD_OPS)
SAFE_OPS = OPS.filter(lambda op: op[0] not in ("setrlimit",))


class World:
    """A machine, its processes, and each process's fds."""

    def __init__(self, kernel, fs, memlock, caps=()):
        self.m = mmsim.Machine(kernel=kernel, ram=GiB)
        self.m.mkfs("/data", fs=fs, size=4 * MiB)
        first = self.m.spawn(memlock=memlock, caps=caps)
        fd = first.open("/data/f", os.O_RDWR | os.O_CREAT)
        first.ftruncate(fd, 16 * PAGE)
        self.procs = [first]
        self.fds = {first.pid: {"rw": fd, "ro": first.open("/data/f", os.O_RDONLY),
                                "bad": 97, "closed": first.open("/data/f", os.O_RDWR)}}
        first.close(self.fds[first.pid]["closed"])
        # something to work on from the start: anonymous and file mappings
        rw = mmsim.PROT_READ | mmsim.PROT_WRITE
        first.mmap(BASE, 6 * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        first.mmap(BASE + 8 * PAGE, 8 * PAGE, rw, MAP_SHARED | MAP_FIXED, fd, 0)
        first.mmap(BASE + 17 * PAGE, 4 * PAGE, rw, MAP_PRIVATE | MAP_FIXED, fd, 4 * PAGE)

    def proc(self, i):
        return self.procs[i % len(self.procs)]

    def run(self, op):
        """Apply one op; return whatever it returns (errors propagate)."""
        name, args = op[0], op[1:]
        m = self.m
        if name == "drop_caches":
            return m.drop_caches()
        if name == "sleep":
            return m.sleep(args[0])
        p = self.proc(args[0])
        fds = self.fds[p.pid]
        a = args[1:]
        if name == "mmap":
            addr, length, prot, flags, fd, off = a
            return p.mmap(addr, length, prot, flags, fds[fd], off)
        if name == "fork":
            c = p.fork()
            self.procs.append(c)
            self.fds[c.pid] = dict(fds)
            return c
        if name == "kill":
            return p.kill()
        if name == "touch":
            return p.touch(a[0], a[1], write=a[2])
        if name == "ftruncate":
            return p.ftruncate(fds["rw"], a[0])
        if name == "fallocate":
            return p.fallocate(fds["rw"], *a)
        if name in ("pread", "pwrite"):
            return getattr(p, name)(fds[a[0]], a[1], a[2])
        return getattr(p, name)(*a)

    def step(self, op):
        """Run op; only OSError or Signal may come out."""
        try:
            self.run(op)
        except (OSError, mmsim.Signal):
            pass


# -- invariants ------------------------------------------------------------------------------------

def check_accounting(w):
    m = w.m
    vs = m.vmstat
    assert vs.nr_anon_pages == m.anon.live()
    cached = dirty = writeback = 0
    file_mapcount = 0
    for inode in iterate_inodes(m):
        mp = inode.mapping
        n = len(mp.flags)
        up = (mp.flags[:n] & PG_UPTODATE) != 0
        wb = (mp.flags[:n] & PG_WRITEBACK) != 0
        assert not wb[~up].any(), "a page not in the cache is under writeback"
        writeback += int(np.count_nonzero(wb))
        cached += int(np.count_nonzero(up))
        if not mp.shmem:
            dirty += int(np.count_nonzero(up & ((mp.flags[:n] & PG_DIRTY) != 0)))
        assert (mp.mapcount[:n] >= 0).all()
        assert not (mp.mapcount[:n] > 0)[~up].any(), "a mapped page is not in the cache"
        file_mapcount += int(mp.mapcount[:n].sum())
    assert vs.nr_file_pages == cached
    assert vs.nr_file_dirty == dirty
    # NR_WRITEBACK also counts the writes of pages truncated while in flight
    assert writeback <= m.vmstat.nr_writeback
    anon_mapcount = m.anon.mapcount[:m.anon.n]
    assert (anon_mapcount >= 0).all()
    rss = 0
    for p in w.procs:
        if not p.alive:
            assert p.mm.vmas == [] and p.mm.locked_vm == 0
            continue
        locked = sum(v.npages for v in p.mm.vmas if v.flags & VM_LOCKED)
        assert p.mm.locked_vm == locked
        assert p.status()["VmLck"] == locked * PAGE // 1024
        rss += sum(v["Rss"] for v in p.smaps()) * 1024 // PAGE
        assert p.status()["VmRSS"] * 1024 // PAGE == \
            sum(v["Rss"] for v in p.smaps()) * 1024 // PAGE
    assert rss == int(anon_mapcount.sum()) + file_mapcount


def check_mlock_counts(w):
    """Every page's mlock count is the number of PTEs that mlocked it (PTE_MLOCKED).

    Only VM_LOCKED vmas mlock pages. 6.18 mlocks every page mapped in a
    locked vma; 2.6.x only those get_user_pages walked (mlock_vma_page in
    __mlock_vma_pages_range), so a populate that stopped early leaves some
    mapped pages of a locked vma not mlocked.
    """
    m = w.m
    anon = np.zeros(m.anon.n, np.int64)
    files = {}
    for p in w.procs:
        for v in p.mm.vmas:
            counted = (v.pte & PTE_MLOCKED) != 0
            real = (v.pte & (PTE_PRESENT | PTE_ZERO)) == PTE_PRESENT
            if not v.flags & VM_LOCKED:
                assert not counted.any()
                continue
            if m.kernel.mlock_present_at_fixup:
                assert (counted == real).all()
            is_anon = counted & ((v.pte & PTE_ANON) != 0)
            np.add.at(anon, v.pfn[is_anon], 1) if is_anon.any() else None
            idx = v.pgoff + np.flatnonzero(counted & ~is_anon)
            if len(idx):
                arr = files.setdefault(id(v.inode), (v.inode, {}))[1]
                for i in idx.tolist():
                    arr[i] = arr.get(i, 0) + 1
    assert (m.anon.mlock[:m.anon.n] == anon).all()
    for inode in iterate_inodes(m):
        want = files.get(id(inode), (inode, {}))[1]
        got = {int(i): int(inode.mapping.mlock[i])
               for i in np.flatnonzero(inode.mapping.mlock)}
        assert got == want, inode.name


# -- 1. only kernel errors ----------------------------------------------------------------------------

@settings(max_examples=300, **SETTINGS)
@given(kernel=st.sampled_from(KERNELS),
       fs=st.sampled_from(["ext2", "ext4", "xfs", "btrfs"]),
       limit=st.sampled_from([0, 4 * PAGE, 16 * PAGE, RLIM_INFINITY]),
       caps=st.sampled_from([(), ("CAP_IPC_LOCK",)]),
       ops=st.lists(st.one_of(OPS, st.tuples(st.just("setrlimit"), PROC, WILD, WILD)),
                    min_size=3, max_size=40))
def test_only_oserror_or_signal(kernel, fs, limit, caps, ops):
    w = World(kernel, fs, (limit, limit), caps)
    for op in ops:
        if op[0] == "setrlimit":
            p = w.proc(op[1])
            try:
                p.setrlimit(RLIMIT_MEMLOCK, (op[2], op[3]))
            except OSError:
                pass
            continue
        w.step(op)


# -- 2. accounting ---------------------------------------------------------------------------------------

@settings(max_examples=300, **SETTINGS)
@given(kernel=st.sampled_from(KERNELS),
       fs=st.sampled_from(["ext2", "ext4", "xfs", "btrfs"]),
       limit=st.sampled_from([4 * PAGE, 16 * PAGE, RLIM_INFINITY]),
       ops=st.lists(SAFE_OPS, min_size=3, max_size=40))
def test_page_accounting_adds_up(kernel, fs, limit, ops):
    w = World(kernel, fs, (limit, limit))
    check_accounting(w)
    for op in ops:
        w.step(op)
        check_accounting(w)


@settings(max_examples=200, **SETTINGS)
@given(kernel=st.sampled_from(KERNELS),
       ops=st.lists(SAFE_OPS, min_size=3, max_size=40))
def test_mlock_counts_match_locked_ptes(kernel, ops):
    w = World(kernel, "ext4", (RLIM_INFINITY, RLIM_INFINITY))
    for op in ops:
        w.step(op)
    check_mlock_counts(w)


# -- 3. RLIMIT_MEMLOCK bounds VmLck ------------------------------------------------------------------------

@settings(max_examples=300, **SETTINGS)
@given(kernel=st.sampled_from(KERNELS),
       limit_pages=st.integers(0, 12),
       extra=st.sampled_from([0, 1, PAGE - 1]),
       ops=st.lists(SAFE_OPS, min_size=3, max_size=40))
def test_vmlck_never_exceeds_the_limit(kernel, limit_pages, extra, ops):
    limit = limit_pages * PAGE + extra
    w = World(kernel, "ext4", (limit, limit))
    for op in ops:
        w.step(op)
        for p in w.procs:
            if p.alive:
                assert p.status()["VmLck"] <= (limit // PAGE) * PAGE // 1024, op


# -- 4. no dirty data is lost ---------------------------------------------------------------------------------

NPAGES = 12
WRITES = st.lists(st.tuples(st.integers(0, NPAGES * PAGE - 1), st.binary(min_size=1, max_size=300)),
                  min_size=1, max_size=12)


@settings(max_examples=150, **SETTINGS)
@given(kernel=st.sampled_from(KERNELS),
       fs=st.sampled_from(["ext2", "ext3", "ext4", "xfs", "btrfs"]),
       options=st.sampled_from(["", "nodelalloc"]),
       prealloc=st.booleans(),
       lock=st.booleans(),
       writes=WRITES,
       syncs=st.lists(st.integers(0, 11), max_size=3))
def test_no_dirty_data_is_lost(kernel, fs, options, prealloc, lock, writes, syncs):
    m = mmsim.Machine(kernel=kernel, ram=GiB)
    if fs != "ext4":
        options = ""
    m.mkfs("/data", fs=fs, size=4 * MiB, options=options)
    p = m.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    size = NPAGES * PAGE
    if prealloc and fs in ("ext4", "xfs", "btrfs"):
        p.fallocate(fd, 0, 0, size)
    else:
        p.ftruncate(fd, size)
    a = p.mmap(0, size, mmsim.PROT_READ | mmsim.PROT_WRITE, MAP_SHARED, fd, 0)
    if lock:
        p.mlock(a, size)
    model = bytearray(size)
    for i, (off, data) in enumerate(writes):
        data = data[:size - off]
        p.write(a + off, data)
        model[off:off + len(data)] = data
        if i in syncs:
            p.msync(a, size, MS_SYNC)
    p.msync(a, size, MS_SYNC)
    p.munmap(a, size)
    m.drop_caches()
    assert m.meminfo()["Cached"] == 0
    b = p.mmap(0, size, mmsim.PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(b, size) == bytes(model)


# -- 5. copy-on-write keeps every process's view ----------------------------------------------------

NV = 6                                    # pages per mapping
VIEW = {"A": BASE, "F": BASE + 8 * PAGE, "S": BASE + 16 * PAGE, "H": BASE + 24 * PAGE}
COW_OPS = st.one_of(
    st.tuples(st.just("write"), PROC, st.sampled_from("AFSH"), st.integers(0, NV * PAGE - 1),
              st.binary(min_size=1, max_size=200)),
    st.tuples(st.just("write"), PROC, st.sampled_from("AFSH"), st.integers(0, NV * PAGE - 1),
              st.binary(min_size=1, max_size=200)),
    st.tuples(st.just("fork"), PROC),
    st.tuples(st.just("kill"), PROC),
    st.tuples(st.just("mlock"), PROC, st.sampled_from("AFSH")),
    st.tuples(st.just("munlock"), PROC, st.sampled_from("AFSH")),
    st.tuples(st.just("msync")),
    st.tuples(st.just("drop")),
)


class Views:
    """What each process must read in its four mappings."""

    def __init__(self):
        self.file = bytearray(NV * PAGE)          # S and the un-COWed pages of F
        self.shm = bytearray(NV * PAGE)           # H, shared by the whole family
        self.anon = {}                            # pid -> bytearray (A)
        self.cow = {}                             # pid -> {page: bytearray} (F)

    def f_view(self, pid):
        out = bytearray(self.file)
        for pg, data in self.cow[pid].items():
            out[pg * PAGE:(pg + 1) * PAGE] = data
        return out

    def write(self, pid, which, off, data):
        data = data[:NV * PAGE - off]
        end = off + len(data)
        if which == "A":
            self.anon[pid][off:end] = data
        elif which == "S":
            self.file[off:end] = data
        elif which == "H":
            self.shm[off:end] = data
        else:
            self.break_cow(pid, range(off // PAGE, (end - 1) // PAGE + 1))
            view = self.f_view(pid)
            view[off:end] = data
            for pg in range(off // PAGE, (end - 1) // PAGE + 1):
                self.cow[pid][pg] = view[pg * PAGE:(pg + 1) * PAGE]

    def break_cow(self, pid, pages):
        for pg in pages:
            if pg not in self.cow[pid]:
                self.cow[pid][pg] = self.file[pg * PAGE:(pg + 1) * PAGE]


@settings(max_examples=120, **SETTINGS)
@given(kernel=st.sampled_from(KERNELS),
       fs=st.sampled_from(["ext2", "ext4", "xfs", "btrfs"]),
       ops=st.lists(COW_OPS, min_size=1, max_size=25))
def test_cow_keeps_every_view(kernel, fs, ops):
    m = mmsim.Machine(kernel=kernel, ram=GiB)
    m.mkfs("/data", fs=fs, size=4 * MiB)
    p = m.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, NV * PAGE)
    rw = mmsim.PROT_READ | mmsim.PROT_WRITE
    size = NV * PAGE
    p.mmap(VIEW["A"], size, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    p.mmap(VIEW["F"], size, rw, MAP_PRIVATE | MAP_FIXED, fd, 0)
    p.mmap(VIEW["S"], size, rw, MAP_SHARED | MAP_FIXED, fd, 0)
    p.mmap(VIEW["H"], size, rw, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)
    model = Views()
    model.anon[p.pid] = bytearray(size)
    model.cow[p.pid] = {}
    procs = [p]
    for op in ops:
        q = procs[op[1] % len(procs)] if len(op) > 1 and isinstance(op[1], int) else None
        if op[0] == "write":
            _, _, which, off, data = op
            q.write(VIEW[which] + off, data[:size - off])
            model.write(q.pid, which, off, data)
        elif op[0] == "fork":
            c = q.fork()
            procs.append(c)
            model.anon[c.pid] = bytearray(model.anon[q.pid])
            model.cow[c.pid] = {pg: bytearray(d) for pg, d in model.cow[q.pid].items()}
        elif op[0] == "kill":
            if len(procs) > 1:
                q.kill()
                procs.remove(q)
        elif op[0] == "mlock":
            q.mlock(VIEW[op[2]], size)
            if op[2] == "F":                      # FOLL_WRITE on a private writable vma
                model.break_cow(q.pid, range(NV))
        elif op[0] == "munlock":
            q.munlock(VIEW[op[2]], size)
        elif op[0] == "msync":
            p_live = procs[0]
            p_live.msync(VIEW["S"], size, MS_SYNC)
        elif op[0] == "drop":
            m.sync()
            m.drop_caches()
        for r in procs:
            assert r.read(VIEW["A"], size) == bytes(model.anon[r.pid]), (op, "A", r.pid)
            assert r.read(VIEW["F"], size) == bytes(model.f_view(r.pid)), (op, "F", r.pid)
            assert r.read(VIEW["S"], size) == bytes(model.file), (op, "S", r.pid)
            assert r.read(VIEW["H"], size) == bytes(model.shm), (op, "H", r.pid)
    check_accounting_for(m, procs)


def check_accounting_for(m, procs):
    class W:
        pass
    w = W()
    w.m, w.procs = m, procs
    check_accounting(w)
    check_mlock_counts(w)
