"""mmsim.testbed.writeback: chapter 04's experiments, against the limits they teach."""

import pytest

from mmsim import MiB
from mmsim.testbed.writeback import (dirty_limit_run, dirtyable_kb, first_stores,
                                     kupdate_clean_time, peak_kb, refault_run,
                                     refaults_after_sleep, shared_mlock_both)


def test_the_helpers_over_meminfo_and_timelines():
    assert dirtyable_kb({"MemFree": 100, "Cached": 50, "Mlocked": 30}) == 120
    assert peak_kb([{"dirty_kb": 5, "writeback_kb": 1}, {"dirty_kb": 3, "writeback_kb": 4}]) == 7


def test_the_2637_writer_is_held_between_freerun_and_its_own_limit():
    """2.6.37 balance_dirty_pages: free up to (10% + 20%) / 2 of dirtyable memory;
    above it the task is held at its bdi_thresh, at most 7/8 of the 20% limit
    (task_dirty_limit), lower while the fresh disk's share of completions ramps up."""
    free = dirty_limit_run("2.6.37", 0)
    locked = dirty_limit_run("2.6.37", 256 * MiB)
    for r in (free, locked):
        dirtyable = dirtyable_kb(r["before"])
        assert 0.15 * dirtyable <= r["peak_kb"] <= 0.2 * 7 / 8 * dirtyable + 4 * 1024
        assert r["timeline"] and r["seconds"] > 0 and r["own"] > 0
    assert locked["peak_kb"] < free["peak_kb"]


def test_kupdate_writes_dirty_data_30_to_35_seconds_later():
    t = kupdate_clean_time(8, 2.3)
    assert 32.3 <= t <= 35.3
    assert kupdate_clean_time(1, 15.3) > 45.3


def test_writeback_write_protects_the_pages_again():
    new, old = refault_run("2.6.38"), refault_run("2.6.37")
    assert [f for _, f, _, _ in new["passes"]] == [4096, 0, 4096, 4096]
    assert [f for _, f, _, _ in old["passes"]] == [0, 0, 4096, 4096]
    assert old["dirty_after_mlock"] == 16384 and new["dirty_after_mlock"] == 0
    assert refaults_after_sleep("2.6.38", "ext2", 4, 10) == 0
    assert refaults_after_sleep("2.6.38", "ext2", 4, 40) == 1024


def test_first_stores_call_page_mkwrite_where_the_filesystem_has_one():
    ext4, ext2 = first_stores("2.6.38", "ext4"), first_stores("2.6.38", "ext2")
    assert ext4["st_blocks"] == 16 * MiB // 512 and ext2["st_blocks"] == 0
    assert "ext4_page_mkwrite" in ext4["path"] and ext4["faults"] == ext4["pages"] == 4096
    assert ext4["stores_s"] > ext2["stores_s"]
    old = first_stores("2.6.37", "ext2", size=512 * MiB)
    assert old["own"] > 0 and old["mlock_s"] > first_stores("2.6.38", "ext2", size=512 * MiB)["mlock_s"]


def test_shared_mlock_both_is_before_then_after_the_patch():
    old, new = shared_mlock_both(128 * MiB)
    assert (old.kernel, new.kernel) == ("2.6.37", "2.6.38")
    assert old.seconds > 2 * new.seconds and new.disk["write_bytes"] == 0
    assert old.size == 128 * MiB


def test_shared_mlock_both_runs_once_per_size_and_gives_copies(monkeypatch):
    from mmsim import MiB
    from mmsim.testbed import writeback
    first = writeback.shared_mlock_both(16 * MiB)
    first[0].functions["tampered"] = 1
    monkeypatch.setattr(writeback, "shared_mlock", lambda **kw: pytest.fail("ran again"))
    again = writeback.shared_mlock_both(16 * MiB)
    assert [r.kernel for r in again] == ["2.6.37", "2.6.38"]
    assert "tampered" not in again[0].functions and again[0].seconds == first[0].seconds
