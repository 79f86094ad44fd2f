"""A simulated process: the syscall surface of the Process API (DESIGN.md section 2).

Mirrors Python's os, mmap and resource modules: addresses and lengths are
ints, (soft, hard) tuples for limits, OSError with Linux's errno on failure.
Arguments are taken as the kernel takes them: as unsigned longs, so a
negative length is a huge one.
"""

import functools
import operator
import os
import signal

import numpy as np

from ._abi import (MAP_ANONYMOUS, PAGE_SHIFT, PAGE_SIZE, RLIM_INFINITY, RLIMIT_MEMLOCK)
from .fs.file import File
from .fs.namei import path_lookup
from .fs.open import do_truncate
from .fs.proc import kpageflags, show_smap, task_mem
from .fs.read_write import vfs_read, vfs_write
from .fs.sync import vfs_fsync_range
from .lib.proportions import PropLocal
from .errors import (EBADF, EEXIST, EINVAL, EISDIR, EPERM, ESRCH, Hung, Signal, error)
from .mm import mlock as _mlock
from .mm import mmap as _mmap
from .mm.madvise import do_madvise
from .mm.mincore import sys_mincore
from .mm.memory import FaultResult, copy_page_range, fault_range
from .mm.mprotect import sys_mprotect
from .mm.msync import sys_msync
from .mm.page_writeback import INIT_NR_DIRTIED_PAUSE
from .mm.vma import MM, VMA
from .flags import PTE_ANON, PTE_ZERO, VM_ACCESS, VM_LOCKED_MASK, VM_SHARED, VM_WRITE
from .results import Rusage, TouchResult

U64 = (1 << 64) - 1
RLIM_MAX = U64          # RLIM_INFINITY inside the kernel
CAPABILITIES = frozenset({"CAP_IPC_LOCK", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE"})


def ulong(x, what="argument"):
    """Take an int as the kernel's unsigned long (two's complement, 64 bits)."""
    try:
        return operator.index(x) & U64
    except TypeError:
        raise error(EINVAL, f"{what} must be an integer, not {type(x).__name__}") from None


def sint(x, what="argument"):
    """Take an int as the kernel's int (32 bits, signed)."""
    try:
        v = operator.index(x) & 0xFFFFFFFF
    except TypeError:
        raise error(EINVAL, f"{what} must be an integer, not {type(x).__name__}") from None
    return v - (1 << 32) if v >= 1 << 31 else v


def loff(x, what="offset"):
    """Take an int as the kernel's loff_t: negative ones are EINVAL."""
    try:
        v = operator.index(x)
    except TypeError:
        raise error(EINVAL, f"{what} must be an integer, not {type(x).__name__}") from None
    if v < 0 or v >= 1 << 63:
        raise error(EINVAL, f"{what} {v} out of range")
    return v


class Process:
    """One simulated task with its own address space, files and limits."""

    def __init__(self, machine, pid, memlock, caps):
        self.machine = machine
        self.pid = pid
        self.mm = MM()
        self.files = {}
        unknown = set(caps) - CAPABILITIES
        if unknown:
            raise error(EINVAL, "unknown capabilities: " + ", ".join(sorted(unknown)))
        self.caps = frozenset(caps)
        try:
            soft, hard = (self._rlim(v) for v in memlock)
        except (TypeError, ValueError):
            raise error(EINVAL, "memlock must be (soft, hard)") from None
        if soft > hard:
            raise error(EINVAL, "memlock soft limit above hard limit")
        self.rlimits = {RLIMIT_MEMLOCK: (soft, hard)}
        self.alive = True
        self.hung = None          # the Hung it is stuck with, until killed
        self.nr_dirtied = 0       # pages dirtied since the last balance_dirty_pages
        self.nr_dirtied_pause = INIT_NR_DIRTIED_PAUSE   # 3.2+: pages until it looks again
        self.dirty_paused_when = 0.0                    # 3.2+: when its last pause ended
        self.dirties = PropLocal(machine.wb.vm_dirties)  # 2.6.37: its share of dirtying
        self.call_start = 0.0     # simulated time the current fault-in began
        self.throttled = None     # the disk it sleeps on in balance_dirty_pages (D state)
        self.hung_check = None    # the hung-task detector's pending look at it
        self.minflt = 0
        self.majflt = 0

    def __repr__(self):
        return f"<Process pid={self.pid}{'' if self.alive else ' killed'}>"

    # -- helpers -------------------------------------------------------------
    @staticmethod
    def _rlim(v):
        return RLIM_MAX if v == RLIM_INFINITY or v is None else ulong(v, "rlimit")

    def _live(self, hung_ok=False):
        """Refuse calls from a killed process (ESRCH) or one stuck in the kernel."""
        if not self.alive:
            raise error(ESRCH, f"process {self.pid} was killed")
        if self.hung is not None and not hung_ok:
            raise self.hung

    def capable(self, cap):
        """Whether the task has a capability (kernel/capability.c capable)."""
        return cap in self.caps

    def memlock_limit_pages(self):
        """rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT, with RLIM_INFINITY as huge."""
        return self.rlimits[RLIMIT_MEMLOCK][0] >> PAGE_SHIFT

    def _file(self, fd):
        fd = sint(fd, "fd")
        f = self.files.get(fd)
        if f is None:
            raise error(EBADF, f"fd {fd}")
        return f

    # -- files -------------------------------------------------------------------
    def open(self, path, flags, mode=0o644):
        """open(2) on a simulated filesystem; return the lowest free fd."""
        self._live()
        flags = sint(flags, "flags")
        acc = flags & os.O_ACCMODE
        if acc == os.O_ACCMODE:
            raise error(EINVAL, "open: O_ACCMODE")
        sb, name = path_lookup(self.machine, path)
        if not name:
            raise error(EISDIR, path)
        if flags & os.O_CREAT and flags & os.O_EXCL and name in sb.inodes:
            raise error(EEXIST, path)
        inode = sb.lookup(name, create=bool(flags & os.O_CREAT))
        if flags & os.O_TRUNC and acc != os.O_RDONLY:
            do_truncate(inode, 0)
        fd = 0
        while fd in self.files:
            fd += 1
        self.files[fd] = File(inode, path, acc != os.O_WRONLY, acc != os.O_RDONLY)
        return fd

    def close(self, fd):
        """close(2)."""
        self._live()
        self._file(fd)
        del self.files[sint(fd)]

    def ftruncate(self, fd, length):
        """ftruncate(2): a sparse file grows without blocks."""
        self._live()
        f = self._file(fd)
        length = loff(length, "length")
        if not f.writable:
            raise error(EINVAL, "ftruncate: fd not open for writing")
        do_truncate(f.inode, length)

    def fallocate(self, fd, mode, offset, length):
        """fallocate(2): preallocate unwritten extents, or punch a hole."""
        self._live()
        f = self._file(fd)
        if not f.writable:
            raise error(EBADF, "fallocate: fd not open for writing")
        f.inode.sb.fallocate(self, f.inode, sint(mode, "mode"), loff(offset, "offset"),
                             loff(length, "length"))

    def pread(self, fd, n, offset):
        """os.pread: up to n bytes at offset, through the page cache (fs/read_write.c ksys_pread64).

        EINVAL for a negative offset (checked before the fd), EBADF for an fd
        not open or not open for reading, EINVAL for a count or an end past
        the loff_t range. Short or empty past EOF; see mm/filemap.py
        do_generic_file_read for holes, disk reads and their cost.
        """
        self._live()
        pos = loff(offset, "offset")
        return vfs_read(self.machine, self, self._file(fd), ulong(n, "count"), pos)

    def pwrite(self, fd, data, offset):
        """os.pwrite: write bytes at offset through the page cache; return the count (ksys_pwrite64).

        EINVAL for a negative offset, EBADF for an fd not open or not open
        for writing, EFBIG at or past the maximum file size, ENOSPC when the
        filesystem has no room for the first page (a short count when it had
        room for some): ->write_begin reserves or allocates at once, on ext2
        and ext3 too, where a store through a mapping cannot fail. See
        fs/read_write.py vfs_write and mm/filemap.py generic_perform_write.
        """
        self._live()
        pos = loff(offset, "offset")
        return vfs_write(self.machine, self, self._file(fd), data, pos)

    def fsync(self, fd):
        """fsync(2): write back the file's dirty pages and report a writeback error."""
        self._live()
        f = self._file(fd)
        vfs_fsync_range(self.machine, self, f.inode, 0, None, "fsync")

    # -- memory ------------------------------------------------------------------
    def mmap(self, addr, length, prot, flags, fd=-1, offset=0):
        """mmap(2); return the address."""
        self._live()
        addr, length, offset = ulong(addr), ulong(length), ulong(offset)
        prot, flags = sint(prot, "prot") & 0xFFFFFFFF, sint(flags, "flags") & 0xFFFFFFFF
        if offset & (PAGE_SIZE - 1):
            raise error(EINVAL, "mmap: offset not page aligned")
        file = None if flags & MAP_ANONYMOUS else self._file(fd)
        return _mmap.do_mmap(self.machine, self, addr, length, prot, flags, file, offset)

    def munmap(self, addr, length):
        """munmap(2)."""
        self._live()
        _mmap.sys_munmap(self.machine, self, ulong(addr), ulong(length))

    def mprotect(self, addr, length, prot):
        """mprotect(2)."""
        self._live()
        sys_mprotect(self.machine, self, ulong(addr), ulong(length), sint(prot) & 0xFFFFFFFF)

    def msync(self, addr, length, flags):
        """msync(2)."""
        self._live()
        sys_msync(self.machine, self, ulong(addr), ulong(length), sint(flags) & 0xFFFFFFFF)

    def mlock(self, addr, length):
        """mlock(2)."""
        self._live()
        _mlock.do_mlock(self.machine, self, ulong(addr), ulong(length), _mlock.VM_LOCKED)

    def munlock(self, addr, length):
        """munlock(2)."""
        self._live()
        _mlock.do_munlock(self.machine, self, ulong(addr), ulong(length))

    def mlock2(self, addr, length, flags=0):
        """mlock2(2) (Linux 4.4)."""
        self._live()
        _mlock.do_mlock2(self.machine, self, ulong(addr), ulong(length),
                         sint(flags) & 0xFFFFFFFF)

    def mlockall(self, flags):
        """mlockall(2)."""
        self._live()
        _mlock.do_mlockall(self.machine, self, sint(flags) & 0xFFFFFFFF)

    def munlockall(self):
        """munlockall(2)."""
        self._live()
        _mlock.do_munlockall(self.machine, self)

    def madvise(self, addr, length, advice):
        """madvise(2): MADV_DONTNEED, MADV_POPULATE_READ, MADV_POPULATE_WRITE (mm/madvise.c do_madvise)."""
        self._live()
        do_madvise(self.machine, self, ulong(addr), ulong(length), sint(advice, "advice"))

    def mincore(self, addr, length):
        """mincore(2): bytes, one per page, 1 where the page is resident (mm/mincore.c)."""
        self._live()
        return sys_mincore(self.machine, self, ulong(addr), ulong(length))

    # -- user accesses -------------------------------------------------------------
    def _access(self, addr, length, write, op, store=None):
        """Fault [addr, addr+length) in page by page as user accesses do.

        Return (FaultResult, [(vma, lo, hi)] of the pieces accessed, the
        exception that ended it or None); a gap or a VMA that forbids the
        access ends it with SIGSEGV (arch/x86/mm/fault.c access_error), a
        failed fault with SIGBUS, a throttle that never returns with Hung.
        store(vma, lo, hi): the stores into PTEs [lo, hi), made as their
        faults return (fault_range), so writeback during a long access
        writes what was stored.
        """
        addr, length = ulong(addr), ulong(length)
        start = addr & ~(PAGE_SIZE - 1)
        end = min((addr + length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), 1 << 64)
        total = FaultResult()
        pieces = []
        at = start
        m = self.machine
        while at < end:
            vma = self.mm.find_vma(at)
            if vma is None or vma.start > at or not (
                    vma.flags & (VM_WRITE if write else VM_ACCESS)):
                sig = Signal(signal.SIGSEGV, at, "bad_area")
                return total, pieces, sig
            hi_addr = min(end, vma.end)
            lo, hi = vma.index(at), vma.index(hi_addr)
            into = None if store is None else functools.partial(store, vma)
            try:
                res = fault_range(m, self, vma, lo, hi, write, op, store=into)
            except Hung as stuck:            # the faults before it were done
                total.add(stuck.result)
                pieces.append((vma, lo, lo + stuck.result.done))
                return total, pieces, stuck
            total.add(res)
            pieces.append((vma, lo, lo + res.done))
            if res.signal is not None:
                return total, pieces, res.signal
            at = hi_addr
        return total, pieces, None

    def touch(self, addr, length, write=False):
        """Access every page of the range once, as memtoy's touch does.

        Return TouchResult(pages, seconds). A signal, or a hang in the dirty
        throttle (mmsim.Hung), stops the touch: it is raised with .pages and
        .seconds of what was done before it, and those pages were stored to.
        """
        self._live()
        t0 = self.machine.now
        total, _, sig = self._access(addr, length, bool(write), "touch",
                                     self._store_touch if write else None)
        if sig is not None:
            sig.pages, sig.seconds = total.done, self.machine.now - t0
            raise sig
        return TouchResult(total.done, self.machine.now - t0)

    def _store_touch(self, vma, lo, hi):
        """memtoy's touch write stores into the pages of PTEs [lo, hi) of vma (touch_memory)."""
        c = self.machine.contents
        # a shared mapping never copies on write: it maps page-cache pages only
        if vma.flags & VM_SHARED or not (vma.pte[lo:hi] & (PTE_ANON | PTE_ZERO)).any():
            c.touch_into(vma.inode.mapping.data[vma.pgoff + lo:vma.pgoff + hi])
            return
        kind = vma.pte[lo:hi] & (PTE_ANON | PTE_ZERO)
        anon = np.flatnonzero(kind == PTE_ANON)
        filep = np.flatnonzero(kind == 0)
        if len(anon):
            ids = vma.pfn[lo + anon]
            self.machine.anon.data[ids] = c.touched(self.machine.anon.data[ids])
        if len(filep):                  # some: the others are anonymous or the zero page
            data = vma.inode.mapping.data
            idx = vma.pgoff + lo + filep
            data[idx] = c.touched(data[idx])

    def _page_ref(self, vma, i):
        """Return (array, index) holding the contents stamp of PTE i, or None for the zero page."""
        bits = vma.pte[i]
        if bits & PTE_ZERO:
            return None
        if bits & PTE_ANON:
            return self.machine.anon.data, int(vma.pfn[i])
        return vma.inode.mapping.data, vma.pgoff + i

    def write(self, addr, data):
        """Store bytes at addr through the mapping (faults as a store does)."""
        self._live()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise error(EINVAL, f"write: data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        addr = ulong(addr)
        if not data:
            return 0
        c = self.machine.contents
        done = 0

        def store(vma, lo, hi):
            nonlocal done
            for i in range(lo, hi):
                page_addr = vma.start + i * PAGE_SIZE
                off = max(addr, page_addr) - page_addr
                src = max(addr, page_addr) - addr
                chunk = data[src:src + PAGE_SIZE - off]
                arr, idx = self._page_ref(vma, i)
                arr[idx] = c.patch(arr[idx], off, chunk)
                done += len(chunk)
        _, _, sig = self._access(addr, len(data), True, "write", store)
        if sig is not None:
            raise sig
        return done

    def read(self, addr, n):
        """Load n bytes from addr through the mapping (faults as a load does)."""
        self._live()
        addr, n = ulong(addr), loff(n, "count")
        if n <= 0:
            return b""
        total, pieces, sig = self._access(addr, n, False, "read")
        if sig is not None:
            raise sig
        c = self.machine.contents
        out = bytearray()
        for vma, lo, hi in pieces:
            for i in range(lo, hi):
                ref = self._page_ref(vma, i)
                page = c.page(0) if ref is None else c.page(ref[0][ref[1]])
                out += page
        first = addr - (addr & ~(PAGE_SIZE - 1))
        return bytes(out[first:first + n])

    # -- limits, state, lifetime ---------------------------------------------------
    def setrlimit(self, resource, limits):
        """setrlimit(2) for RLIMIT_MEMLOCK, as resource.setrlimit takes it."""
        self._live()
        if resource != RLIMIT_MEMLOCK:
            raise error(EINVAL, f"resource {resource} is not simulated")
        try:
            soft, hard = (self._rlim(v) for v in limits)
        except (TypeError, ValueError):
            raise error(EINVAL, "limits must be (soft, hard)") from None
        if soft > hard:
            raise error(EINVAL, "soft limit above hard limit")
        if hard > self.rlimits[resource][1] and not self.capable("CAP_SYS_RESOURCE"):
            raise error(EPERM, "raising the hard limit needs CAP_SYS_RESOURCE")
        self.rlimits[resource] = (soft, hard)

    def getrlimit(self, resource):
        """getrlimit(2): (soft, hard), RLIM_INFINITY as -1 like Python's resource."""
        self._live(hung_ok=True)
        if resource != RLIMIT_MEMLOCK:
            raise error(EINVAL, f"resource {resource} is not simulated")
        return tuple(RLIM_INFINITY if v == RLIM_MAX else v for v in self.rlimits[resource])

    def getrusage(self):
        """The fault counters of getrusage(RUSAGE_SELF)."""
        self._live(hung_ok=True)
        return Rusage(self.minflt, self.majflt)

    def smaps(self, addr=None):
        """/proc/PID/smaps: a list of dicts, or the dict of the VMA holding addr."""
        self._live(hung_ok=True)
        if addr is None:
            return [show_smap(self.machine, v) for v in self.mm.vmas]
        vma = self.mm.find_vma(ulong(addr))
        if vma is None or vma.start > ulong(addr):
            raise error(EINVAL, f"no mapping at {ulong(addr):#x}")
        return show_smap(self.machine, vma)

    def pageflags(self, addr, length):
        """Per page of the range, what /proc/PID/pagemap and /proc/kpageflags tell.

        Return a PageFlags (mmsim.results): a read-only mapping of the
        kernel's flag names to boolean numpy arrays (fs/proc/task_mmu.c
        pagemap_read, fs/proc/page.c kpageflags_read; see fs/proc.py kpageflags).
        """
        self._live(hung_ok=True)
        return kpageflags(self.machine, self, ulong(addr), ulong(length))

    def status(self):
        """/proc/PID/status: the Vm* lines in kB."""
        self._live(hung_ok=True)
        return task_mem(self.machine, self)

    def fork(self):
        """fork(2): the child gets a COW copy of the address space, no locks.

        kernel/fork.c dup_mmap: VM_LOCKED is cleared in the child and its
        locked_vm starts at 0; PTEs are copied only for VMAs with anonymous
        pages (copy_page_range), write-protected on both sides.
        """
        self._live()
        m = self.machine
        child = m.spawn(memlock=self.rlimits[RLIMIT_MEMLOCK], caps=self.caps)
        child.files = dict(self.files)
        for vma in self.mm.vmas:
            new = VMA(vma.start, vma.end, vma.flags & ~VM_LOCKED_MASK, vma.file,
                      vma.pgoff, vma.anon_vma)
            child.mm.insert(new)
            copy_page_range(m, vma, new)
        return child

    def kill(self):
        """kill -9: unmap everything (exit_mmap) and close the files; works on a hung task."""
        self._live(hung_ok=True)
        for vma in list(self.mm.vmas):
            _mmap.do_munmap(self.machine, self, vma.start, vma.end - vma.start)
        self.files.clear()
        self.mm.def_flags = 0
        self.alive = False
        self.hung = None
