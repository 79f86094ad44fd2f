"""fs/inode.py: the per-page allocation times, noted as runs and written out when read."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import mmsim
from mmsim import MiB
from mmsim.fs import inode as inode_mod

RUNS = st.lists(st.tuples(st.integers(0, 63), st.integers(1, 16), st.sampled_from([0.5, 1.0, 2.5])),
                max_size=40)


def _inode():
    m = mmsim.Machine(kernel="2.6.37", ram=64 * MiB)
    m.mkfs("/data", fs="ext2", size=16 * MiB)
    ino = m.mounts["/data"].lookup("f", create=True)
    ino.resize(80)
    return ino


@settings(max_examples=60, deadline=None)
@given(runs=RUNS, limit=st.sampled_from([1, 3, 1 << 16]))
def test_recorded_runs_read_back_as_writing_each_one_into_the_array(runs, limit):
    saved, inode_mod.ALLOCATIONS_MAX = inode_mod.ALLOCATIONS_MAX, limit
    try:
        ino, ref = _inode(), np.zeros(80)
        for first, n, when in runs:
            ino.record_allocation(first, first + n, when)
            ref[first:first + n] = when
            assert len(ino._allocations) <= limit
            if first % 7 == 0:              # a read in between writes the runs out
                assert ino.allocated_at[:80].tolist() == ref.tolist()
        assert ino.allocated_at[:80].tolist() == ref.tolist()
    finally:
        inode_mod.ALLOCATIONS_MAX = saved


def test_a_run_that_continues_the_last_at_the_same_time_extends_it():
    ino = _inode()
    ino.record_allocation(0, 4, 1.0)
    ino.record_allocation(4, 9, 1.0)
    ino.record_allocation(9, 10, 2.0)
    assert ino._allocations == [(0, 9, 1.0), (9, 10, 2.0)]


def test_runs_noted_before_the_file_grows_survive_the_resize():
    ino = _inode()
    ino.record_allocation(70, 80, 3.0)
    ino.resize(1000)
    assert ino.allocated_at[68:82].tolist() == [0.0] * 2 + [3.0] * 10 + [0.0] * 2
