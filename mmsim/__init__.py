"""mmsim: a simulator of the Linux kernel parts behind the 2010 mlock thread.

VMAs, page faults, the page cache, writeback, filesystems, a disk and
rlimits, on kernel versions "2.6.37", "2.6.38" and "6.18" (and "2.6.38-rc2",
2.6.38 before its FOLL_FORCE fix). See DESIGN.md
section 2 for the Process API; every function that models the kernel names
its counterpart in its docstring.
"""

from ._abi import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, GiB, KiB, MADV_DONTNEED,
                   MADV_POPULATE_READ, MADV_POPULATE_WRITE, MAP_ANONYMOUS,
                   MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE,
                   MAP_PRIVATE,
                   MAP_SHARED, MAP_SHARED_VALIDATE, MCL_CURRENT, MCL_FUTURE,
                   MCL_ONFAULT, MLOCK_ONFAULT, MS_ASYNC, MS_INVALIDATE, MS_SYNC,
                   MiB, PAGE_SIZE, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE,
                   RLIM_INFINITY, RLIMIT_MEMLOCK)
from .errors import Hung, Signal
from . import real
from .experiment import compare, run
from .fs import ALL_FILESYSTEMS, FILESYSTEMS
from .kernels import KERNELS, RELEASES
from .machine import Machine
from .process import Process
from .profiles import PROFILES

KERNEL_VERSIONS = RELEASES     # the releases the book compares; KERNELS has every version

__all__ = [
    "Machine", "Process", "Signal", "Hung", "run", "compare", "real", "KERNEL_VERSIONS", "FILESYSTEMS",
    "ALL_FILESYSTEMS", "PROFILES", "PAGE_SIZE", "KiB", "MiB", "GiB",
    "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC",
    "MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE", "MAP_ANONYMOUS", "MAP_FIXED",
    "MAP_LOCKED", "MAP_POPULATE", "MAP_NORESERVE", "MAP_FIXED_NOREPLACE",
    "MADV_DONTNEED", "MADV_POPULATE_READ", "MADV_POPULATE_WRITE",
    "MLOCK_ONFAULT", "MCL_CURRENT", "MCL_FUTURE", "MCL_ONFAULT",
    "MS_ASYNC", "MS_SYNC", "MS_INVALIDATE", "RLIMIT_MEMLOCK", "RLIM_INFINITY",
    "FALLOC_FL_KEEP_SIZE", "FALLOC_FL_PUNCH_HOLE",
]
