"""Virtual memory areas and their page tables (struct vm_area_struct, struct mm_struct).

A VMA covers [start, end) with one set of vm_flags, maps one file from
pgoff on (or anonymous memory), and owns its page table as two numpy arrays:
PTE bits per page, and the anonymous frame each anonymous PTE points at.
A file PTE points at the file's page pgoff + i, so it needs no number.
"""

import bisect

import numpy as np

from .._abi import PAGE_SHIFT, PAGE_SIZE
from ..flags import VM_LOCKED, VM_SHARED, VM_WRITE


TASK_SIZE = 0x7FFFFFFFF000          # x86-64, 4-level page tables
MMAP_BASE = 0x7FFFF7FFF000          # top of the mmap area (no ASLR: deterministic)
MMAP_MIN_ADDR = 0x10000             # /proc/sys/vm/mmap_min_addr


class VMA:
    """One virtual memory area."""

    __slots__ = ("start", "end", "flags", "file", "pgoff", "anon_vma", "pte", "pfn", "forked")

    def __init__(self, start, end, flags, file, pgoff, anon_vma=None, pte=None, pfn=None):
        self.start = start
        self.end = end
        self.flags = flags
        self.file = file          # process.File (holds .inode), or None
        self.pgoff = pgoff        # file page of start; start >> PAGE_SHIFT if anonymous
        self.anon_vma = anon_vma  # identity shared by split halves (merge compatibility)
        n = (end - start) >> PAGE_SHIFT
        self.pte = np.zeros(n, np.uint8) if pte is None else pte
        self.pfn = pfn            # np.int32 array, allocated at the first anon page
        self.forked = False       # its anon_vma came from a parent (vma_is_fork_child)

    @property
    def npages(self):
        return (self.end - self.start) >> PAGE_SHIFT

    @property
    def inode(self):
        return self.file.inode if self.file is not None else None

    @property
    def shared(self):
        return bool(self.flags & VM_SHARED)

    @property
    def locked(self):
        return bool(self.flags & VM_LOCKED)

    def wants_writenotify(self):
        """Whether a read fault must map a shared writable page read-only.

        mm/mmap.c vma_wants_writenotify: shared writable file VMAs whose
        filesystem has ->page_mkwrite or accounts dirty pages (every disk
        filesystem here; not shmem), so the first store faults and dirties.
        """
        if (self.flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED):
            return False
        sb = self.inode.sb if self.inode is not None else None
        return sb is not None and (sb.page_mkwrite is not None or sb.dirty_accounting)

    def index(self, addr):
        """Page index within the VMA of addr."""
        return (addr - self.start) >> PAGE_SHIFT

    def ensure_pfn(self):
        """Return the anonymous-frame array, creating it (anon_vma_prepare)."""
        if self.pfn is None:
            self.pfn = np.full(self.npages, -1, np.int32)
        return self.pfn

    def split(self, addr):
        """Cut the VMA at addr; keep [start, addr) here, return [addr, end) (split_vma)."""
        i = self.index(addr)
        tail = VMA(addr, self.end, self.flags, self.file,
                   self.pgoff + i if self.file is not None else addr >> PAGE_SHIFT,
                   self.anon_vma, self.pte[i:].copy(),
                   None if self.pfn is None else self.pfn[i:].copy())
        self.pte = self.pte[:i].copy()
        if self.pfn is not None:
            self.pfn = self.pfn[:i].copy()
        self.end = addr
        return tail

    def can_merge(self, nxt, kernel):
        """Whether nxt continues this VMA (mm/mmap.c: can_vma_merge_after).

        The anon_vmas must be one, or only one side has one (is_mergeable_anon_vma);
        today that side must not be a fork child.
        """
        if not (self.end == nxt.start and self.flags == nxt.flags and self.file is nxt.file
                and (self.file is None or self.pgoff + self.npages == nxt.pgoff)):
            return False
        if self.anon_vma is not None and nxt.anon_vma is not None:
            return self.anon_vma == nxt.anon_vma
        one = self if self.anon_vma is not None else nxt
        return not (kernel.merge_refuses_fork_child and one.forked)

    def absorb(self, nxt):
        """Append nxt to this VMA (vma_merge); nxt must satisfy can_merge."""
        if self.pfn is not None or nxt.pfn is not None:
            self.ensure_pfn()
            nxt.ensure_pfn()
            self.pfn = np.concatenate([self.pfn, nxt.pfn])
        self.pte = np.concatenate([self.pte, nxt.pte])
        self.end = nxt.end
        if self.anon_vma is None:
            self.anon_vma, self.forked = nxt.anon_vma, nxt.forked

    def __repr__(self):
        return f"VMA({self.start:#x}-{self.end:#x} flags={self.flags:#x})"


class MM:
    """A process's address space (struct mm_struct): its VMAs and counters."""

    def __init__(self):
        self.vmas = []          # sorted by start, never overlapping
        self.locked_vm = 0      # pages in VM_LOCKED vmas (VmLck)
        self.def_flags = 0      # VM_LOCKED (| VM_LOCKONFAULT) after mlockall(MCL_FUTURE)

    @property
    def total_vm(self):
        """Pages mapped (mm->total_vm)."""
        return sum(v.npages for v in self.vmas)

    def find_vma(self, addr):
        """Return the first VMA with end > addr, or None (mm/mmap.c: find_vma)."""
        i = bisect.bisect_right(self.vmas, addr, key=lambda v: v.end)
        return self.vmas[i] if i < len(self.vmas) else None

    def resume_at(self, addr):
        """Return (vma, addr) to go on with after changing flags up to addr.

        A merge may have joined [.., addr) to a vma that already had the new
        flags and reaches past addr; the walk then resumes at that vma's end
        (mlock_fixup / mprotect_fixup callers: "if (nstart < prev->vm_end)").
        """
        vma = self.find_vma(addr)
        if vma is not None and vma.start < addr:
            addr = vma.end
            vma = self.find_vma(addr)
        return vma, addr

    def vmas_in(self, start, end):
        """Return the VMAs that intersect [start, end), in order."""
        i = bisect.bisect_right(self.vmas, start, key=lambda v: v.end)
        out = []
        while i < len(self.vmas) and self.vmas[i].start < end:
            out.append(self.vmas[i])
            i += 1
        return out

    def insert(self, vma):
        """Link a VMA into the sorted list (vma_link).

        A vma that arrives with an anon_vma none of this mm's vmas holds was
        copied from another mm by fork (dup_mmap -> anon_vma_fork): it is a
        fork child. One split from a vma of this mm shares that vma's history.
        """
        if vma.anon_vma is not None:
            kin = next((v for v in self.vmas if v.anon_vma == vma.anon_vma), None)
            vma.forked = True if kin is None else kin.forked
        bisect.insort(self.vmas, vma, key=lambda v: v.start)
        if vma.inode is not None:
            vma.inode.mmaps.append(vma)

    def remove(self, vma):
        """Unlink a VMA (remove_vma_list); its PTEs must be zapped already."""
        self.vmas.remove(vma)
        if vma.inode is not None:
            vma.inode.mmaps.remove(vma)

    def split_at(self, addr):
        """Make addr a VMA boundary if a VMA straddles it."""
        v = self.find_vma(addr)
        if v is not None and v.start < addr < v.end:
            tail = v.split(addr)
            self.insert(tail)

    def try_merge(self, vma, kernel):
        """Merge vma with its neighbours where vm_flags, file, pgoff and anon_vma allow.

        Return the VMA that now holds vma's range (mm/mmap.c: vma_merge).
        """
        i = self.vmas.index(vma)
        if i + 1 < len(self.vmas) and vma.can_merge(self.vmas[i + 1], kernel):
            nxt = self.vmas[i + 1]
            vma.absorb(nxt)
            self.remove(nxt)
        if i > 0 and self.vmas[i - 1].can_merge(vma, kernel):
            prev = self.vmas[i - 1]
            prev.absorb(vma)
            self.remove(vma)
            vma = prev
        return vma

    def get_unmapped_area(self, length, hint=0):
        """Find room for length bytes, top-down below MMAP_BASE (arch_get_unmapped_area_topdown).

        Return the address, or None when nothing fits.
        """
        if hint:
            hint = (hint + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            v = self.find_vma(hint)
            if MMAP_MIN_ADDR <= hint <= TASK_SIZE - length and (v is None or hint + length <= v.start):
                return hint
        top = MMAP_BASE
        for v in reversed(self.vmas):
            if v.start >= MMAP_BASE:
                continue
            if v.end <= top - length:
                return top - length
            top = min(top, v.start)
        if top - length >= MMAP_MIN_ADDR:
            return top - length
        return None
