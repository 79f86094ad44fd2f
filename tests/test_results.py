"""The result types both backends return (mmsim.results)."""

import errno
import pickle

import numpy as np
import pytest

from mmsim.results import (FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_LAST, FIEMAP_EXTENT_UNKNOWN,
                           FIEMAP_EXTENT_UNWRITTEN, KPAGEFLAGS_BITS, PAGE_FLAGS, PAGEMAP_BITS,
                           Extent, PageFlags, TouchResult, pick)


def flags(n=4, **arrays):
    return PageFlags(0x10000, n, "test", arrays)


def test_page_flags_are_named_and_numbered_as_the_kernel_does():
    # include/uapi/linux/kernel-page-flags.h, include/linux/kernel-page-flags.h,
    # fs/proc/task_mmu.c PM_*: KPF_LOCKED (0) is PG_locked, not reported
    assert KPAGEFLAGS_BITS == {"uptodate": 3, "dirty": 4, "writeback": 8, "anon": 12,
                               "unevictable": 18, "zero": 24, "mlocked": 33}
    assert PAGEMAP_BITS == {"present": 63, "swap": 62, "file": 61, "exclusive": 56}
    assert "locked" not in PAGE_FLAGS


def test_page_flags_is_a_read_only_mapping_with_every_key():
    f = flags(dirty=[True, False, True, False])
    assert tuple(f) == PAGE_FLAGS and len(f) == len(PAGE_FLAGS)
    assert f.dirty is f["dirty"] and f["present"] is None
    assert f.counts()["dirty"] == 2 and f.counts()["present"] is None
    with pytest.raises(ValueError):
        f["dirty"][0] = False
    with pytest.raises(AttributeError):
        f.npages = 7
    with pytest.raises(AttributeError):
        f.no_such_flag
    assert "dirty=2" in repr(f) and "0x10000" in repr(f)


def test_page_flags_refuse_unknown_names_and_wrong_lengths():
    with pytest.raises(OSError) as e:
        flags(locked=[True] * 4)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        flags(dirty=[True] * 3)
    assert e.value.errno == errno.EINVAL


def test_page_flags_pickle_and_compare_by_value():
    f = flags(dirty=np.array([1, 0, 0, 1], bool), present=np.ones(4, bool))
    g = pickle.loads(pickle.dumps(f))        # how mmsim.real brings them back from its child
    assert g == f and g.source == "test" and not g["dirty"].flags.writeable
    assert g != flags(dirty=np.array([1, 0, 0, 0], bool), present=np.ones(4, bool))
    assert g != flags(dirty=np.array([1, 0, 0, 1], bool))


def test_extent_from_fiemap_flags():
    e = Extent.from_fiemap(0, 0, 8192, FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN
                           | FIEMAP_EXTENT_LAST)
    assert e == Extent(0, 0, 8192, False, True)
    assert Extent.from_fiemap(4096, 1 << 20, 4096, FIEMAP_EXTENT_UNWRITTEN).unwritten


def test_touch_result_and_pick():
    r = TouchResult(3, 0.5)
    assert (r.pages, r.seconds) == (3, 0.5)
    with pytest.raises(AttributeError):
        r.pages = 4
    assert pick({"b": 2, "a": 1, "z": 0}, ("a", "b", "c")) == {"a": 1, "b": 2}
