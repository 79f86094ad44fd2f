"""Touch and mlock of a sparse shared file mapping: at 20 GiB, and cost per page by size.

The thread's full-scale experiment on each kernel version (24 GiB RAM, a
24 GiB ext2 partition, so that the 2.6.37 mlock can write every page back,
profile "2010"): wall time of the touch plus the mlock, setup excluded.
At other sizes the machine is scaled with the file (RAM and partition 6/5
of it, as 24 GiB are of 20 GiB), so every size runs the same experiment:
with a fixed 24 GiB, small files would stay under the dirty limits and
large ones not, and the cost per page would measure that change of regime,
not the simulator. Targets (issue 9): under 0.5 s at 20 GiB (5,242,880
pages) on every kernel, and a cost per page flat or falling with size: the
exponent of the least-squares fit of log(time) on log(pages), over the
sizes from 2^18 to 2^22 pages, at most 1.05 (1: linear). The table of microseconds per page is
printed above the figures. Run alone: python -m benchmarks.bench_engine [--quick]
"""

import math
import os
import sys
import time

import numpy as np

import mmsim
from mmsim import GiB, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE, RLIM_INFINITY

WALL_S = 0.5
EXPONENT = 1.05
FULL_PAGES = 20 * GiB // PAGE_SIZE
SIZES = tuple(2**e for e in range(16, 23))       # pages
FIT_FROM = 2**18


def touch_and_mlock(kernel, pages):
    """Map `pages` pages of a sparse file shared, touch them, mlock them (in its own process)."""
    size = pages * PAGE_SIZE
    m = mmsim.Machine(kernel=kernel, ram=max(size * 6 // 5, 64 * 2**20), profile="2010")
    m.mkfs("/data", fs="ext2", size=size * 6 // 5)
    p = m.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
    fd = p.open("/data/hole", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    t0 = time.perf_counter()
    p.touch(a, size)
    t1 = time.perf_counter()
    p.mlock(a, size)
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "touch_s": t1 - t0, "mlock_s": t2 - t1,
            "dirty_kb": m.meminfo()["Dirty"]}


def exponent(pages, seconds):
    """The slope of the least-squares line of log(seconds) on log(pages)."""
    return float(np.polyfit(np.log(pages), np.log(seconds), 1)[0])


def run(reps, quick):
    """Rows: the 20 GiB touch + mlock per kernel, and the scaling exponent per kernel."""
    from benchmarks.common import Processes, Row, table
    sizes = SIZES[::2] if quick else SIZES
    kernels = mmsim.KERNEL_VERSIONS
    full = [(k, FULL_PAGES) for k in kernels]
    scaled = [(k, n) for k in kernels for n in sizes]
    with Processes(__name__) as procs:
        figures = procs.medians([("touch_and_mlock", c, f"{c[0]} 20 GiB") for c in full] +
                                [("touch_and_mlock", c, f"{c[0]} 2^{int(math.log2(c[1]))} pages")
                                 for c in scaled], reps)
    rows = []
    for (kernel, _), m in zip(full, figures):
        rows += [Row("touch+mlock 20 GiB", f"{kernel}: wall", m["seconds"], WALL_S, "s"),
                 Row("touch+mlock 20 GiB", f"{kernel}: peak RSS", m["peak_rss_mb"],
                     unit="MB", digits=0)]
    per_page = {c: m["seconds"] for c, m in zip(scaled, figures[len(full):])}
    fit = [n for n in sizes if n >= FIT_FROM]
    for kernel in kernels:
        rows.append(Row("cost per page", f"{kernel}: exponent of time ~ pages^k, "
                                         f"2^{int(math.log2(fit[0]))}..2^{int(math.log2(fit[-1]))}",
                        exponent(fit, [per_page[kernel, n] for n in fit]), EXPONENT, digits=2))
    print("\ntouch + mlock, microseconds per page (median wall time / pages)")
    print(table(("pages", "") + tuple(kernels),
                [(f"2^{int(math.log2(n))}", f"{n:,}") +
                 tuple(f"{per_page[k, n] / n * 1e6:.4f}" for k in kernels) for n in sizes]))
    return rows


def main():
    from benchmarks.common import main
    return main(modules=("bench_engine",))


if __name__ == "__main__":
    sys.exit(main())
