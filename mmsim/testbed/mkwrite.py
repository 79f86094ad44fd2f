"""Chapter 05's experiments: what a filesystem's ->page_mkwrite does at the first store.

Per kernel and filesystem: which hook the mount has, what mlock and the first
store leave in st_blocks, the path of that store's fault drawn as the call
chain it is, how often the hook runs when pages are really dirtied (Ted
Ts'o's question), what became of Nick Piggin's alternatives (mlock2
MLOCK_ONFAULT, MADV_POPULATE_WRITE, MAP_POPULATE), and where a full
filesystem reports ENOSPC. Everything runs through the Process and Machine
API; the tables of source files and callers are the kernel's, as data.
"""

import errno
import signal

from .._abi import (MADV_POPULATE_READ, MADV_POPULATE_WRITE, MAP_POPULATE, MAP_SHARED, MiB,
                    MLOCK_ONFAULT, PAGE_SIZE)
from ..errors import EINVAL, Signal, error
from ..fs import ALL_FILESYSTEMS
from ..kernels import get as get_kernel
from . import LOCK_OK, RW, map_file, new_machine, sparse_file

# The filesystems and mount options the chapter compares, as (fs, options).
CONFIGS = (("ext2", ""), ("ext3", ""), ("ext4", ""), ("ext4", "nodelalloc"), ("xfs", ""),
           ("btrfs", ""), ("gfs2", ""))
# fs/ext2 itself, where the kernel would otherwise mount ext2 with the ext4 driver
EXT2_DRIVER = ("ext2", "ext2_driver")


def configs(kernel):
    """CONFIGS for a kernel, with ext2 under fs/ext2 added where ext4 mounts ext2 by default."""
    extra = (EXT2_DRIVER,) if get_kernel(kernel).ext4_mounts_ext2 else ()
    return CONFIGS[:1] + extra + CONFIGS[1:]


def label(fs, options=""):
    """'ext4', 'ext4 nodelalloc', 'ext2 (ext2_driver)': how the tables name a mount."""
    if options == "ext2_driver":
        return f"{fs} (ext2_driver)"
    return f"{fs} {options}".strip()


def _mount(kernel, fs, options, disk=64 * MiB):
    if fs not in ALL_FILESYSTEMS:
        raise error(EINVAL, f"filesystem must be one of {ALL_FILESYSTEMS}, not {fs!r}")
    return new_machine(kernel, fs, disk=disk, options=options, caps=LOCK_OK)


def hook_of(m, path="/data"):
    """The mount's driver (the fs/ directory whose code runs it) and its ->page_mkwrite name,
    None where it has none (or the no_page_mkwrite option hides it)."""
    sb = m.mounts[path]
    driver = "fs/" + type(sb).__module__.rsplit(".", 1)[1]
    return driver, (sb.mkwrite_name() if sb.page_mkwrite is not None else None)


def _snapshot(m, p, hook, since, path="/data/f"):
    """st_blocks, Dirty, and the ->page_mkwrite calls the trace shows since `since`."""
    calls = m.trace.counts(m.trace.query(pid=p.pid, since=since))[hook] if hook else 0
    return {"st_blocks": m.stat(path).st_blocks, "Dirty": m.meminfo()["Dirty"],
            "mkwrite": calls}


def _faults(p):
    """Every fault the process took so far, minor and major (getrusage)."""
    r = p.getrusage()
    return r.ru_minflt + r.ru_majflt


def _what_it_did(m, hook, calls, path="/data/f"):
    """What the hook did for page 0, from FIEMAP after it ran (or "no hook")."""
    if not hook:
        return "no hook"
    if not calls:
        return "did not run"
    extents = [e for e in m.fiemap(path) if e.logical == 0]
    if not extents:
        return "nothing (dirties the page only)"
    return "reserves (delayed allocation)" if extents[0].delalloc else "allocates the block"


def first_write(kernel, fs, options="", size=4 * MiB):
    """mlock a sparse file of size bytes mapped shared and writable, then store to its first page.

    Return the mount's driver and ->page_mkwrite (hook, None without), what
    /proc, stat and the trace say after the mlock and after the store
    (st_blocks, Dirty kB, hook calls, faults from getrusage), the kernel path
    of the mlock's fault and of the store's (() when the store did not
    fault), each with its call_chain (depths, files), and what the hook did
    for the page, read back from FIEMAP.
    """
    m, p = _mount(kernel, fs, options)
    driver, hook = hook_of(m)
    _, a = map_file(p, "/data/f", size)
    faults, t0 = _faults(p), m.now
    p.mlock(a, size)
    locked = dict(_snapshot(m, p, hook, t0), faults=_faults(p) - faults)
    mlock_path = next((e.path for e in m.trace.query(pid=p.pid, since=t0)
                       if "handle_mm_fault" in e.path), ())
    faults, t1 = _faults(p), m.now
    p.write(a, b"first store")
    stored = dict(_snapshot(m, p, hook, t1), faults=_faults(p) - faults)
    events = m.trace.query(pid=p.pid, since=t1)
    store_path = events[0].path if events else ()
    return {"kernel": kernel, "fs": fs, "options": options, "label": label(fs, options),
            "driver": driver, "hook": hook, "after_mlock": locked, "after_store": stored,
            "mlock_path": mlock_path, "mlock_chain": call_chain(kernel, mlock_path),
            "store_path": store_path, "store_chain": call_chain(kernel, store_path),
            "did": _what_it_did(m, hook, locked["mkwrite"] + stored["mkwrite"])}


def stores_after_mlock(kernel, fs, options="", npages=1024, every=8):
    """Ted's question: mlock npages of a sparse shared mapping, then store to every
    `every`-th page, twice.

    Return the pages stored to, and for the mlock and each pass the faults
    (getrusage), the ->page_mkwrite calls (trace) and st_blocks after it.
    """
    if every < 1 or npages < 1:
        raise error(EINVAL, "npages and every must be at least 1")
    m, p = _mount(kernel, fs, options)
    _, hook = hook_of(m)
    size = npages * PAGE_SIZE
    _, a = map_file(p, "/data/f", size)
    out = {"kernel": kernel, "fs": fs, "options": options, "hook": hook,
           "pages": npages, "stored": len(range(0, npages, every))}

    def step(name, action):
        faults, t0 = _faults(p), m.now
        action()
        out[name] = dict(_snapshot(m, p, hook, t0), faults=_faults(p) - faults)

    def stores():
        for i in range(0, npages, every):
            p.write(a + i * PAGE_SIZE, b"x")

    step("mlock", lambda: p.mlock(a, size))
    step("first pass", stores)
    step("second pass", stores)
    return out


# Nick Piggin's alternatives and what exists today: ways to bring a shared mapping in.
WAYS = ("mlock", "mlock2(MLOCK_ONFAULT)", "mmap(MAP_POPULATE)", "MADV_POPULATE_READ",
        "MADV_POPULATE_WRITE")


def _bring_in(p, way, fd, size):
    """Map fd shared and writable and bring it in the given way; return (address, errno name)."""
    if way not in WAYS:
        raise error(EINVAL, f"way must be one of {WAYS}, not {way!r}")
    flags = MAP_SHARED | (MAP_POPULATE if way == "mmap(MAP_POPULATE)" else 0)
    a = p.mmap(0, size, RW, flags, fd, 0)
    try:
        if way == "mlock":
            p.mlock(a, size)
        elif way == "mlock2(MLOCK_ONFAULT)":
            p.mlock2(a, size, MLOCK_ONFAULT)
        elif way in ("MADV_POPULATE_READ", "MADV_POPULATE_WRITE"):
            p.madvise(a, size, MADV_POPULATE_READ if way == "MADV_POPULATE_READ"
                      else MADV_POPULATE_WRITE)
    except OSError as e:
        return a, _errno_name(e.errno)
    return a, ""


def _errno_name(code):
    return errno.errorcode.get(code, str(code))


def bring_in(kernel, way, fs="ext4", options="", size=4 * MiB):
    """Map a sparse file of size bytes shared and writable and bring it in one of WAYS.

    Return the call's error (errno name, "" if none), then what /proc and
    stat show: Rss and Locked of the mapping (kB), Dirty, st_blocks and the
    ->page_mkwrite calls of the call; and the faults of one store to the
    first page afterwards.
    """
    m, p = _mount(kernel, fs, options)
    _, hook = hook_of(m)
    fd = sparse_file(p, "/data/f", size)
    t0 = m.now
    a, err = _bring_in(p, way, fd, size)
    smaps = p.smaps(a)
    out = dict(_snapshot(m, p, hook, t0), kernel=kernel, way=way, fs=fs, error=err,
               Rss=smaps["Rss"], Locked=p.status()["VmLck"])
    faults = _faults(p)
    p.write(a, b"x")
    out["store_faults"] = _faults(p) - faults
    return out


def full_filesystem(kernel, way, fs="ext4", size=8 * MiB, free=4 * MiB):
    """A sparse file of size bytes on a filesystem with only `free` bytes, brought in
    one of WAYS and then stored to, page after page, as far as it goes.

    Return where the missing space was reported: the error of the call that
    brings the mapping in (errno name, "" if none), the signal the stores got
    ("" if none) and at which page, and the pages dirty and st_blocks at the end.
    """
    m, p = _mount(kernel, fs, "", disk=free)
    fd = sparse_file(p, "/data/f", size)
    a, err = _bring_in(p, way, fd, size)
    after_call = {"Dirty": m.meminfo()["Dirty"], "st_blocks": m.stat("/data/f").st_blocks}
    sig, at = "", None
    try:
        p.touch(a, size, write=True)
    except Signal as s:
        sig, at = signal.Signals(s.signo).name, (s.addr - a) // PAGE_SIZE
    return {"kernel": kernel, "way": way, "fs": fs, "error": err, "after_call": after_call,
            "signal": sig, "at_page": at, "pages": size // PAGE_SIZE,
            "Dirty": m.meminfo()["Dirty"], "st_blocks": m.stat("/data/f").st_blocks}


# Where each function of the chapter's fault paths is defined, in 2.6.37 and
# 2.6.38 (and, for today's names, in 6.18).
SOURCES = {
    "do_page_fault": "arch/x86/mm/fault.c",
    "exc_page_fault": "arch/x86/mm/fault.c",
    "do_user_addr_fault": "arch/x86/mm/fault.c",
    "handle_mm_fault": "mm/memory.c",
    "__do_fault": "mm/memory.c",
    "do_wp_page": "mm/memory.c",
    "do_read_fault": "mm/memory.c",
    "do_shared_fault": "mm/memory.c",
    "fault_dirty_shared_page": "mm/memory.c",
    "make_pages_present": "mm/memory.c",
    "__get_user_pages": "mm/memory.c",
    "__mlock_vma_pages_range": "mm/mlock.c",
    "populate_vma_page_range": "mm/gup.c",
    "faultin_page_range": "mm/gup.c",
    "madvise_populate": "mm/madvise.c",
    "filemap_fault": "mm/filemap.c",
    "filemap_page_mkwrite": "mm/filemap.c",
    "zero_user_segment": "include/linux/highmem.h",
    "folio_zero_segment": "include/linux/highmem.h",
    "set_page_dirty": "mm/page-writeback.c",
    "set_page_dirty_balance": "mm/page-writeback.c",
    # a static inline over balance_dirty_pages_ratelimited_nr in 2.6.37
    "balance_dirty_pages_ratelimited": "include/linux/writeback.h",
    "ext4_page_mkwrite": "fs/ext4/inode.c",
    "xfs_vm_page_mkwrite": "fs/xfs/linux-2.6/xfs_file.c",
    "xfs_filemap_page_mkwrite": "fs/xfs/xfs_file.c",
    "btrfs_page_mkwrite": "fs/btrfs/inode.c",
    "gfs2_page_mkwrite": "fs/gfs2/file.c",
}
# The functions that live elsewhere in 6.18 (get_user_pages moved to mm/gup.c in 2014 [recalled]).
SOURCES_TODAY = {"__get_user_pages": "mm/gup.c"}

# The fault handlers of mm/memory.c: a ->page_mkwrite and the dirtying after it
# are called by the handler (do_wp_page, __do_fault; today via wp_page_shared
# and do_page_mkwrite, which the trace does not name), not by the function
# listed before them.
FAULT_HANDLERS = ("do_wp_page", "__do_fault", "do_shared_fault")
CALLED_BY_HANDLER = ("set_page_dirty", "set_page_dirty_balance",
                     "balance_dirty_pages_ratelimited", "fault_dirty_shared_page")


def call_chain(kernel, path):
    """The depth and source file of each function of a trace path (outermost first).

    A function is called by the one before it, except a ->page_mkwrite and
    the dirtying functions, which the nearest fault handler before them
    calls. Return (depths, files), each a list parallel to path.
    """
    modern = get_kernel(kernel).modern_names
    depths, files = [], []
    handler = None
    for i, fn in enumerate(path):
        if handler is not None and (fn.endswith("page_mkwrite") or fn in CALLED_BY_HANDLER):
            depth = depths[handler] + 1
        else:
            depth = depths[-1] + 1 if depths else 0
        if fn in FAULT_HANDLERS:
            handler = i
        depths.append(depth)
        files.append((SOURCES_TODAY.get(fn) if modern else None) or SOURCES.get(fn, "?"))
    return depths, files


def mkwrite_in(path):
    """The ->page_mkwrite a trace path went through, or "none"."""
    return next((fn for fn in path if fn.endswith("page_mkwrite")), "none")

