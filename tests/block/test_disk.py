"""The disk: one queue for reads and writes, seeks at every discontiguity."""

import numpy as np
import pytest

from mmsim.block.disk import Disk


def test_sequential_request_costs_transfer_only():
    d = Disk(1 << 20, bandwidth=100e6, seek=8e-3)
    done = d.submit("read", np.arange(0, 256), at=0.0)
    assert done == pytest.approx(256 * 4096 / 100e6)
    assert d.counters["read_seeks"] == 0
    d.submit("read", np.arange(256, 512), at=done)
    assert d.counters["read_seeks"] == 0


def test_interleaving_reads_and_writes_costs_seeks():
    d = Disk(1 << 20, bandwidth=100e6, seek=8e-3)
    t = 0.0
    for i in range(10):
        t = d.submit("read", np.arange(i * 256, (i + 1) * 256), at=t)
        t = d.submit("write", np.arange(500_000 + i * 256, 500_000 + (i + 1) * 256), at=t,
                     stamps=np.ones(256, np.uint32))
    assert d.counters["read_seeks"] == 9 and d.counters["write_seeks"] == 10
    assert t == pytest.approx(20 * 256 * 4096 / 100e6 + 19 * 8e-3)


def test_requests_queue_behind_each_other():
    d = Disk(1024, bandwidth=4096.0, seek=0.0)
    first = d.submit("write", np.arange(4), at=0.0, stamps=np.arange(4, dtype=np.uint32))
    second = d.submit("read", np.arange(4, 8), at=1.0)
    assert first == 4.0 and second == 8.0
    assert list(d.data[:4]) == [0, 1, 2, 3]


def test_a_permutation_of_a_span_is_not_contiguous():
    """Pages read in file order can hold every block of a span in another order."""
    d = Disk(1024, bandwidth=4096.0, seek=1.0)
    d.submit("write", np.array([0, 2, 1, 3]), at=0.0, stamps=np.array([10, 12, 11, 13], np.uint32))
    assert list(d.data[:4]) == [10, 11, 12, 13]
    assert d.counters["write_seeks"] == 3                  # 0 -> 2 -> 1 -> 3
    d.head = 0
    done = d.submit("read", np.array([0, 2, 1, 3]), at=0.0)
    assert d.counters["read_seeks"] == 3 and done == 2 * (3 * 1.0 + 4 * 4096 / 4096.0)


@pytest.mark.parametrize("first, n", [(0, 1), (0, 8), (5, 3), (100, 64)])
def test_a_run_given_as_a_slice_is_the_request_of_its_blocks(first, n):
    by_slice, by_array = (Disk(256, bandwidth=1e6, seek=1e-3) for _ in range(2))
    for d in (by_slice, by_array):
        d.submit("write", np.array([7, 3]), 0.0, np.array([1, 2], np.uint32))
    stamps = np.arange(n, dtype=np.uint32) + 9
    t1 = by_slice.submit("write", slice(first, first + n), 0.5, stamps)
    t2 = by_array.submit("write", np.arange(first, first + n), 0.5, stamps)
    assert t1 == t2 and by_slice.counters == by_array.counters and by_slice.head == by_array.head
    assert by_slice.data.tolist() == by_array.data.tolist()
