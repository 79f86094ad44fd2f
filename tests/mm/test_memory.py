"""Page faults (mm/memory.c handle_pte_fault, do_anonymous_page, __do_fault,
do_wp_page; mm/rmap.c page_mkclean) and the fault trace.

References: kernel-facts.md section 2; kernel-lookups.md section 7 (the
2.6.3x fault paths, vma_wants_writenotify) and section 5 (Shared_* by mapcount).
"""

import os
import signal

import pytest

import mmsim
from mmsim import (GiB, MiB, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MS_SYNC, PAGE_SIZE,
                   PROT_NONE, PROT_READ, PROT_WRITE)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
KB = PAGE // 1024

# Kernel function names in the trace: 2.6.37's, or today's (kernels.MODERN_NAMES).
NAMES = {
    "2.6.37": {"read": "__do_fault", "shared": "__do_fault", "cow": "__do_fault",
               "reuse": "reuse_swap_page", "copy": "cow_user_page",
               "cow_copy": "copy_user_highpage"},
    "2.6.38": {"read": "__do_fault", "shared": "__do_fault", "cow": "__do_fault",
               "reuse": "reuse_swap_page", "copy": "cow_user_page",
               "cow_copy": "copy_user_highpage"},
    "6.18": {"read": "do_read_fault", "shared": "do_shared_fault", "cow": "do_cow_fault",
             "reuse": "wp_can_reuse_anon_folio", "copy": "wp_page_copy",
             "cow_copy": "copy_mc_user_highpage"},
}


def pages_via(m, function, **kw):
    """Pages over the trace events whose path names function."""
    return sum(e.pages for e in m.trace.query(function=function, **kw))


# -- anonymous memory ---------------------------------------------------------------

def test_anon_read_maps_zero_page(m, p):
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    anon0 = m.meminfo()["AnonPages"]
    r = p.touch(a, 8 * PAGE)
    assert r.pages == 8
    s = p.smaps(a)
    assert s["Rss"] == 0 and s["Anonymous"] == 0
    assert m.meminfo()["AnonPages"] == anon0
    assert p.status()["VmRSS"] == 0
    assert p.getrusage().ru_minflt == 8
    assert pages_via(m, "do_anonymous_page") == 8
    assert p.read(a + 5, 16) == bytes(16)


def test_anon_write_allocates(m, p):
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    anon0 = m.meminfo()["AnonPages"]
    r = p.touch(a, 8 * PAGE, write=True)
    assert r.pages == 8 and r.seconds > 0
    s = p.smaps(a)
    assert s["Rss"] == s["Anonymous"] == s["Private_Dirty"] == 8 * KB
    assert m.meminfo()["AnonPages"] == anon0 + 8 * KB
    assert pages_via(m, "do_anonymous_page") == 8


def test_anon_store_after_zero_page_read_copies_to_a_new_page(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.touch(a, 4 * PAGE)
    flt = p.getrusage().ru_minflt
    p.touch(a, 4 * PAGE, write=True)
    assert p.getrusage().ru_minflt == flt + 4      # do_wp_page on the zero page
    assert pages_via(m, "do_wp_page") == 4
    assert p.smaps(a)["Anonymous"] == 4 * KB


def test_second_store_does_not_fault(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.touch(a, 4 * PAGE, write=True)
    flt = p.getrusage().ru_minflt
    p.touch(a, 4 * PAGE, write=True)
    p.touch(a, 4 * PAGE)
    assert p.getrusage().ru_minflt == flt


# -- shared file mappings: write-notify ------------------------------------------------

def test_shared_read_fault_maps_read_only_then_store_faults(m, p, sparse_map, kernel):
    n = 6
    fd, a = sparse_map(p, "/data/f", n * PAGE)
    p.touch(a, n * PAGE)
    assert p.getrusage().ru_minflt == n
    assert m.meminfo()["Dirty"] == 0
    assert p.smaps(a)["Private_Clean"] == n * KB
    assert pages_via(m, NAMES[kernel]["read"]) == n
    assert pages_via(m, "filemap_fault") == n
    # the first store to each page faults again: do_wp_page, which dirties it
    p.touch(a, n * PAGE, write=True)
    assert p.getrusage().ru_minflt == 2 * n
    assert pages_via(m, "do_wp_page") == n
    assert m.meminfo()["Dirty"] == n * KB
    s = p.smaps(a)
    assert s["Private_Dirty"] == n * KB and s["Anonymous"] == 0
    # now the PTEs are writable: no more faults
    p.touch(a, n * PAGE, write=True)
    assert p.getrusage().ru_minflt == 2 * n


def test_shared_write_fault_dirties_at_once(m, p, sparse_map, kernel):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    p.touch(a, 4 * PAGE, write=True)
    assert p.getrusage().ru_minflt == 4
    assert pages_via(m, NAMES[kernel]["shared"]) == 4
    assert pages_via(m, "do_wp_page") == 0
    assert m.meminfo()["Dirty"] == 4 * KB


def test_shared_anonymous_has_no_write_notify(m, p):
    """shmem has no ->page_mkwrite and no dirty accounting (vma_wants_writenotify
    returns 0): a read fault maps the page writable, the store does not fault."""
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.touch(a, 4 * PAGE)
    flt = p.getrusage().ru_minflt
    p.touch(a, 4 * PAGE, write=True)
    assert p.getrusage().ru_minflt == flt
    assert pages_via(m, "do_wp_page") == 0
    assert m.meminfo()["Dirty"] == 0


def test_shared_anonymous_visible_to_child(m, p):
    a = p.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.write(a, b"before")
    child = p.fork()
    child.write(a, b"child!")
    assert p.read(a, 6) == b"child!"              # one shmem page, not a COW copy


def test_shared_anonymous_mappings_are_independent(m, p):
    a = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    b = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.write(a, b"AAAA")
    p.write(b, b"BBBB")
    p.munmap(a, PAGE)
    c = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    assert p.read(c, 4) == bytes(4)               # a new mapping is zero-filled
    p.write(c, b"CCCC")
    assert p.read(b, 4) == b"BBBB"


def test_store_after_msync_faults_again(m, p, sparse_map):
    """clear_page_dirty_for_io -> page_mkclean write-protects the PTEs."""
    n = 5
    fd, a = sparse_map(p, "/data/f", n * PAGE)
    p.touch(a, n * PAGE, write=True)
    flt = p.getrusage().ru_minflt
    p.msync(a, n * PAGE, MS_SYNC)
    assert m.meminfo()["Dirty"] == 0
    assert p.smaps(a)["Private_Clean"] == n * KB
    # reads do not fault: the PTEs are still present
    p.touch(a, n * PAGE)
    assert p.getrusage().ru_minflt == flt
    p.touch(a, n * PAGE, write=True)
    assert p.getrusage().ru_minflt == flt + n
    assert m.meminfo()["Dirty"] == n * KB


def test_store_after_fsync_faults_again(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 3 * PAGE)
    p.touch(a, 3 * PAGE, write=True)
    p.fsync(fd)
    flt = p.getrusage().ru_minflt
    p.write(a + PAGE, b"again")
    assert p.getrusage().ru_minflt == flt + 1
    assert m.meminfo()["Dirty"] == 1 * KB


# -- private file mappings: COW -------------------------------------------------------

def test_private_write_cows_file_untouched(m, p, sparse_map, kernel):
    fd, s = sparse_map(p, "/data/f", 4 * PAGE)
    p.write(s, b"original" * 4)
    p.msync(s, 4 * PAGE, MS_SYNC)
    a = p.mmap(0, 4 * PAGE, RW, MAP_PRIVATE, fd, 0)
    assert p.read(a, 8) == b"original"
    p.write(a, b"private!")
    assert p.read(a, 8) == b"private!"
    assert p.read(s, 8) == b"original"          # the file page is untouched
    assert p.smaps(a)["Anonymous"] == 1 * KB
    assert m.meminfo()["Dirty"] == 0
    # a store to a page never read COWs straight from __do_fault
    p.write(a + 2 * PAGE, b"x")
    assert p.smaps(a)["Anonymous"] == 2 * KB
    assert pages_via(m, NAMES[kernel]["cow"], op="write") >= 1
    # do_wp_page copied the page read first; __do_fault copied the other one
    assert pages_via(m, NAMES[kernel]["copy"]) == 1
    assert pages_via(m, NAMES[kernel]["cow_copy"]) == 1
    p.munmap(a, 4 * PAGE)
    p.munmap(s, 4 * PAGE)
    m.drop_caches()
    b = p.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(b, 8) == b"original"
    assert p.read(b + 2 * PAGE, 1) == b"\0"


# -- fork -------------------------------------------------------------------------------

def test_fork_shares_anon_pages_cow(m, p, kernel):
    n = 4
    a = p.mmap(0, n * PAGE, RW, ANON)
    p.write(a, b"P" * (n * PAGE))
    anon0 = m.meminfo()["AnonPages"]
    child = p.fork()
    assert m.meminfo()["AnonPages"] == anon0          # nothing copied yet
    for proc in (p, child):
        s = proc.smaps(a)
        assert s["Shared_Dirty"] == n * KB
        assert s["Private_Dirty"] == s["Private_Clean"] == 0
        assert s["Pss"] == n * KB // 2
        assert s["Anonymous"] == n * KB
    # a store in the child copies: the parent keeps the old data
    child.write(a, b"C")
    assert child.read(a, 2) == b"CP"
    assert p.read(a, 2) == b"PP"
    assert m.meminfo()["AnonPages"] == anon0 + KB
    assert pages_via(m, NAMES[kernel]["copy"], pid=child.pid) == 1
    # the parent is now the page's only user: its store reuses it in place
    copies = m.trace.counts()[NAMES[kernel]["copy"]]
    p.write(a, b"Q")
    assert p.read(a, 2) == b"QP"
    assert child.read(a, 2) == b"CP"
    assert pages_via(m, NAMES[kernel]["reuse"], pid=p.pid) == 1
    assert m.trace.counts()[NAMES[kernel]["copy"]] == copies
    assert m.meminfo()["AnonPages"] == anon0 + KB
    s = p.smaps(a)
    assert s["Private_Dirty"] == KB and s["Shared_Dirty"] == (n - 1) * KB


def test_fork_store_in_parent_copies_child_keeps_data(m, p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.write(a, b"old")
    child = p.fork()
    p.write(a, b"new")
    assert child.read(a, 3) == b"old"
    assert p.read(a, 3) == b"new"
    assert child.smaps(a)["Private_Dirty"] == KB   # mapcount back to 1
    # the child's store to its last reference is a reuse, not a copy
    anon = m.meminfo()["AnonPages"]
    child.write(a, b"kid")
    assert m.meminfo()["AnonPages"] == anon


def test_fork_child_exit_restores_private(m, p):
    a = p.mmap(0, 3 * PAGE, RW, ANON)
    p.touch(a, 3 * PAGE, write=True)
    child = p.fork()
    assert p.smaps(a)["Shared_Dirty"] == 3 * KB
    child.kill()
    s = p.smaps(a)
    assert s["Private_Dirty"] == 3 * KB and s["Shared_Dirty"] == 0


def test_fork_does_not_inherit_mlock(m, p):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.mlock(a, 2 * PAGE)
    child = p.fork()
    assert p.status()["VmLck"] == 2 * KB
    assert child.status()["VmLck"] == 0


# -- signals ------------------------------------------------------------------------------

def test_sigbus_past_eof(m, p, kernel):
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, PAGE + 100)                    # two pages, the second partial
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED, fd, 0)
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a, 4 * PAGE)
    assert exc.value.signo == signal.SIGBUS
    assert exc.value.addr == a + 2 * PAGE
    assert exc.value.pages == 2
    with pytest.raises(mmsim.Signal) as exc:
        p.write(a + 3 * PAGE, b"x")
    assert exc.value.signo == signal.SIGBUS
    # the process lives on: the pages inside the file work
    p.write(a + PAGE, b"inside")
    assert p.read(a + PAGE, 6) == b"inside"


def test_sigbus_past_eof_private(m, p):
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, PAGE)
    a = p.mmap(0, 2 * PAGE, RW, MAP_PRIVATE, fd, 0)
    with pytest.raises(mmsim.Signal) as exc:
        p.write(a + PAGE, b"x")
    assert exc.value.signo == signal.SIGBUS


def test_sigsegv_unmapped(m, p):
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(0x10000000, PAGE)
    assert exc.value.signo == signal.SIGSEGV and exc.value.addr == 0x10000000
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.munmap(a, 2 * PAGE)
    with pytest.raises(mmsim.Signal) as exc:
        p.read(a, 1)
    assert exc.value.signo == signal.SIGSEGV


def test_sigsegv_store_to_prot_read(m, p, sparse_map):
    a = p.mmap(0, 2 * PAGE, PROT_READ, ANON)
    assert p.read(a, 4) == bytes(4)
    with pytest.raises(mmsim.Signal) as exc:
        p.write(a + PAGE, b"x")
    assert exc.value.signo == signal.SIGSEGV and exc.value.addr == a + PAGE
    fd, b = sparse_map(p, "/data/f", 2 * PAGE, prot=PROT_READ)
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(b, 2 * PAGE, write=True)
    assert exc.value.signo == signal.SIGSEGV
    assert m.meminfo()["Dirty"] == 0


def test_sigsegv_prot_none(m, p):
    a = p.mmap(0, 2 * PAGE, PROT_NONE, ANON)
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a, PAGE)
    assert exc.value.signo == signal.SIGSEGV


def test_sigsegv_stops_touch_at_the_gap(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.munmap(a + 2 * PAGE, PAGE)
    with pytest.raises(mmsim.Signal) as exc:
        p.touch(a, 4 * PAGE, write=True)
    assert exc.value.addr == a + 2 * PAGE
    assert exc.value.pages == 2
    assert p.smaps(a)["Rss"] == 2 * KB


# -- major faults ------------------------------------------------------------------------------

def test_read_back_from_disk_is_a_major_fault(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    p.write(a, b"disk")
    p.msync(a, 4 * PAGE, MS_SYNC)
    p.munmap(a, 4 * PAGE)
    assert m.drop_caches() == 1                    # the one page written
    assert m.meminfo()["Cached"] == 0
    b = p.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    maj = p.getrusage().ru_majflt
    assert p.read(b, 4) == b"disk"
    assert p.getrusage().ru_majflt == maj + 1


# -- the trace ---------------------------------------------------------------------------------

def test_trace_query_names_kernel_functions(m, p, sparse_map, kernel):
    n = 8
    fd, a = sparse_map(p, "/data/f", n * PAGE)
    p.touch(a, n * PAGE)
    p.touch(a + 2 * PAGE, 3 * PAGE, write=True)
    ev = m.trace.query(a, a + n * PAGE, function="do_wp_page")
    assert ev and all("do_wp_page" in e.path for e in ev)
    assert sum(e.pages for e in ev) == 3
    assert all(e.start < a + n * PAGE and e.end > a for e in ev)
    assert all(e.pid == p.pid for e in ev)
    # nothing outside the range, nothing for another function
    assert m.trace.query(a + n * PAGE, a + 2 * n * PAGE) == []
    assert m.trace.query(a, a + 2 * PAGE, function="do_wp_page") == []
    ff = m.trace.query(a, a + n * PAGE, function="filemap_fault")
    assert sum(e.pages for e in ff) == n
    assert all(NAMES[kernel]["read"] in e.path for e in ff)
    assert m.trace.query(function="do_anonymous_page") == []


# The dirtying step of a shared write fault, per kernel and caller: 2.6.37
# do_wp_page without ->page_mkwrite calls set_page_dirty_balance(); with it,
# and __do_fault always, set_page_dirty() + balance_dirty_pages_ratelimited();
# today both end in fault_dirty_shared_page().
DIRTYING = {
    ("2.6.37", "ext2", "do_wp_page"): ("do_wp_page", "set_page_dirty_balance"),
    ("2.6.37", "ext2", "fault"): ("__do_fault", "filemap_fault", "zero_user_segment",
                                  "set_page_dirty", "balance_dirty_pages_ratelimited"),
    ("2.6.37", "ext4", "do_wp_page"): ("do_wp_page", "ext4_page_mkwrite", "set_page_dirty",
                                       "balance_dirty_pages_ratelimited"),
    ("2.6.37", "ext4", "fault"): ("__do_fault", "filemap_fault", "zero_user_segment",
                                  "ext4_page_mkwrite", "set_page_dirty",
                                  "balance_dirty_pages_ratelimited"),
    ("6.18", "ext2,ext2_driver", "do_wp_page"): ("do_wp_page", "filemap_page_mkwrite",
                                                 "fault_dirty_shared_page"),
    ("6.18", "ext2", "do_wp_page"): ("do_wp_page", "ext4_page_mkwrite",
                                     "fault_dirty_shared_page"),
    ("6.18", "ext4", "fault"): ("do_shared_fault", "filemap_fault", "folio_zero_segment",
                                "ext4_page_mkwrite", "fault_dirty_shared_page"),
}


@pytest.mark.parametrize("key", sorted(DIRTYING))
def test_shared_write_fault_dirtying_step_is_named_as_the_kernel_names_it(key):
    kernel, fs, caller = key
    fs, _, options = fs.partition(",")
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs=fs, size=64 * MiB, options=options)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED, fd, 0)
    if caller == "do_wp_page":
        p.touch(a, 4 * PAGE)
    p.touch(a, 4 * PAGE, write=True)
    paths = {e.path[e.path.index("handle_mm_fault") + 1:]
             for e in m.trace.query(op="touch", since=0) if "handle_mm_fault" in e.path}
    assert DIRTYING[key] in paths


def test_modern_names_for_page_cache_lookup_and_hole_fill():
    m = mmsim.Machine(kernel="6.18")
    m.mkfs("/data", fs="ext4", size=64 * MiB)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    p.touch(a, 4 * PAGE)
    b = p.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    p.touch(b, 4 * PAGE)
    c = m.trace.counts()
    assert c["folio_zero_segment"] == 4 and c["filemap_get_folio"] == 4
    assert c["zero_user_segment"] == 0 and c["find_get_page"] == 0


def test_trace_query_by_simulated_time(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    p.touch(a, 2 * PAGE)
    t = m.now
    p.touch(a + 2 * PAGE, 2 * PAGE)
    assert sum(e.pages for e in m.trace.query(op="touch", until=t)) == 2
    assert sum(e.pages for e in m.trace.query(op="touch", since=t)) == 2
    assert m.trace.query(since=m.now + 1) == []


def test_trace_counts_add_up_to_faults(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 10 * PAGE)
    b = p.mmap(0, 7 * PAGE, RW, ANON)
    p.touch(a, 10 * PAGE)
    p.touch(a, 4 * PAGE, write=True)
    p.touch(b, 7 * PAGE, write=True)
    c = m.trace.counts()
    assert c["handle_mm_fault"] == 10 + 4 + 7
    entry = "exc_page_fault" if m.kernel.modern_names else "do_page_fault"
    assert c[entry] == 21 and c["do_user_addr_fault"] == (21 if m.kernel.modern_names else 0)
    ru = p.getrusage()
    assert ru.ru_minflt + ru.ru_majflt == 21
    assert c["filemap_fault"] == 10
    assert c["do_wp_page"] == 4
    assert c["do_anonymous_page"] == 7
    # counts over a subset of events
    sub = m.trace.counts(m.trace.query(b, b + 7 * PAGE))
    assert sub["handle_mm_fault"] == 7


def test_trace_stays_bounded():
    m = mmsim.Machine(kernel="6.18", ram=8 * GiB)
    p = m.spawn()
    n = 1_000_000
    a = p.mmap(0, n * PAGE, RW, ANON)
    before = len(m.trace)
    r = p.touch(a, n * PAGE, write=True)
    assert r.pages == n
    assert len(m.trace) - before <= 5
    assert m.trace.counts()["do_anonymous_page"] == n
    assert p.smaps(a)["Rss"] == n * KB


# -- msync --------------------------------------------------------------------------------------

def test_msync_whole_file_before_3_19(m, p, sparse_map, kernel):
    """2.6.37 msync(MS_SYNC) calls vfs_fsync on the whole file; 7fc34a62ca44
    (3.19) syncs only the range (vfs_fsync_range)."""
    fd, a = sparse_map(p, "/data/f", 4 * PAGE, size=8 * PAGE)
    b = p.mmap(0, 4 * PAGE, RW, MAP_SHARED, fd, 4 * PAGE)
    p.touch(a, 4 * PAGE, write=True)
    p.touch(b, 4 * PAGE, write=True)
    p.msync(a, 4 * PAGE, MS_SYNC)
    assert m.meminfo()["Dirty"] == (4 * KB if kernel == "6.18" else 0)
    p.msync(a, PAGE, mmsim.MS_ASYNC)              # a no-op since 2.6.19
    assert m.meminfo()["Dirty"] == (4 * KB if kernel == "6.18" else 0)


def test_msync_over_a_hole_syncs_the_rest_then_enomem(m, p, sparse_map, kernel):
    fd, a = sparse_map(p, "/data/f", 6 * PAGE)
    p.touch(a, 6 * PAGE, write=True)
    p.munmap(a + 2 * PAGE, 2 * PAGE)              # file pages 2, 3 stay dirty, unmapped
    with pytest.raises(OSError) as exc:
        p.msync(a, 6 * PAGE, MS_SYNC)
    assert exc.value.errno == 12                   # ENOMEM
    # 2.6.x fsyncs the whole file; 6.18 only the mapped ranges around the hole
    assert m.meminfo()["Dirty"] == (2 * KB if kernel == "6.18" else 0)


def test_msync_invalidate_locked_ebusy(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 2 * PAGE)
    p.mlock(a, 2 * PAGE)
    with pytest.raises(OSError) as exc:
        p.msync(a, 2 * PAGE, mmsim.MS_INVALIDATE)
    assert exc.value.errno == 16                   # EBUSY
    p.munlock(a, 2 * PAGE)
    p.msync(a, 2 * PAGE, mmsim.MS_INVALIDATE)


def test_background_writeback_write_protects_too(m, p, sparse_map):
    """kupdate writes back pages older than dirty_expire_centisecs (30 s);
    clear_page_dirty_for_io write-protects them, so the next store faults."""
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.touch(a, 8 * PAGE, write=True)
    m.sleep(10)
    assert m.meminfo()["Dirty"] == 8 * KB            # not expired yet
    m.sleep(30)
    assert m.meminfo()["Dirty"] == 0
    flt = p.getrusage().ru_minflt
    p.touch(a, 8 * PAGE, write=True)
    assert p.getrusage().ru_minflt == flt + 8
    assert m.meminfo()["Dirty"] == 8 * KB
