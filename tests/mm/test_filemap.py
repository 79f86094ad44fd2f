"""mm/filemap.py: the page cache's per-page counts, and their quick paths."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsim.mm.filemap import AddressSpace
from mmsim.mm.vmstat import VmStat

SELECTIONS = st.one_of(
    st.tuples(st.integers(0, 40), st.integers(0, 12)).map(lambda t: slice(t[0], t[0] + t[1])),
    st.lists(st.integers(0, 47), min_size=0, max_size=6, unique=True).map(
        lambda v: np.array(sorted(v), np.int64)))


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.tuples(SELECTIONS, st.sampled_from([1, -1])), max_size=30))
def test_mlock_add_past_the_fresh_mark_counts_as_looking_does(ops):
    """Pages never counted are taken as 0 without a look: the same counts, the same total."""
    quick, look = AddressSpace(VmStat(), capacity=48), AddressSpace(VmStat(), capacity=48)
    look.mlock_fresh = float("inf")             # never taken as fresh: every count looked at
    for sel, delta in ops:
        quick.mlock_add(sel, delta)
        look.mlock_add(sel, delta)
        assert quick.mlock.tolist() == look.mlock.tolist()
        assert quick.vmstat.nr_mlock_file == look.vmstat.nr_mlock_file
        assert not quick.mlock[int(min(quick.mlock_fresh, 48)):].any()
