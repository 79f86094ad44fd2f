"""Chapter 05's exercises: what ->page_mkwrite does at the first store."""

import functools

import mmsim
from mmsim import scenarios
from mmsim.testbed import ordinal
from mmsim.testbed.mkwrite import first_write, label, mkwrite_in, stores_after_mlock

from . import Exercise
from .forms import Words, a, count, sectors

# Every ->page_mkwrite the simulator's trace can name on 2.6.38 and 6.18, and "none".
HOOKS = ("ext4_page_mkwrite", "xfs_vm_page_mkwrite", "xfs_filemap_page_mkwrite",
         "btrfs_page_mkwrite", "gfs2_page_mkwrite", "filemap_page_mkwrite", "none")


def _mounted(fs, options):
    """How a question names a mount: 'ext4 nodelalloc', or fs/ext2 under ext2_driver said in words."""
    if options == "ext2_driver":
        return "ext2, mounted by fs/ext2 itself (the simulator-only option ext2_driver)"
    return label(fs, options)


def _stores_make(rng):
    kernel = rng.choice(mmsim.KERNEL_VERSIONS)
    fs = rng.choice(mmsim.FILESYSTEMS)
    options = "ext2_driver" if fs == "ext2" and kernel == "6.18" and rng.random() < 0.5 else ""
    return {"kernel": kernel, "fs": fs, "options": options, "mib": rng.choice([1, 2, 4]),
            "every": rng.choice([2, 4, 8, 16])}


def _stores_story(q):
    return (f"On kernel {q['kernel']}, a process maps {a(q['mib'])} MiB sparse file on "
            f"{_mounted(q['fs'], q['options'])} with PROT_READ|PROT_WRITE and MAP_SHARED, mlocks "
            f"all of it, then stores one byte to every {ordinal(q['every'])} page (pages 0, "
            f"{q['every']}, {2 * q['every']} ...), and then does the same stores once more.")


def _stores_run(q):
    return _stores(q["kernel"], q["fs"], q["options"], q["mib"], q["every"])


@functools.lru_cache(maxsize=256)
def _stores(kernel, fs, options, mib, every):
    """One run for exercises 1 and 2 (they ask two numbers of the same experiment)."""
    return stores_after_mlock(kernel, fs, options, npages=mib * 256, every=every)


def _calls_solve(q):
    r = _stores_run(q)
    return r["mlock"]["mkwrite"] + r["first pass"]["mkwrite"] + r["second pass"]["mkwrite"]


def _hook_make(rng):
    kernel = rng.choice(["2.6.38", "6.18"])
    fs = rng.choice(mmsim.ALL_FILESYSTEMS)
    options = "ext2_driver" if fs == "ext2" and kernel == "6.18" and rng.random() < 0.5 else ""
    return {"kernel": kernel, "fs": fs, "options": options}


def _hook_ask(q):
    return (f"On kernel {q['kernel']}, a process mlocks a sparse file on "
            f"{_mounted(q['fs'], q['options'])}, mapped shared and writable, and stores to its "
            f"first page. Which ->page_mkwrite does the trace show on the path of that store "
            f"(as kernel {q['kernel']} names it), or none?")


def _prealloc_make(rng):
    return {"kernel": rng.choice(["2.6.38", "6.18"]),
            "fs": rng.choice(["ext4", "xfs", "xfs", "btrfs", "gfs2"]),
            "hidden": rng.random() < 0.5, "pages": rng.choice([16, 32, 64])}


def _prealloc_ask(q):
    hook = ("mounted with the simulator-only option no_page_mkwrite, so that a store never "
            "calls its ->page_mkwrite" if q["hidden"] else "mounted as usual")
    return (f"On kernel {q['kernel']}, {q['fs']} is {hook}. A process fallocates a file of "
            f"{q['pages']} pages, maps it shared and writable, mlocks it, writes a line into "
            f"every page, munlocks it, calls msync(MS_SYNC), unmaps it and drops the caches. "
            f"Does every page read back what was written?")


def _prealloc_solve(q):
    r = scenarios.mlock_dirty_munlock_sync(q["kernel"], q["fs"],
                                           "no_page_mkwrite" if q["hidden"] else "",
                                           pages=q["pages"], preallocate=True)
    return "yes" if r.passed else "no"


EXERCISES = [
    Exercise(
        "05", 1, "Blocks for the pages really written", _stores_make,
        lambda q: _stores_story(q) + " What is the file's st_blocks after the stores, before "
                                     "any writeback?",
        lambda q: _stores_run(q)["second pass"]["st_blocks"], sectors(),
        "st_blocks counts allocated blocks and delalloc reservations, 8 per 4 KiB page. A "
        "filesystem reserves or allocates in ->page_mkwrite, if it has one that does: which "
        "mounts have one on this kernel (ext2 and ext3 on 6.18 are mounted by the ext4 driver "
        "unless ext2_driver says otherwise), and is it called at mlock time or at the first "
        "store?"),
    Exercise(
        "05", 2, "How often ->page_mkwrite runs", _stores_make,
        lambda q: _stores_story(q) + " How many times does the trace show the filesystem's "
                                     "->page_mkwrite, during the mlock and the stores together?",
        _calls_solve, count("calls"),
        "->page_mkwrite runs in a write fault on a page whose PTE is read-only. Which kernel's "
        "mlock takes write faults on a shared mapping, and which pages do the stores fault on? "
        "A store to a page whose PTE is already writable and dirty does not fault at all."),
    Exercise(
        "05", 3, "The filesystem's hook on the first store's path", _hook_make, _hook_ask,
        lambda q: mkwrite_in(first_write(q["kernel"], q["fs"], q["options"])["store_path"]),
        Words(HOOKS, "one function name"),
        "2.6.38 names XFS's hook xfs_vm_page_mkwrite, today's kernels xfs_filemap_page_mkwrite. "
        "In 2.6.38 ext2 and ext3 have no hook; on 6.18 the ext4 driver mounts both unless "
        "ext2_driver keeps fs/ext2, whose hook is the generic filemap_page_mkwrite."),
    Exercise(
        "05", 4, "Preallocated space, with and without the hook", _prealloc_make, _prealloc_ask,
        _prealloc_solve, Words(["yes", "no"]),
        "fallocate leaves unwritten extents (gfs2 writes zeros instead): they read as zeros "
        "until writeback converts them to written. Which filesystem converts only the extents "
        "whose buffers ->page_mkwrite marked (xfstests 166, Dave Chinner in the thread)?"),
]
