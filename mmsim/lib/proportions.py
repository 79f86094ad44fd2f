"""Floating proportions (lib/proportions.c, Linux 2.6.37), as 2.6.37's dirty
throttling uses them: a disk's share of recent writeout completions
(vm_completions, bdi->completions) and a task's share of recent page
dirtying (vm_dirties, tsk->dirties).

Time is counted in events. A period is 2^shift events, and every half
period that passes halves each participant's count, so a share follows what
happened over roughly the last period:

    p_j = x_j / (period/2 + t mod period/2)

A participant that has done every event since the start has p = E/(period/2 + E)
after E < period/2 events, 1/2 after period/2, and tends to 1: a fresh disk's
share, and so its dirty limit, ramps up as it completes writes.
"""


def ilog2(n):
    """The floor of log2(n), n >= 1 (include/linux/log2.h)."""
    return int(n).bit_length() - 1


class PropGlobal:
    """One proportion's global event count and period (struct prop_descriptor)."""

    def __init__(self, shift):
        self.shift = shift
        self.period_2 = 1 << (shift - 1)    # half a period, in events
        self.events = 0


class PropLocal:
    """One participant's decaying event count (struct prop_local_single / _percpu)."""

    def __init__(self, pg):
        self.pg = pg
        self.events = 0
        self.period = 0      # the global half-period count the local count is normalised to

    def _normalised(self):
        """(events, period) after halving once per missed half period (prop_norm_single)."""
        pg = self.pg
        global_period = pg.events & ~(pg.period_2 - 1)
        if global_period == self.period:
            return self.events, self.period
        missed = (global_period - self.period) >> (pg.shift - 1)
        return (self.events >> missed if missed < 64 else 0), global_period

    def inc(self, n=1):
        """Count n events of this participant, one at a time (__prop_inc_single).

        Split at the half-period boundaries the global count crosses, so n at
        once ends as n single increments would.
        """
        pg = self.pg
        half = pg.period_2
        while n > 0:
            if pg.events & ~(half - 1) != self.period:     # a half period went by
                self.events, self.period = self._normalised()
            to_boundary = half - (pg.events & (half - 1))
            k = min(n, to_boundary)
            self.events += k
            pg.events += k
            n -= k

    def fraction(self):
        """Return (numerator, denominator) of this participant's share (prop_fraction_single)."""
        events, _ = self._normalised()
        pg = self.pg
        return events, pg.period_2 + (pg.events & (pg.period_2 - 1))
