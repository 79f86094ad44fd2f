"""A fingerprint of every memtoy_hole20g combination, to check that a speed-up changed nothing.

For each kernel, filesystem and action (and bench_engine's touch + mlock
at two sizes) one SHA-256 over everything the run produced: every field
of its result (outcome, simulated seconds, pages, meminfo, disk counters,
function counts, timeline, signal), and of its machine the clock, the
lifetime totals per kernel path, meminfo and every logged trace event.
Run it before and after a change and compare the lines (diff):

    python -m benchmarks.fingerprint [--scale 16] > before.txt

--scale N divides the file, partition and RAM by N (default 16: about 3 s
for all of them); --scale 1 runs the full 20 GiB size (minutes).
"""

import argparse
import hashlib
import json
import sys

import mmsim
from mmsim import GiB, scenarios

ACTIONS = ("lock", "touch write")
FULL_PAGES = 20 * GiB // mmsim.PAGE_SIZE


class _Recorded(mmsim.Machine):
    """A Machine that remembers itself, so the fingerprint sees what the scenario built."""

    made = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _Recorded.made.append(self)


def _machine(m):
    events = "\n".join(repr(e) for e in m.trace.events)
    return [repr(m.now), repr(sorted(m.trace.totals.items())), repr(m.meminfo()),
            hashlib.sha256(events.encode()).hexdigest(), len(m.trace.events)]


def _digest(*parts):
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _run(module, fn, *args):
    """fn(*args) with module.Machine recorded; return (its result, the machine it made)."""
    _Recorded.made.clear()
    saved, module.Machine = module.Machine, _Recorded
    try:
        return fn(*args), _Recorded.made[0]
    finally:
        module.Machine = saved


def hole20g(kernel, fs, action, scale):
    r, m = _run(scenarios, lambda: scenarios.memtoy_hole20g(
        kernel, fs, action, size=20 * GiB // scale, partition=10 * GiB // scale,
        ram=24 * GiB // scale))
    return _digest({k: repr(getattr(r, k)) for k in r.__dataclass_fields__}, _machine(m))


def touch_and_mlock(kernel, pages):
    from benchmarks import bench_engine
    r, m = _run(bench_engine.mmsim, bench_engine.touch_and_mlock, kernel, pages)
    return _digest(r["dirty_kb"], _machine(m))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.fingerprint", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=16, help="divide the sizes by this")
    args = ap.parse_args(argv)
    if args.scale < 1:
        ap.error("--scale must be at least 1")
    for kernel in mmsim.KERNEL_VERSIONS:
        for fs in mmsim.FILESYSTEMS:
            for action in ACTIONS:
                print(f"{kernel} {fs} {action}: {hole20g(kernel, fs, action, args.scale)}",
                      flush=True)
        for pages in (FULL_PAGES // (4 * args.scale), FULL_PAGES // args.scale):
            print(f"{kernel} touch+mlock {pages} pages: {touch_and_mlock(kernel, pages)}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
