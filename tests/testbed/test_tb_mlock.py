"""mmsim.testbed.mlock: chapter 03's single mlock and the scaled-down session."""

import errno

import pytest

from mmsim import MiB
from mmsim.testbed.mlock import MAPPINGS, READABLE, fault_kind, mlock_once, small_session


def test_only_2_6_37_write_faults_and_dirties_a_shared_writable_mapping(kernel):
    r = mlock_once(kernel, "shared, rw", size=4 * MiB)
    old = kernel == "2.6.37"
    assert (r["Dirty"], r["st_blocks"]) == ((4096, 8192) if old else (0, 0))
    assert fault_kind(r["functions"]) == ("write: dirty" if old else "read")
    assert r["Rss"] == r["Mlocked"] == 4096 and r["error"] == ""
    private = mlock_once(kernel, "private, rw", size=4 * MiB)
    assert (private["Anonymous"], private["Dirty"]) == (4096, 0)
    assert fault_kind(private["functions"]) == "write: COW copy"
    for mapping in ("shared, r", "private, r"):
        assert fault_kind(mlock_once(kernel, mapping, size=MiB)["functions"]) == "read"


def test_populate_goes_through_make_pages_present():
    r = mlock_once("2.6.37", "shared, rw", size=MiB, populate=True)
    assert r["paths"][0][0] == "make_pages_present" and r["Dirty"] == 1024
    assert mlock_once("2.6.38", "shared, rw", size=MiB, populate=True)["Dirty"] == 0


def test_the_write_only_mapping_before_and_after_the_follow_up():
    rc2 = mlock_once("2.6.38-rc2", "shared, w", fs="ext2", size=MiB)
    assert rc2["error"] == "Cannot allocate memory" and rc2["VmLck"] == 1024 and rc2["Rss"] == 0
    fixed = mlock_once("2.6.38", "shared, w", fs="ext2", size=MiB)
    assert fixed["error"] == "" and fixed["Rss"] == 1024 and fixed["Dirty"] == 0
    assert set(READABLE) < set(MAPPINGS)
    with pytest.raises(OSError) as e:
        mlock_once("2.6.38", "shared, x")
    assert e.value.errno == errno.EINVAL


@pytest.mark.parametrize("kernel,fs,outcome", [("2.6.37", "ext2", "hung"),
                                                ("2.6.37", "ext4", "Cannot allocate memory"),
                                                ("2.6.38", "ext2", "done")])
def test_the_small_session_ends_as_the_big_one(kernel, fs, outcome):
    r = small_session(kernel, fs, 48 * MiB)
    assert r.outcome == outcome and len(r.flags["present"]) == 48 * MiB // 4096
