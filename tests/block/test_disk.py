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


@pytest.mark.parametrize("writes", [
    [(0, 8, 0), (4, 8, 5), (2, 4, 0)],               # zeros past the mark, then over data
    [(10, 4, 3), (0, 4, 0), (12, 6, 0), (30, 2, 0)],
    [(5, 3, 0), (0, 9, 2), (6, 2, 0), (40, 1, 0)]])
def test_stored_blocks_are_what_every_write_left(writes):
    """Zeros skipped past the written mark read back as zeros, as if stored."""
    d, ref = Disk(64, bandwidth=1e9, seek=0.0), np.zeros(64, np.uint32)
    for first, n, stamp in writes:
        d.submit("write", np.arange(first, first + n), 0.0, np.full(n, stamp, np.uint32))
        ref[first:first + n] = stamp
        assert d.data.tolist() == ref.tolist()
    blocks = np.array([33, 31, 32])                   # not a run: stored one by one
    d.submit("write", blocks, 0.0, np.array([1, 2, 3], np.uint32))
    ref[blocks] = [1, 2, 3]
    assert d.data.tolist() == ref.tolist() and d.written == 34


def test_one_stamp_for_every_block_is_stored_or_skipped_alike():
    d = Disk(16, bandwidth=1e9, seek=0.0)
    d.submit("write", np.arange(0, 4), 0.0, 0)        # zeros past the mark: nothing to store
    d.submit("write", np.arange(4, 8), 0.0, 9)
    d.submit("write", np.arange(5, 7), 0.0, 0)        # zeros over data: stored
    assert d.data.tolist() == [0] * 4 + [9, 0, 0, 9] + [0] * 8 and d.written == 8
