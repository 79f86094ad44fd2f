"""Dirty limits, the flusher, kupdate expiry and write-protection after writeback."""

import errno
import os

import pytest

import mmsim
from mmsim import GiB, MiB, MAP_SHARED, PROT_READ, PROT_WRITE

PAGE = 4096
RW = PROT_READ | PROT_WRITE


def setup(kernel, fs="ext4", size=16 * MiB, ram=GiB, profile="modern"):
    m = mmsim.Machine(kernel=kernel, ram=ram, profile=profile)
    m.mkfs("/data", fs=fs, size=4 * size)
    p = m.spawn(memlock=(mmsim.RLIM_INFINITY,) * 2)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    return m, p, fd, p.mmap(0, size, RW, MAP_SHARED, fd, 0)


def test_dirty_limits_follow_the_ratios(kernel):
    m, p, fd, a = setup(kernel)
    bg, dirty = m.wb.global_dirty_limits()
    total = m.ram_pages
    assert dirty == pytest.approx(total * 0.20, rel=0.01)
    assert bg == pytest.approx(total * 0.10, rel=0.01)
    m.wb.dirty_ratio, m.wb.dirty_background_ratio = 10, 10
    bg, dirty = m.wb.global_dirty_limits()
    assert bg == dirty // 2                     # background >= dirty: halved


def test_mlocked_pages_are_not_dirtyable(kernel):
    m, p, fd, a = setup(kernel, size=256 * MiB)
    _, before = m.wb.global_dirty_limits()
    p.mlock(a, 256 * MiB)
    _, after = m.wb.global_dirty_limits()
    assert before - after == pytest.approx(256 * MiB // PAGE * 0.20, rel=0.02)


def test_kupdate_writes_pages_dirty_for_30_seconds(kernel):
    m, p, fd, a = setup(kernel)
    p.touch(a, 64 * PAGE, write=True)
    m.sleep(29)
    assert m.meminfo()["Dirty"] == 64 * 4
    m.sleep(7)                                  # expired at 30 s, flushed at a 5 s tick
    assert m.meminfo()["Dirty"] == 0
    assert m.stat("/data/f").st_blocks == 64 * 8


def test_background_writeback_starts_over_the_background_threshold(kernel):
    m, p, fd, a = setup(kernel, size=160 * MiB, ram=GiB)
    bg, _ = m.wb.global_dirty_limits()
    assert 160 * MiB // PAGE > bg
    p.touch(a, 160 * MiB, write=True)
    m.sleep(1)                                  # well before kupdate's 30 s
    assert m.mounts["/data"].disk.counters["write_bytes"] > 0
    assert m.vmstat.nr_file_dirty <= bg + 1024


def test_store_after_kupdate_writeback_faults_again(kernel):
    """Andrew Morton: "whenever the kupdate function writes back the dirty pages
    it has to mark them read-only again"."""
    m, p, fd, a = setup(kernel)
    p.mlock(a, 8 * PAGE)
    p.touch(a, 8 * PAGE, write=True)
    m.sleep(40)
    assert m.meminfo()["Dirty"] == 0
    n = len(m.trace)
    before = p.getrusage().ru_minflt
    p.touch(a, 8 * PAGE, write=True)
    assert p.getrusage().ru_minflt - before == 8
    counts = m.trace.counts(list(m.trace.events)[n:])
    assert counts["do_wp_page"] == 8
    assert counts["ext4_page_mkwrite"] == 8
    assert m.meminfo()["Dirty"] == 8 * 4


def test_ext2_refault_has_no_page_mkwrite_on_2_6_37():
    m, p, fd, a = setup("2.6.37", fs="ext2")
    p.touch(a, 4 * PAGE, write=True)
    p.msync(a, 4 * PAGE, mmsim.MS_SYNC)
    n = len(m.trace)
    p.touch(a, 4 * PAGE, write=True)
    counts = m.trace.counts(list(m.trace.events)[n:])
    assert counts["do_wp_page"] == 4 and counts["set_page_dirty_balance"] == 4
    assert not any("page_mkwrite" in f for f in counts)


def test_nr_writeback_counts_pages_in_flight(kernel):
    m, p, fd, a = setup(kernel, profile="2010")
    p.touch(a, 1024 * PAGE, write=True)
    before = m.vmstat.nr_writeback
    done = m.mounts["/data"].bdi.writeback_inodes_wb(1024).done
    assert m.vmstat.nr_writeback == before + 1024
    assert m.meminfo()["Writeback"] == m.vmstat.nr_writeback * 4
    m.clock.run_until(done)
    assert m.vmstat.nr_writeback == 0


def test_writeback_enospc_cleans_the_page_and_loses_it_after_drop(kernel):
    """fs/buffer.c __block_write_full_page "recover:" path on ext2: the page is
    cleaned with PG_error, fsync reports ENOSPC, the data only lives in RAM.
    2.6.37's fsync stops at that page (write_cache_pages); today's goes on."""
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs="ext2", size=64 * PAGE)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 80 * PAGE)
    a = p.mmap(0, 80 * PAGE, RW, MAP_SHARED, fd, 0)
    for i in range(80):
        p.write(a + i * PAGE, b"%d" % i)
    with pytest.raises(OSError) as e:
        p.fsync(fd)
    assert e.value.errno == 28                  # ENOSPC
    lost = 16 if kernel == "6.18" else 1
    assert m.pages_lost() == lost
    assert m.meminfo()["Dirty"] == (16 - lost) * 4
    p.munmap(a, 80 * PAGE)
    m.drop_caches()
    a = p.mmap(0, 80 * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(a + 63 * PAGE, 2) == b"63"
    assert p.read(a + 64 * PAGE, 2) == b"\0\0"       # cleaned, dropped: gone
    assert p.read(a + 79 * PAGE, 2) == (b"\0\0" if kernel == "6.18" else b"79")


def test_pages_carry_pg_writeback_until_their_write_completes(kernel):
    m, p, fd, a = setup(kernel, profile="2010")
    p.touch(a, 256 * PAGE, write=True)
    res = m.mounts["/data"].bdi.writeback_inodes_wb(256)
    f = p.pageflags(a, 256 * PAGE)
    assert f["writeback"].all() and not f["dirty"].any()
    assert m.meminfo()["Writeback"] == 256 * 4
    m.sleep(res.done - m.now)
    f = p.pageflags(a, 256 * PAGE)
    assert not f["writeback"].any()
    assert m.meminfo()["Writeback"] == 0


def test_background_writeback_skips_a_page_redirtied_under_writeback(kernel):
    """write_cache_pages, WB_SYNC_NONE: a page under writeback is passed over."""
    m, p, fd, a = setup(kernel, profile="2010")
    p.touch(a, 8 * PAGE, write=True)
    first = m.mounts["/data"].bdi.writeback_inodes_wb(8)
    p.touch(a, 1 * PAGE, write=True)            # dirty again while its write is in flight
    f = p.pageflags(a, 8 * PAGE)
    assert f["dirty"][0] and f["writeback"][0]
    again = m.mounts["/data"].bdi.writeback_inodes_wb(8)
    assert again.written == 0                    # nothing else is dirty and not in flight
    m.sleep(first.done - m.now)
    assert m.mounts["/data"].bdi.writeback_inodes_wb(8).written == 1


def test_fsync_writes_a_redirtied_page_again_and_waits(kernel):
    m, p, fd, a = setup(kernel, profile="2010")
    p.touch(a, 8 * PAGE, write=True)
    m.mounts["/data"].bdi.writeback_inodes_wb(8)
    p.write(a, b"second")
    p.fsync(fd)
    assert m.meminfo()["Dirty"] == 0 and m.meminfo()["Writeback"] == 0
    p.munmap(a, 16 * MiB)
    m.drop_caches()
    b = p.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert p.read(b, 6) == b"second"


def test_drop_caches_leaves_pages_under_writeback(kernel):
    m, p, fd, a = setup(kernel, profile="2010")
    p.touch(a, 64 * PAGE, write=True)
    p.munmap(a, 16 * MiB)
    res = m.mounts["/data"].bdi.writeback_inodes_wb(64)
    assert m.drop_caches() == 0
    m.sleep(res.done - m.now)
    assert m.drop_caches() == 64


def test_flusher_passes_are_in_the_trace_as_a_kernel_thread(kernel):
    m, p, fd, a = setup(kernel)
    p.touch(a, 64 * PAGE, write=True)
    m.sleep(40)                                  # kupdate: older than 30 s
    ev = m.trace.query(pid=0)
    assert sum(e.pages for e in ev) == 64
    assert {e.op for e in ev} == {"kupdate"}
    thread = "wb_workfn" if kernel == "6.18" else "bdi_writeback_thread"
    assert ev[0].path == (thread, "wb_writeback", "do_writepages")
    assert ev[0].time >= 30
    assert m.trace.query(pid=0, until=30) == []


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "soon", None])
def test_hung_timeout_is_a_machine_parameter(bad):
    with pytest.raises(OSError) as e:
        mmsim.Machine(hung_timeout=bad)
    assert e.value.errno == errno.EINVAL
    m = mmsim.Machine(hung_timeout=5)
    assert m.wb.hung_timeout == 5.0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "a while", None])
def test_sleep_and_timeline_interval_refuse_bad_times(bad):
    m = mmsim.Machine()
    with pytest.raises(OSError) as e:
        m.sleep(bad)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        m.record_timeline(bad)
    assert e.value.errno == errno.EINVAL
    assert m.now == 0.0 and m.timeline is None


def test_timeline_samples_every_interval_of_one_long_sleep(kernel):
    m, p, fd, a = setup(kernel)
    m.record_timeline(1.0)
    p.touch(a, 64 * PAGE, write=True)
    m.sleep(40)
    ts = [s["t"] for s in m.timeline]
    assert len(ts) >= 40 and max(b - a for a, b in zip(ts, ts[1:])) <= 1.0 + 1e-9
    s = m.timeline[-1]
    bg, thresh = m.wb.global_dirty_limits()
    assert s["dirty_thresh_kb"] == thresh * 4 and s["background_thresh_kb"] == bg * 4
    assert m.timeline[5]["dirty_kb"] == 64 * 4 and s["dirty_kb"] == 0
    assert s["mlocked_kb"] == 0


def heavy_writer(kernel, size=GiB, ram=GiB):
    """One task storing into every page of a sparse shared file: the timeline and its numbers."""
    m = mmsim.Machine(kernel=kernel, ram=ram, profile="2010")
    m.mkfs("/data", fs="ext2", size=4 * size)
    p = m.spawn(caps={"CAP_IPC_LOCK"})
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, size)
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    m.record_timeline(0.5)
    p.touch(a, size, write=True)
    bg, thresh = m.wb.global_dirty_limits()
    dirty = [(s["dirty_kb"] + s["writeback_kb"]) * 1024 // PAGE for s in m.timeline]
    return m, p, bg, thresh, dirty


def test_2637_single_heavy_writer_is_held_at_seven_eighths_of_the_limit():
    """2.6.37 task_dirty_limit: dirty -= (dirty/8) * the task's share of dirtying;
    once the disk's share of completions is ~1, bdi_thresh is ~7/8 of dirty_thresh."""
    m, p, bg, thresh, dirty = heavy_writer("2.6.37", size=2 * GiB)
    bdi = m.mounts["/data"].bdi
    num, den = bdi.completions.fraction()
    assert num / den > 0.95
    limit = m.wb.bdi_thresh(p, bdi, thresh)
    assert thresh * 7 // 8 - thresh // 50 <= limit <= thresh * 7 // 8
    assert max(dirty) <= limit + m.wb.ratelimit_pages() * 3
    assert max(dirty) < thresh


def test_2637_throttled_task_writes_chunks_of_one_and_a_half_ratelimits():
    """sync_writeback_pages(): 1.5 x ratelimit_pages (1024 here), even once
    bdi->dirty_exceeded cut the ratelimit to 8."""
    m, p, *_ = heavy_writer("2.6.37")
    own = [e.pages for e in m.trace.query(function="writeback_inodes_wb", pid=p.pid)]
    assert own and max(own) == 1536
    assert sum(own) > 20 * 1536


def test_2637_fresh_disk_gives_the_task_its_limit_only_as_writes_complete():
    """bdi_dirty_limit: a disk with no completions yet has a share, and a limit, of 0."""
    m = mmsim.Machine(kernel="2.6.37", ram=GiB, profile="2010")
    m.mkfs("/data", fs="ext2", size=GiB)
    p = m.spawn()
    bdi = m.mounts["/data"].bdi
    _, thresh = m.wb.global_dirty_limits()
    assert m.wb.bdi_thresh(p, bdi, thresh) == 0


def test_io_less_dirty_pages_settle_at_the_setpoint():
    """3.2+: pos_ratio is 1 at the setpoint (freerun + limit) / 2, where the
    dirtier's rate matches the disk's: dirty pages balance there."""
    m, p, bg, thresh, dirty = heavy_writer("6.18", size=2 * GiB)
    freerun = (bg + thresh) // 2
    setpoint = (freerun + thresh) // 2
    later = sorted(dirty[len(dirty) // 2:])
    median = later[len(later) // 2]
    assert abs(median - setpoint) < 0.05 * setpoint
    assert max(dirty) < thresh


def test_io_less_pause_interval_is_about_10ms_of_the_disks_rate():
    """wb_min_pause: nr_dirtied_pause = dirty_ratelimit * 10 ms (HZ=1000, 100 MB/s: 250 pages)."""
    from mmsim.mm.page_writeback import pos_ratio, wb_min_pause
    assert pos_ratio(100, 100, 300) == 2.0
    assert pos_ratio(200, 100, 300) == 1.0
    assert pos_ratio(300, 100, 300) == 0.0
    bw = int(100e6) // PAGE
    _, pages = wb_min_pause(200, bw, bw, 1000)
    assert pages == bw * 10 // 1024
