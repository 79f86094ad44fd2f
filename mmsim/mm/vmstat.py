"""Machine-wide page counters (mm/vmstat.c, include/linux/mmzone.h NR_*).

Kept up to date by the code that changes page state, read by /proc/meminfo
and by the dirty-limit code; tests check them against a full recount.
"""

from dataclasses import dataclass


@dataclass
class VmStat:
    """The NR_* counters the simulator needs, in pages."""

    nr_file_pages: int = 0     # NR_FILE_PAGES: pages in any page cache
    nr_shmem: int = 0          # NR_SHMEM: of which shmem (MAP_SHARED|MAP_ANONYMOUS)
    nr_anon_pages: int = 0     # NR_ANON_PAGES: anonymous pages
    nr_file_dirty: int = 0     # NR_FILE_DIRTY
    nr_writeback: int = 0      # NR_WRITEBACK
    nr_mlock_file: int = 0     # file pages with an mlock count (off the file LRU)
    pgfault: int = 0           # /proc/vmstat pgfault
    pgmajfault: int = 0        # /proc/vmstat pgmajfault
    pgsteal: int = 0           # /proc/vmstat pgsteal: pages reclaimed
