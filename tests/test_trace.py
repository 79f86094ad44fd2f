"""mmsim.trace: what a reader of the event log sees."""

import numpy as np

from mmsim.trace import Event, Trace


def _event(**kw):
    fields = dict(time=0.5, pid=7, op="touch", path=("handle_mm_fault", "do_anonymous_page"),
                  start=0x1000, end=0x5000, pages=4)
    fields.update(kw)
    return Event(**fields)


def test_event_repr_is_the_dataclass_repr():
    assert repr(_event()) == ("Event(time=0.5, pid=7, op='touch', "
                              "path=('handle_mm_fault', 'do_anonymous_page'), "
                              "start=4096, end=20480, pages=4)")


def test_event_str():
    assert str(_event()) == ("    0.500000s pid 7 touch: handle_mm_fault > do_anonymous_page"
                             " x4 [0x1000-0x5000)")


def test_event_equality_and_hash_by_fields():
    assert _event() == _event() and hash(_event()) == hash(_event())
    assert _event() != _event(pages=5)
    assert _event() != (0.5, 7, "touch", ("handle_mm_fault", "do_anonymous_page"), 0x1000, 0x5000, 4)
    assert len({_event(), _event(), _event(pid=8)}) == 2


def test_record_normalises_path_and_pages():
    t = Trace()
    t.record(1.0, 3, "mlock", ["__mlock_vma_pages_range", "follow_page"], 0, 8192, np.int64(2))
    (e,) = t.events
    assert e.path == ("__mlock_vma_pages_range", "follow_page") and type(e.path) is tuple
    assert type(e.pages) is int and e.pages == 2
    assert t.totals == {("__mlock_vma_pages_range", "follow_page"): 2}


def test_record_skips_empty_and_keeps_totals_past_maxlen():
    t = Trace(maxlen=2)
    t.record(0.0, 1, "touch", ("a",), 0, 4096, 0)
    assert len(t) == 0 and not t.totals
    for i in range(3):
        t.record(float(i), 1, "touch", ("a", "b"), i * 4096, (i + 1) * 4096, 1)
    assert len(t) == 2 and t.totals[("a", "b")] == 3
    assert t.counts() == {"a": 3, "b": 3}
    assert t.counts(t.events) == {"a": 2, "b": 2}


def test_query_filters():
    t = Trace()
    t.record(0.0, 1, "touch", ("a", "b"), 0, 4096, 1)
    t.record(1.0, 2, "mlock", ("a", "c"), 8192, 12288, 1)
    assert [e.pid for e in t.query(function="c")] == [2]
    assert [e.pid for e in t.query(start=4096, end=8192)] == []
    assert [e.pid for e in t.query(start=4095, end=8193)] == [1, 2]
    assert [e.pid for e in t.query(since=0.5)] == [2]
    assert [e.pid for e in t.query(until=1.0, op="touch", pid=1)] == [1]
    t.clear()
    assert len(t) == 0 and not t.totals
