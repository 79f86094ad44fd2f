"""Chapter 04's experiments: dirty limits, kupdate, refaults after writeback, first stores, the >2x."""

import copy
from functools import lru_cache

from .._abi import GiB, MiB, MS_SYNC, PAGE_SIZE, PROT_READ
from ..scenarios import shared_mlock
from . import LOCK_OK, map_file, new_machine

# Chapter 04's machines: 1 GiB of RAM and a 2 GiB ext2 filesystem unless said otherwise.
RAM, DISK, FS = GiB, 2 * GiB, "ext2"


def dirtyable_kb(info):
    """MemFree + Cached - Mlocked from a meminfo dict, in kB: what the dirty ratios apply to."""
    return info["MemFree"] + info["Cached"] - info["Mlocked"]


def peak_kb(timeline):
    """The largest Dirty + Writeback, in kB, over a recorded timeline."""
    return max(s["dirty_kb"] + s["writeback_kb"] for s in timeline)


def settled_kb(timeline):
    """The median Dirty + Writeback, in kB, over the second half of a timeline."""
    later = sorted(s["dirty_kb"] + s["writeback_kb"] for s in timeline[len(timeline) // 2:])
    return later[len(later) // 2]


def own_writeback(m, p, since=None):
    """Pages the task p wrote back itself (write_cache_pages from balance_dirty_pages), from the trace."""
    return m.trace.counts(m.trace.query(pid=p.pid, since=since))["write_cache_pages"]


def dirty_limit_run(kernel, locked, ram=RAM, write=512 * MiB, sample=0.1):
    """Process A mlocks `locked` bytes of a file mapped read-only (nothing dirtied);
    process B then stores to every page of a `write`-byte sparse shared mapping.

    Return meminfo before B starts, B's simulated seconds, the timeline
    sampled every `sample` seconds during B's stores, its peak Dirty +
    Writeback in kB, the pages B wrote back itself, and at the end the
    disk's share of recent writeout completions and B's limit on the disk
    in kB (2.6.37's bdi_thresh: that share of the 20% limit, less 1/8 of it
    for a task doing all the dirtying).
    """
    m, a = new_machine(kernel, FS, ram=ram, disk=DISK, caps=LOCK_OK)
    if locked:
        _, x = map_file(a, "/data/locked", locked, PROT_READ)
        a.mlock(x, locked)
    before = m.meminfo()
    b = m.spawn()
    _, y = map_file(b, "/data/out", write)
    m.record_timeline(sample)
    seconds = b.touch(y, write, write=True).seconds
    bdi = m.mounts["/data"].bdi
    num, den = bdi.completions.fraction()
    _, thresh = m.wb.global_dirty_limits()
    return {"kernel": kernel, "locked": locked, "before": before, "seconds": seconds,
            "timeline": m.timeline, "peak_kb": peak_kb(m.timeline), "own": own_writeback(m, b),
            "bdi_share": num / den, "bdi_thresh_kb": m.wb.bdi_thresh(b, bdi, thresh) * PAGE_SIZE // 1024}


def kupdate_clean_time(mib, at, kernel="2.6.37", step=0.05):
    """Store to every page of a mib MiB shared mapping at simulated time `at`; then
    let time pass. Return the first time, sampled every `step` seconds, at which
    meminfo's Dirty is 0 again (rounded to 0.01 s)."""
    m, p = new_machine(kernel, FS, ram=RAM, disk=DISK)
    _, a = map_file(p, "/data/f", mib * MiB)
    m.sleep(at)
    p.touch(a, mib * MiB, write=True)
    while m.meminfo()["Dirty"]:
        m.sleep(step)
    return round(m.now, 2)


def refault_run(kernel, fs="ext4", size=16 * MiB):
    """mlock a sparse shared mapping, then store to every page in passes: twice, after
    40 s of sleep (kupdate), after msync(MS_SYNC).

    Return Dirty after the mlock, the sleep and the msync, and per pass
    (label, faults, simulated seconds, kernel functions of the pass).
    """
    m, p = new_machine(kernel, fs, ram=RAM, disk=DISK, caps=LOCK_OK)
    _, a = map_file(p, "/data/f", size)
    p.mlock(a, size)
    out = {"kernel": kernel, "dirty_after_mlock": m.meminfo()["Dirty"], "passes": []}

    def store_pass(label):
        faults, start = p.getrusage().ru_minflt, m.now
        seconds = p.touch(a, size, write=True).seconds
        functions = m.trace.counts(m.trace.query(pid=p.pid, since=start))
        out["passes"].append((label, p.getrusage().ru_minflt - faults, seconds, functions))

    store_pass("first stores")
    store_pass("stores again")
    m.sleep(40)
    out["dirty_after_sleep"] = m.meminfo()["Dirty"]
    store_pass("after 40 s of sleep")
    p.msync(a, size, MS_SYNC)
    out["dirty_after_msync"] = m.meminfo()["Dirty"]
    store_pass("after msync(MS_SYNC)")
    return out


def refaults_after_sleep(kernel, fs, mib, sleep):
    """Faults of the second store pass over a mlocked mib MiB sparse shared mapping,
    after one store pass and `sleep` seconds of doing nothing."""
    m, p = new_machine(kernel, fs, ram=RAM, disk=DISK, caps=LOCK_OK)
    size = mib * MiB
    _, a = map_file(p, "/data/f", size)
    p.mlock(a, size)
    p.touch(a, size, write=True)
    m.sleep(sleep)
    faults = p.getrusage().ru_minflt
    p.touch(a, size, write=True)
    return p.getrusage().ru_minflt - faults


def first_stores(kernel, fs, options="", size=16 * MiB):
    """mlock a sparse shared mapping, then store once to every page.

    Return the mlock's and the stores' simulated seconds, the pages and
    faults of the stores, the pages the task wrote back itself during both,
    the path of the first store and the file's st_blocks afterwards.
    """
    m, p = new_machine(kernel, fs, ram=RAM, disk=DISK, options=options, caps=LOCK_OK)
    _, a = map_file(p, "/data/f", size)
    start = m.now
    p.mlock(a, size)
    mlock_s = m.now - start
    faults, start = p.getrusage().ru_minflt, m.now
    r = p.touch(a, size, write=True)
    events = m.trace.query(pid=p.pid, since=start)
    return {"mlock_s": mlock_s, "stores_s": r.seconds, "pages": r.pages,
            "faults": p.getrusage().ru_minflt - faults, "own": own_writeback(m, p),
            "path": events[0].path if events else (), "st_blocks": m.stat("/data/f").st_blocks}


def shared_mlock_both(size, profile="2010"):
    """scenarios.shared_mlock on 2.6.37 and on 2.6.38, ext2, for a file of size bytes and
    RAM 4/3 of it: [before the patch, after it].

    Each (size, profile) runs once; the caller gets copies it may change.
    """
    return copy.deepcopy(list(_shared_mlock_both(int(size), str(profile))))


@lru_cache(maxsize=64)
def _shared_mlock_both(size, profile):
    return tuple(shared_mlock(kernel=k, fs="ext2", size=size, ram=size * 4 // 3, profile=profile)
                 for k in ("2.6.37", "2.6.38"))
