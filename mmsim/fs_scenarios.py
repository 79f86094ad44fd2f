"""The thread's experiments on real filesystems: the simulator against the kernel in a loop image.

Each scenario is an experiment(machine, process), as in mmsim.experiment,
that runs unchanged on the simulator ("6.18", a filesystem of the same type
whose size is the real image's free space) and on this kernel in a loop
filesystem made by mmsim.loopfs::

    from mmsim.fs_scenarios import compare_on
    print(compare_on("ext4", "mapped_store_enospc", size=32 * MiB, timeout=20))

``compare_on`` returns mmsim.experiment's Table. Outcomes (SIGBUS, ENOSPC,
errnos) and booleans (what the thread is about: stored within the free
space, read back intact, no blocks after mlock) must agree. Page counts may
fall short of the simulator's only by what a named reason (FS_REASONS)
allows for that filesystem (``shortfall``): a directory block, the exact
indirect blocks of ext2/ext3, less than a large folio, xfs's extent-btree
reservations (< 1 %), btrfs's metadata reservations (< 10 %). Extent counts
may differ only where a layout reason names the mechanism.
"""

import errno as _errno
import os
import random
import signal as _signal

import numpy as np

from ._abi import (FALLOC_FL_KEEP_SIZE, KiB, MADV_RANDOM, MiB, PAGE_SIZE, PROT_READ, PROT_WRITE,
                   MAP_SHARED, MS_SYNC)
from .errors import Signal, error

__all__ = ["FS_SCENARIOS", "compare_on", "progress", "remount", "FsScenario", "FS_REASONS",
           "shortfall", "indirect_blocks", "mlock_dirty_munlock_sync", "drop_page_cache", "reraise"]

CHUNK = 16                      # pages stored between two progress records
FILE_PAGES = 256                # the small files of the layout and mlock scenarios (1 MiB)

#: reason name -> explanation, for the differences these scenarios may show
FS_REASONS = {
    "directory block": "the real experiment's scratch directory, made inside the image, "
                       "takes a block on ext2/3/4 (ext4_mkdir -> ext4_init_new_dir); "
                       "mmsim's scratch directory is its mount point: one page less on "
                       "the real side, two in a file sized twice the free space",
    "indirect blocks": "an ext2/ext3 file maps its blocks through indirect blocks "
                       "(fs/ext4/indirect.c: ext4_ind_map_blocks -> ext4_alloc_branch): "
                       "one per 1024 data blocks after the first 12, and a double-indirect "
                       "one past 1036, counted in st_blocks and taken from the free space "
                       "(the shortfall must be exactly that many); mmsim has no indirect "
                       "blocks",
    "ext2/ext3 layout": "the ext4 driver maps an indirect-block file in several "
                        "allocations, which the buddy allocator (fs/ext4/mballoc.c) places "
                        "apart, with the indirect blocks among them: FIEMAP shows several "
                        "extents (measured on 6.18: 4 after sequential writes, 1 after "
                        "random-order ones, 5 after a failed fallocate) where mmsim shows one",
    "large folios": "6.18's page cache holds large folios for ext4 and xfs files "
                    "(readahead allocates them at the fault: mm/filemap.c: filemap_fault "
                    "-> page_cache_ra_order; a buffered write allocates folios of its size: "
                    "__filemap_get_folio with fgf_set_order), and ->page_mkwrite or "
                    "->write_begin reserves the whole folio (ext4_page_mkwrite, "
                    "iomap_page_mkwrite), so ENOSPC comes at the first folio that does not "
                    "fit whole: less than a folio before the free space ends (with "
                    "MADV_RANDOM, order-0 folios, ext4 stores every free page, as mmsim "
                    "does: measured); mmsim has single pages",
    "xfs reservations": "xfs reserves, with each delalloc extent, the worst-case blocks "
                        "of the extent btree it may need (fs/xfs/libxfs/xfs_bmap.c: "
                        "xfs_bmap_worst_indlen, xfs_bmap_add_extent_hole_delay), which "
                        "come out of the free space: under 1 %% of it here, plus a folio "
                        "with large folios",
    "btrfs metadata": "btrfs reserves metadata space with every delalloc reservation "
                      "(fs/btrfs/delalloc-space.c: btrfs_delalloc_reserve_metadata) and "
                      "keeps a global block reserve, out of the space statfs reports "
                      "free: ENOSPC comes up to 10 %% early; mmsim reserves data blocks only",
    "allocator retries": "on ENOSPC the real ->page_mkwrite retries after forcing a journal "
                         "commit or flushing delalloc (fs/ext4/inode.c: ext4_page_mkwrite -> "
                         "ext4_should_retry_alloc; btrfs flush_space) before giving up with "
                         "SIGBUS, which can take longer than the run's wall-clock cap; the "
                         "simulator fails the reservation at once",
    "btrfs rewrite after flush": "on ENOSPC btrfs flushes delalloc to find space "
                                 "(fs/btrfs/space-info.c: flush_space -> "
                                 "btrfs_start_delalloc_roots); writeback write-protects the "
                                 "pages already stored (folio_mkclean), and a store that "
                                 "rewrites one needs a new copy-on-write reservation "
                                 "(btrfs_page_mkwrite), so the SIGBUS can come at a page "
                                 "stored before: a few pages past the signal address hold "
                                 "data; mmsim flushes nothing on ENOSPC",
    "speculative preallocation": "xfs reserves blocks past EOF while a file grows "
                                 "(fs/xfs/xfs_iomap.c: xfs_buffered_write_iomap_begin -> "
                                 "xfs_iomap_prealloc_size); out-of-order extending writes "
                                 "leave those reservations as separate delalloc extents that "
                                 "writeback allocates one by one, so random-order writes end "
                                 "in several extents (4 for the scenario's order, and 1 when "
                                 "mounted allocsize=4k: measured on 6.18); mmsim has no "
                                 "speculative preallocation",
}
FS_REASONS = {k: v.replace("%%", "%") for k, v in FS_REASONS.items()}

EXT = ("ext2", "ext3", "ext4")
FOLIO_PAGES = 512               # the largest page-cache folio seen here (2 MiB, PMD order)


def indirect_blocks(n):
    """Return the indirect blocks an ext2/ext3 file of n data blocks needs (4 KiB blocks).

    fs/ext4/indirect.c: ext4_block_to_path: 12 direct blocks, then one
    indirect block of 1024 pointers, then a double-indirect block and one
    indirect block per 1024 more (up to 4 GiB, past any image made here).
    """
    ptrs = PAGE_SIZE // 4
    if n <= 12:
        return 0
    n -= 12
    if n <= ptrs:
        return 1
    return 2 + -(-(n - ptrs) // ptrs)


def shortfall(fstype, real, sim, folio):
    """Return the reason a real page count falls short of the simulator's, or None.

    real and sim count pages that got space (stored, written, filled);
    folio: the pages one reservation may cover on the real side (1: order-0
    folios). Each filesystem may fall short only by what its reason says.
    """
    if not (isinstance(real, int) and isinstance(sim, int)) or real >= sim:
        return None
    d = sim - real
    if fstype in EXT:
        ind = indirect_blocks(real) if fstype != "ext4" else 0
        rest = d - 1 - ind
        if rest == 0:
            return "indirect blocks" if ind else "directory block"
        return "large folios" if 0 < rest < folio else None
    if fstype == "xfs":
        if d <= sim // 100:
            return "xfs reservations"
        return "large folios" if d < folio + sim // 100 else None
    if fstype == "btrfs":
        return "btrfs metadata" if d <= sim // 10 else None
    return None


def _free_space_fields(field, real, sim, fstype):
    """free_pages_before and file_pages (twice it): one directory block on ext2/3/4."""
    if fstype in EXT and field in ("free_pages_before", "file_pages"):
        per = 1 if field == "free_pages_before" else 2
        if isinstance(real, int) and isinstance(sim, int) and sim - real == per:
            return "directory block"
    return None


def _st_blocks(field, real, sim, fstype):
    """st_blocks of a FILE_PAGES file: ext2/ext3 add exactly their indirect blocks."""
    if fstype in ("ext2", "ext3") and real == sim + 4 * indirect_blocks(FILE_PAGES):
        return "indirect blocks"
    return None


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


def _try(fn, *args):
    """Return 0, or the errno / signal name fn failed with."""
    try:
        fn(*args)
        return 0
    except (Signal, OSError) as e:
        return _outcome(e)


def _pattern(first, n):
    """Return n pages whose first 8 bytes are their page index (from first), the rest zeros."""
    buf = np.zeros((n, PAGE_SIZE // 8), np.uint64)
    buf[:, 0] = np.arange(first, first + n, dtype=np.uint64) + np.uint64(1)
    return buf.tobytes()


def _whole_pages(first, n):
    return np.frombuffer(_pattern(first, n), np.uint8).reshape(n, PAGE_SIZE), np.True_


def _read_back(p, path, npages, expect=_whole_pages):
    """Return per page of path: (intact mask, all-zeros mask).

    expect(first, n) gives pages first.. first+n-1 as stored: a (n, PAGE_SIZE)
    uint8 array and a mask of the bytes that count (default: _pattern's whole pages).
    """
    fd = p.open(path, os.O_RDONLY)
    intact, zero = [], []
    step = 256
    for first in range(0, npages, step):
        n = min(step, npages - first)
        data = p.pread(fd, n * PAGE_SIZE, first * PAGE_SIZE)
        data += bytes(n * PAGE_SIZE - len(data))
        got = np.frombuffer(data, np.uint8).reshape(n, PAGE_SIZE)
        want, counts = expect(first, n)
        intact.append(((got == want) | ~counts).all(axis=1))
        zero.append(~got.any(axis=1))
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


def _mapped_store(m, p, advice=None):
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
    if advice is not None:
        p.madvise(a, npages * PAGE_SIZE, advice)
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
               stored_over_90_percent_of_free=10 * stored > 9 * free)
    out["msync"] = _try(p.msync, a, npages * PAGE_SIZE, MS_SYNC)
    p.munmap(a, npages * PAGE_SIZE)
    out["fsync"] = _try(p.fsync, fd)
    p.close(fd)
    remount(m)
    intact, zero = _read_back(p, path, npages)
    out.update(all_stored_read_back=bool(intact[:stored].all()),
               pages_with_data_after_signal=int((~zero[stored:]).sum()),
               nothing_else=bool((intact | zero).all()))
    return out


def mapped_store_enospc(m, p):
    """(a) as the thread has it: _mapped_store with the kernel's default readahead."""
    return _mapped_store(m, p)


def mapped_store_enospc_order0(m, p):
    """(a) under MADV_RANDOM: the real page cache then uses order-0 folios (no readahead,
    mm/filemap.c: do_sync_mmap_readahead), so each ->page_mkwrite reserves one page, as
    in mmsim (where the hint changes nothing: mm/madvise.py)."""
    return _mapped_store(m, p, MADV_RANDOM)


def _legit_store(folio):
    def legitimate(field, real, sim, fstype):
        if field == "outcome" and isinstance(real, str) and real.startswith("still retrying") \
                and sim == "SIGBUS":
            return "allocator retries"
        if fstype == "btrfs" and field == "pages_with_data_after_signal" and 0 < real <= CHUNK:
            return "btrfs rewrite after flush"
        if field == "stored_pages":
            return shortfall(fstype, real, sim, folio)
        return _free_space_fields(field, real, sim, fstype)
    return legitimate


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
               written_over_90_percent_of_free=10 * written // PAGE_SIZE > 9 * free)
    return out


def _legit_pwrite(field, real, sim, fstype):
    if field == "written_pages":
        return shortfall(fstype, real, sim, CHUNK)
    return _free_space_fields(field, real, sim, fstype)


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
    chunk = b"\xff" * (FILLER_PAGES * PAGE_SIZE)
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


FILLER_PAGES = 64              # pages of one pwrite of the filler


def _legit_fallocate(field, real, sim, fstype):
    if field == "filler_pages":
        return shortfall(fstype, real, sim, FILLER_PAGES)
    return None


# ---------------------------------------------------------------------------
# (e) FIEMAP after sequential, random and fallocate-first writes


def fiemap_layouts(m, p):
    """The extents FIEMAP shows after three ways of writing FILE_PAGES pages, each fsync'ed.

    Delayed allocation (ext4, xfs, btrfs and the ext4 driver's ext2/ext3)
    chooses blocks at writeback, in file order (fs/ext4/inode.c:
    ext4_writepages -> mpage_map_and_submit_extent; xfs_map_blocks;
    btrfs run_delalloc_range), so random-order writes end up as contiguous
    as sequential ones; but not on xfs, whose speculative preallocation past
    EOF splits them (see FS_REASONS). fallocate first gives unwritten extents that the
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
    if field.endswith(".st_blocks_kb"):
        return _st_blocks(field, real, sim, fstype)
    if field.endswith(".extents") and isinstance(real, int) and real > sim:
        if fstype in ("ext2", "ext3"):
            return "ext2/ext3 layout"
        if fstype == "xfs" and field == "random.extents":
            return "speculative preallocation"
    return None


# ---------------------------------------------------------------------------
# (f) Christoph Hellwig's test


def drop_page_cache(m):
    """Drop the page cache of the scratch filesystem, so that what is read next comes from the disk.

    Return how: "remount" (a loop filesystem of mmsim.loopfs: RealMachine.remount,
    umount and mount; fs/super.c: generic_shutdown_super -> sync_filesystem writes
    back what is still dirty first), "drop_caches" (mmsim, or a real kernel as root;
    fs/drop_caches.c: drop_pagecache_sb -> invalidate_mapping_pages keeps dirty,
    locked and mapped pages), or "" where neither works (a real kernel without root).
    Unlike remount() it does not sync on mmsim: a page msync left dirty stays in memory.
    """
    real_remount = getattr(m, "remount", None)
    if real_remount is not None:
        try:
            real_remount()
            return "remount"
        except Exception:           # mmsim.real.Unavailable: not in a loop filesystem
            pass
    try:
        m.drop_caches()
        return "drop_caches"
    except OSError:
        return ""


def _expected(pattern):
    """_read_back's expect for pattern (bytes per page): only each page's first len(pattern[i]) count."""
    want = np.zeros((len(pattern), PAGE_SIZE), np.uint8)
    lengths = np.array([len(d) for d in pattern], np.int64)
    for i, d in enumerate(pattern):
        want[i, :len(d)] = np.frombuffer(d, np.uint8)
    counts = np.arange(PAGE_SIZE) < lengths[:, None]
    return lambda first, n: (want[first:first + n], counts[first:first + n])


def mlock_dirty_munlock_sync(m, p, path, pattern, syncs=("msync",), preallocate=False):
    """Christoph Hellwig's test on one file: mlock a shared mapping, dirty it, munlock, sync, read back.

    On either backend (mmsim or mmsim.real): open path, ftruncate it to
    len(pattern) pages (and fallocate them if preallocate), mmap it MAP_SHARED
    read-write, mlock it (mm/mlock.c: do_mlock; since 2.6.38 a shared writable
    mapping is read-faulted, so nothing is dirtied or allocated), store
    pattern[i] (bytes, at most a page) at the start of page i (the first store
    to a page faults: ->page_mkwrite), munlock it (mm/mlock.c: munlock_vma_pages_range),
    write it out by each of syncs in turn, "msync" (mm/msync.c: sys_msync,
    MS_SYNC -> vfs_fsync_range) or "fsync" (fs/sync.c: do_fsync ->
    vfs_fsync_range), munmap and close, drop_page_cache, pread every page.

    Return plain data: mlock and sync[way] (0 or the errno name), st_blocks
    (512-byte units) after the mlock and after the syncs, Dirty kB of the
    mapping (smaps) after the mlock, the stores and the syncs, how the cache
    was dropped, and the pages whose start does not read back as stored
    (lost) and that read back all zeros (zero).
    """
    size = len(pattern) * PAGE_SIZE
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    if preallocate:
        p.fallocate(fd, 0, 0, size)
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    out = {"mlock": _try(p.mlock, a, size)}
    out.update(blocks_after_mlock=m.stat(path).st_blocks, dirty_kb_after_mlock=_dirty_kb(p, a))
    for i, data in enumerate(pattern):
        p.write(a + i * PAGE_SIZE, data)
    out["dirty_kb_after_stores"] = _dirty_kb(p, a)
    p.munlock(a, size)
    calls = {"msync": (p.msync, a, size, MS_SYNC), "fsync": (p.fsync, fd)}
    out["sync"] = {way: _try(*calls[way]) for way in syncs}
    out.update(blocks_after_sync=m.stat(path).st_blocks, dirty_kb_after_sync=_dirty_kb(p, a))
    p.munmap(a, size)
    p.close(fd)
    out["dropped"] = drop_page_cache(m)
    intact, zero = _read_back(p, path, len(pattern), _expected(pattern))
    out.update(lost=np.flatnonzero(~intact).tolist(), zero=np.flatnonzero(zero).tolist())
    return out


def reraise(name, what):
    """Raise again, as OSError, a failure that _try recorded as an errno name."""
    if name:
        raise error(getattr(_errno, name), what)


def christoph_mlock_dirty_munlock_sync(m, p):
    """mlock a shared mapping, dirty it, munlock, msync and fsync, remount: the data is intact.

    Christoph Hellwig in the thread: "mlock a shared mapping, dirty it,
    munlock, msync/fsync" on btrfs, ext4, gfs2, xfs. Since 2.6.38 mlock does
    not dirty the pages, so the stores fault (->page_mkwrite) and dirty
    them; msync writes them (mm/msync.c -> vfs_fsync_range) and nothing is
    lost: after a remount every page reads back as stored. The steps are
    mlock_dirty_munlock_sync's, with _pattern's pages; an msync or fsync
    that fails raises, as the call would.
    """
    path = m.scratch + "/christoph"
    pattern = [_pattern(i, 1) for i in range(FILE_PAGES)]
    r = mlock_dirty_munlock_sync(m, p, path, pattern, syncs=("msync", "fsync"))
    for way, name in r["sync"].items():
        reraise(name, way)
    return {"mlock": r["mlock"], "dirty_kb_after_mlock": r["dirty_kb_after_mlock"],
            "dirty_after_stores": r["dirty_kb_after_stores"] > 0,
            "dirty_kb_after_msync": r["dirty_kb_after_sync"],
            "read_back_intact": FILE_PAGES - len(r["lost"]), "read_back_zero": len(r["zero"]),
            "st_blocks_kb": _blocks_kb(m, path)}


def _legit_christoph(field, real, sim, fstype):
    return _st_blocks(field, real, sim, fstype) if field == "st_blocks_kb" else None


FS_SCENARIOS = {
    "mapped_store_enospc": FsScenario(mapped_store_enospc, _legit_store(FOLIO_PAGES)),
    "mapped_store_enospc_order0": FsScenario(mapped_store_enospc_order0, _legit_store(1)),
    "pwrite_enospc": FsScenario(pwrite_enospc, _legit_pwrite),
    "mlock_sparse_no_blocks": FsScenario(mlock_sparse_no_blocks, _legit_none),
    "fallocate_then_store": FsScenario(fallocate_then_store, _legit_fallocate),
    "fiemap_layouts": FsScenario(fiemap_layouts, _legit_fiemap),
    "christoph": FsScenario(christoph_mlock_dirty_munlock_sync, _legit_christoph),
}


# ---------------------------------------------------------------------------
# Running one scenario on both sides


def compare_on(fstype, scenario, size=32 * MiB, timeout=60, kernel="6.18"):
    """Run a scenario on this kernel in a loop fs of fstype and on mmsim; return a Table.

    The real side runs in mmsim.loopfs.mounted(fstype, size), capped at
    timeout wall-clock seconds (mmsim.real.DEFAULT_TIMEOUT; every scenario
    needed under 3 s on 32-128 MiB images here); a run that reaches the cap is an outcome,
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

    capped = isinstance(r, dict) and str(r.get("outcome", "")).startswith("still retrying")

    def explain(field, rv, sv):
        counts = all(isinstance(v, int) and not isinstance(v, bool) for v in (rv, sv))
        if capped and counts and rv < sv:
            return "allocator retries"          # a count recorded when the cap cut the run short
        return sc.legitimate(field, rv, sv, fstype)
    return _x.table(f"{scenario} on {fstype}", r, r_err, s, s_err, explain, kernel=kernel,
                    reasons=FS_REASONS)
