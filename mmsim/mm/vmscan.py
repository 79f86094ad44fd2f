"""Page reclaim and the OOM killer (mm/vmscan.c shrink_page_list, mm/oom_kill.c).

When a fault needs pages and none are free, the allocating task reclaims
page-cache pages itself (direct reclaim): clean, not mlocked, not under
writeback, least recently used file first, unmapped pages before mapped
ones (which are unmapped from every process first, try_to_unmap). Mlocked pages sit on the unevictable list
and are never taken; anonymous and shmem pages have nowhere to go (no swap is
configured). When nothing is left, the OOM killer kills the process with the
largest RSS (oom_badness), which may be the faulting one. Before that, while
writes are in flight, the task waits for them to complete and tries again
(reclaim_throttle on today's kernels, congestion_wait in 2.6.37).

Simplified: one LRU order per file (by the time it was last faulted), a
second chance for referenced pages, no kswapd, no watermarks, reclaim costs
no simulated time; dirty pages are not written out by reclaim.
"""

import signal

import numpy as np

from .._abi import PAGE_SIZE
from ..errors import Signal
from .filemap import PG_DIRTY, PG_REFERENCED, PG_UPTODATE, PG_WRITEBACK
from .vma import PTE_ANON, PTE_PRESENT, PTE_ZERO


def nr_free_pages(m):
    """Pages no file or anonymous page uses."""
    vs = m.vmstat
    return m.ram_pages - vs.nr_file_pages - vs.nr_anon_pages


def try_to_unmap(m, inode, pgs):
    """Remove every PTE that maps file pages pgs, in every process (mm/rmap.c)."""
    from .memory import zap_pte_range
    for vma in list(inode.mmaps):
        rel = pgs[(pgs >= vma.pgoff) & (pgs < vma.pgoff + vma.npages)] - vma.pgoff
        if len(rel) == 0:
            continue
        bits = vma.pte[rel]
        filep = rel[(bits & (PTE_PRESENT | PTE_ANON | PTE_ZERO)) == PTE_PRESENT]
        for i in filep:
            zap_pte_range(m, vma, int(i), int(i) + 1)


def shrink_page_cache(m, need, protect=None):
    """Reclaim up to need clean, unlocked page-cache pages not under writeback; return how many.

    protect = (inode, first, last) keeps the pages a fault is bringing in.
    """
    got = 0
    inodes = sorted((i for sb in m.mounts.values() for i in sb.inodes.values()
                     if i.mapping.nrpages),
                    key=lambda i: (i.last_used, i.ino))
    for mapped_too in (False, True):
        for second_chance in (False, True):
            for inode in inodes:
                if got >= need:
                    return got
                mp = inode.mapping
                n = len(mp.flags)
                f = mp.flags[:n]
                ok = (((f & (PG_UPTODATE | PG_DIRTY | PG_WRITEBACK)) == PG_UPTODATE)
                      & (mp.mlock[:n] == 0))
                if not mapped_too:
                    ok &= mp.mapcount[:n] == 0
                if not second_chance:
                    referenced = ok & ((f & PG_REFERENCED) != 0)
                    ok &= ~referenced
                    mp.flags[:n][referenced] &= ~np.uint8(PG_REFERENCED)
                if protect is not None and protect[0] is inode:
                    ok[protect[1]:protect[2]] = False
                take = np.flatnonzero(ok)[:need - got]
                if len(take) == 0:
                    continue
                if mapped_too:
                    try_to_unmap(m, inode, take[mp.mapcount[take] > 0])
                got += mp.remove(take)
                m.vmstat.pgsteal += len(take)
    return got


def oom_badness(m, proc):
    """The OOM killer's score of a process: its resident pages (mm/oom_kill.c)."""
    rss = 0
    for vma in proc.mm.vmas:
        rss += int(np.count_nonzero((vma.pte & (PTE_PRESENT | PTE_ZERO)) == PTE_PRESENT))
    return rss


def out_of_memory(m, proc, addr):
    """Kill the process with the largest RSS; raise Signal(SIGKILL) if it is proc."""
    victims = [p for p in m.procs.values() if p.alive]
    if not victims:
        return False
    victim = max(victims, key=lambda p: (oom_badness(m, p), -p.pid))
    m.oom_kills.append((m.now, victim.pid, oom_badness(m, victim) * PAGE_SIZE // 1024))
    victim.kill()
    if victim is proc:
        raise Signal(signal.SIGKILL, addr, "oom_kill_process")
    return True


def alloc_pages(m, proc, n, addr=0, protect=None):
    """Make room for n new pages (__alloc_pages_slowpath: direct reclaim, then OOM).

    Return the seconds the task waited for writes in flight to complete
    (pages under writeback become reclaimable when their I/O ends); the
    caller charges them to the fault.
    """
    t = m.now
    while nr_free_pages(m) < n:
        short = n - nr_free_pages(m)
        if shrink_page_cache(m, short, protect) >= short:
            break
        done = m.wb.next_completion()
        if done is not None:
            t = max(t, done)
            m.wb.nr_writeback(t)
            continue
        if not out_of_memory(m, proc, addr):
            break
    return t - m.now
