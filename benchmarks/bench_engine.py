"""Touch and mlock of a 20 GiB sparse shared file mapping (5,242,880 pages).

The thread's full-scale experiment, on each kernel version: wall time of the
touch plus the mlock, and the peak RSS of the process that ran it. The target
(issue 2): under 1 s wall and under 300 MB each. Run: python -m benchmarks.bench_engine
"""

import os
import sys
import time

WALL_LIMIT_S = 1.0
RSS_LIMIT_MB = 300


def touch_and_mlock(kernel):
    import mmsim
    from mmsim import GiB, MAP_SHARED, PROT_READ, PROT_WRITE, RLIM_INFINITY

    m = mmsim.Machine(kernel=kernel, ram=24 * GiB, profile="2010")
    # room for every page, so that the 2.6.37 mlock can write them all back
    m.mkfs("/data", fs="ext2", size=24 * GiB)
    p = m.spawn(memlock=(RLIM_INFINITY, RLIM_INFINITY))
    fd = p.open("/data/hole20G", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 20 * GiB)
    a = p.mmap(0, 20 * GiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    t0 = time.perf_counter()
    r = p.touch(a, 20 * GiB)
    t1 = time.perf_counter()
    s0 = m.now
    p.mlock(a, 20 * GiB)
    t2 = time.perf_counter()
    return {"kernel": kernel, "pages": r.pages, "touch_mlock_wall_s": round(t2 - t0, 3),
            "touch_wall_s": round(t1 - t0, 3), "mlock_wall_s": round(t2 - t1, 3),
            "touch_sim_s": round(r.seconds, 3), "mlock_sim_s": round(m.now - s0, 3),
            "dirty_kb": m.meminfo()["Dirty"], "st_blocks": m.stat("/data/hole20G").st_blocks}


def main():
    from benchmarks.common import measure, report
    import mmsim
    rows = [measure(touch_and_mlock, k) for k in mmsim.KERNEL_VERSIONS]
    ok = report("touch + mlock of a 20 GiB sparse shared mapping (ext2, profile 2010)",
                rows, {"touch_mlock_wall_s": WALL_LIMIT_S, "peak_rss_mb": RSS_LIMIT_MB})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
