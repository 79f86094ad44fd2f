"""The flags of pages, page-table entries, VMAs and blocks, in one place.

A header, like the kernel's: include/linux/mm.h (vm_flags),
arch/x86/include/asm/pgtable_types.h (PTE bits), include/linux/page-flags.h
(page flags) and include/linux/buffer_head.h (a block's state). The values
of vm_flags are the kernel's; PTE, page and block bits are the simulator's
own numbering of the kernel's bits (one byte each, for numpy arrays).
"""

# include/linux/mm.h vm_flags
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_LOCKED = 0x00002000
VM_LOCKONFAULT = 0x00080000
VM_ACCOUNT = 0x00100000        # private writable memory charged to overcommit
VM_NORESERVE = 0x00200000      # MAP_NORESERVE: not charged
VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT
VM_ACCESS = VM_READ | VM_WRITE | VM_EXEC

# PTE bits (_PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_ACCESSED), plus what
# the PTE points at and one software bit
PTE_PRESENT = 0x01
PTE_WRITE = 0x02
PTE_DIRTY = 0x04
PTE_YOUNG = 0x08
PTE_ANON = 0x10     # maps an anonymous frame (vma.pfn holds its number)
PTE_ZERO = 0x20     # maps the shared zero page (read-only)
PTE_MLOCKED = 0x40  # this mapping counts in its page's mlock count

# Page-cache page flags (PG_uptodate, PG_dirty, PG_writeback, PG_error,
# PG_referenced; PG_MKWRITE stands for the buffer state ->page_mkwrite sets up)
PG_UPTODATE = 0x01
PG_DIRTY = 0x02
PG_WRITEBACK = 0x04
PG_MKWRITE = 0x08   # ->page_mkwrite prepared the page's buffers for writeback
PG_ERROR = 0x10
PG_REFERENCED = 0x20

# A file block's state (BH_Unwritten, BH_Delay, BH_New, BH_Mapped); HOLE is "no block mapped"
HOLE = -1
B_UNWRITTEN = 0x1   # extent allocated but flagged unwritten
B_DELAY = 0x2       # delalloc reservation, no block yet
B_NEW = 0x4         # allocated for a write, not written yet: the disk holds stale data
B_MAPPED = 0x8      # the page has its block (block != HOLE), so a run's state says it alone

# What a filesystem's ->page_mkwrite does, if it has one (the simulator's
# summary of its vm_operations_struct)
MKWRITE_NONE = None          # no hook: the first write only dirties the page
MKWRITE_GENERIC = "generic"  # filemap_page_mkwrite: dirty, no allocation
MKWRITE_RESERVE = "reserve"  # delayed allocation: reserve space now
MKWRITE_ALLOC = "alloc"      # allocate blocks now (ext4 nodelalloc)
