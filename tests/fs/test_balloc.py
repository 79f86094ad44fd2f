"""fs/balloc.py: goal-directed first fit, and its quick path for blocks never allocated."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsim.fs.balloc import BlockAllocator

OPS = st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 40), st.integers(0, 300)),
    st.tuples(st.just("free"), st.integers(0, 199), st.integers(1, 30))), max_size=40)


def _first_fit(used, n, goal):
    """The free blocks first fit takes: up to n from goal on, wrapping at the end."""
    order = np.concatenate([np.arange(goal, len(used)), np.arange(0, goal)])
    return order[~used[order]][:n]


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_alloc_takes_the_blocks_first_fit_takes(ops):
    ba = BlockAllocator(200)
    ref = np.zeros(200, bool)
    for op, a, b in ops:
        if op == "alloc":
            goal = b % 200
            want = _first_fit(ref, a, goal)
            got = ba.alloc(a, b)
            assert got.tolist() == want.tolist()
            ref[want] = True
        else:
            blocks = np.flatnonzero(ref[a:a + b]) + a
            ba.free(blocks)
            ref[blocks] = False
        assert ba.used.tolist() == ref.tolist() and ba.nfree == 200 - ref.sum()
        assert not ref[ba.fresh:].any()         # nothing past the fresh mark was ever taken


def test_a_full_device_gives_fewer_blocks():
    ba = BlockAllocator(10)
    assert ba.alloc(8, 5).tolist() == [5, 6, 7, 8, 9, 0, 1, 2]
    assert ba.alloc(5, 0).tolist() == [3, 4]
    assert len(ba.alloc(1, 0)) == 0
