"""mmsim.testbed.regression: what chapter 09 says about the thread's tests."""

import errno
import functools
import os

import pytest

import mmsim
from mmsim import MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE
from mmsim.fs import ALL_FILESYSTEMS
from mmsim.testbed import regression as R


@functools.cache
def matrix():
    return R.matrix()


def test_the_matrix_covers_every_test_kernel_and_filesystem():
    res = matrix()
    assert set(R.FILESYSTEMS) == set(ALL_FILESYSTEMS)
    assert len(res) == len(R.TESTS) * len(R.KERNELS) * len(R.FILESYSTEMS) == 96
    assert {o.status for o in res.values()} == set(R.STATUSES)
    for (t, k, fs), o in res.items():
        assert (o.test, o.kernel, o.fs) == (t, k, fs)
        assert (o.message == "") == o.passed


@pytest.mark.parametrize("fs", R.FILESYSTEMS)
def test_dave_fails_on_2_6_37_only_because_its_mlock_dirties_and_allocates(fs):
    res = matrix()
    old = res["dave", "2.6.37", fs]
    assert old.status == "failed" and old.message == "mlock dirtied 64 kB (expected 0)"
    has_hook = fs not in ("ext2", "ext3")
    assert (old.observed["blocks_after_mlock"] == 128) is has_hook   # every block, 8 per page
    for k in ("2.6.38-rc2", "2.6.38", "6.18"):
        o = res["dave", k, fs]
        assert o.passed, o
        assert o.observed["dirty_kb_after_mlock"] == 0 and o.observed["blocks_after_mlock"] == 0
        assert o.observed["store_faults"] == 1 and o.observed["dirty_kb_after_store"] == 4
        hook = o.observed["hook"]
        assert (hook is not None) == (has_hook or k == "6.18")
        if hook:
            assert hook.endswith("page_mkwrite") and hook in o.observed["store_path"]


def test_dave_s_store_path_is_the_write_fault_through_do_wp_page():
    path = matrix()["dave", "2.6.38", "ext4"].observed["store_path"]
    assert path == ["do_page_fault", "handle_mm_fault", "do_wp_page", "ext4_page_mkwrite",
                    "set_page_dirty", "balance_dirty_pages_ratelimited"]


@pytest.mark.parametrize("fs", R.FILESYSTEMS)
def test_mlock04_fails_on_2_6_38_rc2_only(fs):
    res = matrix()
    for k in R.KERNELS:
        o = res["mlock04", k, fs]
        if k == "2.6.38-rc2":
            assert o.status == "failed" and o.message == "mlock failed with ENOMEM (mlock04: TBROK)"
        else:
            assert o.passed and o.observed == {"mlock": "", "munlock": "", "munmap": ""}


@pytest.mark.parametrize("kernel", R.KERNELS)
@pytest.mark.parametrize("fs", R.FILESYSTEMS)
def test_christoph_passes_everywhere_no_data_lost(kernel, fs):
    o = matrix()["christoph", kernel, fs]
    assert o.passed, o
    assert o.observed["dropped"] == "drop_caches"
    for way in ("msync", "fsync"):
        w = o.observed[way]
        assert w["error"] == "" and w["lost"] == [] and w["blocks_after_sync"] == 128
        assert w["blocks_after_mlock"] == (128 if kernel == "2.6.37" and fs not in ("ext2", "ext3")
                                           else 0)


def test_christoph_catches_data_loss():
    """Without ->page_mkwrite XFS never converts preallocated extents: the check fails."""
    m, p = mmsim.experiment.machine("6.18", fs="xfs", fs_size=R.SIM_FS_SIZE, ram=R.SIM_RAM,
                                    options="no_page_mkwrite")
    for way in ("msync", "fsync"):               # the test's files, preallocated first
        fd = p.open(f"/scratch/{way}", os.O_RDWR | os.O_CREAT)
        p.fallocate(fd, 0, 0, R.PAGES * PAGE_SIZE)
        p.close(fd)
    r = R.christoph_experiment(m, p)
    status, message = R.christoph_check(r)
    assert status == "failed" and message.startswith("data lost: 16 of the pages written out by msync")


def test_christoph_without_a_dropped_cache_does_not_apply():
    assert R.christoph_check({"dropped": ""})[0] == "not applicable"


def test_xfs_166_runs_on_xfs_only_and_gives_166_out():
    res = matrix()
    for k in R.KERNELS:
        o = res["xfs/166", k, "xfs"]
        assert o.passed and R.xfs166_filter(o.observed["extents"]) == R.XFS166_OUT
        assert o.observed["extents"] == [[8, False], [1016, True], [8, False], [1008, True],
                                         [8, False]]
        for fs in set(R.FILESYSTEMS) - {"xfs"}:
            assert res["xfs/166", k, fs].status == "not applicable"


@pytest.mark.parametrize("kernel,options,mlock_first,extents", [
    ("6.18", "no_page_mkwrite", False, [[2048, True]]),
    ("2.6.37", "", True, [[2048, False]]),
    ("2.6.38", "", True, [[8, False], [1016, True], [8, False], [1008, True], [8, False]])])
def test_xfs_166_catches_a_missing_page_mkwrite_and_the_old_mlock(kernel, options, mlock_first, extents):
    o = R.run_test("xfs/166", kernel, "xfs", options=options, mlock_first=mlock_first)
    assert o.observed["extents"] == extents
    assert o.passed is (len(extents) == 5)
    if not o.passed:       # the awk: one line, RIGHT for a lone written extent; 166.out has five
        word = "WRONG" if extents[0][1] else "RIGHT"
        assert R.xfs166_filter(extents) == [f"0: [AA..BB] XX..YY AG (AA..BB) {word} GOOD"]


def test_the_filter_is_166_s_awk():
    ok = [[8, False], [1016, True], [8, False], [1008, True], [8, False]]
    assert R.xfs166_filter(ok) == R.XFS166_OUT
    off = [[16, False], [1008, True], [8, False], [1008, True], [8, False]]
    assert [line.split()[-2] for line in R.xfs166_filter(off)] == [
        "RIGHT", "RIGHT", "WRONG", "WRONG", "WRONG"]


def test_bad_arguments_are_refused_with_einval():
    for args in (("nope", "6.18", "ext4"), ("dave", "6.18", "zfs")):
        with pytest.raises(OSError) as e:
            R.run_test(*args)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        R.planted("hz")


@pytest.mark.parametrize("switch", sorted(R.REGRESSIONS))
def test_every_planted_regression_changes_a_probe_field(switch):
    broken = R.planted(switch)
    assert broken.version == "6.18-broken"
    assert getattr(broken, switch) != getattr(mmsim.kernels.KERNELS["6.18"], switch)
    fields = R.catching(switch)
    assert fields
    assert {"populate_force": ["mlock04_mlock"],
            "mlock_present_at_fixup": ["onfault_mlocked_kb"],
            "limit_skips_locked": ["relock_error"],
            "msync_syncs_range": ["dirty_kb_after_msync_of_page_0"],
            "populate_mmap_force": ["populate_rss_kb"]}.get(switch, fields) == fields


def test_the_probe_on_6_18():
    assert R.probe("6.18") == {
        "mlock04_mlock": "", "dirty_kb_after_mlock": 0, "blocks_after_mlock": 0, "store_faults": 1,
        "store_calls_page_mkwrite": True, "lost_pages": 0, "onfault_mlocked_kb": 16,
        "relock_error": "", "dirty_kb_after_msync_of_page_0": 4, "populate_rss_kb": 16}
    assert R.probe("2.6.38-rc2")["mlock04_mlock"] == "ENOMEM"


@pytest.mark.parametrize("kernel,prot,flags,err", [
    ("2.6.38-rc2", PROT_WRITE, MAP_SHARED, "ENOMEM"), ("2.6.38-rc2", PROT_WRITE, MAP_PRIVATE, ""),
    ("2.6.38-rc2", PROT_READ | PROT_WRITE, MAP_SHARED, ""), ("2.6.38", PROT_WRITE, MAP_SHARED, ""),
    ("6.18", PROT_NONE, MAP_SHARED, "ENOMEM")])
def test_mlock04_varied(kernel, prot, flags, err):
    assert R.run_test("mlock04", kernel, "ext4", prot=prot, flags=flags).observed["mlock"] == err


def test_summary_and_failures():
    res = matrix()
    s = R.summary(res)
    assert s["dave", "2.6.37"] == "6 failed" and s["xfs/166", "6.18"] == "1 passed, 5 n/a"
    assert [(o.test, o.kernel) for o in R.failures(res)] == (
        [("dave", "2.6.37")] * 6 + [("mlock04", "2.6.38-rc2")] * 6)


# -- the real kernel: the logic, whatever the host ---------------------------------------------

def test_real_outcomes_say_why_when_the_host_cannot(monkeypatch):
    from mmsim import real
    monkeypatch.setattr(real, "available", lambda scratch_dir=None: (False, "not Linux"))
    o = R.real_test("dave")
    assert o.status == "not applicable" and o.message == "not Linux" and o.kernel == R.host_kernel()


def test_real_outcomes_judge_the_child_s_result(monkeypatch):
    from mmsim import real
    monkeypatch.setattr(real, "available", lambda scratch_dir=None: (True, "yes"))
    monkeypatch.setattr(real, "fs_type", lambda path: "ext4")
    monkeypatch.setattr(real, "scratch_base", lambda d=None: "/tmp")
    dirty = dict(R.run_test("dave", "2.6.37", "ext4").observed, hook=None, store_path=None)
    monkeypatch.setattr(real, "run", lambda *a, **kw: dirty)
    o = R.real_test("dave")
    assert (o.status, o.message, o.fs) == ("failed", "mlock dirtied 64 kB (expected 0)", "ext4")
    monkeypatch.setattr(real, "run", lambda *a, **kw: {"outcome": "still running after 20 s"})
    assert R.real_test("dave").message == "still running after 20 s"
    assert R.real_test("xfs/166").status == "not applicable"


def test_loop_tests_without_loop_filesystems_skip_every_test(monkeypatch):
    from mmsim import loopfs
    monkeypatch.setattr(loopfs, "available", lambda fstype=None: (False, "not root"))
    out, why = R.loop_tests()
    assert why == "not root" and len(out) == len(R.REAL_TESTS) * len(loopfs.FILESYSTEMS)
    assert {(o.status, o.message) for o in out.values()} == {("not applicable", "not root")}


def test_side_by_side_names_agreement():
    rows = R.side_by_side([R.Outcome("dave", "6.1", "ext4", "passed"),
                           R.Outcome("dave", "6.1", "tmpfs", "passed"),
                           R.Outcome("dave", "6.1", "xfs", "not applicable", "mount:\n  EPERM"),
                           R.Outcome("dave", "6.1", "ext4", "failed", "mlock dirtied 4 kB"),
                           R.Outcome("xfs/166", "6.1", "ext4", "not applicable", "xfs only")])
    assert [(r["simulated 6.18"], r["agree"]) for r in rows] == [
        ("passed", "yes"), ("-", "-"), ("passed", "-"), ("passed", "NO"), ("not applicable", "yes")]
    assert rows[2]["why"] == "mount: EPERM"


@pytest.mark.skipif(not mmsim.real.available()[0], reason="needs Linux with /proc")
@pytest.mark.parametrize("test", R.REAL_TESTS)
def test_the_host_kernel_passes_christoph_s_and_dave_s_tests(test):
    o = R.real_test(test)
    assert o.status in ("passed", "not applicable"), o
    if test == "dave" and o.passed:
        assert o.observed["dirty_kb_after_mlock"] == 0 and o.observed["blocks_after_mlock"] == 0
