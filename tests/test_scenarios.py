"""The thread's experiments reproduced with the thread's numbers (issue #3, "Done when").

Profile "2010" unless said; the full-scale memtoy session is 5,242,880 pages.
"""

import errno

import pytest

from mmsim import GiB, MiB, scenarios


@pytest.fixture(scope="module")
def hole20g():
    """Michel's session, computed once per (kernel, fs, action)."""
    cache = {}

    def run(kernel, fs, action):
        key = (kernel, fs, action)
        if key not in cache:
            cache[key] = scenarios.memtoy_hole20g(kernel, fs, action)
        return cache[key]
    return run


def test_touch_hole20g_takes_the_thread_s_30_6_seconds(hole20g):
    r = hole20g("2.6.38", "ext2", "lock")
    assert r.pages == 5_242_880
    assert r.touch_seconds == pytest.approx(30.595, rel=0.10)


def test_lock_after_the_patch_is_fast_clean_and_allocates_nothing(hole20g):
    r = hole20g("2.6.38", "ext2", "lock")
    assert r.outcome == "done"
    assert r.seconds == pytest.approx(5.0, rel=0.25)
    assert r.dirty_kb == 0
    assert r.file_blocks_kb == 0
    assert r.disk["write_bytes"] == 0
    assert r.functions["do_wp_page"] == 0


def test_lock_before_the_patch_hangs_with_the_partition_full(hole20g):
    r = hole20g("2.6.37", "ext2", "lock")
    assert r.outcome == "hung"
    assert r.hung.function == "balance_dirty_pages"
    assert r.free_blocks == 0
    assert r.file_blocks_kb * 1024 == pytest.approx(10 * GiB, rel=0.05)
    # stuck over its own limit on the disk: 2.6.37's bdi_thresh, at most 7/8
    # of the global limit for a single heavy writer (task_dirty_limit)
    st = r.hung.state
    assert st["bdi_dirty_pages"] > st["bdi_thresh"]
    assert st["bdi_thresh"] <= st["dirty_thresh"] * 7 // 8 + 1
    # it went through do_wp_page: the write fault dirtied the pages
    assert r.functions["do_wp_page"] >= 2_600_000
    assert r.pages_lost > 0          # failed writeback cleaned pages: data only in RAM


def test_touch_write_hangs_on_ext2_after_the_patch_too(hole20g):
    r = hole20g("2.6.38", "ext2", "touch write")
    assert r.outcome == "hung"
    assert r.hung.function == "balance_dirty_pages"
    assert r.free_blocks == 0


def test_touch_write_on_ext4_ends_in_sigbus_near_10_gib(hole20g):
    r = hole20g("2.6.38", "ext4", "touch write")
    assert r.outcome == "sigbus"
    assert r.signal.function == "ext4_page_mkwrite"
    assert r.pages_done == pytest.approx(10 * GiB // 4096, rel=0.01)


def test_before_the_patch_the_dirtier_writes_back_itself_today_it_only_sleeps(hole20g):
    assert hole20g("2.6.37", "ext2", "lock").functions["writeback_inodes_wb"] > 0
    r = scenarios.memtoy_hole20g("6.18", "ext2", "touch write", options="ext2_driver")
    assert r.outcome == "hung" and r.functions["writeback_inodes_wb"] == 0
    # with the ext4 driver, as today's kernels mount ext2, the store gets SIGBUS instead
    r = scenarios.memtoy_hole20g("6.18", "ext2", "touch write")
    assert r.outcome == "sigbus" and r.signal.function == "ext4_page_mkwrite"


def test_hole20g_timeline_is_sampled(hole20g):
    r = hole20g("2.6.37", "ext2", "lock")
    ts = [s["t"] for s in r.timeline]
    assert ts == sorted(ts) and len(ts) > 10
    assert max(s["dirty_kb"] for s in r.timeline) > 0
    assert r.timeline[-1]["free_blocks"]["/data"] == 0


def test_large_shared_mlock_is_more_than_twice_as_fast_after_the_patch():
    before = scenarios.shared_mlock("2.6.37")
    after = scenarios.shared_mlock("2.6.38")
    assert before.seconds >= 2 * after.seconds
    # why: before, the disk also writes the unchanged pages back and seeks
    # between the reader and the writer; after, it only reads
    assert before.disk["read_bytes"] == after.disk["read_bytes"] == 6 * GiB
    assert before.disk["write_bytes"] > 4 * GiB
    assert after.disk["write_bytes"] == 0
    assert before.disk["read_seeks"] > 100 * max(after.disk["read_seeks"], 1)


def test_shared_mlock_timeline_samples_the_mlock_without_changing_it():
    plain = scenarios.shared_mlock("2.6.37", size=256 * MiB, ram=342 * MiB)
    sampled = scenarios.shared_mlock("2.6.37", size=256 * MiB, ram=342 * MiB, sample=0.5)
    assert (sampled.seconds, sampled.disk, sampled.dirty_kb) == (plain.seconds, plain.disk, plain.dirty_kb)
    assert plain.timeline == [] and sampled.meminfo["Dirty"] == sampled.dirty_kb
    span = sampled.timeline[-1]["t"] - sampled.timeline[0]["t"]
    assert len(sampled.timeline) >= 2 and sampled.seconds - 0.5 <= span <= sampled.seconds
    assert sampled.timeline[-1]["write_bytes"] > sampled.timeline[0]["write_bytes"]


SESSION = "file /data/hole20G shared\nmap hole20G\ntouch hole20G\nlock hole20G"


def test_michels_session_prints_memtoy_and_reports_what_it_left():
    small = dict(size=64 * MiB, partition=32 * MiB, ram=128 * MiB)
    new = scenarios.michels_session("2.6.38", SESSION, **small)
    assert "memtoy>lock hole20G" in new.transcript and "took" in new.transcript
    assert (new.dirty_kb, new.mlocked_kb, new.file_mib, new.free_mib) == (0, 65536, 0, 32)
    old = scenarios.michels_session("2.6.37", SESSION, **small)
    assert "does not return: task stuck in balance_dirty_pages" in old.transcript
    assert old.mlocked_kb == 0 and old.free_mib == 0 and old.file_mib == 32 and old.dirty_kb > 0
    assert old.clock > new.clock


@pytest.mark.parametrize("fs", ["ext2", "ext3", "ext4", "xfs", "btrfs", "gfs2"])
@pytest.mark.parametrize("kernel", ["2.6.37", "2.6.38", "6.18"])
@pytest.mark.parametrize("sync", ["msync", "fsync"])
def test_christoph_s_test_passes_on_every_filesystem(kernel, fs, sync):
    r = scenarios.mlock_dirty_munlock_sync(kernel, fs, sync=sync)
    assert r.passed and r.error == ""
    if kernel == "2.6.37" and fs in ("ext4", "xfs", "btrfs", "gfs2"):
        assert r.blocks_after_mlock_kb == 256    # mlock reserved (gfs2: allocated) every block
    elif kernel != "2.6.37":
        assert r.blocks_after_mlock_kb == 0


def test_christoph_s_test_catches_a_filesystem_without_page_mkwrite():
    r = scenarios.mlock_dirty_munlock_sync("2.6.38", "xfs", options="no_page_mkwrite",
                                           preallocate=True)
    assert not r.passed
    assert all(e.unwritten for e in r.fiemap)


def test_christoph_s_test_refuses_an_unknown_sync():
    with pytest.raises(OSError) as e:
        scenarios.mlock_dirty_munlock_sync("2.6.38", "ext4", sync="sync_file_range")
    assert e.value.errno == errno.EINVAL


def test_xfs_166_five_extents_and_data_survives():
    r = scenarios.xfs_166("2.6.38")
    assert [u for _, _, u in r.extents] == [False, True, False, True, False]
    assert [length for _, length, _ in r.extents][0::2] == [4096, 4096, 4096]
    assert set(r.data_read_back.values()) == {b"X"}


def test_xfs_166_without_page_mkwrite_loses_the_data_silently():
    r = scenarios.xfs_166("2.6.38", page_mkwrite=False)
    assert r.extents == [(0, MiB, True)]
    assert set(r.data_read_back.values()) == {b"\0"}


def test_sparse_layout_after_the_patch_is_fragmented():
    after = scenarios.sparse_layout("random stores", size=16 * MiB, rounds=8)
    before = scenarios.sparse_layout("mlock first", size=16 * MiB, rounds=8)
    prealloc = scenarios.sparse_layout("fallocate first", size=16 * MiB, rounds=8)
    assert after.extents > 10 * before.extents
    assert after.fragments > 10 * prealloc.fragments
    assert after.read_seconds > 5 * before.read_seconds
    assert after.read_seconds > 5 * prealloc.read_seconds


def test_sparse_layout_is_deterministic_and_seeded():
    a = scenarios.sparse_layout("random stores", size=4 * MiB, rounds=4, seed=1)
    b = scenarios.sparse_layout("random stores", size=4 * MiB, rounds=4, seed=1)
    c = scenarios.sparse_layout("random stores", size=4 * MiB, rounds=4, seed=2)
    assert a == b
    assert a.read_seconds != c.read_seconds or a.fragments != c.fragments


def test_unlimited_memlock_lets_one_user_hurt_another():
    pinned = scenarios.memlock_dos(memlock=scenarios.UNLIMITED)
    limited = scenarios.memlock_dos(memlock=(64 * 1024, 64 * 1024))
    assert pinned.locked_bytes == 6 * GiB and pinned.lock_error == ""
    assert limited.locked_bytes == 0 and limited.lock_error == "Cannot allocate memory"
    # the victim's second read is cached normally, from disk when RAM is pinned
    assert limited.second_read_seconds < limited.first_read_seconds / 10
    assert pinned.second_read_seconds > 10 * limited.second_read_seconds
    assert pinned.second_read_majflt > 0 == limited.second_read_majflt


def test_bad_scenario_arguments():
    for call in (lambda: scenarios.sparse_layout("nonsense"),
                 lambda: scenarios.memtoy_hole20g(action="nonsense")):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        scenarios.memtoy_hole20g(kernel="9.9")
    assert e.value.errno == errno.EINVAL
