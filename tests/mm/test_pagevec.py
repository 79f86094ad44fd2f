"""mm/pagevec.py: page selections, and the quick paths for pages all in one state."""

import numpy as np
import pytest

from mmsim.mm.pagevec import alike, change_bits, clear_bits, set_bits


@pytest.mark.parametrize("dtype, value", [(np.uint8, 0), (np.uint8, 255), (np.int8, -1),
                                          (np.int16, -5), (np.int32, -1), (np.uint32, 70000),
                                          (np.int64, 2**40)])
def test_alike_returns_the_one_value_as_a_python_number(dtype, value):
    got = alike(np.full(1536, value, dtype))
    assert got == value and type(got) is int


def test_alike_of_a_view_and_of_other_dtypes():
    big = np.full(5000, 7, np.int32)
    assert alike(big[1000:2024]) == 7
    assert np.isnan(alike(np.full(3, np.nan)))
    assert alike(np.array([True, True])) is True


@pytest.mark.parametrize("values", [[1, 2], [3, 3, 3, 4], [0, 256 - 1]])
def test_alike_is_none_when_any_entry_differs(values):
    assert alike(np.array(values, np.int32)) is None
    assert alike(np.array(values, np.uint8)) is None


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint32,
                                   np.uint64, np.float64, np.dtype(">i4")])
def test_alike_decodes_every_dtype_as_item_does(dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    for value in ((info.min, info.max, 0, 1) if info else (0.0, -2.5, np.inf)):
        a = np.full(7, value, dtype)
        assert alike(a) == a[0].item() and type(alike(a)) is type(a[0].item())


def test_alike_of_an_empty_array_is_none():
    assert alike(np.zeros(0, np.uint8)) is None


@pytest.mark.parametrize("sel", [slice(2, 6), np.array([1, 3, 4]), slice(0, 8)])
@pytest.mark.parametrize("start", [[0] * 8, [1, 2, 4, 8, 16, 32, 64, 128], [5] * 8])
def test_set_and_clear_bits_match_numpy(sel, start):
    for bits in (1, 4, 5, 0x80):
        a, ref = np.array(start, np.uint8), np.array(start, np.uint8)
        set_bits(a, sel, bits)
        ref[sel] |= bits
        assert a.tolist() == ref.tolist()
        clear_bits(a, sel, bits)
        ref[sel] &= ~np.uint8(bits)
        assert a.tolist() == ref.tolist()


@pytest.mark.parametrize("sel", [slice(2, 6), np.array([1, 3, 4]), slice(0, 8), slice(3, 3)])
@pytest.mark.parametrize("start", [[0] * 8, [1, 2, 4, 8, 16, 32, 64, 128], [5] * 8, [0x85] * 8])
@pytest.mark.parametrize("clear, bits", [(0, 4), (1, 0), (0x81, 4), (5, 5), (4, 1)])
def test_change_bits_is_clear_bits_then_set_bits(sel, start, clear, bits):
    a, ref = np.array(start, np.uint8), np.array(start, np.uint8)
    change_bits(a, sel, clear, bits)
    clear_bits(ref, sel, clear)
    set_bits(ref, sel, bits)
    assert a.tolist() == ref.tolist()


def _alike_users():
    """Every mmsim module that takes the quick path for pages all in one state (imports alike)."""
    import sys

    from mmsim.mm import pagevec
    return [mod for name, mod in sorted(sys.modules.items())
            if name.startswith("mmsim") and getattr(mod, "alike", None) is pagevec.alike]


def _outcome(r):
    return repr((r.outcome, r.seconds, r.pages_done, r.dirty_kb, r.file_blocks_kb, r.free_blocks,
                 r.pages_lost, sorted(r.disk.items()), sorted(r.functions.items()), r.timeline,
                 r.touch_seconds, r.flags))


@pytest.mark.parametrize("kernel", ["2.6.37", "2.6.38", "6.18"])
@pytest.mark.parametrize("fs", ["ext2", "ext4", "xfs", "btrfs"])
@pytest.mark.parametrize("action", ["lock", "touch write"])
def test_the_quick_paths_give_what_the_page_by_page_masks_give(monkeypatch, kernel, fs, action):
    """Michel's session, small enough to fill the disk and hang or fault: the same
    result, byte for byte, when no range is ever taken as alike."""
    from mmsim import MiB, scenarios
    args = dict(size=96 * MiB, partition=48 * MiB, ram=160 * MiB, sample=1.0, flags=True,
                hung_timeout=5.0)
    quick = _outcome(scenarios.memtoy_hole20g(kernel, fs, action, **args))
    users = _alike_users()
    assert len(users) >= 6, [m.__name__ for m in users]
    for mod in users:
        monkeypatch.setattr(mod, "alike", lambda a: None)
    assert _outcome(scenarios.memtoy_hole20g(kernel, fs, action, **args)) == quick


def test_alike_of_bools_is_a_python_bool():
    assert alike(np.zeros(300, bool)) is False
    assert alike(np.ones(300, bool)[7:99]) is True
    assert alike(np.array([False, True])) is None
