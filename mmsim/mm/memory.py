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
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .._abi import PAGE_SIZE
from ..contents import ZERO
from ..errors import Signal
from ..fs.inode import B_UNWRITTEN, HOLE
from ..fs.super import MKWRITE_ALLOC, MKWRITE_NONE, MKWRITE_RESERVE
from ..kernels import fname
from .filemap import PG_REFERENCED, PG_UPTODATE
from .vma import (PTE_ANON, PTE_DIRTY, PTE_PRESENT, PTE_WRITE, PTE_YOUNG,
                  PTE_ZERO, VM_LOCKED, VM_MAYWRITE, VM_WRITE)

P, W, D, Y, A, Z = PTE_PRESENT, PTE_WRITE, PTE_DIRTY, PTE_YOUNG, PTE_ANON, PTE_ZERO


@dataclass
class FaultResult:
    """What a range of faults did: pages per kernel path, cost, and counters."""

    paths: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    minflt: int = 0
    majflt: int = 0
    dirtied: int = 0             # file pages newly dirtied (for the dirty throttle)
    done: int = 0                # pages handled before a signal, or all
    signal: Signal = None

    def add(self, other):
        """Accumulate another result (the range continues after it)."""
        self.paths.update(other.paths)
        self.seconds += other.seconds
        self.minflt += other.minflt
        self.majflt += other.majflt
        self.dirtied += other.dirtied
        self.done += other.done
        self.signal = other.signal


def filemap_fault(m, inode, pgs):
    """Bring file pages pgs into the page cache (mm/filemap.c: filemap_fault).

    A hole or an unwritten block reads as zeros without I/O (mpage_readpage
    zero-fills); an allocated block is read from the disk (a major fault).
    Simplified: no readahead window; pages read together are one request.
    Return (pages zero-filled, pages read from disk, pages found cached, seconds).
    """
    mapping = inode.mapping
    cached = (mapping.flags[pgs] & PG_UPTODATE) != 0
    miss = pgs[~cached]
    nhit = len(pgs) - len(miss)
    mapping.flags[pgs[cached]] |= PG_REFERENCED
    if len(miss) == 0:
        return 0, 0, nhit, 0.0
    blocks = inode.block[miss]
    on_disk = (blocks != HOLE) & ((inode.bstate[miss] & B_UNWRITTEN) == 0)
    stamps = np.zeros(len(miss), np.uint32)
    seconds = 0.0
    nread = int(np.count_nonzero(on_disk))
    if nread:
        stamps[on_disk], seconds = inode.sb.disk.read(blocks[on_disk])
    for run_first, run_mask, run_stamps in _runs(miss, stamps):
        mapping.add(run_first, run_stamps, run_mask)
    return len(miss) - nread, nread, nhit, seconds


def _runs(pgs, stamps):
    """Split sorted page offsets into runs of consecutive pages for AddressSpace.add."""
    if len(pgs) == 0:
        return
    if int(pgs[-1]) - int(pgs[0]) + 1 == len(pgs):
        yield int(pgs[0]), np.zeros(len(pgs), bool), stamps
        return
    cuts = np.flatnonzero(np.diff(pgs) != 1) + 1
    for idx, st in zip(np.split(pgs, cuts), np.split(stamps, cuts)):
        yield int(idx[0]), np.zeros(len(idx), bool), st


def _path(m, via, *names):
    """Build a trace path: the entry (trap or gup), then kernel function names."""
    entry = ("do_page_fault", "handle_mm_fault") if via is None else tuple(via) + ("handle_mm_fault",)
    return tuple(fname(m.kernel, n) for n in entry + names)


def handle_mm_fault(m, proc, vma, lo, hi, write, via=None):
    """Fault pages [lo, hi) of vma for a read or write access; return a FaultResult.

    via is None for a user access (it pays the trap), or the kernel path of a
    get_user_pages() caller. Pages that need no fault only get the hardware
    young (and, on a write, dirty) bits.
    """
    res = FaultResult()
    prof = m.profile
    pte_all = vma.pte[lo:hi]
    present = (pte_all & P) != 0
    need = ~present | ((pte_all & W) == 0) if write else ~present
    inode = vma.inode
    stop = hi
    sig = None
    if inode is not None:
        eof = inode.npages - (vma.pgoff + lo)          # first index past EOF
        if eof < hi - lo:
            past = np.flatnonzero(need[max(eof, 0):])
            if len(past):
                stop = lo + max(eof, 0) + int(past[0])
                sig = Signal(signal.SIGBUS, vma.start + stop * PAGE_SIZE, "filemap_fault")
    sb = inode.sb if inode is not None else None
    mkwrite = sb.page_mkwrite if sb is not None else MKWRITE_NONE
    if write and vma.shared and mkwrite is not MKWRITE_NONE:
        sel = np.flatnonzero(need[:stop - lo])
        ok = sb.do_page_mkwrite(inode, vma.pgoff + lo + sel)
        if ok < len(sel):
            stop = lo + int(sel[ok])
            sig = Signal(signal.SIGBUS, vma.start + stop * PAGE_SIZE, sb.mkwrite_name())
    n = stop - lo
    pte = vma.pte[lo:stop]
    present, need = present[:n], need[:n]
    res.done = n
    res.signal = sig
    if n == 0:
        return res
    locked = 1 if vma.flags & VM_LOCKED else 0
    trap = prof.trap if via is None else 0.0
    if write:
        pte[~need] |= D | Y
    else:
        pte[~need] |= Y
    not_present = ~present

    def account(path, count, cost):
        if count:
            res.paths[_path(m, via, *path)] += count
            res.seconds += count * (trap + cost)

    # -- not present ---------------------------------------------------------
    npidx = np.flatnonzero(not_present)
    if len(npidx):
        if inode is None:
            if write:
                _new_anon(m, vma, lo + npidx, np.zeros(len(npidx), np.uint32), locked)
                pte[npidx] = P | W | D | Y | A
                account(("do_anonymous_page", "alloc_zeroed_user_highpage_movable"),
                        len(npidx), prof.anon_new_page)
            else:
                pte[npidx] = P | Y | Z
                account(("do_anonymous_page", "my_zero_pfn"), len(npidx), prof.anon_zero_page)
        else:
            pgs = vma.pgoff + lo + npidx
            nhole, nread, nhit, io = filemap_fault(m, inode, pgs)
            res.majflt += nread
            res.seconds += io
            kind = "read" if not write else ("shared" if vma.shared else "cow")
            fill = {"zero_user_segment": nhole, "submit_bio": nread, "find_get_page": nhit}
            fill_cost = {"zero_user_segment": prof.file_fill_hole,
                         "submit_bio": prof.file_map_cached,
                         "find_get_page": prof.file_map_cached}
            tail, extra = (), 0.0
            if kind == "cow":
                data = inode.mapping.data[pgs]
                _new_anon(m, vma, lo + npidx, data, locked)
                pte[npidx] = P | W | D | Y | A
                tail, extra = ("cow_user_page",), prof.cow_copy
            else:
                _map_file(inode, pgs, locked)
                if kind == "shared":
                    pte[npidx] = P | W | D | Y
                    res.dirtied += inode.mapping.set_dirty(pgs)
                    m.mark_inode_dirty(inode)
                    tail, extra = _mkwrite_tail(sb, mkwrite, prof)
                else:
                    writable = vma.shared and vma.flags & VM_WRITE and not vma.wants_writenotify()
                    pte[npidx] = P | Y | (W if writable else 0)
            for how, count in fill.items():
                account(("__do_fault/" + kind, "filemap_fault", how) + tail, count,
                        fill_cost[how] + extra)
    # -- present, read-only, written: do_wp_page ----------------------------------
    if write:
        wp = np.flatnonzero(present & need)
        if len(wp):
            bits = pte[wp]
            zero = wp[(bits & Z) != 0]
            anon = wp[(bits & A) != 0]
            filep = wp[(bits & (A | Z)) == 0]
            if len(zero):
                _new_anon(m, vma, lo + zero, np.zeros(len(zero), np.uint32), locked)
                pte[zero] = P | W | D | Y | A
                account(("do_wp_page", "alloc_zeroed_user_highpage_movable"),
                        len(zero), prof.anon_new_page)
            if len(anon):
                pfn = vma.pfn[lo + anon]
                sole = m.anon.mapcount[pfn] == 1
                reuse, copy = anon[sole], anon[~sole]
                pte[reuse] |= W | D | Y
                account(("do_wp_page", "reuse_swap_page"), len(reuse), prof.anon_zero_page)
                if len(copy):
                    old = vma.pfn[lo + copy]
                    data = m.anon.data[old]
                    m.anon.put(old, locked=bool(locked))
                    _new_anon(m, vma, lo + copy, data, locked)
                    pte[copy] = P | W | D | Y | A
                    account(("do_wp_page", "cow_user_page"), len(copy), prof.cow_copy)
            if len(filep):
                pgs = vma.pgoff + lo + filep
                if vma.shared:
                    pte[filep] |= W | D | Y
                    res.dirtied += inode.mapping.set_dirty(pgs)
                    m.mark_inode_dirty(inode)
                    tail, extra = _mkwrite_tail(sb, mkwrite, prof)
                    account(("do_wp_page",) + tail, len(filep), extra)
                else:
                    data = inode.mapping.data[pgs]
                    _unmap_file(inode, pgs, locked)
                    _new_anon(m, vma, lo + filep, data, locked)
                    pte[filep] = P | W | D | Y | A
                    account(("do_wp_page", "cow_user_page"), len(filep), prof.cow_copy)
    faults = sum(res.paths.values())
    res.minflt += faults - res.majflt
    m.vmstat.pgfault += faults
    m.vmstat.pgmajfault += res.majflt
    return res


def _mkwrite_tail(sb, mkwrite, prof):
    """The ->page_mkwrite part of a shared write fault: path names and cost."""
    cost = prof.wp_reuse
    if mkwrite is MKWRITE_NONE:
        return ("set_page_dirty_balance",), cost
    if mkwrite == MKWRITE_RESERVE:
        cost += prof.mkwrite_reserve
    elif mkwrite == MKWRITE_ALLOC:
        cost += prof.mkwrite_alloc
    return (sb.mkwrite_name(), "set_page_dirty_balance"), cost


def _new_anon(m, vma, idx, data, locked):
    """Give PTEs idx fresh anonymous frames holding data (page_add_new_anon_rmap)."""
    if vma.anon_vma is None:
        vma.anon_vma = m.new_anon_vma()
    vma.ensure_pfn()[idx] = m.anon.alloc(data, locked=bool(locked))


def _map_file(inode, pgs, locked):
    """Count new PTEs to file pages pgs (page_add_file_rmap, mlock_vma_page)."""
    inode.mapping.mapcount[pgs] += 1
    if locked:
        inode.mapping.mlock[pgs] += 1


def _unmap_file(inode, pgs, locked):
    """Drop PTEs to file pages pgs (page_remove_rmap, munlock_vma_page)."""
    inode.mapping.mapcount[pgs] -= 1
    if locked:
        inode.mapping.mlock[pgs] -= 1


def zap_pte_range(m, vma, lo, hi):
    """Unmap pages [lo, hi) of vma: drop rmap and mlock counts, clear PTEs (mm/memory.c)."""
    pte = vma.pte[lo:hi]
    locked = bool(vma.flags & VM_LOCKED)
    present = (pte & P) != 0
    anon = np.flatnonzero(present & ((pte & A) != 0))
    if len(anon):
        m.anon.put(vma.pfn[lo + anon], locked=locked)
        vma.pfn[lo + anon] = -1
    filep = np.flatnonzero(present & ((pte & (A | Z)) == 0))
    if len(filep):
        _unmap_file(vma.inode, vma.pgoff + lo + filep, locked)
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
    pte &= ~np.uint8(Y)
    dst.pte = pte
    anon = present & ((pte & A) != 0)
    if src.pfn is not None:
        dst.pfn = src.pfn.copy()
        m.anon.get(src.pfn[anon])
    filep = np.flatnonzero(present & ((pte & (A | Z)) == 0))
    if len(filep):
        src.inode.mapping.mapcount[src.pgoff + filep] += 1


def page_mkclean(m, inode, pgs):
    """Write-protect and clean every PTE that maps file pages pgs (mm/rmap.c).

    Called by clear_page_dirty_for_io before writeback, so the next store
    to the page faults again and dirties it anew (Andrew Morton's point).
    """
    if len(pgs) == 0:
        return
    lo_pg, hi_pg = int(pgs.min()), int(pgs.max()) + 1
    for vma in inode.mmaps:
        if not vma.shared:
            continue
        first = max(lo_pg, vma.pgoff)
        last = min(hi_pg, vma.pgoff + vma.npages)
        if first >= last:
            continue
        sel = pgs[(pgs >= first) & (pgs < last)] - vma.pgoff
        bits = vma.pte[sel]
        mapped = (bits & (P | A)) == P
        vma.pte[sel[mapped]] = bits[mapped] & ~np.uint8(W | D)
