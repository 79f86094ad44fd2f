"""Reclaim of clean page cache, the unevictable list, and the OOM killer."""

import os
import signal

import pytest

import mmsim
from mmsim import GiB, MiB, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE

RW = PROT_READ | PROT_WRITE
UNLIMITED = (mmsim.RLIM_INFINITY,) * 2


def machine(kernel, ram=256 * MiB):
    m = mmsim.Machine(kernel=kernel, ram=ram)
    m.mkfs("/data", fs="ext4", size=GiB)
    return m


def cached_file(m, p, name, size):
    fd = p.open(name, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    a = p.mmap(0, size, RW, MAP_SHARED, fd, 0)
    p.touch(a, size, write=True)
    p.fsync(fd)
    p.munmap(a, size)
    return fd


def test_clean_page_cache_is_reclaimed_under_pressure(kernel):
    m = machine(kernel)
    p = m.spawn()
    cached_file(m, p, "/data/f", 200 * MiB)
    assert m.meminfo()["Cached"] == 200 * 1024
    a = p.mmap(0, 150 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    p.touch(a, 150 * MiB, write=True)
    mi = m.meminfo()
    assert mi["AnonPages"] == 150 * 1024
    assert mi["Cached"] <= (256 - 150) * 1024
    assert m.vmstat.pgsteal >= 94 * MiB // 4096
    assert m.oom_kills == []


def test_mlocked_page_cache_is_never_reclaimed(kernel):
    m = machine(kernel)
    p = m.spawn(memlock=UNLIMITED)
    fd = cached_file(m, p, "/data/f", 100 * MiB)
    a = p.mmap(0, 100 * MiB, PROT_READ, MAP_SHARED, fd, 0)
    p.mlock(a, 100 * MiB)
    q = m.spawn()
    b = q.mmap(0, 140 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    q.touch(b, 140 * MiB, write=True)
    assert m.meminfo()["Mlocked"] == 100 * 1024
    assert p.smaps(a)["Rss"] == 100 * 1024
    assert m.meminfo()["Unevictable"] == 100 * 1024


def test_oom_killer_kills_the_largest_process(kernel):
    m = machine(kernel)
    big = m.spawn(memlock=UNLIMITED)
    a = big.mmap(0, 200 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    big.mlock(a, 200 * MiB)
    small = m.spawn()
    b = small.mmap(0, 80 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    small.touch(b, 80 * MiB, write=True)        # does not fit: the big one goes
    assert not big.alive and small.alive
    assert m.oom_kills[0][1] == big.pid
    assert m.meminfo()["Mlocked"] == 0


def test_oom_killing_the_faulting_process_raises_sigkill(kernel):
    m = machine(kernel)
    p = m.spawn()
    a = p.mmap(0, 300 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(mmsim.Signal) as e:
        p.touch(a, 300 * MiB, write=True)
    assert e.value.signo == signal.SIGKILL
    assert not p.alive
    with pytest.raises(OSError):
        p.touch(a, 4096)
    assert m.meminfo()["AnonPages"] == 0


def test_reclaim_waits_for_writeback_instead_of_killing(kernel):
    """Pages under writeback are not reclaimed; the allocating task waits for
    their I/O to complete and takes them then, before any OOM kill."""
    m = mmsim.Machine(kernel=kernel, ram=256 * MiB, profile="2010")
    m.mkfs("/data", fs="ext4", size=GiB)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 200 * MiB)
    a = p.mmap(0, 200 * MiB, RW, MAP_SHARED, fd, 0)
    m.wb.dirty_ratio, m.wb.dirty_background_ratio = 100, 99   # no throttling, no flusher
    p.touch(a, 200 * MiB, write=True)
    p.munmap(a, 200 * MiB)
    done = m.mounts["/data"].bdi.writeback_inodes_wb(200 * MiB // 4096).done
    assert m.meminfo()["Writeback"] == 200 * 1024
    b = p.mmap(0, 150 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    t0 = m.now
    p.touch(b, 150 * MiB, write=True)
    assert m.oom_kills == []
    assert m.meminfo()["AnonPages"] == 150 * 1024
    assert t0 < m.now and m.now >= min(done, t0 + 0.5)    # it waited for the disk


def test_the_oom_killer_sees_the_faulting_task_grow(kernel):
    """The kernel allocates page by page, so a task whose own mlock runs the machine
    out of memory has the largest RSS by then: it is killed, not the bystander."""
    m = machine(kernel)
    b = m.spawn()
    heap = b.mmap(0, 80 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    b.touch(heap, 80 * MiB, write=True)
    a = m.spawn(memlock=UNLIMITED)
    y = a.mmap(0, 200 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(mmsim.Signal) as e:
        a.mlock(y, 200 * MiB)
    assert e.value.signo == signal.SIGKILL
    (t, pid, rss_kb), = m.oom_kills
    assert pid == a.pid and rss_kb > 80 * 1024          # it had outgrown b
    assert b.alive and b.status()["VmRSS"] == 80 * 1024


def test_the_oom_killer_takes_the_bystander_when_lockers_are_small(kernel):
    """Several processes of 60 MiB each: the 80 MiB bystander is the largest, and dies."""
    m = machine(kernel)
    b = m.spawn()
    heap = b.mmap(0, 80 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    b.touch(heap, 80 * MiB, write=True)
    lockers = []
    for _ in range(3):
        a = m.spawn(memlock=UNLIMITED)
        y = a.mmap(0, 60 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)
        a.mlock(y, 60 * MiB)
        lockers.append(a)
    assert [pid for _, pid, _ in m.oom_kills] == [b.pid] and not b.alive
    assert all(a.alive and a.status()["VmLck"] == 60 * 1024 for a in lockers)
