"""Run a benchmark case in a fresh child process and report wall time and peak RSS."""

import json
import multiprocessing as mp
import resource
import time


def _child(fn, args, conn):
    t0 = time.perf_counter()
    out = fn(*args)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send({"wall_s": round(wall, 3), "peak_rss_mb": round(peak_mb, 1), **out})
    conn.close()


def measure(fn, *args):
    """Run fn(*args) in a new process (so peak RSS is its own); return its figures.

    fn returns a dict of simulated figures; wall_s and peak_rss_mb are added.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(fn, args, child))
    p.start()
    child.close()
    result = parent.recv()
    p.join()
    return result


def report(title, rows, limits):
    """Print rows as JSON lines and check each against limits {key: max}; return ok."""
    ok = True
    print(title)
    for row in rows:
        bad = [k for k, lim in limits.items() if row[k] > lim]
        ok &= not bad
        print(json.dumps(row), "OVER " + ",".join(bad) if bad else "ok")
    return ok
