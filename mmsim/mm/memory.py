"""Page faults (mm/memory.c), vectorised: a fault is a range of pages, a single
fault a range of one.

handle_mm_fault() takes pages [lo, hi) of one VMA and an access (read or
write), works out per page which path the kernel takes, and applies them all
at once:

* PTE not present, anonymous VMA: do_anonymous_page (the zero page on a
  read, a fresh zeroed page on a write);
* PTE not present, file VMA: __do_fault -> filemap_fault, then for a write
  to a private mapping a COW copy, for a write to a shared one
  ->page_mkwrite (where the filesystem has it) and set_page_dirty;
  a read maps the page read-only when the VMA wants write-notify;
* PTE present but read-only, write access: do_wp_page (reuse an anonymous
  page with one user, reuse a shared file page after ->page_mkwrite, copy
  otherwise).

Pages are handled in address order; the first page that gets SIGBUS (past
EOF, or ENOSPC from ->page_mkwrite) stops the range there, as a user access
would. Costs come from the machine's profile; a user access pays the trap,
get_user_pages does not.
"""

import signal
from dataclasses import dataclass, field

import numpy as np

from .._abi import PAGE_SIZE
from ..errors import Hung, Signal
from ..flags import (MKWRITE_ALLOC, MKWRITE_NONE, MKWRITE_RESERVE,
                     PG_REFERENCED, PG_UPTODATE, PTE_ANON, PTE_DIRTY, PTE_MLOCKED, PTE_PRESENT,
                     PTE_WRITE, PTE_YOUNG, PTE_ZERO, VM_LOCKED, VM_MAYWRITE, VM_SHARED,
                     VM_WRITE)
from ..kernels import fname
from ..fs.fs_writeback import mark_inode_dirty
from .page_alloc import alloc_pages, nr_free_pages
from .pagevec import NONE, alike, as_index, count, nth, shift, subset, where
from .rmap import anon_vma_prepare

P, W, D, Y, A, Z, L = (PTE_PRESENT, PTE_WRITE, PTE_DIRTY, PTE_YOUNG, PTE_ANON, PTE_ZERO,
                      PTE_MLOCKED)
BATCH = 1024           # pages faulted between two looks at the disk (4 MiB)
READAHEAD_PAGES = 32   # mm/readahead.c: VM_MAX_READAHEAD, 128 KiB


@dataclass(slots=True)
class FaultResult:
    """What a range of faults did: pages per kernel path, cost, and counters."""

    paths: dict = field(default_factory=dict)      # kernel path -> pages
    seconds: float = 0.0
    minflt: int = 0
    majflt: int = 0
    dirtied: int = 0             # file pages newly dirtied (for the dirty throttle)
    done: int = 0                # pages handled before a signal, or all
    signal: Signal = None

    def add(self, other):
        """Accumulate another result (the range continues after it)."""
        paths = self.paths
        for path, n in other.paths.items():
            paths[path] = paths.get(path, 0) + n
        self.seconds += other.seconds
        self.minflt += other.minflt
        self.majflt += other.majflt
        self.dirtied += other.dirtied
        self.done += other.done
        self.signal = other.signal


def filemap_fault(m, proc, inode, pgs):
    """Bring file pages pgs into the page cache (mm/filemap.c: filemap_fault).

    A hole or an unwritten block reads as zeros without I/O (mpage_readpage
    zero-fills); an allocated block is read from the disk (a major fault),
    by the filesystem's ->readpages. Simplified: no readahead window; pages
    read together are one request. The task waits for free pages and for
    its read on the clock. Return (pages zero-filled, pages read from disk,
    pages found cached, seconds waited).
    """
    mapping = inode.mapping
    cached = (mapping.flags[pgs] & PG_UPTODATE) != 0
    if cached.any():
        idx = as_index(pgs)
        mapping.flags[idx[cached]] |= PG_REFERENCED
        miss = idx[~cached]
    else:
        miss = pgs
    nmiss = count(miss)
    nhit = count(pgs) - nmiss
    inode.last_used = m.now
    if nmiss == 0:
        return 0, 0, nhit, 0.0
    t0 = m.now
    first = pgs.start if isinstance(pgs, slice) else int(pgs[0])
    last = pgs.stop if isinstance(pgs, slice) else int(pgs[-1]) + 1
    alloc_pages(m, proc, nmiss, protect=(inode, first, last))
    stamps, nread, done = inode.sb.readpages(inode, miss)
    mapping.add(miss, stamps)
    return nmiss - nread, nread, nhit, done - t0


_PATHS = {}
_WP_SHARED_PATHS = {}   # (kernel, filesystem type, ->page_mkwrite kind, via) -> path


def _path(m, via, *names):
    """Build a trace path: the entry (trap or gup), then kernel function names."""
    key = (m.kernel.version, via, names)
    path = _PATHS.get(key)
    if path is None:
        if via is not None:
            entry = tuple(via) + ("handle_mm_fault",)
        elif m.kernel.modern_names:     # arch/x86/mm/fault.c today
            entry = ("exc_page_fault", "do_user_addr_fault", "handle_mm_fault")
        else:
            entry = ("do_page_fault", "handle_mm_fault")
        path = _PATHS[key] = tuple(fname(m.kernel, n) for n in entry + names)
    return path


def handle_mm_fault(m, proc, vma, lo, hi, write, via=None):
    """Fault pages [lo, hi) of vma for a read or write access; return a FaultResult.

    via is None for a user access (it pays the trap), or the kernel path of a
    get_user_pages() caller. Pages that need no fault only get the hardware
    young (and, on a write, dirty) bits.
    """
    pte_all = vma.pte[lo:hi]
    # A range whose PTEs are all alike (the usual case: a fresh or a clean
    # mapping) takes one path: decide it from one PTE, with slices, instead of
    # per-page masks. Both branches give the same selections.
    v = alike(pte_all)
    uniform = v is not None
    inode = vma.inode
    if uniform and write and v & (P | W | A | Z) == P and inode is not None \
            and vma.flags & VM_SHARED:
        return _wp_shared_run(m, vma, inode, lo, hi, v, via)
    res = FaultResult()
    prof = m.profile
    if uniform:
        present_all = bool(v & P)
        need_all = not present_all or bool(write and not v & W)
    else:
        present = (pte_all & P) != 0
        need = ~present | ((pte_all & W) == 0) if write else ~present
    shared = vma.flags & VM_SHARED
    stop = hi
    sig = None
    if inode is not None:
        eof = -(-inode.size // PAGE_SIZE) - (vma.pgoff + lo)     # first index past EOF (npages)
        if eof < hi - lo:
            if uniform:
                first_past = max(eof, 0) if need_all else None
            else:
                past = np.flatnonzero(need[max(eof, 0):])
                first_past = max(eof, 0) + int(past[0]) if len(past) else None
            if first_past is not None:
                stop = lo + first_past
                sig = Signal(signal.SIGBUS, vma.start + stop * PAGE_SIZE, "filemap_fault")
    sb = inode.sb if inode is not None else None
    mkwrite = sb.page_mkwrite if sb is not None else MKWRITE_NONE
    if write and shared and mkwrite is not MKWRITE_NONE:
        if uniform:
            sel = slice(0, stop - lo) if need_all else NONE
        else:
            sel = where(need[:stop - lo])
        ok = sb.do_page_mkwrite(inode, shift(sel, vma.pgoff + lo), mkwrite)
        if ok < count(sel):
            stop = lo + nth(sel, ok)
            sig = Signal(signal.SIGBUS, vma.start + stop * PAGE_SIZE, sb.mkwrite_name())
    n = stop - lo
    pte = pte_all if stop == hi else vma.pte[lo:stop]
    res.done = n
    res.signal = sig
    if n == 0:
        return res
    trap = prof.trap if via is None else 0.0
    # the selections (over pte) of each path: no fault, not present, do_wp_page
    if uniform:
        hw = None if need_all else slice(0, n)
        npsel = NONE if present_all else slice(0, n)
        wp = slice(0, n) if write and present_all and need_all else NONE
    else:
        present, need = present[:n], need[:n]
        hw = ~need
        hw = hw if hw.any() else None
        npsel = NONE if present.all() else where(~present)
        wpmask = present & need if write else None
        wp = where(wpmask) if write and wpmask.any() else NONE
    if hw is not None:
        if uniform:
            pte.fill(v | ((D | Y) if write else Y))
        else:
            pte[hw] |= (D | Y) if write else Y

    def account(path, pages, cost):
        if pages:
            key = _path(m, via, *path)
            res.paths[key] = res.paths.get(key, 0) + pages
            res.seconds += pages * (trap + cost)

    # -- not present ---------------------------------------------------------
    nnp = count(npsel)
    if nnp:
        abs_sel = shift(npsel, lo)
        if inode is None:
            if write:
                res.seconds += _new_anon(m, proc, vma, abs_sel, None, nnp)
                pte[npsel] = P | W | D | Y | A
                account(("do_anonymous_page", "alloc_zeroed_user_highpage_movable"),
                        nnp, prof.anon_new_page)
            else:
                pte[npsel] = P | Y | Z
                account(("do_anonymous_page", "my_zero_pfn"), nnp, prof.anon_zero_page)
        else:
            pgs = shift(abs_sel, vma.pgoff)
            nhole, nread, nhit, io = filemap_fault(m, proc, inode, pgs)
            # one fault per readahead window waits for the disk (VM_FAULT_MAJOR);
            # the others find the page the readahead brought in
            res.majflt += -(-nread // READAHEAD_PAGES)
            res.seconds += io
            kind = "read" if not write else ("shared" if shared else "cow")
            tail, extra = (), 0.0
            if kind == "cow":
                res.seconds += _new_anon(m, proc, vma, abs_sel, inode.mapping.data[pgs], nnp)
                pte[npsel] = P | W | D | Y | A
                tail, extra = ("copy_user_highpage",), prof.cow_copy
            else:
                inode.mapping.mapcount[pgs] += 1
                if kind == "shared":
                    pte[npsel] = P | W | D | Y
                    res.dirtied += inode.mapping.set_dirty(pgs)
                    mark_inode_dirty(m, inode)
                    _fault_update_time(m, inode, mkwrite)
                    tail, extra = _mkwrite_tail(m, sb, mkwrite, prof, "__do_fault")
                else:
                    writable = shared and vma.flags & VM_WRITE and not vma.wants_writenotify()
                    pte[npsel] = P | Y | (W if writable else 0)
            for how, pages, cost in (("zero_user_segment", nhole, prof.file_fill_hole),
                                     ("submit_bio", nread, prof.file_map_cached),
                                     ("find_get_page", nhit, prof.file_map_cached)):
                account(("__do_fault/" + kind, "filemap_fault", how) + tail, pages, cost + extra)
    # -- present, read-only, written: do_wp_page ----------------------------------
    if count(wp):
        if uniform:                     # every page of wp is like the first
            b = v & (A | Z)
            zero, anon, filep = ((wp if b == Z else NONE), (wp if b == A else NONE),
                                 (wp if b == 0 else NONE))
        else:
            bits = pte[wp] & (A | Z)
            if bits.any():
                zero, anon, filep = (subset(wp, bits == Z), subset(wp, bits == A),
                                     subset(wp, bits == 0))
            else:
                zero, anon, filep = NONE, NONE, wp
        if count(zero):
            res.seconds += _new_anon(m, proc, vma, shift(zero, lo), None, count(zero))
            pte[zero] = P | W | D | Y | A
            account(("do_wp_page", "alloc_zeroed_user_highpage_movable"),
                    count(zero), prof.anon_new_page)
        if count(anon):
            anon = as_index(anon)
            sole = m.anon.mapcount[vma.pfn[lo + anon]] == 1
            reuse, copy = anon[sole], anon[~sole]
            pte[reuse] |= W | D | Y
            account(("do_wp_page", "reuse_swap_page"), len(reuse), prof.anon_zero_page)
            if len(copy):
                _munlock_ptes(m, vma, lo + copy)
                old = vma.pfn[lo + copy]
                data = m.anon.data[old]
                m.anon.put(old)
                res.seconds += _new_anon(m, proc, vma, lo + copy, data, len(copy))
                pte[copy] = P | W | D | Y | A
                account(("do_wp_page", "cow_user_page"), len(copy), prof.cow_copy)
        nfile = count(filep)
        if nfile:
            pgs = shift(filep, vma.pgoff + lo)
            if shared:
                if uniform:                     # filep is the whole range
                    pte.fill(v | W | D | Y)
                else:
                    pte[filep] |= W | D | Y
                res.dirtied += inode.mapping.set_dirty(pgs)
                mark_inode_dirty(m, inode)
                _fault_update_time(m, inode, mkwrite)
                tail, extra = _mkwrite_tail(m, sb, mkwrite, prof, "do_wp_page")
                account(("do_wp_page",) + tail, nfile, extra)
            else:
                data = inode.mapping.data[pgs]
                _munlock_ptes(m, vma, as_index(shift(filep, lo)))
                inode.mapping.mapcount[pgs] -= 1
                res.seconds += _new_anon(m, proc, vma, shift(filep, lo), data, nfile)
                pte[filep] = P | W | D | Y | A
                account(("do_wp_page", "cow_user_page"), nfile, prof.cow_copy)
    if vma.flags & VM_LOCKED:
        mlock_ptes(m, vma, lo, stop, True)      # mlock_vma_page on what is now mapped
    faults = sum(res.paths.values())
    res.minflt += faults - res.majflt
    m.vmstat.pgfault += faults
    m.vmstat.pgmajfault += res.majflt
    return res


def _wp_shared_run(m, vma, inode, lo, hi, v, via):
    """do_wp_page's shared-page reuse (mm/memory.c; wp_page_shared today) on
    pages [lo, hi) of a shared file mapping, present and read-only with PTEs
    all v: ->page_mkwrite, then make them writable and dirty; return a FaultResult.

    handle_mm_fault's general path with its selections worked out (every
    page needs the fault, none is anonymous or the zero page): the case of
    every store into a clean shared mapping, a write touch after a read
    one, and of 2.6.37's mlock of one, taken once per throttle window, so
    without the general path's per-path bookkeeping. It does what that path
    does, in the same order: SIGBUS at the first page past EOF
    (filemap_fault) or the first ->page_mkwrite fails.
    """
    res = FaultResult()
    stop = hi
    eof = -(-inode.size // PAGE_SIZE) - (vma.pgoff + lo)     # first index past EOF (npages)
    if eof < hi - lo:
        stop = lo + max(eof, 0)
        res.signal = Signal(signal.SIGBUS, vma.start + stop * PAGE_SIZE, "filemap_fault")
    sb = inode.sb
    mkwrite = sb.page_mkwrite
    if mkwrite is not MKWRITE_NONE:
        ok = sb.do_page_mkwrite(inode, slice(vma.pgoff + lo, vma.pgoff + stop), mkwrite)
        if ok < stop - lo:
            stop = lo + ok
            res.signal = Signal(signal.SIGBUS, vma.start + stop * PAGE_SIZE, sb.mkwrite_name())
    n = res.done = stop - lo
    if n == 0:
        return res
    new = v | W | D | Y
    vma.pte[lo:stop].fill(new)
    res.dirtied = inode.mapping.set_dirty(slice(vma.pgoff + lo, vma.pgoff + stop))
    mark_inode_dirty(m, inode)
    _fault_update_time(m, inode, mkwrite)
    key = (m.kernel.version, type(sb), mkwrite, via)
    path = _WP_SHARED_PATHS.get(key)
    if path is None:
        path = _WP_SHARED_PATHS[key] = _path(m, via, "do_wp_page",
                                             *_mkwrite_names(m, sb, mkwrite, "do_wp_page"))
    res.paths[path] = n
    trap = m.profile.trap if via is None else 0.0
    res.seconds = n * (trap + _mkwrite_cost(m.profile, mkwrite))
    if vma.flags & VM_LOCKED:                   # mlock_vma_page on what is now mapped
        mlock_ptes(m, vma, lo, stop, True, new)
    res.minflt = n
    m.vmstat.pgfault += n
    return res


def fault_range(m, proc, vma, lo, hi, write, op, via=None, store=None):
    """Fault pages [lo, hi) of vma in over simulated time; return a FaultResult.

    The kernel handles a long range page by page while time passes: the
    flusher writes back, a task that dirties pages is throttled every
    ratelimit pages (balance_dirty_pages), reads queue behind writes. So a
    range that may dirty or read pages goes in batches, with the clock run
    between them; any other range goes in one step, unless it needs more
    pages than are free: the kernel allocates page by page, so reclaim and
    the OOM killer (oom_badness) see the faulting task's RSS grow, and such
    a range goes in batches once free memory is used up. via names the
    get_user_pages() caller, which walks every page (follow_page) and pays
    no trap. store(lo, hi), if given, is the user's stores into pages
    [lo, hi): each batch's land as its faults return, before the clock runs
    on, so writeback meanwhile sees them.
    """
    inode = vma.inode
    dirties = (write and vma.shared and inode is not None
               and inode.sb.dirty_accounting)
    bdi = inode.sb.bdi if dirties else None
    reads = inode is not None and inode.nblocks > 0
    total = FaultResult()
    walk = ()
    if via is not None:
        walk = tuple(fname(m.kernel, n) for n in via) + ("follow_page",)
    proc.call_start = m.now
    wb, base = m.wb, vma.start
    i = lo
    while i < hi:
        if dirties:
            step = max(1, wb.ratelimit(proc, bdi) - proc.nr_dirtied)
        elif reads:
            step = BATCH
        else:
            step = min(hi - i, max(BATCH, nr_free_pages(m)))
        t0 = m.now
        res = handle_mm_fault(m, proc, vma, i, min(hi, i + step), write, via)
        if store is not None and res.done:
            store(i, i + res.done)
        if via is not None:
            hits = res.done - sum(res.paths.values())
            if hits:
                res.paths[walk] = res.paths.get(walk, 0) + hits
            res.seconds += res.done * m.profile.gup_present
        mm_account_fault(m, proc, res, op, t0, base + i * PAGE_SIZE,
                         base + (i + res.done) * PAGE_SIZE)
        total.add(res)
        i += res.done
        if res.signal is not None:
            break
        if res.dirtied and dirties:        # shmem accounts no dirty pages (bdi_cap_account_dirty)
            try:
                wb.balance_dirty_pages_ratelimited(proc, bdi, res.dirtied)
            except Hung as stuck:
                stuck.result = total       # the faults done before the throttle that never returns
                raise
    return total


def mm_account_fault(m, proc, res, op, t0, start, end):
    """Account faults that began at t0: count them, log their paths, spend their time.

    mm/memory.c mm_account_fault counts min/maj faults per task; the trace
    gets one event per kernel path; the task's clock runs to t0 + the
    faults' cost (part of it may have passed already, waiting for pages or I/O).
    """
    for path, n in res.paths.items():
        m.trace.record(t0, proc.pid, op, path, start, end, n)
    proc.minflt += res.minflt
    proc.majflt += res.majflt
    m.clock.run_until(t0 + res.seconds)


def _fault_update_time(m, inode, mkwrite):
    """The file_update_time() of a shared write fault that dirtied pages.

    2.6.37's __do_fault and do_wp_page call it after dirtying; today
    fault_dirty_shared_page calls it only when there is no ->page_mkwrite,
    which has done it itself (SuperBlock.do_page_mkwrite).
    """
    if mkwrite is MKWRITE_NONE or not m.kernel.mkwrite_updates_time:
        inode.file_update_time()


def _mkwrite_tail(m, sb, mkwrite, prof, caller):
    """The ->page_mkwrite and dirtying part of a shared write fault: path names and cost."""
    return _mkwrite_names(m, sb, mkwrite, caller), _mkwrite_cost(prof, mkwrite)


def _mkwrite_names(m, sb, mkwrite, caller):
    """The function names of the ->page_mkwrite and dirtying part of a shared write fault.

    2.6.37's do_wp_page dirties a page no ->page_mkwrite prepared with
    set_page_dirty_balance(); after ->page_mkwrite, and always in
    __do_fault, it calls set_page_dirty() and balance_dirty_pages_ratelimited().
    Today both paths end in fault_dirty_shared_page().
    """
    head = () if mkwrite == MKWRITE_NONE else (sb.mkwrite_name(),)
    if m.kernel.modern_names:
        return head + ("fault_dirty_shared_page",)
    if caller == "do_wp_page" and not head:
        return ("set_page_dirty_balance",)
    return head + ("set_page_dirty", "balance_dirty_pages_ratelimited")


def _mkwrite_cost(prof, mkwrite):
    """The cost per page of a shared write fault's ->page_mkwrite and dirtying."""
    cost = prof.wp_reuse
    if mkwrite == MKWRITE_RESERVE:
        cost += prof.mkwrite_reserve
    elif mkwrite == MKWRITE_ALLOC:
        cost += prof.mkwrite_alloc
    return cost


def _new_anon(m, proc, vma, idx, data, n):
    """Give PTEs idx fresh anonymous frames holding data, zeros if None
    (page_add_new_anon_rmap); return the seconds the allocation waited."""
    waited = alloc_pages(m, proc, n, vma.start)
    anon_vma_prepare(m, vma)
    vma.ensure_pfn()[idx] = m.anon.alloc(n, data)
    return waited


def mlock_ptes(m, vma, lo, hi, on, v=None):
    """Count (on) or uncount the pages PTEs [lo, hi) map in their mlock counts.

    mlock_vma_page / munlock_vma_page. A PTE carries PTE_MLOCKED while its
    page counts it, so a page is counted once per locked mapping and
    uncounted exactly as often (the zero page is never mlocked). Return how
    many pages changed. v: the one value of every PTE of the range, if the
    caller has just set them all to it.
    """
    pte = vma.pte[lo:hi]
    want = P if on else P | L                       # real pages not yet (still) counted
    delta = 1 if on else -1
    if v is None:
        v = alike(pte)
    if v is not None:                               # all alike: one test, one slice
        if v & (P | Z | L) != want:
            return 0
        if v & A:
            m.anon.mlock[vma.pfn[lo:hi]] += delta
        else:
            vma.inode.mapping.mlock_add(slice(vma.pgoff + lo, vma.pgoff + hi), delta)
        pte.fill(v | L if on else v & ~L)
        return hi - lo
    mask = (pte & (P | Z | L)) == want
    if not mask.any():
        return 0
    sel = where(mask)                               # a slice when the whole range qualifies
    n = count(sel)
    if vma.pfn is None:                             # no anonymous page in this vma
        vma.inode.mapping.mlock_add(shift(sel, vma.pgoff + lo), delta)
        if on:
            pte[sel] |= L
        else:
            pte[sel] &= ~np.uint8(L)
        return n
    anon = (pte[sel] & A) != 0
    if anon.any():
        a = subset(sel, anon)
        m.anon.mlock[vma.pfn[shift(a, lo)]] += delta
    if not anon.all():
        f = subset(sel, ~anon)
        vma.inode.mapping.mlock_add(shift(f, vma.pgoff + lo), delta)
    if on:
        pte[sel] |= L
    else:
        pte[sel] &= ~np.uint8(L)
    return n


def _munlock_ptes(m, vma, idx):
    """Uncount the mlocked pages of PTEs idx (before they are replaced or zapped)."""
    idx = as_index(idx)
    had = idx[(vma.pte[idx] & L) != 0]
    for i0, i1 in _spans(had):
        mlock_ptes(m, vma, i0, i1, False)


def _spans(idx):
    """Runs of consecutive indices as (start, stop) pairs."""
    if len(idx) == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) != 1) + 1
    return [(int(r[0]), int(r[-1]) + 1) for r in np.split(idx, cuts)]


def zap_pte_range(m, vma, lo, hi):
    """Unmap pages [lo, hi) of vma: drop rmap and mlock counts, clear PTEs (mm/memory.c)."""
    mlock_ptes(m, vma, lo, hi, False)
    pte = vma.pte[lo:hi]
    present = (pte & P) != 0
    anon = np.flatnonzero(present & ((pte & A) != 0))
    if len(anon):
        m.anon.put(vma.pfn[lo + anon])
        vma.pfn[lo + anon] = -1
    filep = np.flatnonzero(present & ((pte & (A | Z)) == 0))
    if len(filep):
        vma.inode.mapping.mapcount[vma.pgoff + lo + filep] -= 1
    pte[:] = 0
    return len(anon) + len(filep)


def copy_page_range(m, src, dst):
    """Copy src's PTEs into the child's dst at fork (copy_page_range, copy_one_pte).

    VMAs without anonymous pages are skipped: faults fill them. In a COW
    mapping both sides are write-protected, so the next store goes through
    do_wp_page; a shared mapping's copies are cleaned.
    """
    if src.anon_vma is None:
        return
    present = (src.pte & P) != 0
    if not src.shared and src.flags & VM_MAYWRITE:
        src.pte[present] &= ~np.uint8(W)
    pte = src.pte.copy()
    if src.shared:
        pte &= ~np.uint8(D)
    pte &= ~np.uint8(Y | L)
    dst.pte = pte
    anon = present & ((pte & A) != 0)
    if src.pfn is not None:
        dst.pfn = src.pfn.copy()
        m.anon.get(src.pfn[anon])
    filep = np.flatnonzero(present & ((pte & (A | Z)) == 0))
    if len(filep):
        src.inode.mapping.mapcount[src.pgoff + filep] += 1
