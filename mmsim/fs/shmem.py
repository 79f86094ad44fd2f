"""shmem (mm/shmem.c): the memory behind MAP_SHARED|MAP_ANONYMOUS.

No blocks, no writeback (no swap is configured), no dirty accounting, so no
write-notify: a read fault on a writable shared mapping maps the page
writable at once. Its pages cannot be dropped, only unmapped.
"""

from .super import SuperBlock


class Shmem(SuperBlock):
    """The internal tmpfs mount that backs shared anonymous memory."""

    fstype = "tmpfs"
    shmem = True
    dirty_accounting = False
