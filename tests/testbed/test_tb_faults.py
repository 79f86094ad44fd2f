"""mmsim.testbed.faults: chapter 01's experiments give the counts the chapter teaches."""

import errno

import pytest

from mmsim import PAGE_SIZE
from mmsim.testbed import map_kind, new_machine
from mmsim.testbed.faults import (ACCESSES, fault_lab, faults_read_then_store_every,
                                  major_faults_reading_twice, record_steps, rss_after_stores,
                                  store_every, write_notify_story)


def test_write_notify_story_faults_again_after_writeback(kernel):
    story = write_notify_story(kernel, "ext4")
    assert [s["step"] for s in story] == ["read every page", "store to every 4th", "fsync",
                                          "store again"]
    assert [s["faults"] for s in story] == [16, 4, 0, 4]
    assert [s["dirty"] for s in story] == [0, 4, 0, 4]
    assert [s["writable+clean"] for s in story] == [0, 0, 0, 0]
    assert all(s["major"] == 0 and s["rss_kb"] == 64 for s in story)
    assert sum(story[1]["paths"].values()) == 4 and story[2]["paths"] == {}


def test_shmem_is_not_write_notified():
    story = write_notify_story("2.6.37", kind="shared anonymous")
    assert len(story) == 2                             # no file, no fsync
    assert [s["faults"] for s in story] == [16, 0]
    assert [s["writable+clean"] for s in story] == [16, 12]


def test_record_steps_records_each_step_on_its_own():
    m, p = new_machine("2.6.37")
    a, _ = map_kind(p, "private file", 8)
    steps = record_steps(m, p, a, 8, [("read", lambda: p.touch(a, 8 * PAGE_SIZE)),
                                      ("store 2", lambda: store_every(p, a, 8, 4)),
                                      ("nothing", lambda: None)])
    assert [(s["faults"], s["anon"], s["rss_kb"]) for s in steps] == [(8, 0, 32), (2, 2, 32), (0, 2, 32)]
    assert steps[2]["functions"] == {} and steps[1]["functions"]["cow_user_page"] == 2


@pytest.mark.parametrize("every", [1, 3, 5, 8])
def test_faults_of_a_read_pass_then_stores(kernel, every):
    for fs in ("ext2", "xfs"):
        assert faults_read_then_store_every(kernel, fs, 32, every) == 32 + len(range(0, 32, every))


def test_rss_counts_the_pages_the_ptes_point_to():
    assert rss_after_stores("2.6.37", "private anonymous", 32, 5) == 5 * 4
    assert rss_after_stores("2.6.38", "shared anonymous", 32, 5) == 32 * 4
    assert rss_after_stores("6.18", "private file", 32, 5) == 32 * 4


def test_major_faults_one_per_128_kib_read_from_disk():
    assert major_faults_reading_twice("ext4", 1920) == 1920 // 128
    assert major_faults_reading_twice("ext2", 256) == 2


def test_fault_lab_runs_every_access_pattern():
    for access in ACCESSES:
        lab = fault_lab("2.6.37", "ext4", "shared file", access, 16 * PAGE_SIZE)
        assert lab["flags"]["present"].sum() == 16 and access in lab["title"]
    lab = fault_lab("2.6.37", "ext4", "shared file", "read, then write", 64 * PAGE_SIZE)
    assert (lab["minflt"], lab["counts"]["dirty"], lab["counts"]["writable+clean"]) == (128, 64, 0)
    again = fault_lab("2.6.37", "ext4", "shared file", "read, write, fsync, write", 16 * PAGE_SIZE)
    assert again["minflt"] == 48 and again["functions"]["clear_page_dirty_for_io"] == 16
    with pytest.raises(OSError) as e:
        fault_lab("2.6.37", "ext4", "shared file", "poke", PAGE_SIZE)
    assert e.value.errno == errno.EINVAL
