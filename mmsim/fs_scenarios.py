"""The thread's experiments on real filesystems: the simulator against the kernel in a loop image.

Each scenario is an experiment(machine, process), as in mmsim.experiment,
that runs unchanged on the simulator ("6.18", a filesystem of the same type
whose size is the real image's free space) and on this kernel in a loop
filesystem made by mmsim.loopfs::

    from mmsim.fs_scenarios import compare_on
    print(compare_on("ext4", "mapped_store_enospc", size=32 * MiB, timeout=20))

``compare_on`` returns mmsim.experiment's Table. Every scenario says which
fields must agree (booleans and outcomes: what the thread is about) and
which may differ, and why (``legitimate``): the real filesystems keep
metadata and reserves the simulator does not model, so raw page counts
differ while their relation to the free space agrees.
"""

import errno as _errno
import os
import random
import signal as _signal

import numpy as np

from ._abi import (FALLOC_FL_KEEP_SIZE, KiB, MiB, PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_SHARED,
                   MS_SYNC)
from .errors import Signal

__all__ = ["FS_SCENARIOS", "compare_on", "progress", "remount", "FsScenario", "FS_REASONS"]

CHUNK = 16                      # pages stored between two progress records
FILE_PAGES = 256                # the small files of the layout and mlock scenarios (1 MiB)

#: reason name -> explanation, for the differences these scenarios may show
FS_REASONS = {
    "fs metadata": "a real filesystem keeps blocks the simulator does not model: ext4 "
                   "reserves min(2 %, 4096) clusters for metadata (fs/ext4/super.c: "
                   "ext4_calculate_resv_clusters) and delalloc metadata for indirect-block "
                   "files (ext4_da_reserve_space), xfs sets blocks aside per AG "
                   "(xfs_alloc_set_aside, the AG reservations), btrfs reserves metadata "
                   "space (the global block reserve): ENOSPC comes a few hundred pages "
                   "before statfs' free count runs out",
    "allocator retries": "on ENOSPC the real ->page_mkwrite retries after forcing a journal "
                         "commit or flushing delalloc (fs/ext4/inode.c: ext4_page_mkwrite -> "
                         "ext4_should_retry_alloc; btrfs flush_space) before giving up with "
                         "SIGBUS, which can take longer than the run's wall-clock cap; the "
                         "simulator fails the reservation at once",
    "indirect blocks": "an ext2/ext3 file maps its blocks through indirect blocks, allocated "
                       "among the data blocks (fs/ext4/indirect.c: ext4_ind_map_blocks -> "
                       "ext4_alloc_branch), which count in st_blocks and split extents; mmsim "
                       "has no indirect blocks",
    "speculative preallocation": "xfs allocates past EOF while a file grows "
                                 "(fs/xfs/xfs_iomap.c: xfs_iomap_prealloc_size), so st_blocks "
                                 "can count more than the data until the blocks are trimmed",
    "btrfs rewrite after flush": "on ENOSPC btrfs flushes delalloc to find space "
                                 "(fs/btrfs/space-info.c: flush_space -> "
                                 "btrfs_start_delalloc_roots); writeback write-protects the "
                                 "pages already stored (folio_mkclean), and a store that "
                                 "rewrites one needs a new copy-on-write reservation "
                                 "(btrfs_page_mkwrite), so the SIGBUS can come at a page "
                                 "stored before: a few pages past the signal address hold "
                                 "data; mmsim flushes nothing on ENOSPC",
    "xfs out-of-order allocation": "xfs turns the delalloc reservations of random-order "
                                   "writes into blocks in several allocations "
                                   "(fs/xfs/xfs_iomap.c: xfs_bmapi_convert_delalloc, one per "
                                   "writeback mapping), placed by the AG's free-space btrees "
                                   "(xfs_alloc_vextent_near_bno), not in file order: the "
                                   "blocks are adjacent on disk but in several extents; mmsim "
                                   "allocates a file's delalloc pages in file order",
    "clock": "wall-clock seconds on the real kernel, simulated seconds in mmsim",
}


class FsScenario:
    """An experiment with the limits it runs under and its legitimate differences.

    legitimate(field, real, sim, fstype) returns a FS_REASONS name when the
    difference of that field is known and explained, else None (DISAGREE).
    """

    def __init__(self, experiment, legitimate, memlock=(2 * MiB, 2 * MiB), caps=frozenset()):
        self.experiment, self.legitimate = experiment, legitimate
        self.memlock, self.caps = memlock, set(caps)


# ---------------------------------------------------------------------------
# Helpers that work on both backends


def progress(m, **fields):
    """Record how far the experiment got (mmsim.real: RealMachine.progress); a no-op on mmsim.

    A real run killed at its wall-clock cap returns the last record as its outcome.
    """
    rec = getattr(m, "progress", None)
    if callable(rec):
        rec(**fields)


def remount(m):
    """Unmount and mount the scratch filesystem again, so that reads come from the disk.

    Real: RealMachine.remount (mmsim.loopfs: umount, mount). mmsim models no
    unmount: sync(2) then drop_caches does to closed, unmapped files what
    umount does (fs/super.c: generic_shutdown_super -> sync_filesystem,
    evict_inodes -> truncate_inode_pages_final).
    """
    if hasattr(m, "remount"):
        m.remount()
    else:
        m.sync()
        m.drop_caches()


def _outcome(e):
    if isinstance(e, Signal):
        return _signal.Signals(e.signo).name
    return _errno.errorcode.get(e.errno, str(e.errno))


def _pattern(first, n):
    """Return n pages whose first 8 bytes are their page index (from first), the rest zeros."""
    buf = np.zeros((n, PAGE_SIZE // 8), np.uint64)
    buf[:, 0] = np.arange(first, first + n, dtype=np.uint64) + np.uint64(1)
    return buf.tobytes()


def _read_back(p, path, npages):
    """Return per page of a file written with _pattern: (intact mask, all-zeros mask)."""
    fd = p.open(path, os.O_RDONLY)
    intact, zero = [], []
    step = 256
    for first in range(0, npages, step):
        n = min(step, npages - first)
        data = p.pread(fd, n * PAGE_SIZE, first * PAGE_SIZE)
        data += bytes(n * PAGE_SIZE - len(data))
        got = np.frombuffer(data, np.uint64).reshape(n, PAGE_SIZE // 8)
        want = np.frombuffer(_pattern(first, n), np.uint64).reshape(n, PAGE_SIZE // 8)
        intact.append((got == want).all(axis=1))
        zero.append((got == 0).all(axis=1))
    p.close(fd)
    return np.concatenate(intact), np.concatenate(zero)


def _free_pages(m):
    st = m.statfs(m.scratch)
    return st.f_bavail * st.f_frsize // PAGE_SIZE


def _dirty_kb(p, a):
    """Dirty kB of the VMA at a: a page only this process maps counts as Private_Dirty
    even in a shared mapping (fs/proc/task_mmu.c: smaps_account, mapcount == 1)."""
    v = p.smaps(a)
    return v["Shared_Dirty"] + v["Private_Dirty"]


def _blocks_kb(m, path):
    return m.stat(path).st_blocks * 512 // KiB


# ---------------------------------------------------------------------------
# (a) stores through a shared mapping into a sparse file larger than the free space


def mapped_store_enospc(m, p):
    """Store through MAP_SHARED into a sparse file twice the free space; remount; read back.

    6.18: ->page_mkwrite reserves (ext4, xfs, btrfs: delalloc) or allocates
    at the first store to each page; once the space is gone it fails and the
    fault handler turns that into SIGBUS (mm/memory.c: do_page_mkwrite ->
    VM_FAULT_SIGBUS), so the stores stop before the free space is passed and
    every page stored reads back after a remount; the rest of the file is a
    hole (zeros). The page stored last is recorded with progress() after
    every CHUNK pages, for a real run that reaches its cap.
    """
    path = m.scratch + "/sparse"
    free = _free_pages(m)
    npages = 2 * free
    out = {"free_pages_before": free, "file_pages": npages}
    progress(m, **out, stored_pages=0)
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, npages * PAGE_SIZE)
    a = p.mmap(0, npages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    stored, result = 0, "no signal"
    try:
        while stored < npages:
            n = min(CHUNK, npages - stored)
            p.write(a + stored * PAGE_SIZE, _pattern(stored, n))
            stored += n
            progress(m, stored_pages=stored)
    except (Signal, OSError) as e:
        result = _outcome(e)
        if isinstance(e, Signal):
            stored = (e.addr - a) // PAGE_SIZE
    out.update(outcome=result, stored_pages=stored, stored_within_free=stored <= free,
               stored_over_half_free=2 * stored > free)
    p.msync(a, npages * PAGE_SIZE, MS_SYNC)
    p.munmap(a, npages * PAGE_SIZE)
    p.fsync(fd)
    p.close(fd)
    remount(m)
    intact, zero = _read_back(p, path, npages)
    out.update(read_back_intact=int(intact.sum()), read_back_zero=int(zero.sum()),
               all_stored_read_back=bool(intact[:stored].all()),
               pages_with_data_after_signal=int((~zero[stored:]).sum()),
               nothing_else=bool((intact | zero).all()))
    return out


def _legit_counts(field, real, sim, fstype):
    """Page and block counts differ by the filesystem's metadata and reserves."""
    if field in ("free_pages_before", "file_pages", "stored_pages", "read_back_intact",
                 "read_back_zero", "written_pages", "filler_pages"):
        return "fs metadata"
    return None


def _legit_enospc(field, real, sim, fstype):
    if field == "outcome" and isinstance(real, str) and real.startswith("still retrying") \
            and sim == "SIGBUS":
        return "allocator retries"
    if fstype == "btrfs" and field == "pages_with_data_after_signal" and 0 < real <= CHUNK:
        return "btrfs rewrite after flush"
    return _legit_counts(field, real, sim, fstype)


# ---------------------------------------------------------------------------
# (b) pwrite of the same


def pwrite_enospc(m, p):
    """pwrite the same file as (a), 64 KiB at a time: ENOSPC, or a short count, at the free space.

    mm/filemap.c: generic_perform_write stops at the first page whose
    ->write_begin fails (ext4_da_write_begin, iomap's xfs_buffered_write_iomap_begin,
    btrfs_buffered_write): a short count if anything was copied, else ENOSPC.
    """
    path = m.scratch + "/sparse"
    free = _free_pages(m)
    npages = 2 * free
    out = {"free_pages_before": free, "file_pages": npages}
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, npages * PAGE_SIZE)
    written, result = 0, "no error"
    while written < npages * PAGE_SIZE:
        n = min(CHUNK, npages - written // PAGE_SIZE)
        try:
            got = p.pwrite(fd, _pattern(written // PAGE_SIZE, n), written)
        except OSError as e:
            result = _outcome(e)
            break
        written += got
        progress(m, written_pages=written // PAGE_SIZE)
        if got < n * PAGE_SIZE:
            result = "short write"
    p.close(fd)
    out.update(outcome=result, written_pages=written // PAGE_SIZE,
               written_within_free=written // PAGE_SIZE <= free,
               written_over_half_free=2 * written // PAGE_SIZE > free)
    return out


# ---------------------------------------------------------------------------
# (c) mlock of a sparse shared mapping


def mlock_sparse_no_blocks(m, p):
    """mlock of a sparse MAP_SHARED file mapping allocates nothing and dirties nothing.

    Since 2.6.38 (5ecfda041e4b) mlock read-faults a shared mapping
    (mm/gup.c: populate_vma_page_range without FOLL_WRITE): the holes map
    the zero-filled page cache, no ->page_mkwrite runs, no block is
    reserved. The first store then reserves one (st_blocks grows).
    """
    path = m.scratch + "/sparse"
    size = FILE_PAGES * PAGE_SIZE
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    free0 = _free_pages(m)
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    out = {"mlock": 0}
    try:
        p.mlock(a, size)
    except OSError as e:
        out["mlock"] = _outcome(e)
    v = p.smaps(a)
    out.update(locked_kb=v.get("Locked"), rss_kb=v["Rss"], dirty_kb=_dirty_kb(p, a),
               st_blocks_after_mlock=m.stat(path).st_blocks,
               free_unchanged_after_mlock=_free_pages(m) == free0)
    p.touch(a, PAGE_SIZE, write=True)
    out["blocks_after_one_store"] = m.stat(path).st_blocks > 0
    p.munlock(a, size)
    p.munmap(a, size)
    p.close(fd)
    return out


def _legit_none(field, real, sim, fstype):
    return None


# ---------------------------------------------------------------------------
# (d) fallocate, fill the filesystem, then store through the mapping


def fallocate_then_store(m, p):
    """fallocate a file, fill every other block, then store into the file through a mapping.

    ext4 and xfs: no SIGBUS, the preallocated (unwritten) extents need no
    new space at the fault (ext4_page_mkwrite finds the blocks mapped;
    xfs_filemap_page_mkwrite marks the buffers unwritten). btrfs: SIGBUS,
    because btrfs_page_mkwrite reserves data space for every page even over
    a preallocated extent (btrfs_delalloc_reserve_space, with no NOCOW
    fallback there, unlike btrfs_buffered_write -> btrfs_check_nocow_lock):
    measured on 6.18, and what mmsim's copy-on-write btrfs does. ext2 and
    ext3 files (indirect blocks) cannot be preallocated: EOPNOTSUPP
    (fs/ext4/extents.c: ext4_fallocate needs EXT4_INODE_EXTENTS), so their
    stores meet a full filesystem: SIGBUS.
    """
    path, filler = m.scratch + "/prealloc", m.scratch + "/filler"
    size = FILE_PAGES * PAGE_SIZE
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    out = {"fallocate": 0}
    try:
        p.fallocate(fd, 0, 0, size)
    except OSError as e:
        out["fallocate"] = _outcome(e)
        p.ftruncate(fd, size)
    out["st_blocks_after_fallocate_kb"] = _blocks_kb(m, path)
    ffd = p.open(filler, os.O_RDWR | os.O_CREAT)
    off = 0
    chunk = b"\xff" * (256 * KiB)
    while True:
        try:
            got = p.pwrite(ffd, chunk, off)
        except OSError:
            break
        off += got
        if got < len(chunk):
            break
    p.fsync(ffd)
    p.close(ffd)
    out["filler_pages"] = off // PAGE_SIZE
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    try:
        p.write(a, _pattern(0, FILE_PAGES))
        out["store"] = 0
    except (Signal, OSError) as e:
        out["store"] = _outcome(e)
    p.munmap(a, size)
    p.fsync(fd)
    p.close(fd)
    return out


def _legit_fallocate(field, real, sim, fstype):
    if field == "filler_pages":
        return "fs metadata"
    return None


# ---------------------------------------------------------------------------
# (e) FIEMAP after sequential, random and fallocate-first writes


def fiemap_layouts(m, p):
    """The extents FIEMAP shows after three ways of writing FILE_PAGES pages, each fsync'ed.

    Delayed allocation (ext4, xfs, btrfs and the ext4 driver's ext2/ext3)
    chooses blocks at writeback, in file order (fs/ext4/inode.c:
    ext4_writepages -> mpage_map_and_submit_extent; xfs_map_blocks;
    btrfs run_delalloc_range), so random-order writes end up as contiguous
    as sequential ones. fallocate first gives unwritten extents that the
    writes convert (ext4_convert_unwritten_extents, xfs_iomap_write_unwritten).
    Fields that must agree: extent counts of extent-mapped files, the
    unwritten and delalloc flags, the bytes mapped; physical addresses never.
    """
    rng = random.Random(12)
    out = {}
    for name in ("sequential", "random", "fallocate_first"):
        path = f"{m.scratch}/{name}"
        fd = p.open(path, os.O_RDWR | os.O_CREAT)
        order = list(range(FILE_PAGES))
        if name == "random":
            rng.shuffle(order)
        if name == "fallocate_first":
            try:
                p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, FILE_PAGES * PAGE_SIZE)
                out[f"{name}.fallocate"] = 0
            except OSError as e:
                out[f"{name}.fallocate"] = _outcome(e)
        for i in order:
            p.pwrite(fd, _pattern(i, 1), i * PAGE_SIZE)
        p.fsync(fd)
        p.close(fd)
        ext = m.fiemap(path)
        out[f"{name}.extents"] = len(ext)
        out[f"{name}.mapped_kb"] = sum(e.length for e in ext) // KiB
        out[f"{name}.unwritten"] = any(e.unwritten for e in ext)
        out[f"{name}.delalloc"] = any(e.delalloc for e in ext)
        out[f"{name}.st_blocks_kb"] = _blocks_kb(m, path)
    return out


def _legit_fiemap(field, real, sim, fstype):
    if fstype in ("ext2", "ext3") and field.endswith((".extents", ".mapped_kb", ".st_blocks_kb")):
        return "indirect blocks"
    if fstype == "xfs" and field.endswith(".st_blocks_kb"):
        return "speculative preallocation"
    if fstype == "xfs" and field == "random.extents":
        return "xfs out-of-order allocation"
    return None


# ---------------------------------------------------------------------------
# (f) Christoph Hellwig's test


def christoph_mlock_dirty_munlock_sync(m, p):
    """mlock a shared mapping, dirty it, munlock, msync and fsync, remount: the data is intact.

    Christoph Hellwig in the thread: "mlock a shared mapping, dirty it,
    munlock, msync/fsync" on btrfs, ext4, gfs2, xfs. Since 2.6.38 mlock does
    not dirty the pages, so the stores fault (->page_mkwrite) and dirty
    them; msync writes them (mm/msync.c -> vfs_fsync_range) and nothing is
    lost: after a remount every page reads back as stored.
    """
    path = m.scratch + "/christoph"
    size = FILE_PAGES * PAGE_SIZE
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    out = {"mlock": 0}
    try:
        p.mlock(a, size)
    except OSError as e:
        out["mlock"] = _outcome(e)
    out["dirty_kb_after_mlock"] = _dirty_kb(p, a)
    p.write(a, _pattern(0, FILE_PAGES))
    out["dirty_after_stores"] = _dirty_kb(p, a) > 0
    p.munlock(a, size)
    p.msync(a, size, MS_SYNC)
    p.fsync(fd)
    out["dirty_kb_after_msync"] = _dirty_kb(p, a)
    p.munmap(a, size)
    p.close(fd)
    remount(m)
    intact, zero = _read_back(p, path, FILE_PAGES)
    out.update(read_back_intact=int(intact.sum()), read_back_zero=int(zero.sum()),
               st_blocks_kb=_blocks_kb(m, path))
    return out


def _legit_christoph(field, real, sim, fstype):
    if field == "st_blocks_kb" and fstype in ("ext2", "ext3"):
        return "indirect blocks"
    return None


FS_SCENARIOS = {
    "mapped_store_enospc": FsScenario(mapped_store_enospc, _legit_enospc),
    "pwrite_enospc": FsScenario(pwrite_enospc, _legit_counts),
    "mlock_sparse_no_blocks": FsScenario(mlock_sparse_no_blocks, _legit_none),
    "fallocate_then_store": FsScenario(fallocate_then_store, _legit_fallocate),
    "fiemap_layouts": FsScenario(fiemap_layouts, _legit_fiemap),
    "christoph": FsScenario(christoph_mlock_dirty_munlock_sync, _legit_christoph),
}


# ---------------------------------------------------------------------------
# Running one scenario on both sides


def compare_on(fstype, scenario, size=32 * MiB, timeout=20, kernel="6.18"):
    """Run a scenario on this kernel in a loop fs of fstype and on mmsim; return a Table.

    The real side runs in mmsim.loopfs.mounted(fstype, size), capped at
    timeout wall-clock seconds; a run that reaches the cap is an outcome,
    "still retrying after <timeout> s", with the progress it recorded. The
    simulated filesystem is given the real one's free space after mkfs
    (statfs f_bavail), so both start with as many free pages. Never raises
    for a side that cannot run: the table says why.
    """
    from . import experiment as _x, loopfs, real
    if scenario not in FS_SCENARIOS:
        raise OSError(_errno.EINVAL, f"no scenario {scenario!r}; there are {sorted(FS_SCENARIOS)}")
    sc = FS_SCENARIOS[scenario]
    fs_size = size
    ok, why = loopfs.available(fstype)
    if ok:
        def real_side():
            nonlocal fs_size
            with loopfs.mounted(fstype, size=size) as fs:
                st = fs.statfs()
                fs_size = max(st.f_bavail * st.f_frsize // PAGE_SIZE, 16) * PAGE_SIZE
                return real.run(sc.experiment, scratch_dir=fs.path, timeout=timeout,
                                memlock=sc.memlock, caps=sc.caps, output=False,
                                at_timeout="still retrying after {seconds:g} s")
        r, r_err = _x._side(real_side)
    else:
        r, r_err = None, f"Unavailable: {why}"
    s, s_err = _x._side(sc.experiment, setup=lambda: _x.machine(
        kernel=kernel, memlock=sc.memlock, caps=sc.caps, fs=fstype, fs_size=fs_size))

    def explain(field, rv, sv):
        return sc.legitimate(field, rv, sv, fstype)
    return _x.table(f"{scenario} on {fstype}", r, r_err, s, s_err, explain, kernel=kernel,
                    reasons=FS_REASONS)
