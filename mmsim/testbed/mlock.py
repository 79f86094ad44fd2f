"""Chapter 03's experiments: one mlock (or MAP_POPULATE) of a sparse file, and memtoy's lock scaled down."""

import os

from .._abi import MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MiB, PROT_READ, PROT_WRITE
from ..errors import EINVAL, error
from ..kernels import COW_COPYING, DIRTYING
from ..scenarios import memtoy_hole20g
from . import LOCK_OK, RW, new_machine, sparse_file

# How a file is mapped: (flags, protection).
MAPPINGS = {"shared, rw": (MAP_SHARED, RW), "private, rw": (MAP_PRIVATE, RW),
            "shared, r": (MAP_SHARED, PROT_READ), "private, r": (MAP_PRIVATE, PROT_READ),
            "shared, w": (MAP_SHARED, PROT_WRITE)}
READABLE = ("shared, rw", "private, rw", "shared, r", "private, r")   # the four with PROT_READ


def mlock_once(kernel, mapping="shared, rw", fs="ext4", size=16 * MiB, populate=False):
    """Map a fresh sparse file as one of MAPPINGS and mlock it (or map it MAP_POPULATE).

    The process holds CAP_IPC_LOCK. Return what /proc, stat and the trace
    say afterwards: the error mlock returned ("" if none), its simulated
    seconds, the mapping's Rss and Anonymous, Dirty and Mlocked (kB),
    VmLck, the file's st_blocks, and the kernel paths and functions of the
    mlock (or the mmap).
    """
    if mapping not in MAPPINGS:
        raise error(EINVAL, f"mapping must be one of {tuple(MAPPINGS)}, not {mapping!r}")
    share, prot = MAPPINGS[mapping]
    m, p = new_machine(kernel, fs, caps=LOCK_OK)
    fd = sparse_file(p, "/data/f", size)
    start, err = m.now, ""
    if populate:
        a = p.mmap(0, size, prot, share | MAP_POPULATE, fd, 0)
    else:
        a = p.mmap(0, size, prot, share, fd, 0)
        try:
            p.mlock(a, size)
        except OSError as e:
            err = os.strerror(e.errno)
    smaps, info = p.smaps(a), m.meminfo()
    events = m.trace.query(op="mmap(MAP_POPULATE)" if populate else "mlock")
    return {"kernel": m.kernel.version, "mapping": mapping, "fs": fs, "error": err,
            "seconds": m.now - start, "Rss": smaps["Rss"], "Anonymous": smaps["Anonymous"],
            "Dirty": info["Dirty"], "Mlocked": info["Mlocked"], "VmLck": p.status()["VmLck"],
            "st_blocks": m.stat("/data/f").st_blocks, "paths": [e.path for e in events],
            "functions": m.trace.counts(events)}


def fault_kind(functions):
    """What kind of fault a Counter of kernel functions shows: a COW copy, a dirtying write, a read."""
    if any(functions[f] for f in COW_COPYING):
        return "write: COW copy"
    if any(functions[f] for f in DIRTYING):
        return "write: dirty"
    return "read"


def small_session(kernel, fs, size):
    """Michel's session scaled down: a sparse file of size bytes, a partition half
    its size, RAM twice the file; the memtoy_hole20g result of the lock, with page flags."""
    return memtoy_hole20g(kernel=kernel, fs=fs, action="lock", size=size, partition=size // 2,
                          ram=2 * size, sample=None, flags=True)
