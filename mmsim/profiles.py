"""Hardware cost profiles: what each kernel operation costs in simulated time.

Every figure carries its source. Two profiles:

* ``"2010"``: the thread's machine, calibrated so that its own figures come
  out (Michel Lespinasse, 19 Nov 2010: touch of 5,242,880 sparse-file pages in
  30.595 s; mlock of them after the patch in about 5 s).
* ``"modern"``: costs measured on a Linux 6.18 machine (ext4, 2 vCPUs) with
  Python's mmap module, reference/kernel-facts.md section 7.

Where a figure was not measured, it is derived from measured ones and the
comment says how: such figures are the simulator's simplification.
"""

from dataclasses import dataclass, fields, replace

from .errors import EINVAL, error

US = 1e-6


@dataclass(frozen=True)
class Profile:
    """Costs in seconds per page (per fault, per operation)."""

    name: str
    trap: float               # user-mode fault entry and exit (not paid by gup)
    anon_zero_page: float     # do_anonymous_page, read: map the zero page
    anon_new_page: float      # do_anonymous_page, write: allocate and zero
    file_fill_hole: float     # filemap_fault on a hole: allocate, zero, insert
    file_map_cached: float    # filemap_fault, page already cached: map it
    cow_copy: float           # do_wp_page / __do_fault: allocate and copy
    wp_reuse: float           # do_wp_page reuse: pte write+dirty, set_page_dirty
    mkwrite_reserve: float    # ->page_mkwrite: delalloc reservation
    mkwrite_alloc: float      # ->page_mkwrite: allocate a block (nodelalloc)
    gup_present: float        # follow_page() hit and mlock_vma_page()
    munlock_page: float       # munlock_vma_page()
    disk_bandwidth: float     # bytes per second, sequential
    disk_seek: float          # seconds per discontiguous request

    def scaled(self, name, factor, **keep):
        """Return this profile with every cost times factor, except those in keep."""
        costs = {f.name: getattr(self, f.name) * factor
                 for f in fields(self) if f.name not in ("name", "disk_bandwidth", "disk_seek")}
        costs.update(keep)
        return replace(self, name=name, **costs)


# Measured on Linux 6.18 (kernel-facts.md section 7):
#   anonymous write fault 1.6 us, anonymous read fault 0.6 us, kernel-side
#   populate without a trap 1.1 us/page, first write to a clean shared ext4
#   page 2.7 us, cold read fault on a sparse shared file 4.4 us.
MODERN = Profile(
    name="modern",
    trap=0.5 * US,              # 1.6 us write fault - 1.1 us populate (no trap)
    anon_zero_page=0.1 * US,    # 0.6 us read fault - 0.5 us trap
    anon_new_page=1.1 * US,     # populate cost, measured
    file_fill_hole=3.9 * US,    # 4.4 us cold sparse read fault - 0.5 us trap
    file_map_cached=0.1 * US,   # derived: as cheap as mapping the zero page
    cow_copy=1.1 * US,          # derived: allocation plus a 4 KiB copy ~ populate
    wp_reuse=0.3 * US,          # derived: pte update, set_page_dirty, file_update_time
    mkwrite_reserve=1.9 * US,   # 2.7 us first shared ext4 write - trap - wp_reuse
    mkwrite_alloc=1.9 * US,     # derived: taken equal to the reservation
    gup_present=0.72 * US,      # derived: the 2010 figure below / 1.326
    munlock_page=0.1 * US,      # derived: a flag and an LRU move
    # assumed: a datacentre NVMe SSD, ~2 GB/s sequential, ~50 us per random request
    disk_bandwidth=2e9,
    disk_seek=50 * US,
)

# The thread's touch: 30.595 s / 5,242,880 pages = 5.8355 us per cold sparse
# read fault, 1.326 times the modern 4.4 us. Costs the thread does not give
# are the modern ones times that factor.
_FACTOR_2010 = (30.595 / 5_242_880) / (4.4 * US)
PROFILE_2010 = MODERN.scaled(
    "2010", _FACTOR_2010,
    # trap + fill = 5.8355 us, split as in the modern profile
    file_fill_hole=30.595 / 5_242_880 - MODERN.trap * _FACTOR_2010,
    # "mlock goes through all pages in ~5 seconds": 5 s / 5,242,880 pages
    gup_present=5.0 / 5_242_880,
    # assumed: a 2010 7200 rpm SATA disk, ~100 MB/s sequential, ~8 ms per
    # seek (average seek plus half a rotation)
    disk_bandwidth=100e6,
    disk_seek=8e-3,
)

PROFILES = {"2010": PROFILE_2010, "modern": MODERN}


def get(name):
    """Return the Profile of a name, or raise EINVAL naming the choices."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[str(name)]
    except KeyError:
        raise error(EINVAL, f"unknown profile {name!r}; choose one of "
                    + ", ".join(PROFILES)) from None
