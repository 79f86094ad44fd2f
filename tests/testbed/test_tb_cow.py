"""mmsim.testbed.cow: chapter 02's experiments, reuse or copy, and what mlock's faults do."""

import errno

import pytest

from mmsim import PAGE_SIZE
from mmsim.testbed.cow import (REGIONS, STORIES, copies_after_fork, cow_lab, do_wp_page_cases,
                               last_function_of_store, mlock_after_read, outcome_counts)

EXPECTED = {"zero page": "new zeroed page", "anon, shared with a child": "copy",
            "anon, the child copied it": "reuse", "private file, read": "copy",
            "shared file, read": "shared: reuse + dirty"}


def test_each_region_takes_its_do_wp_page_case(kernel):
    cases = do_wp_page_cases(kernel)
    assert list(cases) == list(REGIONS)
    for region, paths in cases.items():
        assert all(path[0] == "do_wp_page" for path in paths)
        assert outcome_counts(paths) == {EXPECTED[region]: 8}, region


def test_patches_1_and_2_change_no_path():
    assert do_wp_page_cases("2.6.37") == do_wp_page_cases("2.6.38")


@pytest.mark.parametrize("npages,child,parent", [(16, 3, 17), (32, 20, 5), (8, 8, 8), (64, 1, 64)])
def test_each_original_page_is_copied_once(npages, child, parent):
    parent = min(parent, npages)
    assert copies_after_fork("2.6.37", npages, child, parent) == child + max(0, parent - child)


def test_mlock_copies_private_pages_and_dirties_shared_ones_only_before_the_patch(kernel):
    private = mlock_after_read(kernel, "private file")
    assert (private["copies"], private["dirty_kb"], private["anon_kb"]) == (16, 0, 64)
    shared = mlock_after_read(kernel, "shared file")
    assert shared["copies"] == 0
    assert shared["dirty_kb"] == (64 if kernel == "2.6.37" else 0)
    assert shared["dirtied"] == (16 if kernel == "2.6.37" else 0)
    assert sum(shared["paths"].values()) == 16


def test_cow_lab_copies_while_the_child_maps_the_page_and_reuses_after():
    lab = cow_lab("2.6.37", "ext4", "private anonymous", "written, then fork", "store", 64 * PAGE_SIZE)
    assert lab["outcomes"] == {"copy": 64} and lab["dirty_kb"] == 0
    lab = cow_lab("2.6.37", "ext4", "private anonymous", "written, fork, child stores", "store",
                  64 * PAGE_SIZE)
    assert lab["outcomes"] == {"reuse": 64}
    lab = cow_lab("2.6.37", "ext4", "shared file", "read", "mlock", 16 * PAGE_SIZE)
    assert lab["dirty_kb"] == 64 and lab["flags"]["mlocked"].all()
    with pytest.raises(OSError) as e:
        cow_lab("2.6.37", "ext4", "shared file", "burnt", "store", PAGE_SIZE)
    assert e.value.errno == errno.EINVAL


def test_the_last_function_of_a_store_as_each_kernel_names_it():
    assert last_function_of_store("2.6.37", "ext2", "shared file, read") == "set_page_dirty_balance"
    assert last_function_of_store("2.6.37", "ext4", "shared file, read") == \
        "balance_dirty_pages_ratelimited"
    assert last_function_of_store("6.18", "ext4", "private file, read") == "wp_page_copy"
    assert last_function_of_store("2.6.38", "ext4", "private anonymous, written, then forked") == \
        "cow_user_page"
    assert set(STORIES) >= {"private anonymous, read"}
    with pytest.raises(OSError) as e:
        last_function_of_store("2.6.37", "ext2", "a tall tale")
    assert e.value.errno == errno.EINVAL
