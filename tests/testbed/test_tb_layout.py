"""Chapter 07's experiments: what the chapter says about where a sparse file's blocks land."""

import errno
from collections import Counter

import numpy as np
import pytest

from mmsim import MiB, PAGE_SIZE, scenarios
from mmsim.results import Extent
from mmsim.testbed import LOCK_OK, map_file, new_machine
from mmsim.testbed.layout import (PATTERNS, STRIDE, fill, filefrag_extents, posix_fallocate, runs,
                                  store_bursts, store_order)

NPAGES = 4 * MiB // PAGE_SIZE


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_order_stores_to_every_page_once(pattern):
    order = store_order(pattern, 1024, seed=3)
    assert sorted(order) == list(range(1024))
    first = [int(x) for x in order[:3]]
    assert first == {"sequential": [0, 1, 2], "reverse": [1023, 1022, 1021],
                     "strided": [0, STRIDE, 2 * STRIDE]}.get(pattern, first)
    with pytest.raises(OSError) as e:
        store_order("zigzag", 8)
    assert e.value.errno == errno.EINVAL


def test_bursts_are_a_second_apart_and_cover_the_order():
    order = store_order("random", 100, seed=1)
    bursts = store_bursts(order, 10)
    assert [at for at, _ in bursts] == [float(s) for s in range(10)]
    stored = [pg for _, burst in bursts for lo, hi in burst for pg in range(lo, hi)]
    assert stored == [int(x) for x in order]
    assert store_bursts(range(8), 0) == [(0.0, [(0, 8)])]
    assert runs([3, 4, 5, 9, 1, 2]) == [(3, 6), (9, 10), (1, 3)]


def test_filefrag_counts_physically_adjacent_extents_once():
    written = Extent(0, 0, 4 * PAGE_SIZE, False, False)
    unwritten = Extent(4 * PAGE_SIZE, 4 * PAGE_SIZE, 4 * PAGE_SIZE, True, False)
    elsewhere = Extent(8 * PAGE_SIZE, 100 * PAGE_SIZE, PAGE_SIZE, False, False)
    assert filefrag_extents([]) == 0
    assert filefrag_extents([written, unwritten]) == 1
    assert filefrag_extents([written, unwritten, elsewhere]) == 2


def test_before_the_patch_the_order_of_the_stores_does_not_matter():
    """Hugh: 2.6.37's mlock dirtied every page; writeback allocated them in file order."""
    for pattern in ("random", "strided"):
        r = fill("2.6.37", "ext2", pattern)
        assert r.extents == 1 and r.read_seeks == 1
        assert r.allocated_during() == "writeback"
        # one pass of kupdate, 30 s after mlock dirtied the file
        assert set(np.round(r.layout["allocated_at"])) == {30.0}


def test_after_the_patch_random_stores_over_time_fragment_the_file():
    old, new = fill("2.6.37", "ext2", "random"), fill("2.6.38", "ext2", "random")
    assert new.extents > NPAGES // 2 and new.read_seconds > 100 * old.read_seconds
    # a writeback pass per kupdate expiry, and the fsync: four allocation times
    passes = Counter(np.round(new.layout["allocated_at"]).astype(int))
    assert sorted(passes) == [35, 65, 100, 119] and sum(passes.values()) == NPAGES
    # the read pays one seek per discontiguity: measured on the disk and estimated alike
    assert new.read_seeks == new.layout["seeks"] == new.extents
    assert new.read_seconds == pytest.approx(new.layout["read_seconds"], rel=1e-3)
    assert new.read_bytes == 4 * MiB


def test_the_flusher_order_decides_not_the_store_order():
    """ext2 and delayed allocation choose blocks at writeback, nodelalloc at the store."""
    for fs in ("ext2", "ext4", "xfs"):
        quick = fill("2.6.38", fs, "random", spread=0)
        assert quick.extents == 1 and quick.allocated_during() == "writeback", fs
    slow = fill("2.6.38", "ext4", "random")
    assert slow.extents == fill("2.6.38", "ext2", "random").extents
    at_store = fill("2.6.38", "ext4 nodelalloc", "random", spread=0)
    assert at_store.allocated_during() == "store" and at_store.extents > 0.9 * NPAGES
    assert fill("2.6.38", "ext4 nodelalloc", "sequential").extents == 1


def test_store_orders_after_the_patch():
    """Andrew: worse layout for some code patterns; sequential stores stay in order."""
    extents = {k: fill("2.6.38", "ext2", k).extents for k in PATTERNS}
    assert extents["sequential"] == 1
    assert extents["reverse"] == 4                    # one extent per writeback pass
    assert extents["strided"] == NPAGES // 4          # residues split over the passes
    assert extents["random"] > extents["strided"] > extents["reverse"]


def test_fallocate_first_keeps_one_extent_where_the_filesystem_has_it():
    """Ted: call fallocate() before mlock(); ext2 has no fallocate."""
    for fs in ("ext4", "xfs"):
        r = fill("2.6.38", fs, "random", "fallocate, mlock")
        assert r.extents == 1 and r.errors == ()
        assert r.allocated_by() == {"fallocate": NPAGES, "mlock": 0, "store": 0, "writeback": 0}
        assert not any(unwritten for *_, unwritten in r.fiemap)     # every page written
    ext2 = fill("2.6.38", "ext2", "random", "fallocate, mlock")
    assert ext2.errors == (("fallocate", "EOPNOTSUPP"),)
    assert ext2.extents == fill("2.6.38", "ext2", "random").extents


def test_posix_fallocate_emulates_on_ext2_by_writing_every_block():
    m, p = new_machine("2.6.38", "ext2", disk=16 * MiB, caps=LOCK_OK)
    fd, _ = map_file(p, "/data/f", MiB)
    assert posix_fallocate(p, fd, 0, MiB) == "emulated"
    assert m.stat("/data/f").st_blocks == MiB // 512            # ext2_get_block at write
    assert m.meminfo()["Dirty"] == MiB // 1024                  # and every page dirtied
    assert filefrag_extents(m.fiemap("/data/f")) == 1
    m, p = new_machine("2.6.38", "ext4", disk=16 * MiB, caps=LOCK_OK)
    fd, _ = map_file(p, "/data/f", MiB)
    assert posix_fallocate(p, fd, 0, MiB) == "fallocate" and m.meminfo()["Dirty"] == 0
    r = fill("2.6.38", "ext2", "random", "posix_fallocate, mlock")
    assert r.extents == 1 and r.allocated_during() == "posix_fallocate"
    # the layout of the old mlock, at the old mlock's price: the zeros are written too
    assert r.written_bytes > 1.5 * fill("2.6.38", "ext2", "random").written_bytes


def test_madv_populate_write_is_the_old_mlock_on_purpose():
    r = fill("6.18", "ext4", "random", "MADV_POPULATE_WRITE, mlock")
    assert r.extents == 1 and r.errors == ()
    assert fill("6.18", "ext4", "random").extents > 1
    assert fill("2.6.38", "ext4", "random", "MADV_POPULATE_WRITE, mlock", mib=1,
                spread=0).errors == (("MADV_POPULATE_WRITE", "EINVAL"),)
    nodelalloc = fill("6.18", "ext4 nodelalloc", "random", "MADV_POPULATE_WRITE, mlock", mib=1)
    assert nodelalloc.allocated_during() == "MADV_POPULATE_WRITE"


def test_mlock_allocates_at_the_fault_only_on_2_6_37_with_an_allocating_page_mkwrite():
    assert fill("2.6.37", "ext4 nodelalloc", "random", mib=1).allocated_during() == "mlock"
    assert fill("2.6.38", "ext4 nodelalloc", "random", mib=1).allocated_during() == "store"
    assert fill("2.6.37", "ext4", "random", mib=1).allocated_during() == "writeback"


def test_runs_are_deterministic_cached_and_checked():
    a = fill("2.6.38", "ext2", "random", mib=1, spread=60, seed=1)
    assert fill(kernel="2.6.38", fs="ext2", pattern="random", mib=1, spread=60.0, seed=1) is a
    c = fill("2.6.38", "ext2", "random", mib=1, spread=60, seed=2)
    assert not np.array_equal(a.layout["block"], c.layout["block"])
    for bad in ({"fs": "zfs"}, {"pattern": "zigzag"}, {"prepare": "pray"}, {"mib": 0},
                {"spread": -1}):
        with pytest.raises(OSError) as e:
            fill(**bad)
        assert e.value.errno == errno.EINVAL


def test_the_scenario_library_agrees():
    """scenarios.sparse_layout (rounds with a sync between) shows the same ordering."""
    before = scenarios.sparse_layout("mlock first", fs="ext2", size=2 * MiB, rounds=4)
    after = scenarios.sparse_layout("random stores", fs="ext2", size=2 * MiB, rounds=4)
    assert before.extents == 1 and after.extents > 100
    r = fill("2.6.38", "ext2", "random", mib=2)
    assert r.extents > 100 and fill("2.6.37", "ext2", "random", mib=2).extents == 1
