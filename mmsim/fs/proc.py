"""What /proc shows (fs/proc/task_mmu.c show_smap, task_mem; fs/proc/meminfo.c).

Sizes in kB, as /proc prints them, as ints.
"""

import numpy as np

from .._abi import PAGE_SIZE
from ..flags import (PG_DIRTY, PG_UPTODATE, PG_WRITEBACK, PTE_ANON, PTE_DIRTY, PTE_PRESENT,
                     PTE_WRITE, PTE_ZERO, VM_ACCOUNT, VM_EXEC, VM_LOCKED, VM_LOCKONFAULT,
                     VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NORESERVE, VM_READ,
                     VM_SHARED, VM_WRITE)
from ..results import PAGE_FLAGS, PageFlags
from .super import iterate_inodes

KB = PAGE_SIZE // 1024
PSS_SHIFT = 12

VMFLAG_NAMES = ((VM_READ, "rd"), (VM_WRITE, "wr"), (VM_EXEC, "ex"), (VM_SHARED, "sh"),
                (VM_MAYREAD, "mr"), (VM_MAYWRITE, "mw"), (VM_MAYEXEC, "me"),
                (VM_MAYSHARE, "ms"), (VM_LOCKED, "lo"), (VM_LOCKONFAULT, "lf"),
                (VM_ACCOUNT, "ac"), (VM_NORESERVE, "nr"))


def page_state(m, vma):
    """Per PTE of vma: resident?, anonymous?, mapcount, dirty? (numpy arrays)."""
    pte = vma.pte
    resident = (pte & (PTE_PRESENT | PTE_ZERO)) == PTE_PRESENT
    anon = resident & ((pte & PTE_ANON) != 0)
    filep = resident & ~anon
    mapcount = np.zeros(vma.npages, np.int64)
    dirty = (pte & PTE_DIRTY) != 0
    if anon.any():
        mapcount[anon] = m.anon.mapcount[vma.pfn[anon]]
    if filep.any():
        idx = vma.pgoff + np.flatnonzero(filep)
        mapping = vma.inode.mapping
        mapcount[filep] = mapping.mapcount[idx]
        dirty[filep] |= (mapping.flags[idx] & PG_DIRTY) != 0
    return resident, anon, mapcount, dirty & resident


def show_smap(m, vma):
    """Return one VMA's smaps entry as a dict (show_smap, smaps_pte_range)."""
    resident, anon, mapcount, dirty = page_state(m, vma)
    shared = resident & (mapcount >= 2)
    private = resident & (mapcount < 2)
    mc = np.maximum(mapcount[resident], 1)
    pss = int(np.sum((PAGE_SIZE << PSS_SHIFT) // mc)) >> (10 + PSS_SHIFT)
    locked = bool(vma.flags & VM_LOCKED)
    out = {
        "start": vma.start, "end": vma.end,
        "Size": vma.npages * KB,
        "Rss": int(np.count_nonzero(resident)) * KB,
        "Pss": pss,
        "Shared_Clean": int(np.count_nonzero(shared & ~dirty)) * KB,
        "Shared_Dirty": int(np.count_nonzero(shared & dirty)) * KB,
        "Private_Clean": int(np.count_nonzero(private & ~dirty)) * KB,
        "Private_Dirty": int(np.count_nonzero(private & dirty)) * KB,
        "Anonymous": int(np.count_nonzero(anon)) * KB,
        "Swap": 0,
    }
    if m.kernel.smaps_locked:
        out["Locked"] = pss if locked else 0
    if m.kernel.smaps_vmflags:
        out["VmFlags"] = " ".join(name for bit, name in VMFLAG_NAMES if vma.flags & bit)
    return out


def task_mem(m, proc):
    """Return the Vm* lines of /proc/PID/status in kB (fs/proc/task_mmu.c task_mem)."""
    anon = file = shmem = 0
    for vma in proc.mm.vmas:
        resident, is_anon, _, _ = page_state(m, vma)
        n_anon = int(np.count_nonzero(is_anon))
        n_file = int(np.count_nonzero(resident)) - n_anon
        anon += n_anon
        if vma.inode is not None and vma.inode.sb.shmem:
            shmem += n_file
        else:
            file += n_file
    out = {"VmSize": proc.mm.total_vm * KB, "VmLck": proc.mm.locked_vm * KB,
           "VmRSS": (anon + file + shmem) * KB}
    if m.kernel.modern_names:
        out.update(RssAnon=anon * KB, RssFile=file * KB, RssShmem=shmem * KB)
    return out


def task_rss(proc):
    """Return a task's resident memory in kB and its major faults, for a timeline sample.

    rss_kb and anon_kb are VmRSS and RssAnon of /proc/PID/status
    (task_mem); locked_kb is the resident pages of its VM_LOCKED vmas, the
    sum of smaps' Locked lines (show_smap) when no page is shared with
    another process (Locked counts Pss); majflt is maj_flt of
    /proc/PID/stat. Counted from the PTEs alone: no mapcount is looked up.
    """
    rss = anon = locked = 0
    for vma in proc.mm.vmas:
        pte = vma.pte
        resident = (pte & (PTE_PRESENT | PTE_ZERO)) == PTE_PRESENT
        n = int(np.count_nonzero(resident))
        rss += n
        anon += int(np.count_nonzero(resident & ((pte & PTE_ANON) != 0)))
        if vma.flags & VM_LOCKED:
            locked += n
    return {"rss_kb": rss * KB, "anon_kb": anon * KB, "locked_kb": locked * KB,
            "majflt": proc.majflt}


def meminfo(m):
    """Return /proc/meminfo in kB (fs/proc/meminfo.c), recounted from page state."""
    mlocked = m.anon.nr_mlocked()
    mapped = 0
    for inode in iterate_inodes(m):
        mp = inode.mapping
        n = len(mp.flags)
        mlocked += int(np.count_nonzero(mp.mlock[:n] > 0))
        mapped += int(np.count_nonzero(mp.mapcount[:n] > 0))
    vs = m.vmstat
    used = vs.nr_file_pages + vs.nr_anon_pages
    return {
        "MemTotal": m.ram_pages * KB,
        "MemFree": (m.ram_pages - used) * KB,
        "Cached": vs.nr_file_pages * KB,
        "Dirty": vs.nr_file_dirty * KB,
        "Writeback": vs.nr_writeback * KB,
        "AnonPages": vs.nr_anon_pages * KB,
        "Mapped": mapped * KB,
        "Shmem": vs.nr_shmem * KB,
        "Unevictable": mlocked * KB,
        "Mlocked": mlocked * KB,
    }


def kpageflags(m, proc, addr, length):
    """Per page of [addr, addr+length): what /proc/PID/pagemap + /proc/kpageflags tell.

    Return a PageFlags (mmsim.results), under the kernel's names:
    pagemap's present, swap, file, exclusive (fs/proc/task_mmu.c
    pte_to_pagemap_entry: PM_PRESENT for any present PTE, the zero page's
    included; PM_FILE and PM_MMAP_EXCLUSIVE only for a normal page,
    vm_normal_page), the kpageflags of the mapped page (fs/proc/page.c
    stable_page_flags: uptodate, dirty = PG_dirty, writeback, anon,
    unevictable, zero, mlocked = PG_mlocked) and the PTE's own write and
    dirty bits (writable, pte_dirty). Unmapped pages are all False.

    Simplifications: no swap, so swap is always False; the only
    unevictable pages are mlocked ones (no SHM_LOCK, no ramfs); anonymous
    pages are never PG_dirty (the kernel sets it when they enter the swap
    cache); every kernel version reports every flag under 6.18's names
    (PM_FILE came in 3.5, KPF_ZERO_PAGE in 4.0, PM_MMAP_EXCLUSIVE in 4.2).
    """
    start = addr & ~(PAGE_SIZE - 1)
    n = -(-(addr + length - start) // PAGE_SIZE)
    out = {k: np.zeros(n, bool) for k in PAGE_FLAGS}
    for vma in proc.mm.vmas_in(start, start + n * PAGE_SIZE):
        lo = max(vma.start, start)
        hi = min(vma.end, start + n * PAGE_SIZE)
        i0, i1 = vma.index(lo), vma.index(hi)
        o0 = (lo - start) // PAGE_SIZE
        sl = slice(o0, o0 + i1 - i0)
        pte = vma.pte[i0:i1]
        present = (pte & PTE_PRESENT) != 0
        zero = present & ((pte & PTE_ZERO) != 0)
        normal = present & ~zero
        anon = normal & ((pte & PTE_ANON) != 0)
        filep = normal & ~anon
        mapcount = np.zeros(i1 - i0, np.int64)
        mlocked = np.zeros(i1 - i0, bool)
        uptodate = anon.copy()            # do_anonymous_page: __folio_mark_uptodate
        dirty = np.zeros(i1 - i0, bool)
        writeback = np.zeros(i1 - i0, bool)
        if anon.any():
            pfn = vma.pfn[i0:i1][anon]
            mapcount[anon] = m.anon.mapcount[pfn]
            mlocked[anon] = m.anon.mlock[pfn] > 0
        if filep.any():
            idx = vma.pgoff + i0 + np.flatnonzero(filep)
            mp = vma.inode.mapping
            flags = mp.flags[idx]
            mapcount[filep] = mp.mapcount[idx]
            mlocked[filep] = mp.mlock[idx] > 0
            uptodate[filep] = (flags & PG_UPTODATE) != 0
            dirty[filep] = (flags & PG_DIRTY) != 0
            writeback[filep] = (flags & PG_WRITEBACK) != 0
        for k, v in (("present", present), ("file", filep), ("exclusive", normal & (mapcount == 1)),
                     ("uptodate", uptodate), ("dirty", dirty), ("writeback", writeback),
                     ("anon", anon), ("unevictable", mlocked), ("zero", zero),
                     ("mlocked", mlocked),
                     ("writable", present & ((pte & PTE_WRITE) != 0)),
                     ("pte_dirty", present & ((pte & PTE_DIRTY) != 0))):
            out[k][sl] = v
    return PageFlags(start, n, "simulator", out)
