"""Michel's memtoy session at full scale: 20 GiB sparse file, 10 GiB partition.

Every hole20G scenario of issue 3 (kernels 2.6.37 and 2.6.38, ext2 and ext4,
lock and touch write), each in a fresh process: wall time of the whole
scenario and peak RSS. Target: under 1 s wall and 300 MB each.
Run: python -m benchmarks.bench_hole20g
"""

import sys
import time

WALL_LIMIT_S = 1.0
RSS_LIMIT_MB = 300


def scenario(kernel, fs, action):
    from mmsim import scenarios
    t0 = time.perf_counter()
    r = scenarios.memtoy_hole20g(kernel, fs, action)
    return {"kernel": kernel, "fs": fs, "action": action, "outcome": r.outcome,
            "scenario_wall_s": round(time.perf_counter() - t0, 3),
            "touch_sim_s": round(r.touch_seconds, 3), "action_sim_s": round(r.seconds, 1),
            "file_blocks_gib": round(r.file_blocks_kb / 2**20, 2)}


def main():
    from benchmarks.common import measure, report
    rows = [measure(scenario, k, fs, action)
            for k in ("2.6.37", "2.6.38") for fs in ("ext2", "ext4")
            for action in ("lock", "touch write")]
    ok = report("memtoy hole20G at full scale (profile 2010, 24 GiB RAM)", rows,
                {"wall_s": WALL_LIMIT_S, "peak_rss_mb": RSS_LIMIT_MB})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
