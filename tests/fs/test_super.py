"""fs/super.py: map_blocks' claim that a run of pages went to one run of blocks."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import mmsim
from mmsim import MiB
from mmsim.flags import HOLE


@settings(max_examples=80, deadline=None)
@given(used=st.lists(st.integers(0, 63), max_size=40), goal=st.integers(0, 63),
       first=st.integers(0, 20), n=st.integers(1, 40))
def test_a_run_map_blocks_names_is_the_blocks_the_pages_got(used, goal, first, n):
    m = mmsim.Machine(kernel="2.6.37", ram=64 * MiB)
    m.mkfs("/data", fs="ext2", size=64 * 4096)
    sb = m.mounts["/data"]
    sb.balloc.used[used] = True
    sb.balloc.nfree -= len(set(used))
    sb.goal = goal
    ino = sb.lookup("f", create=True)
    ino.resize(64)
    pg = slice(first, first + n)
    written, _, run = sb.map_blocks(ino, pg)
    got = ino.block[pg]
    consecutive = bool((got != HOLE).all() and (np.diff(got) == 1).all())
    assert (run is not None) == (written is None and consecutive)
    if run is not None:
        assert got.tolist() == list(range(run, run + n))
