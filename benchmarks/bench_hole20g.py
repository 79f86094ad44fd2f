"""Michel's memtoy session at full scale: every scenarios.memtoy_hole20g combination.

Kernels 2.6.37, 2.6.38 and 6.18, filesystems ext2, ext3, ext4, xfs and btrfs,
actions "lock" and "touch write", at the function's defaults (20 GiB sparse
file, 10 GiB partition, 24 GiB RAM, profile "2010"). Figures: wall time of
the scenario call and peak RSS of its process. Targets (issue 9): under
0.5 s and 200 MB each. Run alone: python -m benchmarks.bench_hole20g [--quick]
"""

import sys
import time

import mmsim
from mmsim import scenarios

WALL_S = 0.5
RSS_MB = 200
ACTIONS = ("lock", "touch write")


def scenario(kernel, fs, action):
    """One memtoy_hole20g call at full scale (runs in its own process)."""
    t0 = time.perf_counter()
    r = scenarios.memtoy_hole20g(kernel, fs, action)
    return {"seconds": time.perf_counter() - t0, "outcome": r.outcome}


def run(reps, quick):
    """Rows: wall time and peak RSS of each combination (quick: ext2 and ext4 only)."""
    from benchmarks.common import Processes, Row
    filesystems = ("ext2", "ext4") if quick else mmsim.FILESYSTEMS
    combos = [(k, fs, a) for k in mmsim.KERNEL_VERSIONS for fs in filesystems for a in ACTIONS]
    with Processes(__name__) as procs:
        figures = procs.medians([("scenario", c, " ".join(c)) for c in combos], reps)
    rows = []
    for combo, m in zip(combos, figures):
        case = " ".join(combo)
        rows += [Row("hole20g", f"{case} ({m['outcome']}): wall", m["seconds"], WALL_S, "s"),
                 Row("hole20g", f"{case}: peak RSS", m["peak_rss_mb"], RSS_MB, "MB", digits=0)]
    return rows


def main():
    from benchmarks.common import main
    return main(modules=("bench_hole20g",))


if __name__ == "__main__":
    sys.exit(main())
