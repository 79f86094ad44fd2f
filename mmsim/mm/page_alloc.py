"""Page allocation (mm/page_alloc.c): free pages, the slow path, anonymous frames.

A fault that needs n new pages calls alloc_pages: if too few are free, the
task reclaims page cache itself (direct reclaim, vmscan.py); while writes
are in flight it waits for the next one to complete and tries again
(reclaim_throttle today, congestion_wait in 2.6.37), and when nothing is
left the OOM killer picks a victim (oom_kill.py).

Anonymous pages are numbered like pfns: a VMA's page table holds the number.
Per frame: how many PTEs map it (page_mapcount), its contents stamp and how
many VM_LOCKED PTEs map it (the mlock count, folio->mlock_count since 5.18;
2.6.37 kept one PG_mlocked bit and re-checked on munlock, which ends in the
same state). Frame numbers are never reused, so the arrays only grow.
"""

import numpy as np

from .oom_kill import out_of_memory
from .vmscan import shrink_page_cache


def nr_free_pages(m):
    """Pages no file or anonymous page uses (NR_FREE_PAGES)."""
    vs = m.vmstat
    return m.ram_pages - vs.nr_file_pages - vs.nr_anon_pages


def alloc_pages(m, proc, n, addr=0, protect=None):
    """Make room for n new pages (__alloc_pages_slowpath: direct reclaim, then OOM).

    Waiting for a write in flight runs the clock to its completion (pages
    under writeback become reclaimable when their I/O ends). Return the
    seconds the task waited; the fault that asked pays them. protect is
    passed to reclaim: the pages the fault itself is bringing in.
    """
    t0 = m.now
    while nr_free_pages(m) < n:
        short = n - nr_free_pages(m)
        if shrink_page_cache(m, short, protect) >= short:
            break
        done = m.wb.next_completion()
        if done is not None:
            m.clock.run_until(done)
            continue
        if not out_of_memory(m, proc, addr):
            break
    return m.now - t0


class AnonPages:
    """The machine's anonymous page frames."""

    def __init__(self, vmstat, capacity=1024):
        self.vmstat = vmstat
        self.n = 0
        self.mapcount = np.zeros(capacity, np.int16)
        self.data = np.zeros(capacity, np.uint32)
        self.mlock = np.zeros(capacity, np.int16)

    def _grow(self, need):
        cap = len(self.mapcount)
        if need <= cap:
            return
        cap = max(need, 2 * cap)
        for name in ("mapcount", "data", "mlock"):
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[:self.n] = old[:self.n]
            setattr(self, name, new)

    def alloc(self, k, data=None):
        """Allocate k frames holding data (zeros if None), mapped once; return their numbers.

        mm/memory.c: alloc_page_vma() + page_add_new_anon_rmap().
        """
        self._grow(self.n + k)
        ids = slice(self.n, self.n + k)
        self.mapcount[ids] = 1
        if data is not None:
            self.data[ids] = data
        ids = np.arange(self.n, self.n + k, dtype=np.int32)
        self.n += k
        self.vmstat.nr_anon_pages += k
        return ids

    def get(self, ids):
        """Map frames once more (fork: copy_one_pte); ids must be distinct."""
        self.mapcount[ids] += 1

    def put(self, ids):
        """Unmap frames once (page_remove_rmap); free those no PTE maps any more."""
        self.mapcount[ids] -= 1
        self.vmstat.nr_anon_pages -= int(np.count_nonzero(self.mapcount[ids] == 0))

    def live(self):
        """Return the number of frames some PTE maps (a full recount)."""
        return int(np.count_nonzero(self.mapcount[:self.n] > 0))

    def nr_mlocked(self):
        """Return the number of frames with an mlock count (a full recount)."""
        return int(np.count_nonzero(self.mlock[:self.n] > 0))
