"""Behaviour switches per kernel version: what differs between the kernels.

Each switch names the code and commit it stands for, so that a reader can
check it against the source of that version.
"""

from dataclasses import dataclass, replace

from .errors import EINVAL, error

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Kernel:
    """One kernel version's behaviour, as the simulator needs it."""

    version: str
    # mm/mlock.c __mlock_vma_pages_range, mm/memory.c make_pages_present:
    # 2.6.37 sets FOLL_WRITE for every VM_WRITE vma, shared ones included;
    # 5ecfda041e4b (2.6.38) only when (vm_flags & (VM_WRITE|VM_SHARED)) == VM_WRITE.
    populate_writes_shared: bool
    # fdf4c587a793 (2.6.38): FOLL_FORCE for any vma that is not PROT_NONE,
    # so a PROT_WRITE-only shared mapping can be read-faulted.
    populate_force: bool
    # MAP_POPULATE's fault-in: 2.6.x make_pages_present() calls
    # get_user_pages(..., write, force=0) (fdf4c587 changed only mlock's path);
    # since __mm_populate (3.9) it shares mlock's, with FOLL_FORCE.
    populate_mmap_force: bool
    # 2.6.37 faults pages in inside mlock_fixup(), vma by vma, under mmap_sem;
    # 53a7706d5ed8 (2.6.38) sets VM_LOCKED on the whole range first and
    # populates afterwards (do_mlock_pages, today __mm_populate).
    populate_in_fixup: bool
    # Which pages become PG_mlocked: 2.6.x mlocks a page when get_user_pages
    # walks it (__mlock_vma_pages_range); today mlock_fixup also mlocks the
    # pages already mapped (mlock_vma_pages_range -> mlock_pte_range).
    mlock_present_at_fixup: bool
    # 0cf2f6f6dc60 (4.9) count_mm_mlocked_page_nr: pages already locked in
    # the range are not counted against RLIMIT_MEMLOCK a second time.
    limit_skips_locked: bool
    # mlock2(), MLOCK_ONFAULT, MCL_ONFAULT, VM_LOCKONFAULT: Linux 4.4.
    has_mlock2: bool
    # include/uapi/linux/resource.h MLOCK_LIMIT: 64 KiB, 8 MiB since
    # 9dcc38e2813e (5.16).
    default_memlock: int
    # MAP_SHARED_VALIDATE (4.15): unknown mmap flags give EOPNOTSUPP.
    has_map_shared_validate: bool
    # fs/ext2/file.c on today's kernels uses generic_file_vm_ops, whose
    # filemap_page_mkwrite() dirties the page but allocates nothing;
    # 2.6.37's generic_file_vm_ops had no ->page_mkwrite at all.
    generic_page_mkwrite: bool
    # fs/ext3 was removed in 4.3; ext3 file systems are mounted by ext4.
    has_ext3_driver: bool
    # CONFIG_EXT4_USE_FOR_EXT2, what most distributions build today: the ext4
    # driver mounts ext2 ("mounting ext2 file system using the ext4
    # subsystem"), with ext4_page_mkwrite. fs/ext2 still exists (deprecated
    # since 6.9); the simulator's mount option "ext2_driver" picks it.
    ext4_mounts_ext2: bool
    # fs/proc/task_mmu.c show_smap_vma_flags: the VmFlags line, Linux 3.8
    # ("lf" for VM_LOCKONFAULT printed since 6.2).
    smaps_vmflags: bool
    # fs/proc/task_mmu.c show_smap: the "Locked:" line, Linux 2.6.38.
    smaps_locked: bool
    # mm/page-writeback.c: 2.6.37 balance_dirty_pages() makes the dirtying
    # task write back pages itself; 143dfe8611a6 (3.2) only sleeps it.
    io_less_throttling: bool
    # mm/msync.c: 2.6.37 msync(MS_SYNC) fsyncs the whole file (vfs_fsync);
    # 7fc34a62ca44 syncs only the range (vfs_fsync_range): in -mm after 3.15
    # (June 2014), so most likely 3.16; the release is not confirmed.
    msync_syncs_range: bool
    # mm/mprotect.c: 36f881883c57 (4.5) write-faults a private VM_LOCKED
    # vma that gains PROT_WRITE, to break COW as mlock would have.
    mprotect_populates_locked: bool
    # Kernel function names in the fault trace: 2.6.37's, or today's.
    modern_names: bool
    # CONFIG_HZ of a typical distribution build: 250 in 2010, 1000 today.
    # balance_dirty_pages sleeps in jiffies (2.6.37: 1 jiffy doubling to HZ/10).
    hz: int
    # fs/open.c do_fallocate: FALLOC_FL_PUNCH_HOLE exists since 79124f18b335
    # (2.6.38); 2.6.37 does not know the bit and lets it through.
    has_punch_hole: bool
    # mm/page-writeback.c write_cache_pages: 2.6.37 stops at the first
    # ->writepage error in every mode; today WB_SYNC_ALL (fsync) goes on
    # through the whole range and reports the first error.
    sync_writeback_continues: bool
    # is_mergeable_anon_vma: 2.6.37's (mm/mmap.c) merges a vma that has an
    # anon_vma with one that has none, whatever its history. 965f55dea0e3 (3.0)
    # stopped merging cloned vmas; today's rule, 879bca0a2c4f (mm/vma.c), refuses
    # when the side with the anon_vma is a fork child (vma_is_fork_child: its
    # anon_vma chain also links a parent's) and otherwise merges.
    merge_refuses_fork_child: bool
    # mm/mmap.c do_mmap: MAP_FIXED_NOREPLACE, a4ff8e8620d3 (4.17): MAP_FIXED
    # that fails with EEXIST instead of unmapping what is there. Before it
    # the bit is unknown and ignored, so the address is only a hint.
    has_map_fixed_noreplace: bool
    # mm/madvise.c MADV_POPULATE_READ / MADV_POPULATE_WRITE, 4ca9b3859dac
    # (5.14); before it madvise_behavior_valid() refuses them with EINVAL.
    has_madv_populate: bool
    # Jan Kara's "mm: Update file times from fault path only if .page_mkwrite
    # is not set" (2012; 3.5, version recalled): ->page_mkwrite calls file_update_time() first
    # thing, so a store it then fails (ENOSPC -> SIGBUS) has moved mtime;
    # 2.6.37 updates the times in __do_fault / do_wp_page after the fault.
    mkwrite_updates_time: bool
    # How fsync learns of a failed writeback. 2.6.37: the AS_ENOSPC / AS_EIO
    # bits of the mapping, tested and cleared by filemap_fdatawait_range, which
    # fsync and msync reach only when the mapping has pages cached
    # (filemap_write_and_wait_range), and which sync(2) calls too
    # (wait_sb_inodes -> filemap_fdatawait): a sync consumes the error and the
    # next fsync returns 0. Today: errseq (5660e13d2fd6, 4.13), fsync checks
    # the file's f_wb_err whether pages are cached or not
    # (file_check_and_advance_wb_err), and sync(2) keeps the error for it
    # (filemap_fdatawait_keep_errors, aa750fd71c24, 4.4).
    errseq_wb_err: bool


KERNELS = {
    "2.6.37": Kernel("2.6.37", populate_writes_shared=True, populate_force=False,
                     populate_mmap_force=False,
                     populate_in_fixup=True, mlock_present_at_fixup=False,
                     limit_skips_locked=False,
                     has_mlock2=False, default_memlock=64 * KiB,
                     has_map_shared_validate=False, generic_page_mkwrite=False,
                     ext4_mounts_ext2=False, has_ext3_driver=True,
                     smaps_vmflags=False, smaps_locked=False,
                     io_less_throttling=False, msync_syncs_range=False,
                     mprotect_populates_locked=False, modern_names=False,
                     hz=250, sync_writeback_continues=False, has_punch_hole=False,
                     merge_refuses_fork_child=False,
                     has_map_fixed_noreplace=False, has_madv_populate=False,
                     mkwrite_updates_time=False, errseq_wb_err=False),
    "2.6.38": Kernel("2.6.38", populate_writes_shared=False, populate_force=True,
                     populate_mmap_force=False,
                     populate_in_fixup=False, mlock_present_at_fixup=False,
                     limit_skips_locked=False,
                     has_mlock2=False, default_memlock=64 * KiB,
                     has_map_shared_validate=False, generic_page_mkwrite=False,
                     ext4_mounts_ext2=False, has_ext3_driver=True,
                     smaps_vmflags=False, smaps_locked=True,
                     io_less_throttling=False, msync_syncs_range=False,
                     mprotect_populates_locked=False, modern_names=False,
                     hz=250, sync_writeback_continues=False, has_punch_hole=True,
                     merge_refuses_fork_child=False,
                     has_map_fixed_noreplace=False, has_madv_populate=False,
                     mkwrite_updates_time=False, errseq_wb_err=False),
    "6.18": Kernel("6.18", populate_writes_shared=False, populate_force=True,
                   populate_mmap_force=True,
                   populate_in_fixup=False, mlock_present_at_fixup=True,
                   limit_skips_locked=True,
                   has_mlock2=True, default_memlock=8 * MiB,
                   has_map_shared_validate=True, generic_page_mkwrite=True,
                   ext4_mounts_ext2=True, has_ext3_driver=False,
                   smaps_vmflags=True, smaps_locked=True,
                   io_less_throttling=True, msync_syncs_range=True,
                   mprotect_populates_locked=True, modern_names=True,
                   hz=1000, sync_writeback_continues=True, has_punch_hole=True,
                   merge_refuses_fork_child=True,
                   has_map_fixed_noreplace=True, has_madv_populate=True,
                   mkwrite_updates_time=True, errseq_wb_err=True),
}
# The 2.6.38 release candidates before fdf4c587a793: 5ecfda041e4b is in,
# so a shared mapping is read-faulted, but without FOLL_FORCE; mlock of a
# PROT_WRITE-only MAP_SHARED mapping fails (the regression the fix is for).
KERNELS["2.6.38-rc2"] = replace(KERNELS["2.6.38"], version="2.6.38-rc2", populate_force=False)
# The releases the book compares; the widgets offer these.
RELEASES = ("2.6.37", "2.6.38", "6.18")


def get(version):
    """Return the Kernel for a version string, or raise EINVAL naming the choices."""
    if isinstance(version, Kernel):
        return version
    try:
        return KERNELS[str(version)]
    except KeyError:
        raise error(EINVAL, f"unknown kernel {version!r}; choose one of "
                    + ", ".join(KERNELS)) from None


# Today's names for the 2.6.37 functions the trace records (mm/memory.c was
# reorganised: __do_fault split in 3.15, do_wp_page's paths in 4.x, folios;
# do_cow_fault copies with copy_mc_user_highpage, filemap_fault looks pages
# up with filemap_get_folio, and ->read_folio zero-fills a hole with
# folio_zero_segment).
MODERN_NAMES = {
    "__do_fault/read": "do_read_fault",
    "__do_fault/cow": "do_cow_fault",
    "__do_fault/shared": "do_shared_fault",
    "__mlock_vma_pages_range": "populate_vma_page_range",
    "make_pages_present": "populate_vma_page_range",
    "reuse_swap_page": "wp_can_reuse_anon_folio",
    "cow_user_page": "wp_page_copy",
    "copy_user_highpage": "copy_mc_user_highpage",
    "find_get_page": "filemap_get_folio",
    "zero_user_segment": "folio_zero_segment",
    "mlock_vma_page": "mlock_folio",
    "bdi_writeback_thread": "wb_workfn",
    "munlock_vma_page": "munlock_folio",
    "page_mkclean": "folio_mkclean",
    "clear_page_dirty_for_io": "folio_clear_dirty_for_io",
    "sys_pread64": "ksys_pread64",
    "sys_pwrite64": "ksys_pwrite64",
    "do_generic_file_read": "filemap_read",
    "madvise_dontneed": "madvise_dontneed_single_vma",
    "shrink_page_list": "shrink_folio_list",
}


# The functions that mark a page dirty in a shared write fault (2.6.37's
# do_wp_page without ->page_mkwrite; with it, and __do_fault; today), and the
# ones that copy a page for COW (do_wp_page; __do_fault / do_cow_fault), under
# each kernel's names: what a chapter looks for in a trace.
DIRTYING = ("set_page_dirty_balance", "set_page_dirty", "fault_dirty_shared_page")
COW_COPYING = ("cow_user_page", "copy_user_highpage",
               MODERN_NAMES["cow_user_page"], MODERN_NAMES["copy_user_highpage"])


def fname(kernel, name):
    """Return the kernel function name as the given kernel spells it."""
    if kernel.modern_names:
        return MODERN_NAMES.get(name, name.split("/")[0])
    return name.split("/")[0]
