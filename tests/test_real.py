"""mmsim.real: the Process API on this machine's kernel, and its safety nets.

Tests marked ``real`` run experiments on the running kernel, in children;
they skip cleanly where mmsim.real.available() says the host cannot.
"""

import ctypes
import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mmsim import real
from mmsim._abi import (KiB, MiB, PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE,
                        MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MAP_SHARED,
                        MCL_CURRENT, MLOCK_ONFAULT, MS_ASYNC, MS_SYNC, MADV_DONTNEED,
                        MADV_POPULATE_READ, MADV_POPULATE_WRITE, RLIMIT_MEMLOCK,
                        FALLOC_FL_KEEP_SIZE)
from mmsim.errors import Signal
from mmsim.experiment import DIFFERENTIAL
from mmsim.results import PAGE_FLAGS, SMAPS_FIELDS, STATUS_FIELDS, StatResult

ROOT = Path(__file__).resolve().parent.parent
OK, WHY = real.available()
IS_ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
HAS_IPC_LOCK = OK and "CAP_IPC_LOCK" in real.current_caps()

needs_real = pytest.mark.skipif(not OK, reason=f"real kernel unavailable: {WHY}")
pytestmark = [pytest.mark.real, needs_real]


def _scratch_dirs():
    base = real.scratch_base()
    return {n for n in os.listdir(base) if n.startswith(real.SCRATCH_PREFIX)}


@pytest.fixture(autouse=True)
def no_leftovers():
    """Every test: no scratch directory of this process is left behind."""
    before = _scratch_dirs()
    yield
    mine = {n for n in _scratch_dirs() - before if n.startswith(f"{real.SCRATCH_PREFIX}{os.getpid()}-")}
    assert not mine, f"scratch directories left behind: {mine}"


def _errname(e):
    return errno.errorcode[e.errno]


def _attempt(fn):
    """Return what fn returns, the errno name of its OSError, or "refused"."""
    try:
        return fn()
    except OSError as e:
        return errno.errorcode[e.errno]
    except real.Refused:
        return "refused"


def _kernel_at_least(major, minor):
    try:
        return tuple(int(x) for x in os.uname().release.split(".")[:2]) >= (major, minor)
    except ValueError:
        return False


# ---------------------------------------------------------------------------
# availability, off Linux


def test_info_and_fs_type():
    i = real.info()
    assert i["kernel"] == os.uname().release
    assert i["fs"] == real.fs_type(real.scratch_base())
    assert isinstance(i["cap_ipc_lock"], bool)


# ---------------------------------------------------------------------------
# the Process API


def test_touch_read_write_roundtrip():
    def exp(m, p):
        path = m.scratch + "/f"
        fd = p.open(path, os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 16 * PAGE_SIZE)
        a = p.mmap(0, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        r = p.touch(a, 16 * PAGE_SIZE)
        f0 = p.getrusage().ru_minflt
        w = p.touch(a, 16 * PAGE_SIZE, write=True)
        minflt_w = p.getrusage().ru_minflt - f0
        p.write(a + 100, b"hello, mlock" * 5000)            # crosses pages and pipe chunks
        back = p.read(a + 100, 12 * 5000)
        p.msync(a, 16 * PAGE_SIZE, MS_SYNC)
        with open(path, "rb") as f:
            f.seek(100)
            on_disk = f.read(12)
        return {"r": (r.pages, type(r.seconds).__name__), "w": w.pages, "minflt_w": minflt_w,
                "back_ok": back == b"hello, mlock" * 5000, "disk": on_disk,
                "size": m.stat(path).st_size}
    out = real.run(exp)
    assert out["r"] == (16, "float") and out["w"] == 16
    assert out["minflt_w"] >= 16          # every page write-faulted (read faults mapped them RO)
    assert out["back_ok"] and out["disk"] == b"hello, mlock"
    assert out["size"] == 16 * PAGE_SIZE


def test_sigbus_beyond_eof_and_the_process_lives_on():
    def exp(m, p):
        fd = p.open(m.scratch + "/short", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, PAGE_SIZE)
        a = p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        out = {}
        for what, fn in (("touch_read", lambda: p.touch(a, 4 * PAGE_SIZE)),
                         ("touch_write", lambda: p.touch(a, 4 * PAGE_SIZE, write=True)),
                         ("read", lambda: p.read(a + PAGE_SIZE - 2, 4)),
                         ("write", lambda: p.write(a + PAGE_SIZE + 8, b"x"))):
            try:
                fn()
                out[what] = None
            except Signal as s:
                out[what] = (signal.Signals(s.signo).name, s.addr - a, getattr(s, "pages", None))
                out[what + "_seconds"] = type(getattr(s, "seconds", None)).__name__
        out["after"] = p.touch(a, PAGE_SIZE, write=True).pages
        return out
    out = real.run(exp)
    assert out["touch_read"] == ("SIGBUS", PAGE_SIZE, 1)
    assert out["touch_write"] == ("SIGBUS", PAGE_SIZE, 1)
    assert out["touch_read_seconds"] == out["touch_write_seconds"] == "float"
    assert out["read"][:2] == ("SIGBUS", PAGE_SIZE)
    assert out["write"][:2] == ("SIGBUS", PAGE_SIZE + 8)
    assert out["after"] == 1


def test_sigsegv_on_protection_and_unmapped():
    def exp(m, p):
        a = p.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
        b = p.mmap(0, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
        c = p.mmap(0, PAGE_SIZE, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.munmap(a + PAGE_SIZE, PAGE_SIZE)
        out = {}
        for what, fn in (("store_ro", lambda: p.touch(a, PAGE_SIZE, write=True)),
                         ("load_none", lambda: p.read(b, 1)),
                         ("load_unmapped", lambda: p.read(a + PAGE_SIZE, 1)),
                         ("load_wronly", lambda: p.read(c, 1)),   # x86: write implies read
                         ("load_ro", lambda: p.touch(a, PAGE_SIZE))):
            try:
                fn()
                out[what] = "ok"
            except Signal as s:
                out[what] = (signal.Signals(s.signo).name, s.function)
        return out
    out = real.run(exp)
    assert out["store_ro"] == ("SIGSEGV", "bad_area_access_error")
    assert out["load_none"] == ("SIGSEGV", "bad_area_access_error")
    assert out["load_unmapped"] == ("SIGSEGV", "bad_area_nosemaphore")
    assert out["load_wronly"] == "ok" and out["load_ro"] == "ok"


def test_errors_are_oserror_with_the_kernels_errno():
    def exp(m, p):
        a = p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        out = {}
        calls = {
            "mlock2_bad_flags": lambda: p.mlock2(a, PAGE_SIZE, 2),
            "mmap_len0": lambda: p.mmap(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS),
            "munmap_unaligned": lambda: p.munmap(a + 1, PAGE_SIZE),
            "msync_sync_async": lambda: p.msync(a, PAGE_SIZE, MS_SYNC | MS_ASYNC),
            "close_unknown": lambda: p.close(12345),
            "mmap_not_int": lambda: p.mmap("0", PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS),
            "open_missing": lambda: p.open(m.scratch + "/nope", os.O_RDONLY),
            "smaps_nothing": lambda: p.smaps(16),
            "setrlimit_garbage": lambda: p.setrlimit(RLIMIT_MEMLOCK, "x"),
            "fork": lambda: p.fork(),
        }
        for k, fn in calls.items():
            try:
                fn()
                out[k] = 0
            except OSError as e:
                out[k] = errno.errorcode[e.errno]
        return out
    assert real.run(exp) == {
        "mlock2_bad_flags": "EINVAL", "mmap_len0": "EINVAL", "munmap_unaligned": "EINVAL",
        "msync_sync_async": "EINVAL", "close_unknown": "EBADF", "mmap_not_int": "EINVAL",
        "open_missing": "ENOENT", "smaps_nothing": "EINVAL", "setrlimit_garbage": "EINVAL",
        "fork": "ENOSYS"}


def test_smaps_status_rusage_shapes():
    def exp(m, p):
        a = p.mmap(0, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.touch(a, 8 * PAGE_SIZE, write=True)
        v = p.smaps(a)
        return {"own": [(x["Size"], x["Rss"], x["Anonymous"]) for x in p.smaps()],
                "n_all": len(p.smaps(all=True)),
                "types": sorted({type(v[k]).__name__ for k in
                                 ("Size", "Rss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                                  "Private_Dirty", "Anonymous", "Locked", "start", "end")}),
                "flags": v["VmFlags"], "span": v["end"] - v["start"],
                "keys": (tuple(v), tuple(p.status())),
                "classes": (type(p.touch(a, PAGE_SIZE)).__name__, type(p.getrusage()).__name__),
                "status": sorted(k for k in ("VmLck", "VmRSS", "VmSize") if
                                 isinstance(p.status().get(k), int)),
                "ru": (type(p.getrusage().ru_minflt).__name__,
                       type(p.getrusage().ru_majflt).__name__)}
    out = real.run(exp)
    assert out["own"] == [(32, 32, 32)]          # only the experiment's VMA, unmerged
    assert out["n_all"] > 10                     # the interpreter's
    assert out["types"] == ["int"]
    assert out["flags"].split()[:2] == ["rd", "wr"]
    assert out["span"] == 8 * PAGE_SIZE
    assert out["status"] == ["VmLck", "VmRSS", "VmSize"]
    assert out["keys"] == (SMAPS_FIELDS, STATUS_FIELDS)          # the simulator's, on 6.18
    assert out["classes"] == ("TouchResult", "Rusage")
    assert out["ru"] == ("int", "int")


def test_machine_stat_statfs_meminfo_fiemap():
    def exp(m, p):
        path = m.scratch + "/pre"
        fd = p.open(path, os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 4 * MiB)
        sparse = m.fiemap(path)
        p.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 * MiB)
        ext = m.fiemap(path)
        st, sf, mi = m.stat(path), m.statfs(path), m.meminfo()
        return {"kernel": m.kernel, "sparse": sparse, "unwritten": [e.unwritten for e in ext],
                "length": sum(e.length for e in ext), "blocks": st.st_blocks,
                "size": st.st_size, "bsize": sf.f_bsize > 0,
                "mem": sorted(k for k in ("MemTotal", "Dirty", "Mlocked", "Unevictable") if k in mi),
                "now": m.now > 0, "fs": m.fs}
    out = real.run(exp)
    assert out["kernel"] == os.uname().release
    assert out["sparse"] == []
    assert out["length"] == 1 * MiB and out["blocks"] == 2048 and out["size"] == 4 * MiB
    if out["fs"] in ("ext4", "xfs"):
        assert set(out["unwritten"]) == {True}
    assert out["mem"] == ["Dirty", "MemTotal", "Mlocked", "Unevictable"]
    assert out["bsize"] and out["now"]


def test_stat_and_fstat_are_statresults_of_os_stat():
    def exp(m, p):
        path = m.scratch + "/t"
        fd = p.open(path, os.O_RDWR | os.O_CREAT)
        p.pwrite(fd, b"x" * 5000, 0)
        st, fst, raw = m.stat(path), p.fstat(fd), os.stat(path)
        return st, fst, {f: getattr(raw, f) for f in (
            "st_ino", "st_size", "st_blocks", "st_blksize", "st_nlink", "st_mode",
            "st_atime_ns", "st_mtime_ns", "st_ctime_ns")}, raw.st_mtime
    st, fst, raw, mtime = real.run(exp)
    assert type(st) is StatResult and st == fst
    assert {k: getattr(st, k) for k in raw} == raw and st.st_size == 5000
    assert type(st.st_mtime) is float and abs(st.st_mtime - mtime) < 1e-6   # float rounding


def test_pread_pwrite_and_their_errnos():
    def exp(m, p):
        path = m.scratch + "/rw"
        fd = p.open(path, os.O_RDWR | os.O_CREAT)
        ro, wo = p.open(path, os.O_RDONLY), p.open(path, os.O_WRONLY)
        out = {"pwrite": p.pwrite(fd, bytearray(b"abc") * 2000, 4090),
               "pwrite_memoryview": p.pwrite(fd, memoryview(b"Z"), 0)}
        calls = {
            "pread": lambda: p.pread(fd, 8, 4090),
            "pread_huge_count": lambda: len(p.pread(ro, 1 << 40, 0)),     # cut, then short
            "pread_at_eof": lambda: p.pread(fd, 10, 4090 + 6000),
            "pread_unknown_fd": lambda: p.pread(4321, 1, 0),
            "pread_wronly": lambda: p.pread(wo, 1, 0),
            "pread_wronly_bad_count": lambda: p.pread(wo, -1, 0),         # EBADF comes first
            "pread_negative_offset": lambda: p.pread(4321, 1, -1),        # before the fd
            "pread_negative_count": lambda: p.pread(fd, -1, 0),
            "pread_offset_past_loff": lambda: p.pread(fd, 1, 1 << 63),
            "pread_end_past_loff": lambda: p.pread(fd, 10, (1 << 63) - 5),
            "pwrite_rdonly": lambda: p.pwrite(ro, b"x", 0),
            "pwrite_rdonly_not_bytes": lambda: p.pwrite(ro, "x", 0),      # EBADF comes first
            "pwrite_not_bytes": lambda: p.pwrite(fd, "x", 0),
            "pwrite_negative_offset": lambda: p.pwrite(fd, b"x", -1),
            "pwrite_at_16_tib": lambda: p.pwrite(fd, b"x", 1 << 44),
            "pread_not_int": lambda: p.pread(fd, "1", 0),
        }
        out.update({k: _attempt(fn) for k, fn in calls.items()})
        out["size"] = m.stat(path).st_size
        return out, m.fs
    out, fs = real.run(exp)
    assert out.pop("size") == 4090 + 6000
    want = {"pwrite": 6000, "pwrite_memoryview": 1, "pread": b"abcabcab",
            "pread_huge_count": 4090 + 6000, "pread_at_eof": b"",
            "pread_unknown_fd": "EBADF", "pread_wronly": "EBADF", "pread_wronly_bad_count": "EBADF",
            "pread_negative_offset": "EINVAL", "pread_negative_count": "EINVAL",
            "pread_offset_past_loff": "EINVAL", "pread_end_past_loff": "EINVAL",
            "pwrite_rdonly": "EBADF", "pwrite_rdonly_not_bytes": "EBADF",
            "pwrite_not_bytes": "EFAULT", "pwrite_negative_offset": "EINVAL",
            "pread_not_int": "EINVAL"}
    at_16_tib = out.pop("pwrite_at_16_tib")
    assert out == want
    if fs == "ext4":                             # s_maxbytes: (2^32 - 1) blocks of 4 KiB
        assert at_16_tib == "EFBIG"


def test_pread_pwrite_stay_within_the_caps(monkeypatch):
    def exp(m, p):
        fd = p.open(m.scratch + "/big", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 4 * MiB)                 # sparse: nothing allocated
        out = {k: _attempt(fn) for k, fn in (
            ("pwrite_over_cap", lambda: p.pwrite(fd, bytes(2 * MiB), 0)),
            ("pread_over_cap", lambda: p.pread(fd, 2 * MiB, 0)),
            ("pread_cap_exactly", lambda: len(p.pread(fd, 1 * MiB, 0))),
            ("pread_over_cap_short", lambda: len(p.pread(fd, 2 * MiB, 4 * MiB - 100))),
            ("pwrite_cap_exactly", lambda: p.pwrite(fd, bytes(1 * MiB), 0)))}
        out["blocks"] = m.stat(m.scratch + "/big").st_blocks
        return out
    assert real.run(exp, cap=1 * MiB) == {
        "pwrite_over_cap": "refused", "pread_over_cap": "refused",
        "pread_cap_exactly": 1 * MiB, "pread_over_cap_short": 100,
        "pwrite_cap_exactly": 1 * MiB, "blocks": 2048}
    avail, _floor = real._free_space(real.scratch_base())
    monkeypatch.setattr(real, "FREE_FLOOR", avail - 100 * MiB)

    def fill(m, p):
        fd = p.open(m.scratch + "/fill", os.O_RDWR | os.O_CREAT)
        return (_attempt(lambda: p.pwrite(fd, bytes(128 * MiB), 0)),
                _attempt(lambda: p.pwrite(fd, bytes(1 * MiB), 0)), m.stat(m.scratch + "/fill").st_blocks)
    assert real.run(fill) == ("refused", 1 * MiB, 2048)


def test_mincore_bytes_errnos_and_pieces(monkeypatch):
    def exp(m, p):
        a = p.mmap(0, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.touch(a, 3 * PAGE_SIZE, write=True)
        p.touch(a + 9 * PAGE_SIZE, 2 * PAGE_SIZE)
        out = {k: _attempt(fn) for k, fn in (
            ("vec", lambda: p.mincore(a, 16 * PAGE_SIZE)),
            ("partial_last_page", lambda: p.mincore(a, 10 * PAGE_SIZE + 1)),
            ("empty", lambda: p.mincore(a, 0)),
            ("unaligned", lambda: p.mincore(a + 1, PAGE_SIZE)),
            ("hole_after", lambda: p.mincore(a, 17 * PAGE_SIZE)),
            ("negative_length", lambda: p.mincore(a, -1)),
            ("past_user_space", lambda: p.mincore(a, 1 << 62)))}
        p.madvise(a, 16 * PAGE_SIZE, MADV_DONTNEED)
        out["after_dontneed"] = p.mincore(a, 16 * PAGE_SIZE)
        return out
    vec = bytes([1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0])
    want = {"vec": vec, "partial_last_page": vec[:11], "empty": b"", "unaligned": "EINVAL",
            "hole_after": "ENOMEM", "negative_length": "ENOMEM", "past_user_space": "ENOMEM",
            "after_dontneed": bytes(16)}
    assert real.run(exp) == want
    monkeypatch.setattr(real, "_MINCORE_CHUNK", 3)   # the same answers, asked 3 pages at a time
    assert real.run(exp) == want


@pytest.mark.skipif(not _kernel_at_least(5, 14),
                    reason=f"kernel {os.uname().release} too old: MADV_POPULATE_* is 5.14")
def test_madvise_populate_and_its_errnos():
    def exp(m, p):
        fd = p.open(m.scratch + "/pop", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 8 * PAGE_SIZE)
        a = p.mmap(0, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        none = p.mmap(0, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
        ro = p.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
        out = {k: _attempt(fn) for k, fn in (
            ("read", lambda: p.madvise(a, 8 * PAGE_SIZE, MADV_POPULATE_READ)),
            ("write", lambda: p.madvise(a, 4 * PAGE_SIZE, MADV_POPULATE_WRITE)),
            ("past_eof", lambda: p.madvise(a, 16 * PAGE_SIZE, MADV_POPULATE_READ)),
            ("prot_none", lambda: p.madvise(none, PAGE_SIZE, MADV_POPULATE_READ)),
            ("write_read_only", lambda: p.madvise(ro, PAGE_SIZE, MADV_POPULATE_WRITE)),
            ("hole", lambda: p.madvise(ro + PAGE_SIZE, 64 * PAGE_SIZE, MADV_POPULATE_READ)),
            ("unaligned", lambda: p.madvise(a + 1, PAGE_SIZE, MADV_POPULATE_READ)),
            ("unknown_advice", lambda: p.madvise(a, PAGE_SIZE, 999)))}
        out["present"] = p.pageflags(a, 8 * PAGE_SIZE).counts()["present"]
        out["dirty_kb"] = p.smaps(a)["Shared_Dirty"] + p.smaps(a)["Private_Dirty"]
        return out
    out = real.run(exp)
    assert out == {"read": None, "write": None, "past_eof": "EFAULT", "prot_none": "EINVAL",
                   "write_read_only": "EINVAL", "hole": "ENOMEM", "unaligned": "EINVAL",
                   "unknown_advice": "EINVAL", "present": 8, "dirty_kb": 16}


class _Pre417:
    """libc as a kernel before 4.17 answers mmap: MAP_FIXED_NOREPLACE unknown, so ignored."""

    def __init__(self, lib):
        self._lib, self.placed, self.unmapped = lib, [], []

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def mmap(self, addr, length, prot, flags, fd, offset):
        ret = self._lib.mmap(addr, length, prot, flags & ~MAP_FIXED_NOREPLACE, fd, offset)
        self.placed.append(ret)
        return ret

    def munmap(self, addr, length):
        self.unmapped.append(addr.value)
        return self._lib.munmap(addr, length)


def test_map_fixed_noreplace_is_the_kernels_and_never_replaces():
    def exp(m, p):
        buf = ctypes.create_string_buffer(4 * PAGE_SIZE)
        inside = (ctypes.addressof(buf) + PAGE_SIZE) & ~(PAGE_SIZE - 1)
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE
        c = p.mmap(0, 8 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
        p.munmap(c + 4 * PAGE_SIZE, 4 * PAGE_SIZE)
        out = {k: _attempt(fn) for k, fn in (
            ("interpreter", lambda: p.mmap(inside, PAGE_SIZE, PROT_READ, flags)),   # not Refused
            ("with_map_fixed", lambda: p.mmap(inside, PAGE_SIZE, PROT_READ, flags | MAP_FIXED)),
            ("own", lambda: p.mmap(c, PAGE_SIZE, PROT_READ, flags)),
            ("unaligned", lambda: p.mmap(c + 4 * PAGE_SIZE + 1, PAGE_SIZE, PROT_READ, flags)),
            ("free", lambda: p.mmap(c + 4 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ, flags) - c))}
        out["buf_intact"] = ctypes.string_at(inside, 8) == bytes(8)
        lib = p._lib = _Pre417(p._lib)          # the same calls on a kernel that ignores the flag
        out["pre417_busy"] = _attempt(lambda: p.mmap(c, PAGE_SIZE, PROT_READ, flags))
        elsewhere = lib.placed[-1]
        out["pre417_undone"] = (lib.unmapped == [elsewhere] and elsewhere != c and
                                all(not s <= elsewhere < e for s, e, _, _ in real._read_maps()))
        out["pre417_free"] = _attempt(lambda: p.mmap(c + 6 * PAGE_SIZE, PAGE_SIZE, PROT_READ,
                                                     flags)) - c
        out["own_kb"] = [v["Size"] for v in p.smaps()]
        return out
    assert real.run(exp) == {
        "interpreter": "EEXIST", "with_map_fixed": "EEXIST", "own": "EEXIST",
        "unaligned": "EINVAL", "free": 4 * PAGE_SIZE, "buf_intact": True,
        "pre417_busy": "EEXIST", "pre417_undone": True, "pre417_free": 6 * PAGE_SIZE,
        "own_kb": [28]}                          # 16 + 8 + 4 KiB, adjacent: one VMA


@pytest.mark.skipif(not IS_ROOT, reason="drop_caches needs root")
def test_drop_caches_drops_the_clean_scratch_pages():
    def exp(m, p):
        path = m.scratch + "/cached"
        fd = p.open(path, os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 32 * PAGE_SIZE)
        a = p.mmap(0, 32 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        p.touch(a, 32 * PAGE_SIZE, write=True)
        p.msync(a, 32 * PAGE_SIZE, MS_SYNC)
        p.munmap(a, 32 * PAGE_SIZE)
        b = p.mmap(0, 32 * PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0)
        before = sum(p.mincore(b, 32 * PAGE_SIZE))
        p.munmap(b, 32 * PAGE_SIZE)
        m.drop_caches()
        b = p.mmap(0, 32 * PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0)
        return before, sum(p.mincore(b, 32 * PAGE_SIZE))
    assert real.run(exp) == (32, 0)


@pytest.mark.skipif(not IS_ROOT, reason="/proc/kpageflags needs root")
def test_pageflags_from_kpageflags_even_unprivileged():
    def exp(m, p):
        fd = p.open(m.scratch + "/f", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 16 * PAGE_SIZE)
        a = p.mmap(0, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        p.mlock(a, 16 * PAGE_SIZE)
        f1 = p.pageflags(a, 16 * PAGE_SIZE)
        p.touch(a, 16 * PAGE_SIZE, write=True)
        f2 = p.pageflags(a, 16 * PAGE_SIZE).counts()
        z = p.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
        p.touch(z, 4 * PAGE_SIZE)
        return f1.source, f1.counts(), f2, p.pageflags(z, 4 * PAGE_SIZE).counts(), sorted(p.caps())
    source, c1, c2, cz, caps = real.run(exp, caps=set(), memlock=(1 * MiB, 1 * MiB))
    assert caps == []
    assert "kpageflags" in source and tuple(c1) == PAGE_FLAGS
    assert c1["writable"] is None and c1["pte_dirty"] is None    # no /proc file shows PTE bits
    assert c1["present"] == c1["mlocked"] == c1["unevictable"] == 16 and c1["dirty"] == 0
    assert c2["dirty"] == 16 and c2["mlocked"] == 16
    assert cz["zero"] == cz["present"] == 4 and cz["anon"] == 0


def test_pageflags_without_kpageflags_keep_every_key():
    """A host where /proc/kpageflags cannot be opened (not root): pagemap's
    flags only, the others None, the keys the same."""
    def exp(m, p):
        a = p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.touch(a, 2 * PAGE_SIZE, write=True)
        pf = real._PageFlagReader()
        if pf.kpageflags is not None:
            os.close(pf.kpageflags)
            pf.kpageflags = None
        try:
            f = pf.read(a, 4)
        finally:
            pf.close()
        return tuple(f), f.source, f.counts()
    keys, source, counts = real.run(exp)
    assert keys == PAGE_FLAGS and source == "pagemap"
    assert counts["present"] == counts["exclusive"] == 2 and counts["file"] == 0
    assert {k for k, v in counts.items() if v is None} == set(PAGE_FLAGS) - {
        "present", "swap", "file", "exclusive"}


# ---------------------------------------------------------------------------
# results and failures crossing the fork


def test_exceptions_cross_back():
    def raises_oserror(m, p):
        raise OSError(errno.ENOSPC, "full")

    def sigbus(m, p):
        fd = p.open(m.scratch + "/e", os.O_RDWR | os.O_CREAT)
        a = p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        p.touch(a, PAGE_SIZE, write=True)

    def bug(m, p):
        return {}["missing"]

    def not_plain(m, p):
        return lambda: 0

    with pytest.raises(OSError) as ei:
        real.run(raises_oserror)
    assert ei.value.errno == errno.ENOSPC
    with pytest.raises(Signal) as ei:
        real.run(sigbus)
    assert ei.value.signo == signal.SIGBUS
    with pytest.raises(real.ExperimentError) as ei:
        real.run(bug)
    assert "KeyError" in str(ei.value) and "KeyError" in ei.value.child_traceback
    with pytest.raises(real.ExperimentError, match="not plain data"):
        real.run(not_plain)


def test_printed_output_comes_back(capsys):
    real.run(lambda m, p: print("from the child"))
    assert "from the child" in capsys.readouterr().out


def test_child_crash_is_a_clean_error():
    def crash(m, p):
        os.kill(os.getpid(), signal.SIGSEGV)
    with pytest.raises(real.ChildDied) as ei:
        real.run(crash)
    assert ei.value.signo == signal.SIGSEGV and "SIGSEGV" in str(ei.value)


def test_timeout_kills_the_child_and_removes_the_files():
    def sleeper(m, p):
        fd = p.open(m.scratch + "/f", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, PAGE_SIZE)
        m.sleep(60)
    t0 = time.monotonic()
    with pytest.raises(real.Timeout):
        real.run(sleeper, timeout=1)
    assert time.monotonic() - t0 < 10


def _wait_for(path, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text().split()
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def _gone(pid, seconds=10):
    """True once pid has exited (gone, or a zombie: its memory and locks are freed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = [l for l in open(f"/proc/{pid}/status") if l.startswith("State:")]
        except FileNotFoundError:
            return True
        if state and state[0].split()[1] in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def _locking_sleeper(info):
    """An experiment that locks memory, makes a file, reports where, and sleeps."""
    def exp(m, p):
        fd = p.open(m.scratch + "/victim", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 64 * PAGE_SIZE)
        a = p.mmap(0, 64 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        p.mlock(a, 64 * PAGE_SIZE)
        p.touch(a, 64 * PAGE_SIZE, write=True)
        with open(info, "w") as f:
            f.write(f"{os.getpid()} {m.scratch} {p.status()['VmLck']}\n")
        m.sleep(120)
    return exp


def test_sigkill_mid_experiment_leaves_no_lock_and_no_file(tmp_path):
    info = tmp_path / "info"
    box = {}

    def parent():
        try:
            real.run(_locking_sleeper(str(info)), memlock=(1 * MiB, 1 * MiB), caps=set(),
                     timeout=120)
        except BaseException as e:           # noqa: B902
            box["error"] = e

    t = threading.Thread(target=parent)
    t.start()
    pid, scratch, vmlck = _wait_for(info)
    pid = int(pid)
    assert int(vmlck) == 256 and os.path.isdir(scratch)
    os.kill(pid, signal.SIGKILL)
    t.join(30)
    assert not t.is_alive()
    assert isinstance(box.get("error"), real.ChildDied) and box["error"].signo == signal.SIGKILL
    assert _gone(pid)
    assert not os.path.exists(scratch)


def test_parent_killed_mid_experiment(tmp_path):
    """The child dies with its parent (PR_SET_PDEATHSIG); the next run removes the directory."""
    info = tmp_path / "info"
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from mmsim import real
        from test_real import _locking_sleeper
        real.run(_locking_sleeper({str(info)!r}), memlock=(1 << 20, 1 << 20), timeout=120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        pid, scratch, vmlck = _wait_for(info)
        assert int(vmlck) == 256
        parent.kill()
        parent.wait(10)
        assert _gone(int(pid)), "the child outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
    real.run(lambda m, p: None)                 # reaps the dead parent's scratch directory
    assert not os.path.exists(scratch)


# ---------------------------------------------------------------------------
# safety caps


def test_mapping_cap_refused_in_child_and_reported():
    def big(m, p):
        p.mmap(0, 2 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(real.Refused, match="safety cap"):
        real.run(big, cap=1 * MiB)
    assert not issubclass(real.Refused, OSError)


def test_cap_checked_in_parent_before_forking(monkeypatch):
    forks = []
    monkeypatch.setattr(real.os, "fork", lambda: forks.append(1) or os.getpid())
    with pytest.raises(real.Refused):
        real.run(lambda m, p: None, cap=1 << 50)
    with pytest.raises(OSError) as ei:
        real.run(lambda m, p: None, memlock=(2, 1))
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        real.run(lambda m, p: None, caps={"CAP_NOT_A_THING"})
    monkeypatch.setattr(real, "current_caps", lambda which="CapEff": set())
    with pytest.raises(real.Unavailable, match="CAP_IPC_LOCK"):
        real.run(lambda m, p: None, caps={"CAP_IPC_LOCK"})
    hard = real.resource.getrlimit(RLIMIT_MEMLOCK)[1]
    if hard != real.RLIM_INFINITY:
        with pytest.raises(real.Unavailable, match="CAP_SYS_RESOURCE"):
            real.run(lambda m, p: None, memlock=(hard + 1, hard + 1))
    assert forks == []


@pytest.mark.skipif(not HAS_IPC_LOCK, reason="needs CAP_IPC_LOCK")
def test_lock_above_cap_refused_when_the_kernel_would_grant_it():
    def exp(m, p):
        a = p.mmap(0, 512 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        out = {}
        for what, fn in (("mlock", lambda: p.mlock(a, 2 * MiB)),
                         ("mlockall", lambda: p.mlockall(MCL_CURRENT))):
            try:
                fn()
                out[what] = 0
            except real.Refused:
                out[what] = "refused"
        out["vmlck"] = p.status()["VmLck"]
        return out
    assert real.run(exp, cap=1 * MiB, caps={"CAP_IPC_LOCK"}) == {
        "mlock": "refused", "mlockall": "refused", "vmlck": 0}


def test_lock_over_rlimit_is_the_kernels_answer():
    def exp(m, p):
        a = p.mmap(0, 512 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        try:
            p.mlock(a, 2 * MiB)                 # above cap and limit: the kernel says ENOMEM
        except OSError as e:
            return errno.errorcode[e.errno]
    assert real.run(exp, cap=1 * MiB, caps=set(), memlock=(64 * KiB, 64 * KiB)) == "ENOMEM"


def test_interpreter_memory_is_off_limits():
    def exp(m, p):
        buf = ctypes.create_string_buffer(4 * PAGE_SIZE)
        inside = (ctypes.addressof(buf) + PAGE_SIZE) & ~(PAGE_SIZE - 1)
        out = {}
        for what, fn in (
                ("map_fixed", lambda: p.mmap(inside, PAGE_SIZE, PROT_READ,
                                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)),
                ("munmap", lambda: p.munmap(inside, PAGE_SIZE)),
                ("mprotect", lambda: p.mprotect(inside, PAGE_SIZE, PROT_NONE)),
                ("open", lambda: p.open("/etc/hostname", os.O_RDONLY)),
                ("open_dotdot", lambda: p.open(m.scratch + "/../x", os.O_RDWR | os.O_CREAT))):
            try:
                fn()
                out[what] = 0
            except real.Refused:
                out[what] = "refused"
        a = p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.munmap(a + PAGE_SIZE, PAGE_SIZE)       # its own: fine, and a MAP_FIXED into the hole
        b = p.mmap(a + PAGE_SIZE, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        out["own_fixed"] = b == a + PAGE_SIZE
        return out
    assert real.run(exp) == {"map_fixed": "refused", "munmap": "refused", "mprotect": "refused",
                             "open": "refused", "open_dotdot": "refused", "own_fixed": True}


def test_stores_that_would_fill_the_filesystem_are_refused(monkeypatch):
    avail, _floor = real._free_space(real.scratch_base())
    # pretend the floor is just under what is free now: 100 MiB of room left
    monkeypatch.setattr(real, "FREE_FLOOR", avail - 100 * MiB)

    def exp(m, p):
        fd = p.open(m.scratch + "/big", os.O_RDWR | os.O_CREAT)
        p.ftruncate(fd, 128 * MiB)
        a = p.mmap(0, 128 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        out = {}
        for what, fn in (("touch", lambda: p.touch(a, 128 * MiB, write=True)),
                         ("write", lambda: p.write(a, bytes(128 * MiB))),
                         ("populate", lambda: p.madvise(a, 128 * MiB, MADV_POPULATE_WRITE)),
                         ("fallocate", lambda: p.fallocate(fd, 0, 0, 128 * MiB)),
                         ("pwrite", lambda: p.pwrite(fd, bytes(128 * MiB), 0)),
                         ("small_touch", lambda: p.touch(a, 1 * MiB, write=True))):
            try:
                fn()
                out[what] = 0
            except real.Refused:
                out[what] = "refused"
        out["blocks"] = m.stat(m.scratch + "/big").st_blocks
        return out
    out = real.run(exp)
    assert out == {"touch": "refused", "write": "refused", "populate": "refused",
                   "fallocate": "refused", "pwrite": "refused", "small_touch": 0, "blocks": 2048}


# ---------------------------------------------------------------------------
# unprivileged mode


def test_unprivileged_child_honours_rlimit_memlock():
    def exp(m, p):
        a = p.mmap(0, 32 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        caps = {l.split(":")[0]: int(l.split()[1], 16) for l in open("/proc/self/status")
                if l.startswith("Cap")}
        try:
            p.mlock(a, 32 * PAGE_SIZE)
            r = 0
        except OSError as e:
            r = errno.errorcode[e.errno]
        return r, caps, p.status()["VmLck"], sorted(p.caps())
    r, caps, vmlck, names = real.run(exp, caps=set(), memlock=(64 * KiB, 64 * KiB))
    assert r == "ENOMEM" and vmlck == 0 and names == []
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapInh"] == caps["CapAmb"] == 0
    if IS_ROOT:
        assert caps["CapBnd"] == 0
    if HAS_IPC_LOCK:
        r, caps, vmlck, names = real.run(exp, caps={"CAP_IPC_LOCK"}, memlock=(64 * KiB, 64 * KiB))
        assert r == 0 and vmlck == 128 and names == ["CAP_IPC_LOCK"]


def test_onfault_lock_is_allowed_and_lazy():
    def exp(m, p):
        a = p.mmap(0, 64 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.mlock2(a, 64 * PAGE_SIZE, MLOCK_ONFAULT)
        return p.status()["VmLck"], p.smaps(a)["Rss"]
    assert real.run(exp, caps=set(), memlock=(1 * MiB, 1 * MiB)) == (256, 0)


# ---------------------------------------------------------------------------
# what the kernel itself shows in each differential scenario (the facts the
# simulator is checked against in test_experiment.py)


def _scenario(name):
    sc = DIFFERENTIAL[name]
    return real.run(sc.experiment, memlock=sc.memlock, caps=sc.caps)


def test_kernel_shared_sparse():
    r = _scenario("mlock_shared_sparse")
    assert r["mlock"] == 0
    assert r["rss_kb"] == r["locked_kb"] == r["vmlck_kb"] == 256
    assert r["dirty_kb"] == 0 and r["anonymous_kb"] == 0
    assert r["st_blocks_before"] == r["st_blocks_after_mlock"] == 0
    assert r["store_faulted_every_page"] and r["dirty_kb_after_store"] == 256
    assert r["dirty_kb_after_msync"] == 0
    assert r["store_again_faulted_every_page"] and r["dirty_kb_after_store_again"] == 256
    assert r["st_blocks_end"] == 512 and r["locked_kb_end"] == 256


def test_kernel_private_file():
    r = _scenario("mlock_private_file")
    assert r["anonymous_kb"] == r["private_dirty_kb"] == r["locked_kb"] == r["size_kb"] == 256
    assert r["populate_anonymous_kb"] == r["populate_private_dirty_kb"] == 256
    assert r["populate_locked_kb"] == 0
    assert r["ro_anonymous_kb"] == r["ro_dirty_kb"] == 0 and r["ro_rss_kb"] == 256
    assert r["st_blocks"] == 0


def test_kernel_readonly_anon():
    r = _scenario("mlock_readonly_anon")
    assert r["mlock"] == 0 and r["rss_kb"] == 0 and r["locked_kb"] == 0
    assert r["vmlck_kb"] == 256 and r["vm_locked"]
    assert r["prot_none_mlock"] == "ENOMEM" and r["prot_none_vmlck_kb"] == 256
    assert r["prot_none_vm_locked"]


def test_kernel_onfault():
    r = _scenario("mlock_onfault")
    assert r["vmlck_kb"] == 256 and r["rss_kb"] == 0 and r["vm_lockonfault"]
    assert r["rss_kb_after_5_stores"] == r["locked_kb_after_5_stores"] == 20
    assert r["rss_kb_after_3_loads"] == 20           # loads map the zero page
    assert r["file_vmlck_kb"] == 256 and r["file_rss_kb"] == 0
    assert 4 <= r["file_rss_kb_after_1_load"] <= 256  # fault-around: 64 on 6.18


def test_kernel_limits():
    r = _scenario("mlock_limits")
    assert (r["over_limit"], r["vmlck_kb_after_over"]) == ("ENOMEM", 0)
    assert (r["first_8"], r["same_8_again"], r["vmlck_kb_twice"]) == (0, 0, 32)
    assert (r["up_to_limit"], r["vmlck_kb_at_limit"], r["one_past_limit"]) == (0, 64, "ENOMEM")
    assert (r["mcl_future"], r["large_mmap_after_future"]) == (0, "EAGAIN")
    assert r["mlockall_0"] == r["mlockall_onfault_only"] == r["mlockall_unknown_bit"] == "EINVAL"
    assert r["mlockall_current"] == "ENOMEM"
    assert r["limit0_mlock"] == r["limit0_mlock2_onfault"] == r["limit0_mlockall_future"] == "EPERM"


def test_kernel_hole():
    r = _scenario("mlock_hole")
    assert r["mlock"] == "ENOMEM" and r["vmlck_kb"] == 8
    assert r["before_locked"] and not r["after_locked"]
    assert r["before_rss_kb"] == 0                     # locked, never populated
