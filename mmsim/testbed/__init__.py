"""A test bed for small experiments: a fresh machine, a mapping, and what the trace says.

The chapters' experiments start the same way: a new simulated machine with
one empty filesystem on /data and one process, a mapping of one of four
kinds, and afterwards the per-page flags and the kernel paths the faults
took. This package holds that set-up, and, by topic, the small experiments
that the chapters and their exercises share, each a function of plain
parameters returning plain data:

* faults: chapter 01 (pages, VMAs and faults);
* cow: chapter 02 (copy-on-write and do_wp_page);
* mlock: chapter 03 (mlock and the patch);
* writeback: chapter 04 (dirty pages and writeback);
* mkwrite: chapter 05 (what ->page_mkwrite does at the first store).
* enospc: chapter 06 (ENOSPC: hang, SIGBUS or silent data loss).
* layout: chapter 07 (sparse-file layout).
* regression: chapter 09 (the regression tests the thread asked for, per kernel and filesystem).

Everything here calls the public Process and Machine API (DESIGN.md
section 2); nothing models the kernel, so nothing here names a kernel
function as its counterpart.
"""

import os
from collections import Counter

from .._abi import (GiB, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, MiB, PAGE_SIZE, PROT_READ,
                    PROT_WRITE, RLIM_INFINITY)
from ..errors import EINVAL, error
from ..machine import Machine

RW = PROT_READ | PROT_WRITE
UNLIMITED = (RLIM_INFINITY, RLIM_INFINITY)
KINDS = ("private anonymous", "shared anonymous", "private file", "shared file")
LOCK_OK = frozenset({"CAP_IPC_LOCK"})   # caps for an mlock that RLIMIT_MEMLOCK must not stop (chapter 08)


def new_machine(kernel="2.6.37", fs="ext4", *, ram=GiB, disk=256 * MiB, profile="2010",
                options="", caps=(), memlock=None):
    """Boot a machine with an empty filesystem on /data and spawn one process on it.

    kernel, ram and profile are Machine's; fs, disk (its size in bytes) and
    options are mkfs's; caps and memlock are the process's (memlock None:
    the kernel's default RLIMIT_MEMLOCK). Return (machine, process).
    """
    m = Machine(kernel=kernel, ram=ram, profile=profile)
    m.mkfs("/data", fs=fs, size=disk, options=options)
    return m, m.spawn(memlock=memlock, caps=set(caps))


def sparse_file(p, path, size):
    """Open (creating it) path and give it size bytes with ftruncate: a size, no blocks.

    Return the file descriptor.
    """
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    return fd


def map_kind(p, kind, npages, path="/data/f", prot=RW):
    """mmap npages of one of the four KINDS; file kinds map a sparse file of that size.

    Return (address, fd); fd is None for anonymous memory.
    """
    if kind not in KINDS:
        raise error(EINVAL, f"kind must be one of {KINDS}, not {kind!r}")
    length = npages * PAGE_SIZE
    share = MAP_SHARED if kind.startswith("shared") else MAP_PRIVATE
    if kind.endswith("anonymous"):
        return p.mmap(0, length, prot, share | MAP_ANONYMOUS), None
    fd = sparse_file(p, path, length)
    return p.mmap(0, length, prot, share, fd, 0), fd


def map_file(p, path, size, prot=RW):
    """A sparse file of size bytes (created if need be), mapped MAP_SHARED: (fd, address)."""
    fd = sparse_file(p, path, size)
    return fd, p.mmap(0, size, prot, MAP_SHARED, fd, 0)


def allocated_uncached(m, p, path, size):
    """Create a file of size bytes with every block on disk and no page in the cache.

    It is written through a shared mapping, fsynced, unmapped, and dropped
    from the page cache (drop_caches). Return its file descriptor.
    """
    fd, a = map_file(p, path, size)
    p.touch(a, size, write=True)
    p.fsync(fd)
    p.munmap(a, size)
    m.drop_caches()
    return fd


def flag_counts(flags):
    """Pages per flag of p.pageflags(...), as the book's tables count them.

    "present" counts the mapping's own pages (pagemap's present, less PTEs
    to the zero page); "dirty" counts pages whose page (PG_dirty) or PTE
    (the bit a store through a writable PTE sets) is dirty; kpageflags
    alone shows only PG_dirty, which an anonymous page written through its
    PTE does not carry. "writable+clean": writable PTEs to clean pages.
    """
    n = {k: int(v.sum()) for k, v in flags.items() if v is not None}
    dirty = flags["dirty"] | flags["pte_dirty"]
    n["present"] = int((flags["present"] & ~flags["zero"]).sum())
    n["dirty"] = int(dirty.sum())
    n["writable+clean"] = int((flags["writable"] & ~dirty).sum())
    return n


def trace_paths(events, after=None, at=None):
    """Pages per distinct kernel path of some trace events, in the order first seen.

    at: keep each path from that function on; after: from the function
    after it (a path without the function is kept whole). Return a Counter
    of paths (tuples of function names).
    """
    out = Counter()
    for e in events:
        path = e.path
        if after in path:
            path = path[path.index(after) + 1:]
        elif at in path:
            path = path[path.index(at):]
        out[path] += e.pages
    return out


def ordinal(n):
    """Write n as an English ordinal: 1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


__all__ = ["KINDS", "LOCK_OK", "RW", "UNLIMITED", "allocated_uncached", "flag_counts", "map_file",
           "map_kind", "new_machine", "ordinal", "sparse_file", "trace_paths"]
