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
"""

import dataclasses
import os

import numpy as np
import pytest

from mmsim import experiment as E
from mmsim import real
from mmsim._abi import (MiB, PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_ANONYMOUS, MAP_PRIVATE,
                        MAP_SHARED, MS_SYNC)
from mmsim.results import (PAGE_FLAGS, PTE_FLAGS, SMAPS_FIELDS, STATUS_FIELDS, Extent,
                           PageFlags, Rusage, StatResult, TouchResult)

N = 16
LENGTH = N * PAGE_SIZE
KB = LENGTH // 1024
LIMITS = {"memlock": (1 * MiB, 1 * MiB), "caps": set()}     # unprivileged on both sides
OK, WHY = real.available()
REAL_FS = real.fs_type(real.scratch_base()) if OK else None


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
    fs = REAL_FS if REAL_FS in E.SIM_FILESYSTEMS else "ext4"
    return E.run(sequence, kernel="6.18", fs=fs, **LIMITS)


@pytest.fixture(scope="module")
def host():
    if not OK:
        pytest.skip(f"real kernel unavailable: {WHY}")
    if REAL_FS not in E.SIM_FILESYSTEMS:
        pytest.skip(f"the scratch directory is on {REAL_FS}, which the simulator does not model")
    return real.run(sequence, **LIMITS)


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
    assert type(host["stat_write"]) is os.stat_result
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
        if k.startswith("stat_"):       # os.stat_result carries times and owners too
            assert {f.name for f in dataclasses.fields(StatResult)} <= set(dir(h))
            continue
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
