"""Data loss, counted where it happens: the pages whose data a kernel function threw away.

Not a kernel structure: the simulator's own ledger, so that a test or a
chapter can tell data the kernel lost from data that was never written.
Two counters on the machine:

    m.lost         Counter: kernel function -> pages whose data it lost
    m.lost_pages   Counter: (path, page index) -> times that page's data was lost

A page is counted when the data it held stops being readable: a clean page
whose writeback failed (PG_error, the data only in RAM) leaves the page
cache (invalidate_mapping_pages for drop_caches, shrink_page_list /
shrink_folio_list for reclaim), or XFS writes a page into an extent that
stays unwritten because ->page_mkwrite never marked its buffers (mount
option no_page_mkwrite): the write completes, but the extent reads back as
zeros (xfs_vm_writepage, today xfs_vm_writepages). Truncation drops pages
too, but the data past the new size is meant to go: it is not counted.

How the application hears of it, as the kernel reports it: a failed
writeback records the error on the file (AS_ENOSPC in 2.6.37, the errseq
wb_err since 4.13), and the next fsync or msync(MS_SYNC) of the file fails
with it once, whatever range msync names; the calls after it succeed until
writeback fails again. On 2.6.37 a sync(2) in between consumes the error
unreported (fs/sync.py). The report does not keep the data: the failed
pages stay clean in RAM and are lost, and counted here, when they leave the
cache. XFS's unwritten-extent loss is reported nowhere.
"""


def record_loss(m, function, inode, idx):
    """Count pages idx (an index array) of inode as lost by kernel function function."""
    n = len(idx)
    if not n:
        return
    m.lost[function] += n
    path = f"{inode.sb.mountpoint}/{inode.name}"
    for i in idx.tolist():
        m.lost_pages[(path, i)] += 1
