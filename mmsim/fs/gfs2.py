"""GFS2 (fs/gfs2/): no delayed allocation, so a store into a hole allocates at the fault.

fs/gfs2/file.c gfs2_page_mkwrite, 2.6.37 and today alike: when
gfs2_write_alloc_required says the page has no block, gfs2_inplace_reserve
(ENOSPC if the resource groups lack the blocks) and then
gfs2_allocate_page_backing (today gfs2_allocate_folio_backing) map the
page's blocks at once; any error but ENOMEM becomes VM_FAULT_SIGBUS
(2.6.37 by hand, today block_page_mkwrite_return / vmf_fs_error). A
write(2) allocates the same way in ->write_begin (2.6.37 gfs2_write_begin,
today gfs2_iomap_begin_write). There are no unwritten extents: fallocate
allocates written blocks and zeroes them, through the page cache on the
2.6 kernels (fallocate_chunk -> write_empty_blocks), on the disk today
(fallocate_chunk -> sb_issue_zeroout). Timestamps have 1 ns granularity
(gfs2_fill_super: s_time_gran = 1).

Simplified, GFS2 being a cluster filesystem run here on one node: no glocks
(the inode's cluster lock every operation takes), no lock_dlm, no journal or
ordered-data list, no resource groups (one free-block pool, which is what
gfs2_inplace_reserve asks of them), no quotas, no stuffed (inline) inodes,
no indirect blocks, no jdata files; atime follows the simulator's relatime
(gfs2 keeps atime itself, with its atime_quantum). With the simulator's
no_page_mkwrite option a page dirtied over a hole gets its block at
writeback as on ext2, where gfs2's writepage (gfs2_get_block_noalloc)
would fail it with EIO.
"""

from .._abi import FALLOC_FL_KEEP_SIZE, PAGE_SIZE
from ..contents import ZERO
from ..errors import ENOSPC, error
from ..flags import MKWRITE_ALLOC, PG_UPTODATE
from ..mm.page_alloc import alloc_pages
from .fs_writeback import mark_inode_dirty
from .super import SuperBlock


class Gfs2(SuperBlock):
    """Red Hat's Global File System 2, mounted by one node (lock_nolock)."""

    fstype = "gfs2"
    mkwrite_fn = ("gfs2_page_mkwrite", "gfs2_page_mkwrite")
    # 2.6.37: gfs2_file_aio_write -> generic_file_aio_write; today
    # gfs2_file_write_iter -> gfs2_file_buffered_write
    write_fn = (("generic_perform_write", "gfs2_write_begin"),
                ("iomap_file_buffered_write", "gfs2_iomap_begin_write"))
    # __gfs2_punch_hole; 2.6.38's gfs2_fallocate refuses every mode bit but
    # KEEP_SIZE (79124f18b335), and 2.6.37 knows no PUNCH_HOLE
    punch_hole_on = ("6.18",)
    # kernels whose fallocate_chunk zeroes new blocks on the disk
    # (sb_issue_zeroout); the 2.6 ones zero and dirty page-cache pages
    zeroout_on = ("6.18",)

    def mkwrite_kind(self):
        """gfs2_page_mkwrite: gfs2_inplace_reserve, then allocate the page's blocks."""
        return MKWRITE_ALLOC

    def has_fallocate(self):
        """gfs2_fallocate (2.6.37: an inode operation, fs/gfs2/ops_inode.c)."""
        return True

    def preallocate(self, proc, inode, mode, offset, end):
        """Allocate and zero the holes of bytes [offset, end) (gfs2_fallocate).

        Chunk by chunk, as gfs2_inplace_reserve finds room (2.6.37 halves a
        chunk that does not fit, today it takes what the resource group has):
        on a full filesystem the holes that fit get their blocks, in order,
        and the call still fails with ENOSPC. The 2.6 kernels put every new
        block's page in the page cache, zeroed and dirty (fallocate_chunk ->
        write_empty_blocks -> block_commit_write; no dirty throttling), and
        grow i_size page by page to the end of the last page done, so to a
        page boundary (unless KEEP_SIZE; simplified: on ENOSPC, to the end
        of the last hole allocated); a range with no hole changes nothing.
        Today the new blocks are zeroed on the disk and waited for
        (sb_issue_zeroout), i_size becomes end only when every block was
        allocated, and the file times move (file_update_time).
        """
        holes = self._holes(inode, offset, end)
        if len(holes) == 0 and self.kernel.version not in self.zeroout_on:
            return               # 2.6.37: !gfs2_write_alloc_required -> out_unlock
        got = self._allocate(inode, holes[:max(self.free_blocks(), 0)])
        done = holes[:got]
        m, prof = self.machine, self.machine.profile
        if self.kernel.version in self.zeroout_on:
            zeroing = m.now + got * prof.mkwrite_alloc
            m.clock.run_until(self.disk.submit("write", inode.block[done], zeroing, ZERO))
            if got == len(holes):
                inode.file_update_time()
                if not mode & FALLOC_FL_KEEP_SIZE and end > inode.size:
                    inode.size = end
        else:
            self._zero_in_page_cache(proc, inode, done)
            if got == len(holes):
                reached = -(-end // PAGE_SIZE) * PAGE_SIZE
            else:
                reached = (int(done[-1]) + 1) * PAGE_SIZE if got else 0
            if not mode & FALLOC_FL_KEEP_SIZE:
                inode.size = max(inode.size, reached)
        if got < len(holes):
            raise error(ENOSPC, f"fallocate: {len(holes) - got} of {len(holes)} blocks "
                        "did not fit")

    def _zero_in_page_cache(self, proc, inode, pgs):
        """Cache pages pgs as zeros if they are not, and dirty them (write_empty_blocks).

        __block_write_begin maps the new buffers, page_zero_new_buffers
        zeroes a page not uptodate (one already cached keeps its contents),
        block_commit_write dirties it: account_page_dirtied counts it for
        the task, but nothing calls balance_dirty_pages. Costs: file_fill_hole
        per page newly cached, mkwrite_alloc per block.
        """
        if len(pgs) == 0:
            return
        m, mapping, prof = self.machine, inode.mapping, self.machine.profile
        miss = pgs[(mapping.flags[pgs] & PG_UPTODATE) == 0]
        t0 = m.now
        waited = alloc_pages(m, proc, len(miss), protect=(inode, int(pgs[0]), int(pgs[-1]) + 1))
        mapping.add(miss)
        proc.dirties.inc(mapping.set_dirty(pgs))
        mark_inode_dirty(m, inode)
        m.clock.run_until(t0 + waited + len(miss) * prof.file_fill_hole
                          + len(pgs) * prof.mkwrite_alloc)
