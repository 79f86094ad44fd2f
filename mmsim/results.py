"""The result types of the Process API, one set for both backends.

The simulator (mmsim.process, mmsim.machine, mmsim.fs.proc) and the real
kernel (mmsim.real) return these for the same calls (DESIGN.md sections 2
and 4), so an experiment written once reads its results the same way on
either:

    touch()        -> TouchResult(pages, seconds)
    pageflags()    -> PageFlags: per page, the /proc/PID/pagemap and
                      /proc/kpageflags bits under the kernel's names
    fiemap()       -> [Extent(logical, physical, length, unwritten, delalloc)]
    getrusage()    -> Rusage(ru_minflt, ru_majflt)
    stat()         -> StatResult on both (the real backend fills it from
                      os.stat): st_size, st_blocks, the times ...
    smaps()        -> dicts with the keys SMAPS_FIELDS (those the kernel
                      version shows: "Locked" since 2.6.38, "VmFlags" since 3.8)
    status()       -> a dict with the keys STATUS_FIELDS (RssAnon, RssFile,
                      RssShmem since 4.5)
    statfs()       -> os.statvfs_result on both
    meminfo()      -> a dict of /proc/meminfo lines in kB; the simulator
                      models a subset of the lines the real kernel prints
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import EINVAL, error

__all__ = ["TouchResult", "Rusage", "StatResult", "Extent", "PageFlags", "PAGE_FLAGS",
           "PAGEMAP_BITS", "KPAGEFLAGS_BITS", "PTE_FLAGS", "SMAPS_FIELDS", "STATUS_FIELDS",
           "FIEMAP_EXTENT_LAST", "FIEMAP_EXTENT_UNKNOWN", "FIEMAP_EXTENT_DELALLOC",
           "FIEMAP_EXTENT_UNWRITTEN", "pick"]


@dataclass(frozen=True)
class TouchResult:
    """What touch() did: one access per page, as memtoy's touch does.

    pages: the pages accessed.
    seconds: on the simulator, simulated seconds (machine.now after minus
    before: faults, zeroing, disk I/O, throttling); on the real kernel
    (mmsim.real), the wall-clock time of the accesses alone, measured with
    time.perf_counter in the experiment's child process around the loop of
    readv/writev calls that make them, so it includes the syscall overhead
    of that loop and whatever else the host ran meanwhile.
    """

    pages: int
    seconds: float


@dataclass(frozen=True)
class Rusage:
    """The fault counters of getrusage(RUSAGE_SELF) (kernel/sys.c getrusage).

    ru_minflt and ru_majflt as resource.getrusage names them: the faults
    mm/memory.c mm_account_fault counts as minor (no I/O) and major.
    """

    ru_minflt: int
    ru_majflt: int


@dataclass(frozen=True)
class StatResult:
    """What stat(2) says of a file (fs/stat.c vfs_getattr), on both backends.

    The os.stat_result fields the simulator models, under the same names and
    types (the real backend fills them from os.stat): st_blocks counts
    512-byte units, reservations included (ext4 delalloc counts reserved
    blocks, as ext4_getattr does); the times are integer nanoseconds
    (st_mtime_ns ...), of simulated time since boot on the simulator, with
    os.stat_result's float seconds (st_mtime ...) as properties. Owners and
    the device are not simulated, so they are not here.
    """

    st_ino: int
    st_size: int
    st_blocks: int
    st_blksize: int
    st_nlink: int
    st_mode: int
    st_atime_ns: int = 0
    st_mtime_ns: int = 0
    st_ctime_ns: int = 0

    @property
    def st_atime(self):
        """Last access, in seconds (float)."""
        return self.st_atime_ns / 1e9

    @property
    def st_mtime(self):
        """Last modification of the data, in seconds (float)."""
        return self.st_mtime_ns / 1e9

    @property
    def st_ctime(self):
        """Last change of the inode, in seconds (float)."""
        return self.st_ctime_ns / 1e9


# include/uapi/linux/fiemap.h
FIEMAP_EXTENT_LAST = 0x00000001
FIEMAP_EXTENT_UNKNOWN = 0x00000002
FIEMAP_EXTENT_DELALLOC = 0x00000004
FIEMAP_EXTENT_UNWRITTEN = 0x00000800


@dataclass(frozen=True)
class Extent:
    """One extent of FS_IOC_FIEMAP (include/uapi/linux/fiemap.h struct fiemap_extent).

    logical: fe_logical, the byte offset in the file.
    physical: fe_physical, the byte offset on the disk; 0 for a delalloc
    extent, which has no block yet (the kernel reports it so, with
    FIEMAP_EXTENT_UNKNOWN set).
    length: fe_length, in bytes.
    unwritten: fe_flags & FIEMAP_EXTENT_UNWRITTEN (0x800): blocks allocated
    but not written, read back as zeros (fallocate, or a write not yet
    converted by its I/O completion).
    delalloc: fe_flags & FIEMAP_EXTENT_DELALLOC (0x4): space reserved, no
    block allocated yet (ext4 delayed allocation, xfs and btrfs too).
    The other fe_flags (LAST, MERGED, SHARED, ENCODED ...) are not carried.
    """

    logical: int
    physical: int
    length: int
    unwritten: bool
    delalloc: bool

    @classmethod
    def from_fiemap(cls, logical, physical, length, flags):
        """Build from the fields of a struct fiemap_extent."""
        return cls(int(logical), int(physical), int(length),
                   bool(flags & FIEMAP_EXTENT_UNWRITTEN), bool(flags & FIEMAP_EXTENT_DELALLOC))


# -- page flags ---------------------------------------------------------------

#: /proc/PID/pagemap bits (fs/proc/task_mmu.c: PM_PRESENT, PM_SWAP, PM_FILE,
#: PM_MMAP_EXCLUSIVE, set by pte_to_pagemap_entry)
PAGEMAP_BITS = {"present": 63, "swap": 62, "file": 61, "exclusive": 56}

#: /proc/kpageflags bits of the page a present PTE maps
#: (include/uapi/linux/kernel-page-flags.h KPF_*; KPF_MLOCKED, 33, is one of
#: the "kernel hacking" bits of include/linux/kernel-page-flags.h;
#: fs/proc/page.c stable_page_flags copies each from its PG_ flag)
KPAGEFLAGS_BITS = {"uptodate": 3, "dirty": 4, "writeback": 8, "anon": 12,
                   "unevictable": 18, "zero": 24, "mlocked": 33}

#: PTE bits no /proc file exports: the simulator knows them, the real
#: kernel's pageflags() leaves them None
PTE_FLAGS = ("writable", "pte_dirty")

PAGE_FLAGS = tuple(PAGEMAP_BITS) + tuple(KPAGEFLAGS_BITS) + PTE_FLAGS


class PageFlags(Mapping):
    """Per-page flags of a range of addresses: a read-only mapping of flag -> bool array.

    One numpy bool array per flag, one entry per page of the range; None
    where this backend or host cannot see the flag. Keys, always all of
    PAGE_FLAGS, in this order:

    from /proc/PID/pagemap (fs/proc/task_mmu.c pte_to_pagemap_entry):
      present    PM_PRESENT: the PTE maps a page, the zero page included
      swap       PM_SWAP: the PTE holds a swap entry
      file       PM_FILE: a page-cache page, of a file or shmem (not anon,
                 not the zero page)
      exclusive  PM_MMAP_EXCLUSIVE: the page is mapped exactly once
    from /proc/kpageflags, of the page the PTE maps (fs/proc/page.c
    stable_page_flags; False where no page is mapped):
      uptodate   KPF_UPTODATE (PG_uptodate)
      dirty      KPF_DIRTY (PG_dirty): the page itself is marked dirty. An
                 anonymous page is not (its data is dirty in the PTE only,
                 until it enters the swap cache); a store through a PTE
                 that was already writable sets the PTE's dirty bit, not
                 PG_dirty (see pte_dirty)
      writeback  KPF_WRITEBACK (PG_writeback): its write to disk is in flight
      anon       KPF_ANON: an anonymous page
      unevictable KPF_UNEVICTABLE (PG_unevictable): on the unevictable LRU
      zero       KPF_ZERO_PAGE: the shared zero page
      mlocked    KPF_MLOCKED (PG_mlocked): mlocked. (KPF_LOCKED, bit 0, is
                 PG_locked, the page lock held during I/O: not reported)
    from the PTE itself, which no /proc file exports (None on the real kernel):
      writable   pte_write(): a store goes through without a fault
      pte_dirty  pte_dirty(): the hardware dirty bit

    Also: addr (the first page's address), npages, source (which interfaces
    answered), counts(), and each flag as an attribute (f.dirty is f["dirty"]).
    """

    __slots__ = ("addr", "npages", "source", "_arrays")

    def __init__(self, addr, npages, source, arrays):
        unknown = set(arrays) - set(PAGE_FLAGS)
        if unknown:
            raise error(EINVAL, f"no page flag named {sorted(unknown)}; the flags are {PAGE_FLAGS}")
        npages = int(npages)
        out = {}
        for k in PAGE_FLAGS:
            v = arrays.get(k)
            if v is not None:
                v = np.asarray(v, dtype=bool)
                if v.shape != (npages,):
                    raise error(EINVAL, f"page flag {k}: {v.shape} entries for {npages} pages")
                if v.flags.writeable:
                    v.flags.writeable = False
            out[k] = v
        object.__setattr__(self, "addr", int(addr))
        object.__setattr__(self, "npages", npages)
        object.__setattr__(self, "source", str(source))
        object.__setattr__(self, "_arrays", out)

    def __setattr__(self, name, value):
        raise AttributeError(f"PageFlags is read-only: cannot set {name}")

    def __getitem__(self, key):
        return self._arrays[key]

    def __iter__(self):
        return iter(PAGE_FLAGS)

    def __len__(self):
        return len(PAGE_FLAGS)

    def __getattr__(self, name):
        try:
            return object.__getattribute__(self, "_arrays")[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other):
        if not isinstance(other, PageFlags):
            return NotImplemented
        return self.addr == other.addr and self.npages == other.npages and all(
            (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in zip(self.values(), other.values()))

    __hash__ = None

    def __reduce__(self):
        return (PageFlags, (self.addr, self.npages, self.source, dict(self._arrays)))

    def counts(self):
        """Return {flag: pages with it, or None where the flag is not known}."""
        return {k: None if v is None else int(np.count_nonzero(v)) for k, v in self.items()}

    def __repr__(self):
        c = ", ".join(f"{k}={v}" for k, v in self.counts().items() if v is not None)
        return f"PageFlags({self.npages} pages at {self.addr:#x} via {self.source}: {c})"


# -- /proc dictionaries ---------------------------------------------------------

#: the keys of a smaps() dict: the VMA's start and end, then the lines of
#: fs/proc/task_mmu.c show_smap that both backends report, in kB ("VmFlags" a
#: string such as "rd wr sh mr mw me ms lo")
SMAPS_FIELDS = ("start", "end", "Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty",
                "Private_Clean", "Private_Dirty", "Anonymous", "Swap", "Locked", "VmFlags")

#: the keys of a status() dict: the lines of fs/proc/task_mmu.c task_mem that
#: both backends report, in kB
STATUS_FIELDS = ("VmSize", "VmLck", "VmRSS", "RssAnon", "RssFile", "RssShmem")


def pick(d, fields):
    """Return the entries of d whose keys are in fields, in the order of fields."""
    return {k: d[k] for k in fields if k in d}
