"""mmsim.testbed.enospc: chapter 06's three ends of a store into a hole on a full filesystem."""

import errno

import pytest

from mmsim import MiB, PAGE_SIZE
from mmsim.testbed import enospc
from mmsim.testbed.enospc import (FS_SIZE, MOUNTS, OUTCOMES, dirty_room, enospc_grid, enospc_run,
                                  kernel_grid, pwrite_run, stores_before_sigbus)

FREE = FS_SIZE // PAGE_SIZE          # pages the empty filesystem can hold
PAGES = 2 * FREE                     # pages of the sparse file
MKWRITE = {"ext4": "ext4_page_mkwrite", "btrfs": "btrfs_page_mkwrite", "gfs2": "gfs2_page_mkwrite"}
NO_MKWRITE = (("ext2", ""), ("ext3", ""), ("ext2", "ext2_driver"), ("xfs", "no_page_mkwrite"))


def accounted(r):
    """Every stored page is on disk, in RAM only, or zeros: nothing else."""
    return r.on_disk + r.ram_only + r.zeros == r.stored


def test_the_dirty_room_the_chapter_quotes():
    """global_dirty_limits over MemFree + Cached - Mlocked: 10%, 15% and 20% of it."""
    assert dirty_room(128 * MiB) == {"dirtyable": 131072, "background": 13107,
                                     "freerun": 19660, "limit": 26214}
    assert dirty_room(128 * MiB, 32 * MiB)["freerun"] == 14745      # 14.4 MiB < the 16 MiB excess
    assert dirty_room(64 * MiB)["freerun"] == 9830


@pytest.mark.parametrize("kernel", ["2.6.37", "2.6.38"])
@pytest.mark.parametrize("fs,options", NO_MKWRITE)
def test_without_page_mkwrite_the_stores_hang_when_the_excess_outgrows_the_throttle(kernel, fs, options):
    r = enospc_run(kernel, fs, options, ram=64 * MiB)
    assert (r.outcome, r.how, r.msync) == ("hung", "balance_dirty_pages", "-")
    assert r.hung.function == "balance_dirty_pages" and r.hung.after >= enospc.HUNG_TIMEOUT
    assert r.hung.state["free_blocks"]["/data"] == 0 and r.free_blocks == 0
    assert FREE < r.stored < PAGES
    # the pages written before the disk was full are on disk; the rest are not
    assert r.on_disk == FREE and r.ram_only > 0 and accounted(r)
    assert r.read_back == "partly" and r.own_writeback > 0          # 2.6.x: the task writes back


@pytest.mark.parametrize("fs,options", NO_MKWRITE)
def test_2637_mlock_itself_hangs_and_stores_nothing(fs, options):
    for ram in (64 * MiB, 128 * MiB):
        r = enospc_run("2.6.37", fs, options, mlock=True, ram=ram)
        assert (r.outcome, r.stored, r.read_back) == ("hung", 0, "-")
        assert r.hung.function == "balance_dirty_pages" and r.dirty_kb > 0


@pytest.mark.parametrize("kernel", ["2.6.37", "2.6.38", "6.18"])
@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs", "gfs2"])
@pytest.mark.parametrize("mlock", [False, True])
def test_with_page_mkwrite_the_first_store_past_the_free_space_gets_sigbus(kernel, fs, mlock):
    r = enospc_run(kernel, fs, mlock=mlock)
    if mlock and kernel == "2.6.37":         # its mlock write-faults: get_user_pages -> ENOMEM
        assert (r.outcome, r.word, r.how, r.stored) == ("SIGBUS", "ENOMEM", "mlock: ENOMEM", 0)
        return
    assert (r.outcome, r.word, r.stored, r.msync) == ("SIGBUS", "SIGBUS", FREE, "0")
    name = MKWRITE.get(fs) or ("xfs_vm_page_mkwrite" if kernel != "6.18" else "xfs_filemap_page_mkwrite")
    assert r.how == f"SIGBUS in {name}" and r.signal.function == name
    assert r.signal.pages == FREE
    assert r.on_disk == FREE and r.read_back == "all" and accounted(r)


@pytest.mark.parametrize("fs", ["ext2", "ext3"])
def test_618_mounts_ext2_and_ext3_with_ext4_so_they_get_sigbus(fs):
    r = enospc_run("6.18", fs)
    assert r.how == "SIGBUS in ext4_page_mkwrite" and r.stored == FREE and r.read_back == "all"


@pytest.mark.parametrize("kernel", ["2.6.37", "2.6.38"])
def test_with_dirty_room_above_the_excess_the_stores_return_and_the_data_is_lost(kernel):
    """128 MiB: freerun 19.2 MiB above the 16 MiB that cannot fit. 2.6.x writeback
    stops at the first page it cannot place: msync loses one page a call and the
    rest stay dirty in RAM, with no block."""
    r = enospc_run(kernel, "ext2")
    assert (r.outcome, r.how, r.stored, r.msync) == ("lost", "msync: ENOSPC", PAGES, "ENOSPC")
    assert r.seconds < 1 and r.on_disk == FREE
    assert r.ram_only > r.zeros > 0 and accounted(r)


def test_618_integrity_writeback_fails_every_page_that_cannot_be_placed():
    r = enospc_run("6.18", "ext2", "ext2_driver")
    assert (r.outcome, r.msync, r.stored) == ("lost", "ENOSPC", PAGES)
    assert (r.on_disk, r.ram_only, r.zeros, r.pages_lost) == (FREE, 0, FREE, FREE)
    assert r.own_writeback == 0                                    # IO-less: the task never writes


def test_618_fs_ext2_still_hangs_without_writing_back_itself():
    then, now = enospc_run("2.6.38", "ext2", ram=64 * MiB), enospc_run("6.18", "ext2", "ext2_driver",
                                                                      ram=64 * MiB)
    assert then.outcome == now.outcome == "hung"
    assert then.own_writeback > 0 and now.own_writeback == 0


def test_never_is_a_crawl_that_loses_what_cannot_fit():
    """With patience the stuck stores finish: failed writeback throws a page away for
    each one dirtied, and exactly the pages that cannot fit are not on disk."""
    old = enospc_run("2.6.37", "ext2", "ext2_driver", ram=64 * MiB, hung_timeout=600, sample=0.5)
    new = enospc_run("6.18", "ext2", "ext2_driver", ram=64 * MiB, hung_timeout=600, sample=0.5)
    for r in (old, new):
        assert (r.outcome, r.stored, r.on_disk) == ("lost", PAGES, FREE)
        assert r.ram_only + r.zeros == PAGES - FREE and r.timeline
        assert r.timeline[-1]["free_blocks"]["/data"] == 0
    assert new.seconds < old.seconds < 600


def test_no_page_mkwrite_fails_as_ext2_does_in_every_row():
    grid = enospc_grid()
    for row in grid.rows:
        a, b = grid.runs[row, "ext2\next2_driver"], grid.runs[row, "xfs\nno_page_mkwrite"]
        assert (a.outcome, a.stored, a.on_disk) == (b.outcome, b.stored, b.on_disk)


def test_the_grid_the_chapter_draws():
    grid = enospc_grid()
    assert grid.rows == ["2.6.37", "2.6.37 + mlock", "2.6.38", "2.6.38 + mlock", "6.18",
                         "6.18 + mlock"]
    assert grid.columns == ["ext2", "ext3", "ext4", "xfs", "btrfs", "gfs2", "ext2\next2_driver",
                            "xfs\nno_page_mkwrite"]
    outcomes = [r.outcome for r in grid.runs.values()]
    assert {k: outcomes.count(k) for k in OUTCOMES} == {"hung": 8, "SIGBUS": 28, "lost": 12, "ok": 0}
    assert all(accounted(r) for r in grid.runs.values())
    # the hangs are the mlock rows of 2.6.x on the filesystems without the hook
    assert {k for k, r in grid.runs.items() if r.outcome == "hung"} == {
        (row, col) for row in ("2.6.37 + mlock", "2.6.38 + mlock")
        for col in ("ext2", "ext3", "ext2\next2_driver", "xfs\nno_page_mkwrite")}


def test_a_file_that_fits_is_ok_everywhere():
    for kernel in ("2.6.37", "6.18"):
        for fs, options in MOUNTS:
            r = enospc_run(kernel, fs, options, file_size=FS_SIZE // 2)
            assert (r.outcome, r.read_back, r.msync) == ("ok", "all", "0")


def test_kernel_grid_is_one_kernel_of_the_grid():
    g = kernel_grid("2.6.38", ram=64 * MiB)
    assert g.rows == ["2.6.38", "2.6.38 + mlock"] and len(g.runs) == 2 * len(MOUNTS)
    assert g.runs["2.6.38", "ext2"].outcome == "hung"       # Michel: "not even mlock related"


def test_write_returns_a_short_count_then_enospc_at_once():
    for kernel, fs, options in (("2.6.37", "ext2", ""), ("2.6.38", "xfs", ""),
                                ("6.18", "ext2", "ext2_driver")):
        w = pwrite_run(kernel, fs, options)
        assert (w["first"], w["second"], w["on_disk"]) == (FS_SIZE, "ENOSPC", FREE)
        assert w["seconds"] < 1
    # pages that already have a block need none: the write gets through the whole filesystem
    assert pwrite_run("2.6.38", "ext4", prewritten=6 * MiB)["first"] == FS_SIZE
    # a copy-on-write filesystem needs new room for those too
    assert pwrite_run("2.6.38", "btrfs", prewritten=6 * MiB)["first"] == FS_SIZE - 6 * MiB


def test_stores_before_sigbus_are_the_free_blocks():
    assert stores_before_sigbus("2.6.38", "ext4", 24 * MiB, 5 * MiB) == 19 * MiB // PAGE_SIZE
    assert stores_before_sigbus("6.18", "ext2", FS_SIZE, MiB) == 15 * MiB // PAGE_SIZE


def test_the_same_arguments_give_the_same_numbers_from_scratch():
    first = enospc_run("2.6.38", "ext2", mlock=True)
    enospc._run.cache_clear()
    again = enospc_run("2.6.38", "ext2", mlock=True)
    assert again is not first
    fields = ("outcome", "how", "seconds", "stored", "on_disk", "ram_only", "zeros", "dirty_kb",
              "pages_lost", "own_writeback")
    assert [getattr(again, f) for f in fields] == [getattr(first, f) for f in fields]


def test_bad_input_is_refused_with_the_kernel_s_errno():
    with pytest.raises(OSError) as e:
        enospc_run("2.6.38", file_size=PAGE_SIZE + 1)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        enospc_run("2.6.38", "vfat")
    assert e.value.errno == errno.ENODEV
    with pytest.raises(OSError) as e:
        enospc_run("2.6.99")
    assert e.value.errno == errno.EINVAL
