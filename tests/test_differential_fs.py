"""The fs scenarios (mmsim.fs_scenarios) on the simulator, and against this kernel in loop images.

The simulator half runs everywhere. The differential half needs what
mmsim.loopfs.available(fstype) asks for (root, loop devices, mkfs.<fs>) and
skips with its reason elsewhere: there every row must say "agree" or
"differs (legitimate: ...)", never DISAGREE.
"""

import errno

import pytest

from mmsim import experiment, fs_scenarios, loopfs
from mmsim._abi import MiB
from mmsim.fs_scenarios import FILE_PAGES, FS_REASONS, FS_SCENARIOS, FsScenario, compare_on

SIZE = 32 * MiB                 # every fs can be made this small (loopfs.MIN_SIZE is 16 MiB)
CAP = 20                        # seconds: none of them needs more than ~3 s here


def _sim(fstype, name):
    sc = FS_SCENARIOS[name]
    return experiment.run(sc.experiment, fs=fstype, fs_size=SIZE, memlock=sc.memlock,
                          caps=sc.caps)


# ---------------------------------------------------------------------------
# The simulator alone: what 6.18 does, per the kernel source


@pytest.mark.parametrize("name", ["mapped_store_enospc", "mapped_store_enospc_order0"])
@pytest.mark.parametrize("fstype", loopfs.FILESYSTEMS)
def test_sim_mapped_stores_stop_with_sigbus_and_read_back(fstype, name):
    r = _sim(fstype, name)
    assert (r["outcome"], r["msync"], r["fsync"]) == ("SIGBUS", 0, 0)
    assert r["stored_pages"] == r["free_pages_before"] == SIZE // 4096
    assert r["all_stored_read_back"] and r["nothing_else"]
    assert r["pages_with_data_after_signal"] == 0


@pytest.mark.parametrize("fstype", loopfs.FILESYSTEMS)
def test_sim_pwrite_stops_with_enospc_at_the_free_space(fstype):
    r = _sim(fstype, "pwrite_enospc")
    assert (r["outcome"], r["written_pages"]) == ("ENOSPC", r["free_pages_before"])


@pytest.mark.parametrize("fstype", loopfs.FILESYSTEMS)
def test_sim_mlock_of_a_sparse_mapping_allocates_nothing(fstype):
    r = _sim(fstype, "mlock_sparse_no_blocks")
    assert r["mlock"] == 0 and r["locked_kb"] == FILE_PAGES * 4
    assert (r["dirty_kb"], r["st_blocks_after_mlock"]) == (0, 0)
    assert r["free_unchanged_after_mlock"] and r["blocks_after_one_store"]


@pytest.mark.parametrize("fstype, fallocate, store", [
    ("ext2", "ENOTSUP", "SIGBUS"), ("ext3", "ENOTSUP", "SIGBUS"), ("ext4", 0, 0),
    ("xfs", 0, 0), ("btrfs", 0, "SIGBUS")])
def test_sim_fallocate_then_store(fstype, fallocate, store):
    r = _sim(fstype, "fallocate_then_store")
    assert (r["fallocate"], r["store"]) == (fallocate, store)


@pytest.mark.parametrize("fstype", loopfs.FILESYSTEMS)
def test_sim_layouts_are_one_extent_each(fstype):
    r = _sim(fstype, "fiemap_layouts")
    for name in ("sequential", "random", "fallocate_first"):
        assert r[f"{name}.extents"] == 1
        assert r[f"{name}.mapped_kb"] == FILE_PAGES * 4
        assert not r[f"{name}.unwritten"] and not r[f"{name}.delalloc"]


@pytest.mark.parametrize("fstype", loopfs.FILESYSTEMS)
def test_sim_christoph_data_intact(fstype):
    r = _sim(fstype, "christoph")
    assert r["dirty_kb_after_mlock"] == 0 and r["dirty_after_stores"]
    assert r["dirty_kb_after_msync"] == 0
    assert (r["read_back_intact"], r["read_back_zero"]) == (FILE_PAGES, 0)


def test_christoph_body_catches_unconverted_preallocation():
    """The shared body: without ->page_mkwrite XFS never converts the fallocated
    extents, so both syncs succeed and every page reads back as zeros."""
    m, p = experiment.machine("6.18", fs="xfs", fs_size=SIZE, options="no_page_mkwrite")
    stored = [b"page %d" % i for i in range(8)]
    r = fs_scenarios.mlock_dirty_munlock_sync(m, p, m.scratch + "/f", stored,
                                              syncs=("msync", "fsync"), preallocate=True)
    assert (r["mlock"], r["sync"], r["dropped"]) == (0, {"msync": 0, "fsync": 0}, "drop_caches")
    assert r["dirty_kb_after_stores"] == 32 and r["dirty_kb_after_sync"] == 0
    assert r["lost"] == r["zero"] == list(range(8))


def test_christoph_body_counts_only_the_stored_bytes_and_drop_caches_keeps_dirty_pages():
    """Only each page's first len(pattern[i]) bytes count; with no sync the pages
    stay dirty, drop_caches keeps them (fs/drop_caches.c) and they read back from memory."""
    m, p = experiment.machine("6.18", fs="ext4", fs_size=SIZE)
    stored = [b"x" * (i + 1) for i in range(4)]
    r = fs_scenarios.mlock_dirty_munlock_sync(m, p, m.scratch + "/f", stored, syncs=())
    assert (r["blocks_after_mlock"], r["blocks_after_sync"]) == (0, 4 * 8)
    assert r["sync"] == {} and r["dirty_kb_after_sync"] == 16
    assert r["lost"] == r["zero"] == []


def test_reraise_gives_back_the_recorded_errno():
    with pytest.raises(OSError) as e:
        fs_scenarios.reraise("ENOMEM", "mlock")
    assert e.value.errno == errno.ENOMEM and e.value.strerror == "Cannot allocate memory: mlock"
    fs_scenarios.reraise(0, "mlock")            # 0: the call succeeded, nothing to raise


# ---------------------------------------------------------------------------
# The verdicts: what is legitimate and what is not


def _verdict(name, fstype, field, real, sim):
    sc = FS_SCENARIOS[name]
    t = experiment.table("t", {field: real}, None, {field: sim}, None,
                         lambda f, rv, sv: sc.legitimate(f, rv, sv, fstype), reasons=FS_REASONS)
    return t.rows[0].verdict


def test_indirect_blocks_of_an_ext2_file():
    assert [fs_scenarios.indirect_blocks(n) for n in (0, 12, 13, 1036, 1037, 2060, 2061)] == \
        [0, 0, 1, 1, 3, 3, 4]
    assert fs_scenarios.indirect_blocks(7659) == 9          # ext2, 32 MiB, measured short by 9


@pytest.mark.parametrize("fstype, real, sim, folio, reason", [
    ("ext4", 6479, 6480, 1, "directory block"),
    ("ext4", 6478, 6480, 1, None),                  # order-0 folios: one page more is wrong
    ("ext4", 6400, 6480, 512, "large folios"),
    ("ext4", 5800, 6480, 512, None),                # more than a folio short
    ("ext4", 6481, 6480, 512, None),                # more than the free space
    ("ext2", 7659, 7669, 1, "indirect blocks"),
    ("ext2", 7660, 7669, 1, None),
    ("xfs", 6294, 6329, 1, "xfs reservations"),
    ("xfs", 6144, 6329, 512, "large folios"),
    ("xfs", 6144, 6329, 1, None),
    ("btrfs", 6488, 6904, 1, "btrfs metadata"),
    ("btrfs", 6000, 6904, 1, None),
])
def test_shortfall_allows_only_what_its_reason_says(fstype, real, sim, folio, reason):
    assert fs_scenarios.shortfall(fstype, real, sim, folio) == reason


def test_cap_reached_is_a_named_outcome_other_outcomes_are_not():
    v = _verdict("mapped_store_enospc", "ext4", "outcome", "still retrying after 20 s", "SIGBUS")
    assert v == "differs (legitimate: allocator retries)"
    assert _verdict("mapped_store_enospc", "ext4", "outcome", "no signal", "SIGBUS") == "DISAGREE"
    assert _verdict("mapped_store_enospc", "ext4", "all_stored_read_back", False, True) == "DISAGREE"
    assert _verdict("fiemap_layouts", "ext4", "random.extents", 4, 1) == "DISAGREE"
    assert _verdict("fiemap_layouts", "ext2", "random.extents", 4, 1).startswith("differs")
    assert _verdict("mapped_store_enospc", "ext4", "pages_with_data_after_signal", 4, 0) == "DISAGREE"
    assert _verdict("mapped_store_enospc_order0", "ext4", "stored_pages", 6400, 6480) == "DISAGREE"
    assert _verdict("christoph", "ext2", "st_blocks_kb", 1028, 1024).startswith("differs")
    assert _verdict("christoph", "ext2", "st_blocks_kb", 1032, 1024) == "DISAGREE"


def test_without_root_the_table_says_why_and_the_simulator_still_runs(monkeypatch):
    monkeypatch.setattr(fs_scenarios.os, "geteuid", lambda: 1000)
    t = compare_on("xfs", "christoph", size=SIZE, timeout=CAP)
    assert t.real_error.startswith("Unavailable: not root") and t.sim_error is None
    assert {r.verdict for r in t.rows} == {"n/a (only one side ran)"}
    assert dict((r.field, r.sim) for r in t.rows)["read_back_intact"] == FILE_PAGES


def test_compare_on_refuses_an_unknown_scenario():
    with pytest.raises(OSError):
        compare_on("ext4", "nope")


# ---------------------------------------------------------------------------
# Real against simulated, in loop images


@pytest.mark.real
@pytest.mark.parametrize("name", sorted(FS_SCENARIOS))
@pytest.mark.parametrize("fstype", loopfs.FILESYSTEMS)
def test_real_and_sim_agree(fstype, name):
    ok, why = loopfs.available(fstype)
    if not ok:
        pytest.skip(f"no {fstype} loop filesystem: {why}")
    t = compare_on(fstype, name, size=SIZE, timeout=CAP)
    assert t.real_error is None and t.sim_error is None, str(t)
    assert t.ok, str(t)
    for row in t.rows:
        assert row.verdict == "agree" or row.verdict.startswith("differs (legitimate: "), str(t)


def _stalls(m, p):
    """Records progress, then takes longer than the cap on the real kernel (m.sleep is
    simulated time on mmsim): stands for an allocator that keeps retrying."""
    fs_scenarios.progress(m, stored_pages=5, free_pages_before=7)
    m.sleep(60)
    return {"outcome": "SIGBUS", "stored_pages": 6, "free_pages_before": 7}


@pytest.mark.real
def test_a_real_run_at_its_cap_is_the_named_outcome(monkeypatch):
    ok, why = loopfs.available("ext4")
    if not ok:
        pytest.skip(f"no ext4 loop filesystem: {why}")
    legit = FS_SCENARIOS["mapped_store_enospc"].legitimate
    monkeypatch.setitem(FS_SCENARIOS, "stalls", FsScenario(_stalls, legit))
    t = compare_on("ext4", "stalls", size=SIZE, timeout=1)
    rows = {r.field: r for r in t.rows}
    assert rows["outcome"].real == "still retrying after 1 s"
    assert rows["outcome"].verdict == "differs (legitimate: allocator retries)"
    assert rows["free_pages_before"].verdict == "agree" and t.ok
    assert rows["stored_pages"].verdict == "differs (legitimate: allocator retries)"
