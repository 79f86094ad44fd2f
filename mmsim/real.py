"""The Process API of DESIGN.md section 2, on the reader's own Linux kernel.

An experiment is a function ``experiment(machine, process)``. ``run()`` forks a
child, gives it a ``RealMachine`` (a fresh scratch directory, /proc, the stat
calls) and a ``RealProcess`` (the syscall surface: mmap, mlock, touch, smaps
...), runs the experiment there and hands its plain-data result back::

    import os, mmsim.real
    from mmsim._abi import PROT_READ, PROT_WRITE, MAP_SHARED

    def experiment(m, p):
        fd = p.open(m.scratch + "/f", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 1 << 20)
        a = p.mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        p.mlock(a, 1 << 20)
        return {"dirty_kb": p.smaps(a)["Shared_Dirty"]}

    mmsim.real.run(experiment, memlock=(2 << 20, 2 << 20), caps=set())

The calls return the simulator's result types (mmsim.results: TouchResult,
PageFlags, Extent, Rusage, StatResult; smaps and status dicts with the same
keys; bytes from pread and mincore), and fail with the errno the kernel gives.

Safety, so that nothing reaches the notebook or the machine:

- every experiment runs in a forked child: a lock, a signal or a crash dies
  with it (memory locks are not inherited by fork and end with the process);
  the child gets PR_SET_PDEATHSIG, so it cannot outlive its parent either;
- files only in a fresh temporary directory (``machine.scratch``), removed by
  the child when it ends and by the parent after the child is gone, even if it
  was killed; a directory left by a parent that itself died is removed by the
  next ``run()``;
- mappings made through the API are capped (``cap``, default 256 MiB, live
  mappings together); a lock the kernel would grant above the cap (with
  CAP_IPC_LOCK, or a large RLIMIT_MEMLOCK) is refused; a lock the kernel
  refuses itself (over RLIMIT_MEMLOCK without CAP_IPC_LOCK) is passed to the
  kernel, because its answer (ENOMEM, EPERM) is what experiments measure;
- any store or allocation that could leave the scratch filesystem with less
  than 1 GiB or 10 % free is refused before it is made (pwrite included),
  except inside a loop filesystem that mmsim.loopfs made in this process:
  the image is the sandbox, filling it is the experiment (the host
  filesystem holding the image was checked when the image was made);
- one pread or pwrite moves at most ``cap`` bytes: a pwrite of more, or a
  pread that would return more, is refused;
- MAP_FIXED, munmap, mprotect and destructive madvise are refused over memory
  that the experiment did not map itself (the Python interpreter's);
  MAP_FIXED_NOREPLACE, which never replaces a mapping, goes to the kernel;
- ``caps=set()`` runs unprivileged: the child drops its capabilities from the
  effective, permitted, inheritable, ambient and bounding sets (prctl
  PR_CAPBSET_DROP and capset(2) through ctypes: setpriv(1) would need an exec,
  and an experiment is a Python function, not a program).

A refusal raises ``Refused`` (not OSError: it is not the kernel's answer and
must not be mistaken for one). Off Linux, or without /proc/self/smaps,
``available()`` says why and ``run()`` raises ``Unavailable``, whose message
IPython prints in one line, without a traceback.
"""

import ctypes
import ctypes.util
import dataclasses
import errno as _errno
import faulthandler
import io
import mmap as _mmap
import os
import pickle
import platform
import re
import select
import shutil
import signal as _signal
import struct
import sys
import tempfile
import time
import traceback

import numpy as np

try:                                    # Unix only: off Linux, available() says so
    import fcntl
    import resource
except ImportError:                     # pragma: no cover - Windows
    fcntl = resource = None

from ._abi import (GiB, KiB, MiB, PAGE_SIZE, PROT_READ, PROT_WRITE,
                   MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE,
                   MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT,
                   RLIMIT_MEMLOCK, RLIM_INFINITY, FALLOC_FL_PUNCH_HOLE,
                   MADV_POPULATE_WRITE)
from .errors import Signal
from .results import (FIEMAP_EXTENT_LAST, KPAGEFLAGS_BITS, PAGEMAP_BITS, SMAPS_FIELDS,
                      STATUS_FIELDS, Extent, PageFlags, Rusage, StatResult, TouchResult, pick)

__all__ = ["available", "run", "info", "RealMachine", "RealProcess", "RealError",
           "Unavailable", "Refused", "ChildDied", "Timeout", "ExperimentError",
           "DEFAULT_CAP", "FREE_FLOOR", "FREE_FRACTION", "fs_type", "scratch_base",
           "current_caps", "CAP_NAMES", "register_sandbox", "unregister_sandbox",
           "sandbox"]

DEFAULT_CAP = 256 * MiB          # live API mappings of one experiment, together
FREE_FLOOR = 1 * GiB             # the scratch fs keeps at least this much free ...
FREE_FRACTION = 0.10             # ... and at least this fraction of its size
DEFAULT_TIMEOUT = 60.0           # seconds of wall-clock time per experiment
PROGRESS_SLOT = 32 * KiB         # the largest pickled progress record
SCRATCH_PREFIX = "mmsim-real-"

# Where API mappings go when the experiment passes addr=0: far below the
# interpreter's own mappings (the kernel places those top-down from
# mmap_base), each one 2 MiB aligned with at least one unmapped page before
# the next, so that no VMA of the experiment ever merges with one of Python's.
_ARENA = 0x1000_0000_0000
_ARENA_ALIGN = 2 * MiB

_IOV_MAX = 1024                  # UIO_MAXIOV
_MAX_RW_COUNT = 0x7FFFF000       # include/linux/fs.h: INT_MAX & PAGE_MASK, the most one read moves
_LOFF_MAX = (1 << 63) - 1
_U64 = (1 << 64) - 1
_MINCORE_CHUNK = 1 << 18         # pages per mincore() call: a 256 KiB vector
# MADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED, POPULATE_READ: no harm to anyone's memory
_HARMLESS_ADVICE = (0, 1, 2, 3, 22)
_PIPE_CHUNK = 32 * KiB           # below the smallest pipe capacity (64 KiB)


# ---------------------------------------------------------------------------
# Errors


class RealError(Exception):
    """The real-kernel backend could not run an experiment (not a kernel errno).

    IPython prints these as one line (``_render_traceback_``), without a
    traceback: they describe the host, not a bug in the notebook.
    """

    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]


class Unavailable(RealError):
    """This host cannot run the experiment (not Linux, no /proc, no privilege)."""


class Refused(RealError):
    """A safety cap refused an operation before it reached the kernel."""


class ChildDied(RealError):
    """The experiment's child process died by a signal (``.signo``)."""

    def __init__(self, msg, signo=None):
        super().__init__(msg)
        self.signo = signo


class Timeout(RealError):
    """The experiment ran past its wall-clock timeout and was killed.

    ``.progress``: the last record the experiment made with
    RealMachine.progress() before it was killed ({} if none).
    """

    def __init__(self, msg, progress=None):
        super().__init__(msg)
        self.progress = dict(progress or {})


class ExperimentError(RealError):
    """The experiment raised an exception that is neither OSError nor Signal."""

    def __init__(self, msg, child_traceback=""):
        super().__init__(msg)
        self.child_traceback = child_traceback

    def _render_traceback_(self):
        lines = [f"ExperimentError: {self}"]
        if self.child_traceback:
            lines += ["in the child process:"] + self.child_traceback.rstrip().splitlines()
        return lines


def _oserror(code, what=""):
    """Return the OSError a failed syscall gives, as os.* builds it."""
    msg = os.strerror(code)
    return OSError(code, f"{msg}: {what}" if what else msg)


def _as_int(value, what):
    """Return value as an int, or raise EINVAL as the syscall would on garbage."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _oserror(_errno.EINVAL, f"{what} must be an int, not {type(value).__name__}")
    return int(value)


def _loff(value, what):
    """Return value as a file offset: EINVAL for a negative loff_t (ksys_pread64, ksys_pwrite64)."""
    v = _as_int(value, what)
    if not 0 <= v <= _LOFF_MAX:
        raise _oserror(_errno.EINVAL, f"{what} {v} is not a valid loff_t")
    return v


def _stat_result(st):
    """Return the shared StatResult (mmsim.results) of an os.stat_result."""
    return StatResult(*(getattr(st, f.name) for f in dataclasses.fields(StatResult)))


# ---------------------------------------------------------------------------
# libc through ctypes


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_POSIX_FADV_DONTNEED = 4
_SYS_MLOCK2 = {"x86_64": 325, "aarch64": 284, "riscv64": 284, "ppc64le": 378,
               "s390x": 374, "i686": 376, "i386": 376}

_libc = None


def _lib():
    """Load libc with errno capture and declare the calls used here."""
    global _libc
    if _libc is not None:
        return _libc
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    vp, sz, i, lng = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_long
    sig = {
        "mmap": ([vp, sz, i, i, i, lng], vp),
        "munmap": ([vp, sz], i), "mprotect": ([vp, sz, i], i),
        "mlock": ([vp, sz], i), "munlock": ([vp, sz], i),
        "mlockall": ([i], i), "munlockall": ([], i),
        "msync": ([vp, sz, i], i), "madvise": ([vp, sz, i], i),
        "mincore": ([vp, sz, ctypes.POINTER(ctypes.c_ubyte)], i),
        "fallocate": ([i, i, lng, lng], i),
        "posix_fadvise": ([i, lng, lng, i], i),
        "prctl": ([i, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong], i),
        "readv": ([i, ctypes.POINTER(_Iovec), i], ctypes.c_ssize_t),
        "writev": ([i, ctypes.POINTER(_Iovec), i], ctypes.c_ssize_t),
        "read": ([i, vp, sz], ctypes.c_ssize_t),
        "write": ([i, vp, sz], ctypes.c_ssize_t),
        "capget": ([ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)], i),
        "capset": ([ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)], i),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    if hasattr(lib, "mlock2"):              # glibc >= 2.27
        lib.mlock2.argtypes, lib.mlock2.restype = [vp, sz, ctypes.c_uint], i
    lib.syscall.restype = lng
    _libc = lib
    return lib


def _check(ret, what):
    """Turn a libc -1 into the OSError with the kernel's errno."""
    if ret == -1:
        raise _oserror(ctypes.get_errno(), what)
    return ret


# ---------------------------------------------------------------------------
# Capabilities (include/uapi/linux/capability.h)

CAP_NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
_CAP_NUM = {n: i for i, n in enumerate(CAP_NAMES)}


def _cap_name(bit):
    return CAP_NAMES[bit] if bit < len(CAP_NAMES) else f"CAP_{bit}"


def current_caps(which="CapEff"):
    """Return the capability names of this process (fs/proc/array.c: render_cap_t)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(which + ":"):
                    mask = int(line.split()[1], 16)
                    return {_cap_name(b) for b in range(64) if mask >> b & 1}
    except OSError:
        pass
    return set()


def _normalise_caps(caps):
    """Return caps as a set of CAP_* names, or raise EINVAL for an unknown name."""
    out = set()
    for c in caps:
        name = str(c).upper()
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in _CAP_NUM:
            raise _oserror(_errno.EINVAL, f"unknown capability {c!r}")
        out.add(name)
    return out


def _drop_caps(keep):
    """Keep only the capabilities in keep (kernel/capability.c: capset; PR_CAPBSET_DROP).

    The bounding set goes first (dropping from it needs CAP_SETPCAP in the
    effective set), then capset(2) lowers effective, permitted and
    inheritable; ambient capabilities are cleared.
    """
    lib = _lib()
    keep_bits = {_CAP_NUM[n] for n in keep}
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except (OSError, ValueError):
        last = len(CAP_NAMES) - 1
    for bit in range(last + 1):
        if bit in keep_bits:
            continue
        if lib.prctl(_PR_CAPBSET_READ, bit, 0, 0, 0) == 1:
            lib.prctl(_PR_CAPBSET_DROP, bit, 0, 0, 0)   # EPERM without CAP_SETPCAP: harmless
    lib.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(lib.capget(ctypes.byref(hdr), data), "capget")
    for k in (0, 1):
        mask = sum(1 << (b - 32 * k) for b in keep_bits if 32 * k <= b < 32 * (k + 1))
        data[k].effective &= mask
        data[k].permitted &= mask
        data[k].inheritable &= mask
    _check(lib.capset(ctypes.byref(hdr), data), "capset")
    left = current_caps("CapEff") - keep
    if left:
        raise Refused(f"could not drop capabilities {sorted(left)}")


# ---------------------------------------------------------------------------
# The host: what it can do, where scratch files go


def scratch_base(path=None):
    """Return the directory scratch directories are made in.

    path, else $MMSIM_SCRATCH, else the temp directory; if that is a tmpfs
    (no blocks to allocate, no writeback: not what the book is about),
    /var/tmp when it is on a disk filesystem.
    """
    chosen = path or os.environ.get("MMSIM_SCRATCH")
    if chosen:
        return os.path.realpath(chosen)
    tmp = os.path.realpath(tempfile.gettempdir())
    if fs_type(tmp) == "tmpfs":
        alt = "/var/tmp"
        if os.path.isdir(alt) and os.access(alt, os.W_OK | os.X_OK) and fs_type(alt) != "tmpfs":
            return alt
    return tmp


def _unescape_mount(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


_FS_MAGIC = {0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs",
             0x01021994: "tmpfs", 0x794C7630: "overlay", 0x2FC12FC1: "zfs",
             0xF2F52010: "f2fs"}


def fs_type(path):
    """Return the type of the filesystem holding path (fs/proc_namespace.c: show_mountinfo).

    The longest mount point of /proc/self/mountinfo that contains the path
    wins; statfs f_type is the fallback (it cannot tell ext2/3/4 apart).
    """
    path = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if "-" not in fields:
                    continue
                mp = _unescape_mount(fields[4])
                fstype = fields[fields.index("-") + 1]
                inside = path == mp or path.startswith(mp.rstrip("/") + "/")
                if inside and len(mp) >= len(best):
                    best, kind = mp, fstype
    except OSError:
        pass
    if kind:
        return kind
    try:
        buf = ctypes.create_string_buffer(120)
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if lib.statfs(os.fsencode(path), buf) == 0:
            return _FS_MAGIC.get(struct.unpack_from("l", buf.raw)[0] & 0xFFFFFFFF, "unknown")
    except (OSError, AttributeError):
        pass
    return "unknown"


def _free_space(path):
    """Return (available bytes, the floor that must stay free) for path's filesystem."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return st.f_bavail * st.f_frsize, max(FREE_FLOOR, int(FREE_FRACTION * total))


_SANDBOXES = {}                  # mount point -> its LoopFs: loop filesystems of mmsim.loopfs


def register_sandbox(mount_point, fs):
    """Note a loop filesystem mmsim.loopfs mounted (fs has .remount()): no floor inside it."""
    _SANDBOXES[os.path.realpath(mount_point)] = fs


def unregister_sandbox(mount_point):
    """Forget a loop filesystem that is about to be unmounted."""
    _SANDBOXES.pop(os.path.realpath(mount_point), None)


def sandbox(path):
    """Return the registered loop filesystem path is in (its mount point or below), or None."""
    path = os.path.realpath(path)
    for mp, fs in _SANDBOXES.items():
        if path == mp or path.startswith(mp + os.sep):
            return fs
    return None


def _check_free(path, extra, what):
    """Refuse an allocation of extra bytes that would leave too little free space.

    Not inside a loop filesystem of mmsim.loopfs: there the kernel's own
    ENOSPC (or SIGBUS) is what the experiment measures.
    """
    if sandbox(path) is not None:
        return
    avail, floor = _free_space(path)
    if avail - extra < floor:
        raise Refused(
            f"{what}: up to {extra // KiB} KiB more on the filesystem of {path} would leave "
            f"{max(avail - extra, 0) // MiB} MiB free, under the floor of {floor // MiB} MiB "
            f"(1 GiB or 10 % of the filesystem, whichever is more)")


def available(scratch_dir=None):
    """Return (True, what this host offers) or (False, why experiments cannot run here)."""
    if not sys.platform.startswith("linux"):
        return False, f"the real-kernel backend needs Linux; this is {sys.platform}"
    if not os.path.exists("/proc/self/smaps"):
        return False, "/proc/self/smaps is missing (no /proc, or a kernel without CONFIG_PROC_PAGE_MONITOR)"
    if not hasattr(os, "fork"):
        return False, "this Python cannot fork"
    try:
        lib = _lib()
        for name in ("mlock", "mlockall", "mincore", "madvise"):
            getattr(lib, name)
    except (OSError, AttributeError) as e:
        return False, f"libc does not offer the memory calls: {e}"
    base = scratch_base(scratch_dir)
    if not (os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK)):
        return False, f"the scratch directory {base} is not writable"
    avail, floor = _free_space(base)
    if sandbox(base) is None and avail < floor + 64 * MiB:
        return False, (f"the filesystem of {base} has {avail // MiB} MiB free, "
                       f"too close to the {floor // MiB} MiB that must stay free")
    i = info(scratch_dir)
    return True, (f"Linux {i['kernel']} ({i['machine']}), {i['fs']} scratch in {base}; "
                  f"{'CAP_IPC_LOCK' if i['cap_ipc_lock'] else 'no CAP_IPC_LOCK'}, "
                  f"RLIMIT_MEMLOCK {_fmt_limit(i['memlock'])}; page flags: {i['pageflags']}")


def _fmt_limit(lim):
    return "/".join("unlimited" if v == RLIM_INFINITY else f"{v // KiB} KiB" for v in lim)


def info(scratch_dir=None):
    """Return what the real backend sees on this host, as plain data."""
    base = scratch_base(scratch_dir)
    caps = current_caps()
    pf = ("pagemap+kpageflags" if os.access("/proc/kpageflags", os.R_OK)
          and "CAP_SYS_ADMIN" in caps else "pagemap")
    return {"kernel": os.uname().release, "machine": platform.machine(),
            "fs": fs_type(base), "scratch_base": base,
            "cap_ipc_lock": "CAP_IPC_LOCK" in caps, "euid": os.geteuid(),
            "memlock": resource.getrlimit(RLIMIT_MEMLOCK), "pageflags": pf}


# ---------------------------------------------------------------------------
# /proc readers


_SMAPS_HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$")


def _parse_smaps(text):
    """Parse /proc/<pid>/smaps (fs/proc/task_mmu.c: show_smap) into dicts, kB as ints."""
    vmas, cur = [], None
    for line in text.splitlines():
        m = _SMAPS_HEAD.match(line)
        if m:
            cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                   "perms": m.group(3), "offset": int(m.group(4), 16),
                   "inode": int(m.group(6)), "path": m.group(7).strip()}
            vmas.append(cur)
            continue
        if cur is None or ":" not in line:
            continue
        key, _, val = line.partition(":")
        val = val.strip()
        if key == "VmFlags":
            cur["VmFlags"] = val
        elif val.endswith(" kB"):
            cur[key] = int(val[:-3])
        elif val.lstrip("-").isdigit():
            cur[key] = int(val)
    return vmas


def _read_maps():
    """Return [(start, end, perms, inode)] from /proc/self/maps (fs/proc/task_mmu.c: show_map)."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            m = _SMAPS_HEAD.match(line.rstrip("\n"))
            if m:
                out.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), int(m.group(6))))
    return out


def _read_kb_file(path):
    """Parse 'Key:  N kB' lines (/proc/meminfo, /proc/self/status) into ints."""
    out = {}
    with open(path) as f:
        for line in f:
            key, _, val = line.partition(":")
            parts = val.split()
            if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
                out[key] = int(parts[0])
            elif len(parts) == 1 and parts[0].isdigit() and path.endswith("meminfo"):
                out[key] = int(parts[0])
    return out


class _PageFlagReader:
    """Open /proc/self/pagemap and /proc/kpageflags once, before privileges drop.

    fs/proc/task_mmu.c: pagemap_open records whether the opener had
    CAP_SYS_ADMIN (PFNs shown or zeroed); the file keeps that for its life,
    so a child that drops its capabilities afterwards can still see flags.
    """

    def __init__(self):
        self.pagemap = self.kpageflags = None
        try:
            self.pagemap = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            pass
        try:
            self.kpageflags = os.open("/proc/kpageflags", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            pass

    def close(self):
        for fd in (self.pagemap, self.kpageflags):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pagemap = self.kpageflags = None

    def read(self, addr, npages):
        """Return PageFlags for npages from addr (fs/proc/task_mmu.c: pagemap_read).

        pagemap gives present, swap, file and exclusive; the PFN of each
        present page, shown only to an opener with CAP_SYS_ADMIN, indexes
        /proc/kpageflags (fs/proc/page.c: kpageflags_read) for the rest.
        Flags that cannot be read here are None: all but the pagemap ones
        without root, the PTE's own bits (writable, pte_dirty) always.
        """
        first = addr // PAGE_SIZE
        arrays, sources = {}, []
        if self.pagemap is None:
            return PageFlags(first * PAGE_SIZE, npages, "none", arrays)
        raw = os.pread(self.pagemap, 8 * npages, 8 * first)
        ent = np.frombuffer(raw, dtype=np.uint64)
        if len(ent) < npages:
            ent = np.concatenate([ent, np.zeros(npages - len(ent), np.uint64)])
        bit = lambda word, b: (word >> np.uint64(b)) & np.uint64(1) == 1
        arrays.update({name: bit(ent, b) for name, b in PAGEMAP_BITS.items()})
        sources.append("pagemap")
        present = arrays["present"]
        pfn = ent & np.uint64((1 << 55) - 1)
        if self.kpageflags is not None and not (present & (pfn == 0)).any():
            flags = np.zeros(npages, dtype=np.uint64)
            cache = {}
            for i in np.flatnonzero(present):
                p = int(pfn[i])
                if p not in cache:
                    b = os.pread(self.kpageflags, 8, 8 * p)
                    cache[p] = struct.unpack("<Q", b)[0] if len(b) == 8 else 0
                flags[i] = cache[p]
            arrays.update({name: bit(flags, b) for name, b in KPAGEFLAGS_BITS.items()})
            sources.append("kpageflags")
        return PageFlags(first * PAGE_SIZE, npages, "+".join(sources), arrays)


# ---------------------------------------------------------------------------
# The machine


_FS_IOC_FIEMAP = 0xC020660B
_FIEMAP_FLAG_SYNC = 0x1


class RealMachine:
    """The host as an experiment sees it: a scratch directory, /proc, stat calls.

    ``scratch`` is the experiment's own temporary directory, ``kernel`` the
    running kernel's release (uname -r).
    """

    profile = "real"

    def __init__(self, scratch, progress=None, requests=None):
        self.scratch = scratch
        self.kernel = os.uname().release
        self.fs = fs_type(scratch)
        self._progress = progress
        self._requests = requests            # (write to parent, read from parent) fds

    def progress(self, **fields):
        """Record how far the experiment got (merged into the last record).

        If the run reaches its timeout, the parent kills the child and still
        has this record: run(..., at_timeout=...) returns it with the outcome,
        a Timeout carries it as .progress. Cheap enough to call per page.
        """
        if self._progress is not None:
            self._progress.write(fields)

    def remount(self):
        """Unmount and mount the loop filesystem the scratch directory is in again.

        The parent does it (mmsim.loopfs LoopFs.remount: umount, mount), so the
        page cache of the filesystem is dropped and what is read next comes from
        the disk image. The experiment must have closed and unmapped its files
        first, or the kernel answers EBUSY. Unavailable outside mmsim.loopfs.
        """
        if self._requests is None:
            raise Unavailable(f"remount: {self.scratch} is not in a loop filesystem of mmsim.loopfs")
        w, r = self._requests
        _write_all(w, b"remount\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = os.read(r, 4096)
            if not chunk:
                raise ChildDied("remount: the parent went away")
            reply += chunk
        code, _, msg = reply.decode().strip().partition(" ")
        if int(code):
            raise OSError(int(code), msg)

    def __repr__(self):
        return f"RealMachine(kernel={self.kernel!r}, fs={self.fs!r})"

    @property
    def now(self):
        """Seconds since boot (kernel/time: CLOCK_BOOTTIME)."""
        return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))

    def sleep(self, seconds):
        """Let time pass: the flusher and kupdate run meanwhile (really)."""
        time.sleep(max(0.0, float(seconds)))

    def meminfo(self):
        """Return /proc/meminfo as ints in kB (fs/proc/meminfo.c: meminfo_proc_show)."""
        return _read_kb_file("/proc/meminfo")

    def stat(self, path):
        """Return the StatResult of os.stat(path) (fs/stat.c: vfs_getattr).

        st_blocks in 512-byte units, the times in ns of the host's clock
        (st_mtime_ns ...) and float seconds (st_mtime ...); the owners and
        the device, which the simulator does not model, are left out.
        """
        return _stat_result(os.stat(path))

    def statfs(self, path):
        """Return os.statvfs(path): f_bsize, f_blocks, f_bfree, f_bavail (fs/statfs.c)."""
        return os.statvfs(path)

    def fiemap(self, path, sync=False):
        """Return the extents of path as FS_IOC_FIEMAP reports them (fs/ioctl.c: ioctl_fiemap).

        sync=True passes FIEMAP_FLAG_SYNC, which writes dirty pages back first
        (and so changes what is being looked at); the default does not.
        """
        out, start, count = [], 0, 256
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            while True:
                buf = bytearray(struct.pack("=QQIIII", start, 2**64 - 1 - start,
                                            _FIEMAP_FLAG_SYNC if sync else 0, 0, count, 0))
                buf += bytes(56 * count)
                fcntl.ioctl(fd, _FS_IOC_FIEMAP, buf, True)
                mapped = struct.unpack_from("=I", buf, 20)[0]
                last = False
                for k in range(mapped):
                    lo, ph, ln, _r1, _r2, fl = struct.unpack_from("=QQQQQI", buf, 32 + 56 * k)
                    out.append(Extent.from_fiemap(lo, ph, ln, fl))
                    last = last or bool(fl & FIEMAP_EXTENT_LAST)
                if last or mapped < count:
                    return out
                start = out[-1].logical + out[-1].length
        finally:
            os.close(fd)

    def drop_caches(self):
        """Drop the clean, unmapped page cache of the scratch files (mm/fadvise.c: POSIX_FADV_DONTNEED).

        Root only, like /proc/sys/vm/drop_caches (fs/drop_caches.c), but only
        for this experiment's files, never the whole machine's cache. Unlike
        drop_caches, DONTNEED first starts writeback of dirty pages
        (generic_fadvise: __filemap_fdatawrite_range, WB_SYNC_NONE).
        """
        if os.geteuid() != 0:
            raise _oserror(_errno.EPERM, "drop_caches needs root")
        for root, _dirs, files in os.walk(self.scratch):
            for name in files:
                fd = os.open(os.path.join(root, name), os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _lib().posix_fadvise(fd, 0, 0, _POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)

    def spawn(self, *a, **kw):
        """Not on the real backend: the experiment's process is the one it gets."""
        raise _oserror(_errno.ENOSYS, "spawn: the real backend runs one process per experiment")


# ---------------------------------------------------------------------------
# The process


def _intervals_add(iv, a, b):
    iv.append((a, b))
    iv.sort()
    merged = []
    for s, e in iv:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    iv[:] = merged


def _intervals_sub(iv, a, b):
    out = []
    for s, e in iv:
        if e <= a or s >= b:
            out.append((s, e))
            continue
        if s < a:
            out.append((s, a))
        if e > b:
            out.append((b, e))
    iv[:] = out


def _covered(iv, a, b):
    """Return True if [a, b) lies inside the union of intervals iv."""
    for s, e in iv:
        if s <= a < e:
            if b <= e:
                return True
            a = e
    return a >= b


def _page_range(addr, length):
    first = addr & ~(PAGE_SIZE - 1)
    last = (addr + length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    return first, last


class RealProcess:
    """The Process API of DESIGN.md section 2, for the calling process.

    Loads and stores (``touch``, ``read``, ``write``) are made by the kernel's
    own user-access routines, not by Python: a store is a readv() from
    /dev/zero (``touch``) or a read() from a pipe (``write``) into the
    mapping, a load is a write()/writev() from the mapping into a pipe. The
    fault is then a real page fault on the user address, taken by
    arch/x86/mm/fault.c: do_user_addr_fault -> handle_mm_fault exactly as a
    user access would (fault-around, page_mkwrite, COW, ru_minflt accounting
    included), but where a user access would get SIGBUS or SIGSEGV, the
    kernel's exception fixup makes the syscall return a short count or EFAULT
    instead. A Python process cannot survive a SIGBUS from its own memory
    access (the handler returns to the faulting instruction), so this is the
    only way for the process to "live on" as memtoy does. The failing address
    is then classified as the kernel would: no VMA or no permission ->
    SIGSEGV (bad_area), a VMA that allows the access -> SIGBUS (do_sigbus).
    MADV_POPULATE_READ/WRITE (5.14) would also turn SIGBUS into EFAULT, but it
    goes through get_user_pages, which skips the user-fault path.
    """

    def __init__(self, machine, cap=DEFAULT_CAP, pageflags=None):
        self.machine = machine
        self.pid = os.getpid()
        self.cap = int(cap)
        self._lib = _lib()
        self._mapped = []                       # live API mappings, [start, end)
        self._next = _ARENA
        self._fds = {}
        self._pf = pageflags or _PageFlagReader()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pipe = (r, w)
        self._zero = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)
        self._iov = (_Iovec * _IOV_MAX)()
        self._iov_view = np.frombuffer(self._iov, dtype=np.uint64).reshape(_IOV_MAX, 2)
        self._iov_view[:, 1] = 1
        self._steps = np.arange(_IOV_MAX, dtype=np.uint64) * np.uint64(PAGE_SIZE)
        self._warm_up()

    def __repr__(self):
        return f"RealProcess(pid={self.pid})"

    def _warm_up(self):
        """Run the access path once on a throw-away page.

        Its first use faults in interpreter pages (ctypes, numpy temporaries);
        after this, touch() counts only the faults of the pages it touches.
        """
        ret = self._lib.mmap(None, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if ret is None or ret == 2**64 - 1:
            return
        self._mapped.append((ret, ret + 2 * PAGE_SIZE))
        try:
            for _ in range(2):
                self.touch(ret, 2 * PAGE_SIZE, write=True)
                self.touch(ret, 2 * PAGE_SIZE)
                self.write(ret, b"x")
                self.read(ret, 1)
        finally:
            self._mapped.clear()
            self._lib.munmap(ctypes.c_void_p(ret), 2 * PAGE_SIZE)

    # -- bookkeeping and safety ------------------------------------------

    def _mapped_bytes(self):
        return sum(e - s for s, e in self._mapped)

    def _own_range(self, addr, length, what):
        """Refuse an operation on VMAs that this experiment did not map."""
        a, b = _page_range(addr, length)
        for s, e, _perms, _ino in _read_maps():
            lo, hi = max(s, a), min(e, b)
            if lo < hi and not _covered(self._mapped, lo, hi):
                raise Refused(f"{what}: [{lo:#x}, {hi:#x}) is the Python interpreter's memory, "
                              "not a mapping made by this experiment")

    def _shared_file_bytes(self, addr, length):
        """Return the bytes of [addr, addr+length) in shared, writable file mappings."""
        a, b = _page_range(addr, length)
        total = 0
        for s, e, perms, ino in _read_maps():
            if ino and perms[1] == "w" and perms[3] == "s":
                total += max(0, min(e, b) - max(s, a))
        return total

    def _check_store(self, addr, length, what):
        """Refuse stores that could allocate blocks below the free-space floor."""
        n = self._shared_file_bytes(addr, length)
        if n:
            _check_free(self.machine.scratch, n, what)

    def _check_lock(self, nbytes, what):
        """Refuse a lock above the cap that the kernel itself would grant."""
        if nbytes <= self.cap:
            return
        soft = resource.getrlimit(RLIMIT_MEMLOCK)[0]
        if "CAP_IPC_LOCK" not in current_caps() and soft != RLIM_INFINITY and nbytes > soft:
            return              # the kernel answers ENOMEM/EPERM itself: let it
        raise Refused(f"{what} of {nbytes // KiB} KiB: above the safety cap of "
                      f"{self.cap // MiB} MiB (this process could lock it: "
                      f"{'CAP_IPC_LOCK' if 'CAP_IPC_LOCK' in current_caps() else 'RLIMIT_MEMLOCK'})")

    def _path(self, path):
        real = os.path.realpath(os.fspath(path))
        root = os.path.realpath(self.machine.scratch)
        if real != root and not real.startswith(root + os.sep):
            raise Refused(f"{path}: experiments may only use files in {self.machine.scratch}")
        return real

    def _release(self):
        """Undo everything: munlockall, munmap, close (done when the experiment ends)."""
        self._lib.munlockall()
        for s, e in list(self._mapped):
            self._lib.munmap(ctypes.c_void_p(s), e - s)
        self._mapped.clear()
        for fd in list(self._fds):
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()
        for fd in (*self._pipe, self._zero):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- files -----------------------------------------------------------

    def open(self, path, flags, mode=0o644):
        """Open a file in the scratch directory (fs/open.c: do_sys_open)."""
        fd = os.open(self._path(path), _as_int(flags, "flags") | os.O_CLOEXEC, mode)
        self._fds[fd] = path
        return fd

    def close(self, fd):
        """Close a file this process opened (fs/open.c: close_fd)."""
        if fd not in self._fds:
            raise _oserror(_errno.EBADF, f"close({fd})")
        del self._fds[fd]
        os.close(fd)

    def _fd(self, fd):
        if fd not in self._fds:
            raise _oserror(_errno.EBADF, f"fd {fd}")
        return fd

    def _open_for(self, fd, wrong_mode, what):
        """Return fd, or EBADF if the experiment did not open it or opened it wrong_mode.

        vfs_read and vfs_write check FMODE_READ / FMODE_WRITE before the
        buffer and the count, so this comes before the argument checks made
        here rather than in the kernel.
        """
        if fcntl.fcntl(self._fd(fd), fcntl.F_GETFL) & os.O_ACCMODE == wrong_mode:
            raise _oserror(_errno.EBADF, f"{what}: fd {fd} not open for "
                           + ("writing" if wrong_mode == os.O_RDONLY else "reading"))
        return fd

    def ftruncate(self, fd, length):
        """Set a file's size; growing makes a hole (fs/open.c: do_sys_ftruncate)."""
        os.ftruncate(self._fd(fd), _as_int(length, "length"))

    def fallocate(self, fd, mode, offset, length):
        """Allocate or punch file space (fs/open.c: vfs_fallocate)."""
        mode, offset, length = (_as_int(mode, "mode"), _as_int(offset, "offset"),
                                _as_int(length, "length"))
        if not mode & FALLOC_FL_PUNCH_HOLE:
            _check_free(self.machine.scratch, max(length, 0), "fallocate")
        _check(self._lib.fallocate(self._fd(fd), mode, offset, length), "fallocate")

    def fsync(self, fd):
        """Write a file's dirty pages and metadata back (fs/sync.c: vfs_fsync)."""
        os.fsync(self._fd(fd))

    def fstat(self, fd):
        """Return the StatResult of os.fstat(fd) (fs/stat.c: vfs_fstat), as machine.stat does."""
        return _stat_result(os.fstat(self._fd(fd)))

    def pread(self, fd, n, offset):
        """Return up to n bytes of the file at offset (fs/read_write.c: ksys_pread64, vfs_read).

        os.pread on the experiment's fd. In the kernel's order: EINVAL for a
        negative offset (before the fd is looked at), EBADF for an fd the
        experiment did not open or one not open for reading, EINVAL for a
        count above the ssize_t range (rw_verify_area, as os.pread and the
        simulator have it), then the kernel's answer (EINVAL for an end past
        loff_t). A count above MAX_RW_COUNT is cut to it, as vfs_read does.
        Short past EOF, empty at or after it. A read that would return more
        than the cap is refused: the buffer is never bigger than cap + 1 bytes.
        """
        offset = _loff(offset, "offset")
        fd = self._open_for(fd, os.O_WRONLY, "pread")
        n = _as_int(n, "n")
        if not 0 <= n <= _LOFF_MAX:
            raise _oserror(_errno.EINVAL, f"pread: count {n} out of range")
        data = os.pread(fd, min(n, _MAX_RW_COUNT, self.cap + 1), offset)
        if len(data) > self.cap:
            raise Refused(f"pread of {min(n, _MAX_RW_COUNT) // KiB} KiB: more than the safety "
                          f"cap of {self.cap // MiB} MiB")
        return data

    def pwrite(self, fd, data, offset):
        """Write data at offset; return the bytes written (fs/read_write.c: ksys_pwrite64, vfs_write).

        os.pwrite on the experiment's fd. In the kernel's order: EINVAL for a
        negative offset, EBADF for an fd the experiment did not open or one
        not open for writing, EFAULT for data that is not a bytes-like buffer
        (as the simulator: a buffer the kernel cannot read), then the
        kernel's answer (EINVAL past loff_t, EFBIG at s_maxbytes, ENOSPC).
        Refused before it is made: more than the cap in one call, or a write
        that could leave the filesystem under its free-space floor.
        """
        offset = _loff(offset, "offset")
        fd = self._open_for(fd, os.O_RDONLY, "pwrite")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise _oserror(_errno.EFAULT, f"pwrite: data must be bytes, not {type(data).__name__}")
        n = memoryview(data).nbytes
        if n > self.cap:
            raise Refused(f"pwrite of {n // KiB} KiB: more than the safety cap of "
                          f"{self.cap // MiB} MiB")
        _check_free(self.machine.scratch, n, "pwrite")
        return os.pwrite(fd, data, offset)

    # -- mappings --------------------------------------------------------

    def mmap(self, addr, length, prot, flags, fd=-1, offset=0):
        """Map memory and return its address (mm/mmap.c: do_mmap), through libc mmap.

        With addr=0 the address is chosen in a region of its own (see
        _ARENA), as a hint the kernel takes when the range is free.
        MAP_FIXED_NOREPLACE (4.17) goes to the kernel without MAP_FIXED, which
        do_mmap adds itself: a kernel before 4.17 ignores the unknown flag and
        takes addr as a hint, so it never replaces a mapping; when it puts the
        mapping elsewhere, the mapping is undone and EEXIST raised: the errno
        of 4.17 for a range already mapped, the usual reason a hint is not taken.
        """
        addr, length, prot, flags, fd, offset = (
            _as_int(addr, "addr"), _as_int(length, "length"), _as_int(prot, "prot"),
            _as_int(flags, "flags"), _as_int(fd, "fd"), _as_int(offset, "offset"))
        if length > 0 and self._mapped_bytes() + length > self.cap:
            raise Refused(f"mmap of {length // KiB} KiB: the experiment's mappings would pass "
                          f"the safety cap of {self.cap // MiB} MiB")
        if not flags & MAP_ANONYMOUS and fd != -1:
            self._fd(fd)
        fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)
        if flags & MAP_FIXED and not flags & MAP_FIXED_NOREPLACE and length > 0:
            self._own_range(addr, length, "mmap(MAP_FIXED)")
        if flags & MAP_FIXED_NOREPLACE:
            flags &= ~MAP_FIXED
        hint = addr
        if addr == 0 and not fixed and length > 0:
            hint = self._next
        ret = self._lib.mmap(ctypes.c_void_p(hint), length, prot, flags, fd, offset)
        if ret is None or ret == 2**64 - 1 or ret == -1:
            raise _oserror(ctypes.get_errno(), "mmap")
        if flags & MAP_FIXED_NOREPLACE and ret != addr:
            self._lib.munmap(ctypes.c_void_p(ret), length)
            raise _oserror(_errno.EEXIST, f"mmap: MAP_FIXED_NOREPLACE at {addr:#x}: "
                           "this kernel (before 4.17) placed it elsewhere")
        if hint == self._next and ret == hint:
            end = ret + ((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
            self._next = (end + PAGE_SIZE + _ARENA_ALIGN - 1) & ~(_ARENA_ALIGN - 1)
        _intervals_add(self._mapped, ret, ret + ((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)))
        return ret

    def munmap(self, addr, length):
        """Unmap a range (mm/mmap.c: do_munmap)."""
        addr, length = _as_int(addr, "addr"), _as_int(length, "length")
        if length > 0:
            self._own_range(addr, length, "munmap")
        _check(self._lib.munmap(ctypes.c_void_p(addr), length), "munmap")
        _intervals_sub(self._mapped, *_page_range(addr, length))

    def mprotect(self, addr, length, prot):
        """Change protection (mm/mprotect.c: do_mprotect_pkey)."""
        addr, length, prot = _as_int(addr, "addr"), _as_int(length, "length"), _as_int(prot, "prot")
        if length > 0:
            self._own_range(addr, length, "mprotect")
        _check(self._lib.mprotect(ctypes.c_void_p(addr), length, prot), "mprotect")

    def madvise(self, addr, length, advice):
        """Give advice about a range (mm/madvise.c: do_madvise), through libc madvise.

        Any advice goes to the kernel, which answers with its errno: EINVAL
        for one it does not know (MADV_POPULATE_READ/WRITE before 5.14), for
        an unaligned start, for MADV_DONTNEED on locked memory; ENOMEM for a
        range with a hole; for the populate advice (madvise_populate) EINVAL
        where the mapping forbids the access, EFAULT where the fault fails
        (SIGBUS past EOF). Destructive advice only over the experiment's own
        mappings; MADV_POPULATE_WRITE stores, so it meets the free-space floor.
        """
        addr, length, advice = (_as_int(addr, "addr"), _as_int(length, "length"),
                                _as_int(advice, "advice"))
        if length > 0 and advice not in _HARMLESS_ADVICE:
            self._own_range(addr, length, "madvise")
        if advice == MADV_POPULATE_WRITE:
            self._check_store(addr, length, "madvise(MADV_POPULATE_WRITE)")
        _check(self._lib.madvise(ctypes.c_void_p(addr), length, advice), "madvise")

    def mincore(self, addr, length):
        """Return bytes, one per page, 1 where it is resident (mm/mincore.c: sys_mincore).

        The kernel's errnos: EINVAL for an unaligned addr, ENOMEM for a range
        with a page no VMA holds or past user space; length is a size_t (a
        negative one is huge). The range goes to the kernel in pieces of
        _MINCORE_CHUNK pages, so that the vector never outgrows what is mapped
        by more than a piece; the answer is the same, as the kernel fails the
        whole call at the first hole, however far it got.
        """
        addr, length = _as_int(addr, "addr"), _as_int(length, "length") & _U64
        npages = -(-length // PAGE_SIZE)
        out, done = [], 0
        while True:
            n = min(npages - done, _MINCORE_CHUNK)
            vec = (ctypes.c_ubyte * max(n, 1))()
            _check(self._lib.mincore(ctypes.c_void_p(addr + done * PAGE_SIZE),
                                     min(length - done * PAGE_SIZE, n * PAGE_SIZE), vec), "mincore")
            out.append(bytes(vec)[:n])
            done += n
            if done >= npages:
                return b"".join(out)

    def msync(self, addr, length, flags):
        """Write back a mapped range (mm/msync.c: msync)."""
        _check(self._lib.msync(ctypes.c_void_p(_as_int(addr, "addr")), _as_int(length, "length"),
                               _as_int(flags, "flags")), "msync")

    # -- locks -----------------------------------------------------------

    def mlock(self, addr, length):
        """Lock and populate a range (mm/mlock.c: do_mlock)."""
        addr, length = _as_int(addr, "addr"), _as_int(length, "length")
        self._check_lock(length, "mlock")
        _check(self._lib.mlock(ctypes.c_void_p(addr), length), "mlock")

    def mlock2(self, addr, length, flags=0):
        """Lock a range, MLOCK_ONFAULT: only as pages fault in (mm/mlock.c: mlock2)."""
        addr, length, flags = _as_int(addr, "addr"), _as_int(length, "length"), _as_int(flags, "flags")
        if not flags & MLOCK_ONFAULT:
            self._check_lock(length, "mlock2")
        if hasattr(self._lib, "mlock2"):
            ret = self._lib.mlock2(ctypes.c_void_p(addr), length, flags)
        else:
            nr = _SYS_MLOCK2.get(platform.machine())
            if nr is None:
                raise _oserror(_errno.ENOSYS, "mlock2: unknown syscall number on this architecture")
            ret = self._lib.syscall(ctypes.c_long(nr), ctypes.c_void_p(addr),
                                    ctypes.c_size_t(length), ctypes.c_uint(flags))
        _check(ret, "mlock2")

    def munlock(self, addr, length):
        """Unlock a range (mm/mlock.c: munlock)."""
        _check(self._lib.munlock(ctypes.c_void_p(_as_int(addr, "addr")), _as_int(length, "length")),
               "munlock")

    def mlockall(self, flags):
        """Lock the whole address space and/or future mappings (mm/mlock.c: mlockall).

        MCL_CURRENT without MCL_ONFAULT populates every VMA of the process,
        the Python interpreter's too: refused above the cap when the kernel
        would grant it.
        """
        flags = _as_int(flags, "flags")
        if flags & MCL_CURRENT and not flags & MCL_ONFAULT \
                and not flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT):
            self._check_lock(self.status().get("VmSize", 0) * KiB, "mlockall(MCL_CURRENT)")
        _check(self._lib.mlockall(flags), "mlockall")

    def munlockall(self):
        """Unlock everything, clear MCL_FUTURE (mm/mlock.c: munlockall)."""
        _check(self._lib.munlockall(), "munlockall")

    # -- limits ----------------------------------------------------------

    def setrlimit(self, res, limits):
        """Set a resource limit (kernel/sys.c: do_prlimit)."""
        res = _as_int(res, "resource")
        try:
            soft, hard = limits
            resource.setrlimit(res, (_as_int(soft, "soft"), _as_int(hard, "hard")))
        except ValueError as e:
            raise _oserror(_errno.EINVAL, f"setrlimit: {e}") from None
        except TypeError as e:
            raise _oserror(_errno.EINVAL, f"setrlimit: {e}") from None

    def getrlimit(self, res):
        """Return (soft, hard) (kernel/sys.c: do_prlimit)."""
        try:
            return resource.getrlimit(_as_int(res, "resource"))
        except ValueError as e:
            raise _oserror(_errno.EINVAL, f"getrlimit: {e}") from None

    # -- memory accesses -------------------------------------------------

    def _classify(self, addr, write):
        """Return the signal a user access at addr gets (arch/x86/mm/fault.c: access_error)."""
        for s, e, perms, _ino in _read_maps():
            if s <= addr < e:
                if write and perms[1] != "w":
                    return _signal.SIGSEGV, "bad_area_access_error"
                if not write and perms[:3] == "---":
                    return _signal.SIGSEGV, "bad_area_access_error"
                return _signal.SIGBUS, "do_sigbus"
        return _signal.SIGSEGV, "bad_area_nosemaphore"

    def _signal(self, addr, write, pages_done=None, seconds=None):
        signo, fn = self._classify(addr, write)
        sig = Signal(signo, addr, fn)
        sig.pages, sig.seconds = pages_done, seconds
        return sig

    def touch(self, addr, length, write=False):
        """Access one byte per page, as memtoy's touch does (mm/memory.c: handle_mm_fault).

        Return TouchResult(pages, seconds): seconds is the wall-clock time of
        the accesses (time.perf_counter). A signal stops the touch: it is
        raised with .pages and .seconds of what was done before it.
        """
        addr, length = _as_int(addr, "addr"), _as_int(length, "length")
        npages = max(0, (length + PAGE_SIZE - 1) // PAGE_SIZE)
        if write:
            self._check_store(addr, length, "touch write")
        r, w = self._pipe
        view = self._iov_view
        steps = self._steps
        t0 = time.perf_counter()
        done = 0
        while done < npages:
            n = min(_IOV_MAX, npages - done)
            view[:n, 0] = np.uint64(addr + done * PAGE_SIZE) + steps[:n]
            got = self._touch_iov(n, write)
            if got != n:
                # A pipe write that faults part-way is discarded whole
                # (fs/pipe.c: pipe_write), so find the page one at a time;
                # the pages before it are mapped now and do not fault again.
                for i in range(n):
                    view[0, 0] = addr + (done + i) * PAGE_SIZE
                    if self._touch_iov(1, write) != 1:
                        raise self._signal(addr + (done + i) * PAGE_SIZE, write, done + i,
                                           time.perf_counter() - t0)
            done += n
        return TouchResult(npages, time.perf_counter() - t0)

    def _touch_iov(self, n, write):
        """Access the first n iovecs: readv from /dev/zero (store) or writev to the pipe (load)."""
        r, w = self._pipe
        if write:
            got = self._lib.readv(self._zero, self._iov, n)
        else:
            got = self._lib.writev(w, self._iov, n)
            if got > 0:
                os.read(r, got)
        if got < 0:
            err = ctypes.get_errno()
            if err != _errno.EFAULT:
                raise _oserror(err, "touch")
        return got

    def _pieces(self, addr, n):
        """Split [addr, addr+n) at page boundaries: a fault fails a whole piece."""
        off = 0
        while off < n:
            step = min(n - off, PAGE_SIZE - (addr + off) % PAGE_SIZE)
            yield off, step
            off += step

    def read(self, addr, n):
        """Return n bytes of memory from addr (a load: copy_from_user)."""
        addr, n = _as_int(addr, "addr"), _as_int(n, "n")
        r, w = self._pipe
        out = bytearray()
        while len(out) < n:
            chunk = min(_PIPE_CHUNK, n - len(out))
            got = self._lib.write(w, ctypes.c_void_p(addr + len(out)), chunk)
            if got > 0:
                out += os.read(r, got)
            if got == chunk:
                continue
            if got < 0 and ctypes.get_errno() != _errno.EFAULT:
                raise _oserror(ctypes.get_errno(), "read")
            base = addr + len(out)
            for off, step in self._pieces(base, min(_PIPE_CHUNK, n - len(out))):
                got = self._lib.write(w, ctypes.c_void_p(base + off), step)
                if got > 0:
                    out += os.read(r, got)
                if got != step:
                    raise self._signal(base + off + max(got, 0), False)
        return bytes(out)

    def write(self, addr, data):
        """Store data at addr (a store: copy_to_user)."""
        addr = _as_int(addr, "addr")
        data = bytes(data)
        self._check_store(addr, len(data), "write")
        off = 0
        while off < len(data):
            chunk = data[off:off + _PIPE_CHUNK]
            if self._store(addr + off, chunk) != len(chunk):
                for o, step in self._pieces(addr + off, len(chunk)):
                    if self._store(addr + off + o, chunk[o:o + step]) != step:
                        raise self._signal(addr + off + o, True)
            off += len(chunk)
        return len(data)

    def _store(self, addr, chunk):
        """Copy chunk to addr through the pipe; return the bytes stored, -1 on EFAULT."""
        r, w = self._pipe
        os.write(w, chunk)
        got = self._lib.read(r, ctypes.c_void_p(addr), len(chunk))
        err = ctypes.get_errno() if got < 0 else 0
        if got != len(chunk):
            try:
                while os.read(r, _PIPE_CHUNK):
                    pass
            except BlockingIOError:
                pass
        if got < 0 and err != _errno.EFAULT:
            raise _oserror(err, "write")
        return got

    # -- state -----------------------------------------------------------

    def smaps(self, addr=None, all=False):
        """Return /proc/self/smaps as dicts (fs/proc/task_mmu.c: show_smap).

        smaps() lists the VMAs inside the experiment's own mappings (all=True:
        the interpreter's too); smaps(addr) is the VMA holding addr (EINVAL
        if there is none, as on the simulator).
        Each dict has the keys results.SMAPS_FIELDS that this kernel prints,
        as the simulator's: sizes are kB ints, "VmFlags" a string such as
        "rd wr sh mr mw me ms lo".
        """
        with open("/proc/self/smaps") as f:
            vmas = [pick(v, SMAPS_FIELDS) for v in _parse_smaps(f.read())]
        if addr is not None:
            addr = _as_int(addr, "addr")
            for v in vmas:
                if v["start"] <= addr < v["end"]:
                    return v
            raise _oserror(_errno.EINVAL, f"no mapping at {addr:#x}")
        if all:
            return vmas
        return [v for v in vmas if _covered(self._mapped, v["start"], v["end"])]

    def status(self):
        """Return the Vm*/Rss* lines of /proc/self/status in kB (fs/proc/task_mmu.c: task_mem).

        The keys results.STATUS_FIELDS, as the simulator's.
        """
        return pick(_read_kb_file("/proc/self/status"), STATUS_FIELDS)

    def getrusage(self):
        """Return Rusage(ru_minflt, ru_majflt) of getrusage(RUSAGE_SELF) (kernel/sys.c: getrusage)."""
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return Rusage(ru.ru_minflt, ru.ru_majflt)

    def pageflags(self, addr, length):
        """Return the PageFlags (mmsim.results) of the pages of a range.

        fs/proc/task_mmu.c: pagemap_read and fs/proc/page.c: kpageflags_read,
        the same keys as the simulator's; see _PageFlagReader.read for what is None.
        """
        addr, length = _as_int(addr, "addr"), _as_int(length, "length")
        first, last = _page_range(addr, length)
        return self._pf.read(first, (last - first) // PAGE_SIZE)

    def caps(self):
        """Return the effective capabilities of this process (kernel/capability.c)."""
        return current_caps()

    def fork(self):
        """Not on the real backend: one process per experiment."""
        raise _oserror(_errno.ENOSYS, "fork: the real backend runs one process per experiment")

    def kill(self):
        """Not on the real backend: run() kills the child on timeout."""
        raise _oserror(_errno.ENOSYS, "kill: use run(..., timeout=...) on the real backend")


# ---------------------------------------------------------------------------
# Running an experiment in a child


def _reap_stale(base):
    """Remove scratch directories whose parent process is gone."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        m = re.match(re.escape(SCRATCH_PREFIX) + r"(\d+)-", name)
        if not m:
            continue
        path = os.path.join(base, name)
        try:
            if os.stat(path).st_uid != os.geteuid():
                continue
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _check_memlock(memlock):
    """Return memlock as (soft, hard) ints, or raise before anything is forked."""
    if memlock is None:
        return None
    try:
        soft, hard = memlock
        soft, hard = _as_int(soft, "memlock soft"), _as_int(hard, "memlock hard")
    except (TypeError, ValueError):
        raise _oserror(_errno.EINVAL, f"memlock must be (soft, hard), not {memlock!r}") from None
    inf = RLIM_INFINITY
    if (soft < 0 and soft != inf) or (hard < 0 and hard != inf) or \
            (hard != inf and (soft == inf or soft > hard)):
        raise _oserror(_errno.EINVAL, f"memlock {memlock!r}: soft must not exceed hard")
    cur_hard = resource.getrlimit(RLIMIT_MEMLOCK)[1]
    raising = cur_hard != inf and (hard == inf or hard > cur_hard)
    if raising and "CAP_SYS_RESOURCE" not in current_caps():
        raise Unavailable(f"memlock hard limit {_fmt_limit((hard,))} is above this process's "
                          f"{_fmt_limit((cur_hard,))}, and raising it needs CAP_SYS_RESOURCE")
    return soft, hard


def _check_caps(caps):
    """Return the set of capabilities the child keeps, or None to leave them alone."""
    if caps is None:
        return None
    if isinstance(caps, str):
        caps = {caps}
    keep = _normalise_caps(caps)
    missing = keep - current_caps("CapPrm")
    if missing:
        raise Unavailable(f"this process does not have {', '.join(sorted(missing))} to give "
                          "to the experiment (run as root for the privileged case)")
    return keep


def _pack_exception(e):
    if isinstance(e, Signal):
        return ("Signal", e.signo, e.addr, getattr(e, "function", ""), getattr(e, "pages", None),
                getattr(e, "seconds", None))
    if isinstance(e, OSError) and e.errno is not None:
        return ("OSError", e.errno, e.strerror or os.strerror(e.errno), e.filename)
    if isinstance(e, RealError):
        return (type(e).__name__, str(e))
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return ("ExperimentError", f"{type(e).__name__}: {e}", tb)


def _unpack_exception(t):
    kind = t[0]
    if kind == "Signal":
        sig = Signal(t[1], t[2], t[3])
        sig.pages, sig.seconds = t[4], t[5]
        return sig
    if kind == "OSError":
        e = OSError(t[1], t[2]) if t[3] is None else OSError(t[1], t[2], t[3])
        return e
    if kind == "ExperimentError":
        return ExperimentError(t[1], t[2])
    cls = {"Refused": Refused, "Unavailable": Unavailable, "Timeout": Timeout,
           "ChildDied": ChildDied}.get(kind, RealError)
    return cls(t[1])


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


class _Progress:
    """The child's last progress record, in a shared anonymous mapping the parent reads.

    MAP_SHARED | MAP_ANONYMOUS, made before fork: the parent still reads it
    after it killed the child. Two slots: the child writes the one not in
    use, then flips the header, so a child killed mid-write leaves the
    previous record whole.
    """

    def __init__(self):
        self.buf = _mmap.mmap(-1, 4 + 2 * PROGRESS_SLOT)
        self.record = {}

    def write(self, fields):
        self.record.update(fields)
        blob = pickle.dumps(self.record)
        if len(blob) > PROGRESS_SLOT - 4:
            raise Refused(f"progress record of {len(blob)} bytes: more than {PROGRESS_SLOT - 4}")
        slot = 1 if struct.unpack_from("=I", self.buf, 0)[0] != 2 else 0
        off = 4 + slot * PROGRESS_SLOT
        struct.pack_into("=I", self.buf, off, len(blob))
        self.buf[off + 4:off + 4 + len(blob)] = blob
        struct.pack_into("=I", self.buf, 0, slot + 1)

    def read(self):
        active = struct.unpack_from("=I", self.buf, 0)[0]
        if active not in (1, 2):
            return {}
        off = 4 + (active - 1) * PROGRESS_SLOT
        n = struct.unpack_from("=I", self.buf, off)[0]
        try:
            return pickle.loads(self.buf[off + 4:off + 4 + n])
        except Exception:
            return {}

    def close(self):
        self.buf.close()


def _child(w, experiment, scratch, memlock, keep, cap, ppid, progress=None, requests=None):
    """Run the experiment in the forked child and send (payload, output) to the parent."""
    lib = _lib()
    lib.prctl(_PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0)
    if os.getppid() != ppid:
        os._exit(1)
    try:
        os.setpgid(0, 0)             # out of the terminal's process group: ^C is the parent's
    except OSError:
        pass
    for s in (_signal.SIGINT, _signal.SIGTERM):
        _signal.signal(s, _signal.SIG_DFL)
    faulthandler.disable()          # a crash is reported as ChildDied, not dumped on the parent's stderr
    out = io.StringIO()
    sys.stdout = sys.stderr = out
    p = None
    try:
        if memlock is not None:
            resource.setrlimit(RLIMIT_MEMLOCK, memlock)
        pf = _PageFlagReader()           # before the capabilities go
        if keep is not None:
            _drop_caps(keep)
        m = RealMachine(scratch, progress, requests)
        p = RealProcess(m, cap=cap, pageflags=pf)
        try:
            payload = ("ok", experiment(m, p))
        finally:
            p._release()
            pf.close()
    except BaseException as e:          # noqa: B902 - everything goes to the parent
        payload = ("raise", _pack_exception(e))
    try:
        blob = pickle.dumps((payload, out.getvalue()))
    except Exception as e:
        blob = pickle.dumps((("raise", ("ExperimentError",
                                        f"the result is not plain data: {type(e).__name__}: {e}", "")),
                             out.getvalue()))
    shutil.rmtree(scratch, ignore_errors=True)
    _write_all(w, blob)
    os.close(w)


def _serve(req, reply, remount):
    """Answer the child's requests on req (one word a line) through reply."""
    data = os.read(req, 4096)
    if not data:
        return False
    for line in data.decode().split():
        if line != "remount":
            continue
        if remount is None:
            answer = f"{_errno.EINVAL} the scratch directory is not in a loop filesystem"
        else:
            try:
                remount()
                answer = "0"
            except OSError as e:
                answer = f"{e.errno or _errno.EIO} {e.strerror or e}"
        _write_all(reply, (answer + "\n").encode())
    return True


def _collect(pid, r, timeout, requests=None, remount=None):
    """Read the child's pickle until EOF or the deadline; return (data, wait status, timed_out).

    requests: (read end, write end) of the child's request pipes, served meanwhile.
    """
    deadline = time.monotonic() + timeout
    chunks = []
    poller = select.poll()
    poller.register(r, select.POLLIN | select.POLLHUP)
    if requests is not None:
        poller.register(requests[0], select.POLLIN | select.POLLHUP)
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready = [fd for fd, _ev in poller.poll(min(left, 1.0) * 1000)]
        if requests is not None and requests[0] in ready:
            if not _serve(requests[0], requests[1], remount):
                poller.unregister(requests[0])
        if r not in ready:
            continue
        data = os.read(r, 1 << 20)
        if not data:
            break
        chunks.append(data)
    if timed_out:
        os.kill(pid, _signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return b"".join(chunks), status, True
    while True:                          # EOF: the child is exiting
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return b"".join(chunks), status, False
        if time.monotonic() > deadline:
            os.kill(pid, _signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return b"".join(chunks), status, True
        time.sleep(0.005)


def run(experiment, memlock=None, caps=None, timeout=DEFAULT_TIMEOUT, cap=DEFAULT_CAP,
        scratch_dir=None, output=True, at_timeout=None):
    """Run experiment(machine, process) in a child on this kernel and return its result.

    memlock: (soft, hard) RLIMIT_MEMLOCK for the child (None: inherited).
    caps: the capabilities the child keeps (None: inherited; set(): none,
    i.e. unprivileged; {"CAP_IPC_LOCK"}: that one only).
    timeout: wall-clock seconds before the child is killed (Timeout).
    at_timeout: None raises Timeout then; a string makes the timeout an
    outcome: the child's last machine.progress() record is returned with
    "outcome" set to at_timeout.format(seconds=timeout), e.g.
    at_timeout="still retrying after {seconds:g} s".
    cap: safety cap on the experiment's mappings, in bytes.
    scratch_dir: where the scratch directory is made; in a loop filesystem
    of mmsim.loopfs (its .path) there is no free-space floor, and
    machine.remount() unmounts and mounts it again.
    output: print what the experiment printed (it is captured in the child).

    An OSError or mmsim.Signal raised by the experiment is raised here again;
    anything else becomes ExperimentError. A child killed by a signal gives
    ChildDied. Whatever happens, the scratch directory is gone afterwards.
    """
    ok, why = available(scratch_dir)
    if not ok:
        raise Unavailable(why)
    if not callable(experiment):
        raise _oserror(_errno.EINVAL, "experiment must be a function of (machine, process)")
    memlock = _check_memlock(memlock)
    keep = _check_caps(caps)
    cap = _as_int(cap, "cap")
    total_ram = _read_kb_file("/proc/meminfo").get("MemTotal", 0) * KiB
    if cap <= 0 or (total_ram and cap > total_ram // 4):
        raise Refused(f"cap {cap // MiB} MiB: must be positive and at most a quarter of RAM")
    timeout = float(timeout)
    if at_timeout is not None and not isinstance(at_timeout, str):
        raise _oserror(_errno.EINVAL, f"at_timeout must be None or a str, not {at_timeout!r}")
    base = scratch_base(scratch_dir)
    _check_free(base, 0, "run")
    _reap_stale(base)
    lfs = sandbox(base)
    scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base)
    pid = r = w = None
    progress = _Progress()
    pipes = []
    try:
        r, w = os.pipe2(os.O_CLOEXEC)
        if lfs is not None:                      # child -> parent requests, parent -> child replies
            pipes = [*os.pipe2(os.O_CLOEXEC), *os.pipe2(os.O_CLOEXEC)]
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        ppid = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(r)
                requests = None
                if pipes:
                    os.close(pipes[0])
                    os.close(pipes[3])
                    requests = (pipes[1], pipes[2])
                _child(w, experiment, scratch, memlock, keep, cap, ppid, progress, requests)
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(w)
        w = None
        if pipes:
            os.close(pipes[1])
            os.close(pipes[2])
            pipes = [pipes[0], pipes[3]]
        data, status, timed_out = _collect(pid, r, timeout, tuple(pipes) or None,
                                           lfs.remount if lfs is not None else None)
        pid = None
        last = progress.read()
    finally:
        for fd in (r, w, *pipes):
            if fd is not None:
                os.close(fd)
        progress.close()
        if pid:                                  # interrupted: the child must not outlive us
            try:
                os.kill(pid, _signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        shutil.rmtree(scratch, ignore_errors=True)
    if timed_out:
        if at_timeout is not None:
            return dict(last, outcome=at_timeout.format(seconds=timeout))
        raise Timeout(f"the experiment ran past {timeout:g} s and was killed", last)
    payload = None
    if data:
        try:
            payload, out = pickle.loads(data)
            if output and out:
                sys.stdout.write(out)
        except Exception:
            payload = None
    if os.WIFSIGNALED(status) and payload is None:
        signo = os.WTERMSIG(status)
        raise ChildDied(f"the experiment's process was killed by {_signal.Signals(signo).name}",
                        signo)
    if payload is None:
        raise ChildDied(f"the experiment's process exited with status "
                        f"{os.waitstatus_to_exitcode(status)} and sent no result")
    kind, value = payload
    if kind == "ok":
        return value
    raise _unpack_exception(value)
