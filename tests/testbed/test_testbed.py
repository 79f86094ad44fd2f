"""mmsim.testbed: one machine set-up, one way to map each kind, flags and paths counted."""

import errno

import pytest

import mmsim
from mmsim import GiB, MiB, PAGE_SIZE, RLIM_INFINITY
from mmsim.testbed import (KINDS, LOCK_OK, UNLIMITED, allocated_uncached, flag_counts,
                           map_file, map_kind, new_machine, ordinal, sparse_file, trace_paths)


def test_new_machine_boots_the_machine_it_is_asked_for(kernel):
    m, p = new_machine(kernel, "ext2", ram=2 * GiB, disk=64 * MiB, profile="modern")
    assert m.kernel.version == kernel and m.meminfo()["MemTotal"] == 2 * GiB // 1024
    st = m.statfs("/data")
    assert st.f_blocks * st.f_bsize == 64 * MiB and st.f_bfree == st.f_blocks
    assert p.getrlimit(mmsim.RLIMIT_MEMLOCK) == (m.kernel.default_memlock,) * 2
    _, q = new_machine(kernel, memlock=UNLIMITED)
    assert q.getrlimit(mmsim.RLIMIT_MEMLOCK) == (RLIM_INFINITY,) * 2
    m, p = new_machine(kernel, caps=LOCK_OK)
    fd, a = map_file(p, "/data/f", 4 * MiB)
    p.mlock(a, 4 * MiB)                     # beyond the default limit: CAP_IPC_LOCK lets it through
    assert p.status()["VmLck"] == 4096


def test_map_kind_maps_each_kind_with_its_flags():
    m, p = new_machine("6.18")
    for i, kind in enumerate(KINDS):
        a, fd = map_kind(p, kind, 8, path=f"/data/{i}")
        s = p.smaps(a)
        assert s["Size"] == 32 and s["Rss"] == 0
        assert ("sh" in s["VmFlags"].split()) == kind.startswith("shared")
        assert (fd is None) == kind.endswith("anonymous")
        if fd is not None:
            assert m.stat(f"/data/{i}").st_size == 8 * PAGE_SIZE
    with pytest.raises(OSError) as e:
        map_kind(p, "shared sideways", 8)
    assert e.value.errno == errno.EINVAL


def test_sparse_file_has_a_size_and_no_blocks_allocated_uncached_has_every_block():
    m, p = new_machine("2.6.37")
    sparse_file(p, "/data/s", MiB)
    assert (m.stat("/data/s").st_size, m.stat("/data/s").st_blocks) == (MiB, 0)
    fd = allocated_uncached(m, p, "/data/full", MiB)
    assert m.stat("/data/full").st_blocks == MiB // 512
    assert m.meminfo()["Cached"] == 0
    a = p.mmap(0, MiB, mmsim.PROT_READ, mmsim.MAP_SHARED, fd, 0)
    before = p.getrusage().ru_majflt
    p.touch(a, MiB)
    assert p.getrusage().ru_majflt - before == MiB // (128 * 1024)    # read from the disk


def test_flag_counts_count_writable_clean_pages():
    m, p = new_machine("2.6.37")
    a, _ = map_kind(p, "shared anonymous", 16)
    p.touch(a, 16 * PAGE_SIZE)
    n = flag_counts(p.pageflags(a, 16 * PAGE_SIZE))
    assert (n["present"], n["writable"], n["dirty"], n["writable+clean"]) == (16, 16, 0, 16)
    a, _ = map_kind(p, "shared file", 16)
    p.touch(a, 16 * PAGE_SIZE)
    p.touch(a, 4 * PAGE_SIZE, write=True)
    n = flag_counts(p.pageflags(a, 16 * PAGE_SIZE))
    assert (n["writable"], n["dirty"], n["writable+clean"]) == (4, 4, 0)


def test_trace_paths_cut_paths_at_or_after_a_function():
    m, p = new_machine("2.6.37")
    a, _ = map_kind(p, "private anonymous", 4)
    p.touch(a, 4 * PAGE_SIZE)
    p.touch(a, 2 * PAGE_SIZE, write=True)
    events = m.trace.query(op="touch")
    assert trace_paths(events, after="handle_mm_fault") == {
        ("do_anonymous_page", "my_zero_pfn"): 4, ("do_wp_page", "alloc_zeroed_user_highpage_movable"): 2}
    cut = trace_paths(events, at="do_wp_page")
    assert cut[("do_wp_page", "alloc_zeroed_user_highpage_movable")] == 2
    assert cut[("do_page_fault", "handle_mm_fault", "do_anonymous_page", "my_zero_pfn")] == 4
    assert sum(trace_paths(events).values()) == 6


def test_ordinal():
    assert [ordinal(n) for n in (1, 2, 3, 4, 8, 11, 12, 13, 21, 22, 23, 101, 112)] == [
        "1st", "2nd", "3rd", "4th", "8th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st",
        "112th"]
