"""The event log: every fault, allocation and I/O, named by kernel function.

A range operation records one event per distinct kernel path it took, with
the number of pages and the address span they fall in, never one Python
object per page: the log stays small for a 5,242,880-page mlock. Totals per
path are kept for the machine's whole life; the event list keeps the newest
``maxlen`` events.
"""

from collections import Counter, deque


class Event:
    """One kernel path taken by some pages of one operation (read-only by convention).

    A plain class with __slots__ rather than a frozen dataclass: a range
    operation records one per fault window, and a frozen dataclass's
    __init__ pays an object.__setattr__ call per field. Equality, hash and
    repr are those the dataclass had.
    """

    __slots__ = ("time", "pid", "op", "path", "start", "end", "pages")

    def __init__(self, time, pid, op, path, start, end, pages):
        # time: simulated seconds when the operation recorded it (a stamp, not a clock)
        # pid: 0 for a kernel thread (the flusher)
        # op: what the process called: "touch", "mlock", "msync" ...
        # path: kernel functions, outermost first (a tuple)
        # start, end: lowest address (or file offset for I/O) involved, one past the highest
        # pages: how many pages took this path
        self.time, self.pid, self.op, self.path = time, pid, op, path
        self.start, self.end, self.pages = start, end, pages

    def _key(self):
        return (self.time, self.pid, self.op, self.path, self.start, self.end, self.pages)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"Event(time={self.time!r}, pid={self.pid!r}, op={self.op!r}, "
                f"path={self.path!r}, start={self.start!r}, end={self.end!r}, "
                f"pages={self.pages!r})")

    def __str__(self):
        return (f"{self.time:12.6f}s pid {self.pid} {self.op}: "
                f"{' > '.join(self.path)} x{self.pages} [{self.start:#x}-{self.end:#x})")


class Trace:
    """A bounded log of Events with lifetime totals per path."""

    def __init__(self, maxlen=100_000):
        self.events = deque(maxlen=maxlen)
        self.totals = Counter()

    def record(self, time, pid, op, path, start, end, pages):
        """Append one event; pages == 0 records nothing."""
        if pages <= 0:
            return
        if path.__class__ is not tuple:
            path = tuple(path)
        pages = int(pages)
        self.events.append(Event(time, pid, op, path, start, end, pages))
        self.totals[path] += pages

    def query(self, start=None, end=None, function=None, pid=None, op=None,
              since=None, until=None):
        """Return the events that match the filters.

        start and end select events overlapping the address (or file offset)
        range [start, end); since and until select by simulated time:
        since <= event.time < until. A filter left None selects everything.
        """
        ranged = start is not None or end is not None
        lo = 0 if start is None else start
        hi = float("inf") if end is None else end
        t0 = float("-inf") if since is None else since
        t1 = float("inf") if until is None else until
        return [e for e in self.events
                if (not ranged or (e.start < hi and e.end > lo)) and t0 <= e.time < t1
                and (function is None or function in e.path)
                and (pid is None or e.pid == pid)
                and (op is None or e.op == op)]

    def counts(self, events=None):
        """Return pages per kernel function over events (default: lifetime)."""
        per_path = self.totals if events is None else Counter()
        if events is not None:
            for e in events:
                per_path[e.path] += e.pages
        out = Counter()
        for path, n in per_path.items():
            for fn in path:
                out[fn] += n
        return out

    def clear(self):
        """Forget every event and total."""
        self.events.clear()
        self.totals.clear()

    def __len__(self):
        return len(self.events)
