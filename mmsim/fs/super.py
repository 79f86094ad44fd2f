"""A mounted filesystem (struct super_block) and what every personality shares.

A personality (ext2.py, ext3.py, ext4.py, xfs.py, btrfs.py, shmem.py) says
which hooks it has on a given kernel: ->page_mkwrite or not, delayed
allocation or not, unwritten extents or not. The work (reserving, allocating,
converting) is done here, vectorised over page ranges, so every filesystem
takes the same code path with its own switches.
"""

import numpy as np

from .._abi import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, PAGE_SIZE)
from ..errors import (EFBIG, EINVAL, ENOENT, ENOSPC, EOPNOTSUPP, error)
from ..flags import (B_DELAY, B_MAPPED, B_NEW, B_UNWRITTEN, HOLE, MKWRITE_ALLOC, MKWRITE_NONE,
                     MKWRITE_RESERVE, PG_MKWRITE)
from ..block.disk import Disk
from ..mm.truncate import (block_truncate_page, truncate_pagecache, truncate_pagecache_range,
                           zero_page_tail)
from ..losses import record_loss
from ..mm.pagevec import (alike, as_index, clear_bits, count, first_last, head, set_bits,
                          subset)
from .balloc import BlockAllocator
from .fs_writeback import BdiWriteback
from .inode import NSEC_PER_SEC, Inode

MAX_FILE_SIZE = 1 << 44      # 16 TiB, ext4's limit with 4 KiB blocks


def _one_run(block, pg):
    """The first block of the run of pages pg if their blocks are consecutive, else None.

    For pages _allocate just gave blocks from one BlockAllocator.alloc:
    those come in order from the goal, wrapping at most once (which leaves
    the last below the first), so ends n - 1 apart mean n consecutive blocks.
    """
    first = int(block[pg.start])
    return first if int(block[pg.stop - 1]) - first == pg.stop - pg.start - 1 else None


def iterate_inodes(m):
    """Every inode of every mounted filesystem, shmem's included (iterate_supers)."""
    for sb in list(m.mounts.values()) + [m.shm_mnt]:
        yield from sb.inodes.values()


class SuperBlock:
    """A filesystem on its own device: blocks, inodes and the fs hooks."""

    fstype = "none"
    shmem = False
    options_known = frozenset()
    # s_time_gran: the finest step of the filesystem's timestamps, in ns
    time_gran_ns = 1

    def __init__(self, machine, mountpoint, size, options=()):
        self.machine = machine
        self.kernel = machine.kernel
        # current_time's units: the jiffy, then s_time_gran (1 s on ext2/3, 1 ns elsewhere)
        self.stamp_units = (NSEC_PER_SEC // self.kernel.hz, self.time_gran_ns)
        self.mountpoint = mountpoint
        self.options = frozenset(options)
        unknown = self.options - self.options_known - {"no_page_mkwrite"}
        if unknown:
            raise error(EINVAL, f"{self.fstype}: unknown mount option "
                        + ",".join(sorted(unknown)))
        self.nblocks = int(size) // PAGE_SIZE
        self.balloc = BlockAllocator(self.nblocks)
        prof = machine.profile
        self.disk = Disk(self.nblocks, prof.disk_bandwidth, prof.disk_seek)
        # the backing device's writeback (shmem has none: noop_backing_dev_info)
        self.bdi = None if self.shmem else BdiWriteback(machine, self)
        self.reserved = 0            # delalloc reservations, in blocks
        self.inodes = {}
        self._next_ino = 12
        self.goal = 0                # where the next file's first block goes

    # -- personality switches -------------------------------------------------
    def mkwrite_kind(self):
        """Return what ->page_mkwrite does on this kernel (MKWRITE_*)."""
        return MKWRITE_NONE

    # ->page_mkwrite's name on 2.6.37 and on today's kernels (for the trace)
    mkwrite_fn = ("filemap_page_mkwrite", "filemap_page_mkwrite")

    def mkwrite_name(self):
        """Return the name of this filesystem's ->page_mkwrite on this kernel."""
        return self.mkwrite_fn[1 if self.kernel.modern_names else 0]

    # ->writepage on 2.6.37, ->writepages today (for m.lost)
    writepage_fn = ("block_write_full_page", "block_write_full_folio")

    def writepage_name(self):
        """Return the name of the function that writes this filesystem's pages on this kernel."""
        return self.writepage_fn[1 if self.kernel.modern_names else 0]

    @property
    def page_mkwrite(self):
        """The ->page_mkwrite hook kind, or None (also with no_page_mkwrite)."""
        if "no_page_mkwrite" in self.options:
            return MKWRITE_NONE
        return self.mkwrite_kind()

    # Whether writeback converts an unwritten block it writes to written.
    # XFS only does so for buffers that ->page_mkwrite marked unwritten.
    unwritten_needs_mkwrite = False
    # Copy-on-write filesystems write every block somewhere new.
    cow = False
    # The filesystem accounts dirty pages (so shared writable mappings get
    # write-notify, mm/mmap.c vma_wants_writenotify).
    dirty_accounting = True

    def has_fallocate(self):
        """Whether fallocate() mode 0 is implemented on this kernel."""
        return False

    # kernel versions on which this filesystem punches holes
    punch_hole_on = ()

    # -- namespace --------------------------------------------------------------
    def lookup(self, name, create=False):
        """Return the inode of name, creating it if asked (ext2_lookup/ext2_create)."""
        inode = self.inodes.get(name)
        if inode is None:
            if not create:
                raise error(ENOENT, f"{self.mountpoint}/{name}")
            inode = Inode(self, self._next_ino, name, self.machine.vmstat)
            self._next_ino += 1
            self.inodes[name] = inode
        return inode

    # -- space ------------------------------------------------------------------
    def free_blocks(self):
        """Blocks neither allocated nor reserved (what statfs shows as f_bfree)."""
        return self.balloc.nfree - self.reserved

    def _reserve(self, inode, pg, state=None):
        """Reserve one block for each page of selection pg (the caller checked the space).

        state: the one buffer state of every page of the slice pg, if known.
        """
        n = count(pg)
        if state is None:
            set_bits(inode.bstate, pg, B_DELAY)
        else:
            inode.bstate[pg].fill(state | B_DELAY)
        inode.nreserved += n
        self.reserved += n

    def _goal_for(self, inode, first):
        """The block after the file's previous allocated page (ext2_find_near).

        Looks back from first in growing windows: the previous page is
        usually allocated, and a long file is never scanned whole.
        """
        prev = int(inode.block[first - 1]) if first > 0 else -1
        if prev >= 0:                           # the usual case: right after it
            return prev + 1
        hi, window = first, 64
        while hi > 0:
            lo = max(0, hi - window)
            allocated = np.flatnonzero(inode.block[lo:hi] >= 0)
            if len(allocated):
                return int(inode.block[lo + allocated[-1]]) + 1
            hi, window = lo, window * 8
        return self.goal

    def _allocate(self, inode, pg):
        """Allocate blocks to the pages of selection pg, run by run near each run's goal.

        Return how many leading pages of pg got a block (fewer on ENOSPC).
        Each block's allocation time (now) goes to inode.allocated_at (record_allocation).
        """
        if self.balloc.nfree == 0:              # ENOSPC at the first block: no goal to look for
            return 0
        if isinstance(pg, slice):
            runs = [(pg.start, pg.stop)]
        elif len(pg) == 0:
            return 0
        else:
            cuts = np.flatnonzero(np.diff(pg) != 1) + 1
            starts = np.concatenate([[0], cuts])
            ends = np.concatenate([cuts, [len(pg)]])
            runs = [(int(pg[a]), int(pg[b - 1]) + 1) for a, b in zip(starts, ends)]
        done = 0
        for lo, hi in runs:
            blocks = self.balloc.alloc(hi - lo, self._goal_for(inode, lo))
            got = len(blocks)
            inode.block[lo:lo + got] = blocks
            set_bits(inode.bstate, slice(lo, lo + got), B_MAPPED)
            inode.nblocks += got
            done += got
            if got:
                inode.record_allocation(lo, lo + got, self.machine.now)
                self.goal = int(blocks[-1]) + 1
            if got < hi - lo:
                break
        return done

    # -- hooks called by mm/ ------------------------------------------------------
    def do_page_mkwrite(self, inode, pg, kind=None):
        """Run ->page_mkwrite for the pages of selection pg (in fault order).

        kind: the hook's kind (page_mkwrite), if the caller has it already.

        Return how many succeeded: fewer than all means the next page got
        ENOSPC, which the fault handler turns into SIGBUS (mm/memory.c:
        do_page_mkwrite, VM_FAULT_SIGBUS). Callers only call this when
        page_mkwrite is not None.
        Since 2012 every ->page_mkwrite updates the file times before it
        tries anything (block_page_mkwrite, ext4_page_mkwrite,
        filemap_page_mkwrite), so even a fault it fails moves mtime.
        Simplified: btrfs is taken to do the same.
        """
        if self.kernel.mkwrite_updates_time and count(pg):
            inode.file_update_time()
        return self._prepare_write(inode, pg, self.page_mkwrite if kind is None else kind)

    def write_begin_kind(self):
        """What ->write_begin does for a write(2) (MKWRITE_*): allocate, by default.

        fs/buffer.c block_write_begin -> __block_write_begin calls get_block
        with create=1 for every buffer the write covers (ext2_get_block,
        ext3_get_block): a hole gets its block now, so a full filesystem
        fails the write with ENOSPC, where a store through a mapping of the
        same hole cannot fail on these filesystems.
        """
        return MKWRITE_ALLOC

    # The buffered-write path down to ->write_begin on 2.6.37 and today (for the trace)
    write_fn = (("generic_perform_write", "block_write_begin"),) * 2

    def write_path(self):
        """The function names of this filesystem's write(2) path on this kernel."""
        return self.write_fn[1 if self.kernel.modern_names else 0]

    def write_begin(self, inode, pg):
        """Run ->write_begin for the pages of selection pg of a write(2), in order.

        Reserves or allocates the blocks the pages need, as write_begin_kind
        says. Return how many succeeded: fewer than all means the next page
        got ENOSPC (mm/filemap.c generic_perform_write stops there).
        """
        return self._prepare_write(inode, pg, self.write_begin_kind())

    def _prepare_write(self, inode, pg, kind):
        """Reserve or allocate the blocks of selection pg as kind says; return how many got them.

        The work ->page_mkwrite and ->write_begin share: a delalloc
        reservation (MKWRITE_RESERVE) or a block (MKWRITE_ALLOC) for each
        page that has neither (every unreserved page on a copy-on-write
        filesystem), in order, until free space runs out. The pages that
        succeeded get PG_MKWRITE: their buffers are ready for writeback.
        A block allocated here is new (BH_New): the page is zeroed where the
        write does not cover it (__block_write_begin), never read from the
        stale block, until writeback writes it.
        """
        ok = n = count(pg)
        if ok and kind in (MKWRITE_RESERVE, MKWRITE_ALLOC):
            every_page = self.cow and kind == MKWRITE_RESERVE
            all_need = state = None             # whether all pages need it; None: look at each
            if isinstance(pg, slice):           # a run of pages all in one state: no masks
                state = alike(inode.bstate[pg])
                if state is not None:
                    all_need = not state & (B_DELAY if every_page else B_DELAY | B_MAPPED)
            if all_need is not None:
                nneed = ok if all_need else 0
                need = None
            else:
                unreserved = (inode.bstate[pg] & B_DELAY) == 0
                need = unreserved if every_page else unreserved & (inode.block[pg] == HOLE)
                nneed = int(np.count_nonzero(need))
            free = self.free_blocks()
            if nneed > free:
                ok = max(free, 0) if need is None else \
                    int(np.searchsorted(np.cumsum(need), free, side="right"))
            if nneed:
                done = pg if ok == n else head(pg, ok)
                take = done if need is None else subset(done, need[:ok])
                if kind == MKWRITE_RESERVE:
                    self._reserve(inode, take, state if need is None else None)
                else:
                    set_bits(inode.bstate, head(take, self._allocate(inode, take)), B_NEW)
        if ok:
            set_bits(inode.mapping.flags, pg if ok == n else head(pg, ok), PG_MKWRITE)
        return ok

    def map_blocks(self, inode, pg):
        """Give dirty pages pg (a sorted selection) blocks to be written to.

        The get_block step of ->writepage/->writepages: turn
        delalloc reservations into blocks, allocate holes now if nothing
        reserved them (ext2, ext3: ENOSPC here means the page cannot be
        written), write copy-on-write filesystems somewhere new, and convert
        unwritten blocks (XFS only where ->page_mkwrite marked the buffers).
        Return (written mask over pg, or None if every page has its block;
        convert mask over pg, or None if there is nothing to convert;
        run: the first block if the run of pages pg all got new blocks in
        one consecutive run, for submit_write, else None).
        """
        block = inode.block
        if self.cow:
            old = block[pg]
            old = old[old >= 0]
            block[pg] = HOLE
            clear_bits(inode.bstate, pg, B_MAPPED)
            inode.nblocks -= len(old)
            self.balloc.free(old)
            # a page dirtied without ->page_mkwrite has no reservation
        nres = 0                                # reservations turned into blocks
        if inode.nreserved:
            state = alike(inode.bstate[pg]) if isinstance(pg, slice) else None
            if state is not None:               # all reserved, or none
                nres = count(pg) if state & B_DELAY else 0
                if nres:
                    inode.bstate[pg].fill(state & ~B_DELAY)
            else:
                delayed = (inode.bstate[pg] & B_DELAY) != 0
                nres = int(np.count_nonzero(delayed))
                if nres:
                    inode.bstate[subset(pg, delayed)] &= ~np.uint8(B_DELAY)
        if nres:
            inode.nreserved -= nres
            self.reserved -= nres
        # reserved blocks are free in the bitmap: they allocate for sure
        b = alike(block[pg]) if isinstance(pg, slice) else None
        run = None
        if b is None:
            holes = block[pg] == HOLE
            if holes.any():
                self._allocate(inode, subset(pg, holes))
            written = block[pg] != HOLE
            if written.all():
                written = None
        elif b == HOLE:                         # a run of holes: allocated from its start
            got = self._allocate(inode, pg)
            if got < count(pg):
                written = np.zeros(count(pg), bool)
                written[:got] = True
            else:
                written = None
                run = _one_run(block, pg)
        else:                                   # no hole (alike only for a single page)
            written = None
        if not self.has_fallocate():            # no unwritten extents to convert
            return written, None, run
        state = alike(inode.bstate[pg]) if isinstance(pg, slice) else None
        if state is not None and not state & B_UNWRITTEN:
            return written, None, run           # none of them unwritten
        unwritten = (inode.bstate[pg] & B_UNWRITTEN) != 0
        if self.unwritten_needs_mkwrite:
            convert = unwritten & ((inode.mapping.flags[pg] & PG_MKWRITE) != 0)
        else:
            convert = unwritten
        return written, convert, run

    def submit_write(self, inode, pgs, convert, at, run=None):
        """Write pages pgs (which map_blocks placed) to their blocks; return the completion time.

        run: the first of the consecutive blocks pgs went to, if map_blocks
        says so (the disk then need not look at every step).

        Stands for the I/O half of ->writepages (mpage_writepages /
        block_write_full_page -> submit_bio). The page that straddles i_size
        is zeroed past it first, in the page cache too (block_write_full_page,
        iomap_writepage_handle_eof). Unwritten extents in convert become
        written (end_io's unwritten conversion, done here at submission),
        new blocks (B_NEW) hold their page's data from now on.
        A page written into an extent that stays unwritten (XFS without
        ->page_mkwrite) reads back as zeros: its data is counted lost in
        m.lost under this filesystem's ->writepage (writepage_name). The
        pages written lose PG_error, their data being on disk again, as
        write_cache_pages puts them under writeback (simplified: the
        kernel's PG_error stayed set, and 6.x has none).
        """
        first, last = first_last(pgs) if count(pgs) else (0, 0)
        eof = inode.size // PAGE_SIZE
        if first <= eof < last and (isinstance(pgs, slice) or eof in pgs):
            zero_page_tail(self.machine, inode, inode.size)
        blocks = inode.block[pgs] if run is None else slice(run, run + count(pgs))
        done = self.disk.submit("write", blocks, at, inode.mapping.data[pgs])
        if count(convert):
            inode.bstate[convert] &= ~np.uint8(B_UNWRITTEN)
        clear_bits(inode.bstate, pgs, B_NEW)
        if self.unwritten_needs_mkwrite:
            idx = as_index(pgs)
            record_loss(self.machine, self.writepage_name(), inode,
                        idx[(inode.bstate[idx] & B_UNWRITTEN) != 0])
        return done

    def readpages(self, inode, pgs):
        """Read uncached pages pgs now (->readpages: mpage_readpages).

        Holes, unwritten blocks and new blocks not written yet read as
        zeros without I/O. Return (stamps or None if all zeros, pages read
        from disk, completion time).
        """
        m = self.machine
        blocks = inode.block[pgs]
        on_disk = (blocks != HOLE) & ((inode.bstate[pgs] & (B_UNWRITTEN | B_NEW)) == 0)
        nread = int(np.count_nonzero(on_disk))
        if not nread:
            return None, 0, m.now
        wanted = blocks[on_disk]
        done = self.disk.submit("read", wanted, m.now)
        stamps = np.zeros(len(blocks), np.uint32)
        stamps[on_disk] = self.disk.data[wanted]
        return stamps, nread, done

    # -- file operations ------------------------------------------------------------
    def truncate(self, inode, size):
        """Set i_size; free blocks and reservations past it (ext2_truncate)."""
        if size > MAX_FILE_SIZE:
            raise error(EFBIG, f"{inode.name}: {size} bytes")
        npages = -(-size // PAGE_SIZE)
        inode.resize(npages)
        if size < inode.size:
            block_truncate_page(self.machine, inode, size)
            truncate_pagecache(self.machine, inode, size)
            self._release(inode, npages, len(inode.block))
        inode.size = size

    def _release(self, inode, first, last):
        """Free blocks and reservations of pages [first, last)."""
        sl = slice(first, last)
        blocks = inode.block[sl]
        used = blocks[blocks >= 0]
        self.balloc.free(used)
        inode.nblocks -= len(used)
        nres = int(np.count_nonzero(inode.bstate[sl] & B_DELAY))
        inode.nreserved -= nres
        self.reserved -= nres
        inode.block[sl] = HOLE
        inode.bstate[sl] = 0

    def fallocate(self, proc, inode, mode, offset, length):
        """Preallocate or punch a hole for proc (ext4_fallocate, xfs_file_fallocate).

        The mode checks of fs/open.c do_fallocate and of the filesystem's
        ->fallocate, then punch_hole or preallocate.
        """
        if offset < 0 or length <= 0:
            raise error(EINVAL, "fallocate: offset < 0 or length <= 0")
        if not self.kernel.has_punch_hole:
            # 2.6.37 knows no PUNCH_HOLE: do_fallocate only checks that a
            # non-zero mode has KEEP_SIZE, and the filesystem ignores the rest
            if mode and not mode & FALLOC_FL_KEEP_SIZE:
                raise error(EOPNOTSUPP, f"fallocate mode {mode:#x}")
            mode &= FALLOC_FL_KEEP_SIZE
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
            raise error(EOPNOTSUPP, f"fallocate mode {mode:#x}")
        if mode & FALLOC_FL_PUNCH_HOLE and self.kernel.version not in self.punch_hole_on:
            raise error(EOPNOTSUPP, f"{self.fstype} cannot punch holes on {self.kernel.version}")
        if not self.has_fallocate():
            raise error(EOPNOTSUPP, f"{self.fstype} has no fallocate on {self.kernel.version}")
        end = offset + length
        if end > MAX_FILE_SIZE:
            raise error(EFBIG, f"{inode.name}: {end} bytes")
        if mode & FALLOC_FL_PUNCH_HOLE:
            if not mode & FALLOC_FL_KEEP_SIZE:
                raise error(EOPNOTSUPP, "PUNCH_HOLE needs KEEP_SIZE")
            # only whole pages are punched; partial ones are zeroed in place
            pfirst, plast = -(-offset // PAGE_SIZE), min(end // PAGE_SIZE, inode.npages)
            truncate_pagecache_range(self.machine, inode, offset, min(end, inode.size))
            if pfirst < plast:
                self._release(inode, pfirst, plast)
            return
        self.preallocate(proc, inode, mode, offset, end)

    def _holes(self, inode, offset, end):
        """The pages of bytes [offset, end) with neither a block nor a reservation."""
        first, last = offset // PAGE_SIZE, -(-end // PAGE_SIZE)
        inode.resize(last)
        pg = np.arange(first, last)
        return pg[(inode.block[pg] == HOLE) & ((inode.bstate[pg] & B_DELAY) == 0)]

    def preallocate(self, proc, inode, mode, offset, end):
        """Preallocate bytes [offset, end) as unwritten extents (ext4_fallocate, xfs).

        All or nothing: ENOSPC before anything is allocated when the holes
        outnumber the free blocks. The size grows to end unless KEEP_SIZE.
        """
        holes = self._holes(inode, offset, end)
        if len(holes) > self.free_blocks():
            raise error(ENOSPC, f"fallocate of {len(holes)} blocks, "
                        f"{self.free_blocks()} free")
        got = self._allocate(inode, holes)
        inode.bstate[holes[:got]] |= B_UNWRITTEN
        if not mode & FALLOC_FL_KEEP_SIZE and end > inode.size:
            inode.size = end

    def statfs(self):
        """Return (f_bsize, f_blocks, f_bfree, f_bavail) (->statfs)."""
        free = max(self.free_blocks(), 0)
        return PAGE_SIZE, self.nblocks, free, free
