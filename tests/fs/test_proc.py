"""What /proc shows: /proc/PID/smaps (fs/proc/task_mmu.c show_smap), the Vm*
lines of /proc/PID/status (task_mem) and /proc/meminfo (fs/proc/meminfo.c).

References: kernel-lookups.md section 5 (fields per version, Shared_* by
page_mapcount >= 2, the zero page not in Rss, VmFlags mnemonics).
"""

import os

import pytest

import mmsim
from mmsim import (MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MLOCK_ONFAULT, MS_SYNC,
                   PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE, RLIM_INFINITY)

PAGE = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
KB = PAGE // 1024
BASE_FIELDS = {"Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
               "Private_Dirty", "Anonymous", "Swap"}


# -- smaps: fields per version ------------------------------------------------------------

def test_smaps_fields_per_version(m, p, kernel):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    s = p.smaps(a)
    assert BASE_FIELDS <= set(s)
    assert s["start"] == a and s["end"] == a + 2 * PAGE
    if kernel == "2.6.37":
        assert "Locked" not in s and "VmFlags" not in s
    elif kernel == "2.6.38":
        assert "Locked" in s and "VmFlags" not in s
    else:
        assert "Locked" in s and "VmFlags" in s


def test_smaps_list_in_address_order(m, p):
    addrs = [p.mmap(0, PAGE, prot, ANON) for prot in (PROT_READ, RW, PROT_NONE)]
    s = p.smaps()
    assert [v["start"] for v in s] == sorted(addrs)
    assert all(x["end"] <= y["start"] for x, y in zip(s, s[1:]))


def test_smaps_addr_lookup(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert p.smaps(a + 3 * PAGE + 17)["start"] == a
    with pytest.raises(OSError):
        p.smaps(a + 4 * PAGE)


def test_vmflags_mnemonics(sparse_map):
    m = mmsim.Machine(kernel="6.18")
    m.mkfs("/data", fs="ext4", size=64 * PAGE)
    p = m.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
    a = p.mmap(0, PAGE, RW, ANON)
    assert p.smaps(a)["VmFlags"].split()[:2] == ["rd", "wr"]
    assert "sh" not in p.smaps(a)["VmFlags"].split()
    fd, b = sparse_map(p, "/data/f", PAGE)
    flags = p.smaps(b)["VmFlags"].split()
    assert {"rd", "wr", "sh", "mr", "mw", "me", "ms"} <= set(flags)
    p.mlock(b, PAGE)
    assert "lo" in p.smaps(b)["VmFlags"].split()
    # a shared mapping of an O_RDONLY fd: "ms" but not "sh" (do_mmap clears VM_SHARED)
    ro = p.open("/data/f", os.O_RDONLY)
    c = p.mmap(0, PAGE, PROT_READ, MAP_SHARED, ro, 0)
    flags = p.smaps(c)["VmFlags"].split()
    assert "ms" in flags and "sh" not in flags and "mw" not in flags
    d = p.mmap(0, PAGE, RW, ANON)
    p.mlock2(d, PAGE, MLOCK_ONFAULT)
    assert "lf" in p.smaps(d)["VmFlags"].split()


# -- smaps: Shared vs Private, Pss, Anonymous ----------------------------------------------------

def test_shared_file_page_mapped_once_is_private(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    p.touch(a, 4 * PAGE)
    s = p.smaps(a)
    assert s["Private_Clean"] == 4 * KB
    assert s["Shared_Clean"] == s["Shared_Dirty"] == 0
    assert s["Pss"] == 4 * KB


def test_file_page_mapped_twice_is_shared(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    b = p.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    p.touch(a, 4 * PAGE)
    p.touch(b, 2 * PAGE)
    sa, sb = p.smaps(a), p.smaps(b)
    assert sa["Shared_Clean"] == 2 * KB and sa["Private_Clean"] == 2 * KB
    assert sa["Pss"] == 2 * KB // 2 + 2 * KB
    assert sb["Shared_Clean"] == 2 * KB and sb["Private_Clean"] == 0
    assert sb["Pss"] == KB
    p.write(a, b"x")
    assert p.smaps(a)["Shared_Dirty"] == KB
    assert p.smaps(b)["Shared_Dirty"] == KB      # PageDirty counts for every mapper


def test_pss_divides_by_mapcount_across_processes(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 3 * PAGE)
    procs = [p] + [m.spawn() for _ in range(2)]
    addrs = [a]
    for q in procs[1:]:
        qfd = q.open("/data/f", os.O_RDWR)
        addrs.append(q.mmap(0, 3 * PAGE, PROT_READ, MAP_SHARED, qfd, 0))
    for q, x in zip(procs, addrs):
        q.touch(x, 3 * PAGE)
    for q, x in zip(procs, addrs):
        s = q.smaps(x)
        assert s["Rss"] == 3 * KB
        assert s["Shared_Clean"] == 3 * KB
        # show_smap sums (PAGE_SIZE << PSS_SHIFT) / mapcount per page, then
        # prints it >> (10 + PSS_SHIFT): 3 * 4096/3 bytes rounds down to 3 kB
        assert s["Pss"] == (3 * ((PAGE << 12) // 3)) >> 22 == 3
    procs[2].kill()
    s = p.smaps(a)
    assert s["Shared_Clean"] == 3 * KB
    assert s["Pss"] == 6                       # 3 pages / 2 mappers
    procs[1].kill()
    assert p.smaps(a)["Private_Clean"] == 3 * KB


def test_anonymous_counts_cow_pages(m, p, sparse_map):
    fd, s = sparse_map(p, "/data/f", 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, RW, MAP_PRIVATE, fd, 0)
    p.touch(a, 4 * PAGE)
    assert p.smaps(a)["Anonymous"] == 0
    p.touch(a, 2 * PAGE, write=True)
    v = p.smaps(a)
    assert v["Anonymous"] == 2 * KB
    assert v["Rss"] == 4 * KB
    assert v["Private_Dirty"] == 2 * KB and v["Private_Clean"] == 2 * KB


def test_zero_page_not_in_rss(m, p):
    a = p.mmap(0, 16 * PAGE, PROT_READ, ANON)
    p.touch(a, 16 * PAGE)
    s = p.smaps(a)
    assert s["Rss"] == s["Pss"] == s["Private_Clean"] == 0
    assert p.status()["VmRSS"] == 0


def test_locked_field_is_pss_of_locked_vmas(m, p, kernel):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    b = p.mmap(0, 4 * PAGE, PROT_READ, ANON)
    p.touch(a, 4 * PAGE, write=True)
    p.touch(b, 4 * PAGE, write=False)
    p.mlock(a, 4 * PAGE)
    if kernel == "2.6.37":
        assert "Locked" not in p.smaps(a)
        return
    assert p.smaps(a)["Locked"] == 4 * KB
    assert p.smaps(b)["Locked"] == 0
    child = p.fork()
    assert p.smaps(a)["Locked"] == 2 * KB       # Pss: the pages are shared now
    assert child.smaps(a)["Locked"] == 0


# -- status -------------------------------------------------------------------------------------

def test_status_vm_lines(m, p, sparse_map):
    assert p.status()["VmSize"] == p.status()["VmRSS"] == p.status()["VmLck"] == 0
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    fd, b = sparse_map(p, "/data/f", 4 * PAGE)
    st = p.status()
    assert st["VmSize"] == 12 * KB and st["VmRSS"] == 0
    p.touch(a, 3 * PAGE, write=True)
    p.touch(b, 4 * PAGE)
    assert p.status()["VmRSS"] == 7 * KB
    p.mlock(a, 8 * PAGE)
    st = p.status()
    assert st["VmLck"] == 8 * KB and st["VmRSS"] == 12 * KB
    p.munmap(a, 4 * PAGE)
    st = p.status()
    assert st["VmSize"] == 8 * KB and st["VmLck"] == 4 * KB and st["VmRSS"] == 8 * KB


def test_status_rss_split_on_6_18(m, p, sparse_map, kernel):
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    fd, b = sparse_map(p, "/data/f", 3 * PAGE)
    c = p.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.touch(a, 2 * PAGE, write=True)
    p.touch(b, 3 * PAGE)
    p.touch(c, 4 * PAGE)
    st = p.status()
    assert st["VmRSS"] == 9 * KB
    if kernel == "6.18":
        assert (st["RssAnon"], st["RssFile"], st["RssShmem"]) == (2 * KB, 3 * KB, 4 * KB)


# -- meminfo ------------------------------------------------------------------------------------

def test_meminfo_dirty_and_cached(m, p, sparse_map):
    mi0 = m.meminfo()
    fd, a = sparse_map(p, "/data/f", 8 * PAGE)
    p.touch(a, 8 * PAGE)
    mi = m.meminfo()
    assert mi["Cached"] == mi0["Cached"] + 8 * KB
    assert mi["Dirty"] == mi0["Dirty"]
    assert mi["MemFree"] == mi0["MemFree"] - 8 * KB
    p.touch(a, 5 * PAGE, write=True)
    assert m.meminfo()["Dirty"] == 5 * KB
    p.msync(a, 8 * PAGE, MS_SYNC)
    assert m.meminfo()["Dirty"] == 0
    assert m.meminfo()["Cached"] == 8 * KB
    m.drop_caches()                                # mapped pages stay
    assert m.meminfo()["Cached"] == 8 * KB
    p.munmap(a, 8 * PAGE)
    m.drop_caches()
    assert m.meminfo()["Cached"] == 0
    assert m.meminfo()["MemFree"] == mi0["MemFree"]


def test_meminfo_dirty_pages_survive_drop_caches(m, p, sparse_map):
    fd, a = sparse_map(p, "/data/f", 4 * PAGE)
    p.touch(a, 4 * PAGE, write=True)
    p.munmap(a, 4 * PAGE)
    m.drop_caches()
    assert m.meminfo()["Dirty"] == 4 * KB
    assert m.meminfo()["Cached"] == 4 * KB


def test_meminfo_anonpages(m, p):
    a0 = m.meminfo()["AnonPages"]
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.touch(a, 8 * PAGE)
    assert m.meminfo()["AnonPages"] == a0
    p.touch(a, 6 * PAGE, write=True)
    assert m.meminfo()["AnonPages"] == a0 + 6 * KB
    p.munmap(a, 3 * PAGE)
    assert m.meminfo()["AnonPages"] == a0 + 3 * KB
    p.kill()
    assert m.meminfo()["AnonPages"] == a0


def test_meminfo_mlocked_and_unevictable(m, p, sparse_map):
    fd, f = sparse_map(p, "/data/f", 4 * PAGE)
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    p.mlock(f, 4 * PAGE)
    mi = m.meminfo()
    assert mi["Mlocked"] == 8 * KB and mi["Unevictable"] == 8 * KB
    # a file page locked by two mappings counts once
    q = m.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
    qfd = q.open("/data/f", os.O_RDWR)
    g = q.mmap(0, 4 * PAGE, PROT_READ, MAP_SHARED, qfd, 0)
    q.mlock(g, 4 * PAGE)
    assert m.meminfo()["Mlocked"] == 8 * KB
    p.munlock(f, 4 * PAGE)
    assert m.meminfo()["Mlocked"] == 8 * KB      # q still holds them
    q.munlock(g, 4 * PAGE)
    assert m.meminfo()["Mlocked"] == 4 * KB
    p.munmap(a, 4 * PAGE)
    assert m.meminfo()["Mlocked"] == 0


def test_meminfo_mlocked_follows_munmap_and_kill(m, p):
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.mlock(a, 4 * PAGE)
    p.munmap(a + PAGE, PAGE)
    assert m.meminfo()["Mlocked"] == 3 * KB
    p.kill()
    assert m.meminfo()["Mlocked"] == 0


def test_meminfo_shmem_counted_in_cached(m, p):
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.touch(a, 4 * PAGE, write=True)
    mi = m.meminfo()
    assert mi["Shmem"] == 4 * KB and mi["Cached"] == 4 * KB
    assert mi["Dirty"] == 0 and mi["AnonPages"] == 0
    s = p.smaps(a)                                 # shmem pages are not PageAnon
    assert s["Rss"] == 4 * KB and s["Anonymous"] == 0


def test_meminfo_shmem_freed_after_last_unmap(m, p):
    """The shmem file behind MAP_SHARED|MAP_ANONYMOUS (shmem_zero_setup) goes
    with its last mapping: last fput -> shmem_evict_inode frees the pages."""
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.touch(a, 4 * PAGE, write=True)
    free = m.meminfo()["MemFree"]
    p.munmap(a, 4 * PAGE)
    mi = m.meminfo()
    assert mi["Shmem"] == 0 and mi["Cached"] == 0
    assert mi["MemFree"] == free + 4 * KB


def test_meminfo_shmem_shared_with_child_freed_with_the_last_mapper(m, p):
    a = p.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.touch(a, 4 * PAGE, write=True)
    child = p.fork()
    p.munmap(a, 4 * PAGE)
    assert m.meminfo()["Shmem"] == 4 * KB
    assert child.read(a, 1) == b"\x5a"
    child.kill()
    assert m.meminfo()["Shmem"] == 0


def test_pageflags_is_public_and_matches_the_mlock(kernel):
    import os
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs="ext4", size=64 * mmsim.MiB)
    p = m.spawn(memlock=(mmsim.RLIM_INFINITY,) * 2)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 8 * 4096)
    a = p.mmap(0, 8 * 4096, mmsim.PROT_READ | mmsim.PROT_WRITE, mmsim.MAP_SHARED, fd, 0)
    p.mlock(a, 8 * 4096)
    f = p.pageflags(a, 8 * 4096)
    assert f["present"].all() and f["mlocked"].all() and f["unevictable"].all()
    assert f["dirty"].all() == (kernel == "2.6.37")


def test_pageflags_name_the_kernels_bits(m, p, kernel):
    """pagemap's PM_PRESENT covers the zero page; KPF_DIRTY is PG_dirty, which
    neither a fresh anonymous page nor a store through a writable PTE sets;
    PM_MMAP_EXCLUSIVE is lost when a fork shares the page."""
    z = p.mmap(0, 4 * PAGE, RW, ANON)
    p.touch(z, 4 * PAGE)
    f = p.pageflags(z, 4 * PAGE)
    assert f["present"].all() and f["zero"].all()
    assert not (f["anon"] | f["file"] | f["exclusive"] | f["uptodate"]).any()
    p.touch(z, 4 * PAGE, write=True)
    f = p.pageflags(z, 4 * PAGE)
    assert (f["anon"] & f["exclusive"] & f["uptodate"] & f["pte_dirty"]).all()
    assert not (f["dirty"] | f["zero"]).any()
    child = p.fork()
    assert not p.pageflags(z, 4 * PAGE)["exclusive"].any()
    child.kill()
    s = p.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.touch(s, 4 * PAGE)                       # shmem: mapped writable by the read fault
    p.touch(s, 4 * PAGE, write=True)
    f = p.pageflags(s, 4 * PAGE)
    assert (f["file"] & f["writable"] & f["pte_dirty"]).all() and not f["dirty"].any()


# -- per-process timeline samples (fs/proc.py task_rss) ------------------------------------

def test_timeline_samples_each_live_process_when_asked(kernel):
    m = mmsim.Machine(kernel=kernel, ram=256 * 1024 * 1024, profile="2010")
    p = m.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
    q = m.spawn()
    a = p.mmap(0, 16 * PAGE, RW, ANON)
    p.touch(a, 16 * PAGE, write=True)
    p.mlock(a, 8 * PAGE)
    b = q.mmap(0, 4 * PAGE, PROT_READ, ANON)
    q.touch(b, 4 * PAGE)                              # the zero page: not resident
    m.record_timeline(0.5, procs=True)
    m.sleep(1.0)
    q.kill()
    m.sleep(0.5)
    first, last = m.timeline[0], m.timeline[-1]
    assert first["procs"][p.pid] == {"rss_kb": 16 * KB, "anon_kb": 16 * KB,
                                     "locked_kb": 8 * KB, "majflt": 0}
    assert first["procs"][q.pid]["rss_kb"] == 0
    assert set(last["procs"]) == {p.pid}              # a killed process is no longer sampled
    info = m.meminfo()
    assert (last["free_kb"], last["cached_kb"], last["anon_kb"]) == (
        info["MemFree"], info["Cached"], info["AnonPages"])
    sm = p.smaps(a)
    if kernel != "2.6.37":
        assert sum(v.get("Locked", 0) for v in p.smaps()) == last["procs"][p.pid]["locked_kb"]
    assert p.status()["VmRSS"] == last["procs"][p.pid]["rss_kb"] and sm["Rss"] == 8 * KB


def test_timeline_has_no_process_samples_unless_asked():
    m = mmsim.Machine()
    m.spawn()
    m.record_timeline(1.0)
    assert "procs" not in m.timeline[0] and "free_kb" in m.timeline[0]
