"""Simulated time: one clock and the events scheduled on it.

Stands for the kernel's timers and deferred work (kernel/time/timer.c
add_timer/del_timer, the workqueues' delayed work, a request's completion
interrupt): whatever happens "meanwhile" while a task runs or sleeps is an
event at a simulated time. The loop is SimPy's core in miniature: a heap of
(time, priority, sequence, event); ``run_until(t)`` fires every event due by
t in that order and leaves the clock at t. A task that spends simulated
seconds (a fault's cost, a throttled sleep, waiting for I/O) runs the clock
to its end time, so the flushers, completions and samples due before then
happen first. Reading ``now`` changes nothing.
"""

import heapq
import math

from .errors import EINVAL, error

# Of events due at the same time: I/O completions first (a request that
# ended frees its pages before anyone looks), then timers and work items,
# then observers (timeline samples see the state after everything else).
IRQ, WORK, OBSERVE = 0, 1, 2


class Timer:
    """A scheduled event; cancel() keeps it from firing (del_timer)."""

    __slots__ = ("time", "callback", "cancelled")

    def __init__(self, time, callback):
        self.time = time
        self.callback = callback
        self.cancelled = False

    def cancel(self):
        """Keep the event from firing."""
        self.cancelled = True


class Clock:
    """The machine's simulated seconds since boot and its event heap."""

    def __init__(self):
        self._now = 0.0
        self._heap = []
        self._seq = 0

    @property
    def now(self):
        """Simulated seconds since boot."""
        return self._now

    def schedule(self, t, callback, priority=WORK):
        """Call callback() at simulated time t (not before now); return its Timer."""
        if not math.isfinite(t):
            raise error(EINVAL, f"cannot schedule an event at {t!r}")
        timer = Timer(max(float(t), self._now), callback)
        heapq.heappush(self._heap, (timer.time, priority, self._seq, timer))
        self._seq += 1
        return timer

    def peek(self):
        """When the next pending event is due (inf if none)."""
        heap = self._heap
        while heap and heap[0][3].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def run_until(self, t):
        """Fire every event due by t, in time, priority and scheduling order; now = t.

        An event may schedule others; those due by t fire in the same call.
        """
        heap = self._heap
        while heap and heap[0][0] <= t:
            when, _, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            self._now = when
            timer.callback()
        if t > self._now:
            self._now = t

    def __len__(self):
        return sum(1 for e in self._heap if not e[3].cancelled)
