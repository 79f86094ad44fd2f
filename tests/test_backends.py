"""One Process API, one set of result types: the simulator and the real kernel side by side.

The same sequence of calls (open, ftruncate, a shared file mapping touched
for reading then writing, pageflags, smaps, status, meminfo, stat, statfs,
fiemap, getrusage, mlock, munlock, msync; then private anonymous memory and
shmem) runs on mmsim's "6.18" and, where mmsim.real.available() says the host
can, on this machine's kernel in a child. Both must return the types of
mmsim.results with the same keys, and agree on every value that does not
depend on the host: pages touched, every page flag both can see, the smaps
lines of the mapping, VmLck, st_size, the extents' sizes, and their state
once written back (before, delalloc or not depends on the host's mount).

A second sequence runs the file I/O and the memory calls added for issue 10
(pread, pwrite, mincore, madvise MADV_DONTNEED and MADV_POPULATE_*,
MAP_FIXED_NOREPLACE, the file times of stat): the same bytes, the same
errnos, the same residency and page flags on both.
"""

import dataclasses
import errno
import os

import numpy as np
import pytest

from mmsim import experiment as E
from mmsim import real
from mmsim._abi import (MiB, PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_ANONYMOUS, MAP_PRIVATE,
                        MAP_SHARED, MAP_FIXED_NOREPLACE, MS_SYNC, MADV_DONTNEED,
                        MADV_POPULATE_READ, MADV_POPULATE_WRITE)
from mmsim.results import (PAGE_FLAGS, PTE_FLAGS, SMAPS_FIELDS, STATUS_FIELDS, Extent,
                           PageFlags, Rusage, StatResult, TouchResult)

N = 16
LENGTH = N * PAGE_SIZE
KB = LENGTH // 1024
LIMITS = {"memlock": (1 * MiB, 1 * MiB), "caps": set()}     # unprivileged on both sides
OK, WHY = real.available()
REAL_FS = real.fs_type(real.scratch_base()) if OK else None
SIM_FS = REAL_FS if REAL_FS in E.SIM_FILESYSTEMS else "ext4"


def host_kernel():
    """Return (major, minor) of the running kernel, (0, 0) off Linux."""
    try:
        return tuple(int(x) for x in os.uname().release.split(".")[:2])
    except (AttributeError, ValueError):
        return (0, 0)


def sequence(m, p):
    """The calls, in order; every result kept as the backend returned it."""
    out = {}
    path = m.scratch + "/parity"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, LENGTH)
    a = p.mmap(0, LENGTH, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    out["touch_read"] = p.touch(a, LENGTH)
    out["flags_read"] = p.pageflags(a, LENGTH)
    out["touch_write"] = p.touch(a, LENGTH, write=True)
    out["flags_write"] = p.pageflags(a, LENGTH)
    out["smaps_write"] = p.smaps(a)
    out["status_write"] = p.status()
    out["meminfo"] = m.meminfo()
    out["stat_write"] = m.stat(path)
    out["statfs"] = m.statfs(path)
    out["fiemap_write"] = m.fiemap(path)
    out["rusage"] = p.getrusage()
    p.mlock(a, LENGTH)
    out["flags_mlock"] = p.pageflags(a, LENGTH)
    out["smaps_mlock"] = p.smaps(a)
    out["status_mlock"] = p.status()
    p.munlock(a, LENGTH)
    out["flags_munlock"] = p.pageflags(a, LENGTH)
    p.msync(a, LENGTH, MS_SYNC)
    out["flags_msync"] = p.pageflags(a, LENGTH)
    out["smaps_msync"] = p.smaps(a)
    out["stat_msync"] = m.stat(path)
    out["fiemap_msync"] = m.fiemap(path)
    z = p.mmap(0, LENGTH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    p.touch(z, LENGTH)
    out["flags_zero"] = p.pageflags(z, LENGTH)
    p.touch(z, LENGTH, write=True)
    out["flags_anon"] = p.pageflags(z, LENGTH)
    s = p.mmap(0, LENGTH, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    p.touch(s, LENGTH)
    p.touch(s, LENGTH, write=True)          # the read fault mapped shmem writable: no fault
    out["flags_shmem"] = p.pageflags(s, LENGTH)
    return out


#: pages with each flag after each step, as 6.18 has them (the simulator must
#: show exactly these; unlisted flags: 0 pages)
FILE_PAGES = {"present": N, "file": N, "exclusive": N, "uptodate": N}
EXPECTED = {
    "flags_read": {**FILE_PAGES},                                 # write-notify: read-only PTEs
    "flags_write": {**FILE_PAGES, "dirty": N, "writable": N, "pte_dirty": N},
    "flags_mlock": {**FILE_PAGES, "dirty": N, "writable": N, "pte_dirty": N,
                    "mlocked": N, "unevictable": N},
    "flags_munlock": {**FILE_PAGES, "dirty": N, "writable": N, "pte_dirty": N},
    "flags_msync": {**FILE_PAGES},                                # folio_mkclean: clean, read-only
    "flags_zero": {"present": N, "zero": N},
    "flags_anon": {"present": N, "exclusive": N, "uptodate": N, "anon": N,
                   "writable": N, "pte_dirty": N},                # PG_dirty stays clear
    "flags_shmem": {**FILE_PAGES, "writable": N, "pte_dirty": N},  # dirty in the PTE only
}


@pytest.fixture(scope="module")
def sim():
    return E.run(sequence, kernel="6.18", fs=SIM_FS, **LIMITS)


def on_host(experiment):
    """Run experiment on this kernel, or skip saying in one line why it cannot."""
    if not OK:
        pytest.skip(f"real kernel unavailable: {WHY}")
    if REAL_FS not in E.SIM_FILESYSTEMS:
        pytest.skip(f"the scratch directory is on {REAL_FS}, which the simulator does not model")
    return real.run(experiment, **LIMITS)


@pytest.fixture(scope="module")
def host():
    return on_host(sequence)


def check_shared_types(out):
    """Every result of one backend has the type and keys of mmsim.results."""
    for k in ("touch_read", "touch_write"):
        r = out[k]
        assert type(r) is TouchResult and r.pages == N
        assert type(r.pages) is int and type(r.seconds) is float and r.seconds >= 0
    for k in EXPECTED:
        f = out[k]
        assert type(f) is PageFlags and tuple(f) == PAGE_FLAGS and f.npages == N
        for name, v in f.items():
            assert v is None or (v.dtype == bool and v.shape == (N,) and not v.flags.writeable), name
        assert f["present"] is not None                         # pagemap: any Linux
    for k in ("smaps_write", "smaps_mlock", "smaps_msync"):
        v = out[k]
        assert tuple(v) == SMAPS_FIELDS                         # 6.18 shows every one
        assert all(type(v[f]) is int for f in SMAPS_FIELDS if f != "VmFlags")
        assert type(v["VmFlags"]) is str and v["end"] - v["start"] == LENGTH
    for k in ("status_write", "status_mlock"):
        assert tuple(out[k]) == STATUS_FIELDS and all(type(x) is int for x in out[k].values())
    assert all(type(x) is int for x in out["meminfo"].values())
    assert type(out["rusage"]) is Rusage
    assert type(out["rusage"].ru_minflt) is int and type(out["rusage"].ru_majflt) is int
    for k in ("fiemap_write", "fiemap_msync"):
        assert type(out[k]) is list and out[k]
        assert all(type(e) is Extent for e in out[k])
    for k in ("stat_write", "stat_msync"):
        for f in dataclasses.fields(StatResult):
            assert type(getattr(out[k], f.name)) is int, f.name
    assert type(out["statfs"]) is os.statvfs_result


def test_the_simulator_returns_the_shared_types(sim):
    check_shared_types(sim)
    assert type(sim["stat_write"]) is StatResult
    for k, want in EXPECTED.items():
        assert sim[k].counts() == {f: want.get(f, 0) for f in PAGE_FLAGS}, k
    assert sim["smaps_mlock"]["Locked"] == KB and sim["smaps_write"]["Private_Dirty"] == KB


@pytest.mark.real
def test_the_real_kernel_returns_the_shared_types(host):
    check_shared_types(host)
    assert type(host["stat_write"]) is StatResult
    for k in EXPECTED:
        f = host[k]
        assert all(f[name] is None for name in PTE_FLAGS)      # no /proc file shows PTE bits
        if "kpageflags" in f.source:
            assert all(f[name] is not None for name in PAGE_FLAGS if name not in PTE_FLAGS)


@pytest.mark.real
def test_both_return_the_same_types_and_keys(sim, host):
    assert sim.keys() == host.keys()
    for k in sim:
        s, h = sim[k], host[k]
        assert type(s) is type(h), k
        if isinstance(s, dict) and k != "meminfo":
            assert s.keys() == h.keys(), k
    assert set(sim["meminfo"]) <= set(host["meminfo"])  # the lines the simulator models


@pytest.mark.real
def test_the_values_agree_where_they_must(sim, host):
    for k in ("touch_read", "touch_write"):
        assert sim[k].pages == host[k].pages == N
    for k in EXPECTED:
        seen = [f for f in PAGE_FLAGS if host[k][f] is not None]
        for f in seen:
            assert np.array_equal(sim[k][f], host[k][f]), (k, f, sim[k].counts(), host[k].counts())
    if "kpageflags" in host["flags_write"].source:
        assert host["flags_write"]["dirty"].all() and host["flags_mlock"]["mlocked"].all()
        assert not host["flags_msync"]["dirty"].any() and not host["flags_anon"]["dirty"].any()
    for k in ("smaps_write", "smaps_mlock", "smaps_msync"):
        same = {f: (sim[k][f], host[k][f]) for f in SMAPS_FIELDS if f not in ("start", "end")}
        assert all(s == h for s, h in same.values()), (k, same)
    vmlck = lambda out: out["status_mlock"]["VmLck"] - out["status_write"]["VmLck"]
    assert vmlck(sim) == vmlck(host) == KB
    for k in ("stat_write", "stat_msync"):
        assert sim[k].st_size == host[k].st_size == LENGTH
    for k in ("fiemap_write", "fiemap_msync"):     # physical: each disk has its own blocks
        assert sum(e.length for e in sim[k]) == sum(e.length for e in host[k]) == LENGTH, k
    for out in (sim, host):                        # written back: allocated, written
        assert not any(e.unwritten or e.delalloc for e in out["fiemap_msync"])


# ---------------------------------------------------------------------------
# pread, pwrite, mincore, madvise, MAP_FIXED_NOREPLACE, file times

#: the pause between two stats around a pwrite: more than a jiffy (the coarse
#: clock files are stamped from), more than a second where the filesystem
#: keeps whole seconds (ext2 and ext3 inodes of 128 bytes)
PAUSE = 1.1 if SIM_FS in ("ext2", "ext3") else 0.05
DATA = bytes(range(256)) * 24                 # 6144 bytes: across a page boundary
AT = 3000


def attempt(fn):
    """Return what fn returns, or the errno name of the OSError it raises."""
    try:
        return fn()
    except OSError as e:
        return errno.errorcode[e.errno]


def io_calls(m, p):
    """The new calls, in order; bytes, counts, errno names and page flags kept as returned."""
    out = {}
    path = m.scratch + "/io"
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    out["pwrite"] = p.pwrite(fd, DATA, AT)
    out["pread"] = p.pread(fd, len(DATA), AT)
    end = AT + len(DATA)
    out["pread_short"] = p.pread(fd, 100, end - 10)
    out["pread_past_eof"] = p.pread(fd, 100, end + 50)
    ro = p.open(path, os.O_RDONLY)
    out["pwrite_rdonly"] = attempt(lambda: p.pwrite(ro, b"x", 0))
    out["pread_negative"] = attempt(lambda: p.pread(fd, 10, -1))
    out["pwrite_negative"] = attempt(lambda: p.pwrite(fd, b"x", -1))
    before = m.stat(path)
    m.sleep(PAUSE)
    p.pwrite(fd, b"later", 0)
    after = m.stat(path)
    out["stat_types"] = (type(before), type(after))
    out["times_moved"] = (after.st_mtime_ns > before.st_mtime_ns,
                          after.st_ctime_ns > before.st_ctime_ns,
                          after.st_mtime > before.st_mtime)
    out["time_types"] = tuple(type(getattr(after, f)).__name__ for f in (
        "st_atime_ns", "st_mtime_ns", "st_ctime_ns", "st_atime", "st_mtime", "st_ctime"))

    a = p.mmap(0, LENGTH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    p.touch(a, 4 * PAGE_SIZE, write=True)                     # anonymous pages
    p.touch(a + 4 * PAGE_SIZE, 4 * PAGE_SIZE)                 # the zero page: resident too
    out["mincore_touched"] = p.mincore(a, LENGTH)
    p.write(a, b"y" * LENGTH)
    p.madvise(a, LENGTH, MADV_DONTNEED)
    out["mincore_dontneed"] = p.mincore(a, LENGTH)
    out["read_dontneed"] = p.read(a, LENGTH)
    out["mincore_unaligned"] = attempt(lambda: p.mincore(a + 1, LENGTH))

    g = p.open(m.scratch + "/populate", os.O_RDWR | os.O_CREAT)
    p.ftruncate(g, LENGTH)
    b = p.mmap(0, LENGTH, PROT_READ | PROT_WRITE, MAP_SHARED, g, 0)
    out["populate_write"] = attempt(lambda: p.madvise(b, LENGTH, MADV_POPULATE_WRITE))
    out["flags_populate_write"] = p.pageflags(b, LENGTH)
    out["mincore_populate_write"] = p.mincore(b, LENGTH)
    p.ftruncate(g, LENGTH // 2)                                # the second half is past EOF now
    out["populate_read_past_eof"] = attempt(lambda: p.madvise(b, LENGTH, MADV_POPULATE_READ))

    c = p.mmap(0, 2 * LENGTH, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    p.munmap(c + LENGTH, LENGTH)
    fixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE
    out["noreplace_busy"] = attempt(lambda: p.mmap(c, PAGE_SIZE, PROT_READ, fixed))
    out["noreplace_straddling"] = attempt(
        lambda: p.mmap(c + LENGTH - PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ, fixed))
    out["noreplace_free"] = attempt(lambda: p.mmap(c + LENGTH, LENGTH, PROT_READ, fixed) - c)
    return out


@pytest.fixture(scope="module")
def sim_io():
    return E.run(io_calls, kernel="6.18", fs=SIM_FS, **LIMITS)


@pytest.fixture(scope="module")
def host_io():
    return on_host(io_calls)


def check_io_types(out):
    """pread and mincore return bytes, pwrite an int, stat the shared StatResult."""
    for k in ("pread", "pread_short", "pread_past_eof", "mincore_touched", "mincore_dontneed",
              "read_dontneed", "mincore_populate_write"):
        assert type(out[k]) is bytes, k
    assert type(out["pwrite"]) is int
    assert out["stat_types"] == (StatResult, StatResult)
    assert out["time_types"] == ("int",) * 3 + ("float",) * 3
    assert type(out["flags_populate_write"]) is PageFlags


def test_the_simulator_io_calls(sim_io):
    check_io_types(sim_io)
    assert sim_io["pwrite"] == len(DATA) and sim_io["pread"] == DATA
    assert sim_io["flags_populate_write"]["dirty"].all()


@pytest.mark.real
def test_pwrite_then_pread_the_same_bytes(sim_io, host_io):
    check_io_types(host_io)
    for out in (sim_io, host_io):
        assert out["pwrite"] == len(DATA) and out["pread"] == DATA
        assert out["pread_short"] == DATA[-10:] and out["pread_past_eof"] == b""


@pytest.mark.real
def test_pread_pwrite_errnos(sim_io, host_io):
    for out in (sim_io, host_io):
        assert out["pwrite_rdonly"] == "EBADF"
        assert out["pread_negative"] == out["pwrite_negative"] == "EINVAL"


@pytest.mark.real
def test_mtime_moves_after_a_pwrite(sim_io, host_io):
    assert sim_io["times_moved"] == host_io["times_moved"] == (True, True, True)


@pytest.mark.real
def test_mincore_and_madv_dontneed(sim_io, host_io):
    touched = bytes([1] * 8 + [0] * (N - 8))
    for out in (sim_io, host_io):
        assert out["mincore_touched"] == touched
        assert out["mincore_dontneed"] == bytes(N)            # the anonymous pages are freed
        assert out["read_dontneed"] == bytes(LENGTH)           # and read back as zeros
        assert out["mincore_unaligned"] == "EINVAL"


@pytest.mark.real
def test_madv_populate_write_dirties_a_shared_file_mapping(sim_io, host_io):
    if host_kernel() < (5, 14):
        pytest.skip(f"kernel {os.uname().release} too old: MADV_POPULATE_WRITE is 5.14")
    for out in (sim_io, host_io):
        assert out["populate_write"] is None and out["mincore_populate_write"] == bytes([1] * N)
        assert out["populate_read_past_eof"] == "EFAULT"      # SIGBUS in the fault: EFAULT
    s, h = sim_io["flags_populate_write"], host_io["flags_populate_write"]
    seen = [f for f in PAGE_FLAGS if h[f] is not None]
    for f in seen:
        assert np.array_equal(s[f], h[f]), (f, s.counts(), h.counts())
    if "kpageflags" not in h.source:
        pytest.skip("/proc/kpageflags not readable (not root): PG_dirty cannot be compared")
    assert h["dirty"].all() and h["uptodate"].all()


@pytest.mark.real
def test_map_fixed_noreplace(sim_io, host_io):
    for out in (sim_io, host_io):
        assert out["noreplace_busy"] == out["noreplace_straddling"] == "EEXIST"
        assert out["noreplace_free"] == LENGTH                # exactly where it was asked


@pytest.mark.real
def test_the_io_calls_agree_everywhere(sim_io, host_io):
    assert sim_io.keys() == host_io.keys()
    skip = {"flags_populate_write"}                           # compared flag by flag above
    if host_kernel() < (5, 14):                               # EINVAL there: said by its own test
        skip |= {k for k in sim_io if "populate" in k}
    for k in sim_io.keys() - skip:
        assert sim_io[k] == host_io[k], k
