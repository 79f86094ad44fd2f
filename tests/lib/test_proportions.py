"""lib/proportions.c as 2.6.37's dirty throttling uses it."""

from hypothesis import given, settings, strategies as st

from mmsim.lib.proportions import PropGlobal, PropLocal, ilog2


def test_ilog2():
    assert [ilog2(n) for n in (1, 2, 3, 4, 1023, 1024)] == [0, 1, 1, 2, 9, 10]


def test_a_lone_participant_ramps_up_to_the_whole():
    """p = E / (period/2 + E) before the first half period, 1/2 at it, then towards 1."""
    pg = PropGlobal(shift=11)                 # period/2 = 1024 events
    pl = PropLocal(pg)
    pl.inc(256)
    assert pl.fraction() == (256, 1024 + 256)
    pl.inc(768)
    assert pl.fraction() == (512, 1024)       # halved at the boundary: 1/2
    shares = []
    for _ in range(8):
        pl.inc(1024)
        num, den = pl.fraction()
        shares.append(num / den)
    assert shares == sorted(shares) and shares[-1] > 0.99


def test_two_equal_participants_share_half_each():
    pg = PropGlobal(shift=11)
    a, b = PropLocal(pg), PropLocal(pg)
    for _ in range(64):
        a.inc(100)
        b.inc(100)
    fa, fb = a.fraction(), b.fraction()
    assert abs(fa[0] / fa[1] - 0.5) < 0.05 and abs(fb[0] / fb[1] - 0.5) < 0.05


def test_reading_a_fraction_changes_nothing():
    pg = PropGlobal(shift=5)
    a, b = PropLocal(pg), PropLocal(pg)
    a.inc(40)
    b.inc(70)
    before = (a.events, a.period, pg.events)
    assert a.fraction() == a.fraction()
    assert (a.events, a.period, pg.events) == before


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 300)), min_size=1, max_size=30))
def test_counting_n_at_once_is_n_single_events(steps):
    """inc(n) splits at half-period boundaries: it ends as n calls of inc(1)."""
    bulk_g, single_g = PropGlobal(shift=6), PropGlobal(shift=6)
    bulk = [PropLocal(bulk_g), PropLocal(bulk_g)]
    single = [PropLocal(single_g), PropLocal(single_g)]
    for who, n in steps:
        bulk[who].inc(n)
        for _ in range(n):
            single[who].inc(1)
    assert [p.fraction() for p in bulk] == [p.fraction() for p in single]
