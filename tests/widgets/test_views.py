"""Views draw what the simulation did and expose the same numbers."""

import errno
import os

import numpy as np
import pytest

import mmsim
from mmsim import GiB, MiB, MAP_SHARED, PROT_READ, PROT_WRITE, scenarios
from mmsim.fs.proc import kpageflags
from mmsim.results import PageFlags
from widgets import compare_view, fault_path_view, page_state_map, timeline_view

PAGE = 4096


def mapped(kernel, n=256):
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs="ext4", size=64 * MiB)
    p = m.spawn(memlock=(mmsim.RLIM_INFINITY,) * 2)
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, n * PAGE)
    a = p.mmap(0, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    return m, p, a


def test_page_state_map_counts_follow_the_kernel():
    m, p, a = mapped("2.6.37")
    p.touch(a, 128 * PAGE)
    v = page_state_map(kpageflags(m, p, a, 256 * PAGE))
    assert v.numbers["not present"] == 128 and v.numbers["clean"] == 128
    p.mlock(a, 256 * PAGE)                   # 2.6.37: write-faults every page
    v = page_state_map(kpageflags(m, p, a, 256 * PAGE))
    assert v.numbers["locked, dirty"] == 256
    m, p, a = mapped("2.6.38")
    p.mlock(a, 256 * PAGE)                   # after the patch: clean
    v = page_state_map(kpageflags(m, p, a, 256 * PAGE))
    assert v.numbers["locked, clean"] == 256 and v.numbers["locked, dirty"] == 0
    assert "locked, clean: 256" in v.text()


def test_page_state_map_aggregates_millions_of_pages():
    r = scenarios.memtoy_hole20g("2.6.38", "ext2", "lock", flags=True)
    v = page_state_map(r.flags)
    assert v.numbers["pages"] == 5_242_880
    assert v.numbers["locked, clean"] == 5_242_880


def test_timeline_view_numbers():
    r = scenarios.memtoy_hole20g("2.6.37", "ext2", "lock", size=2 * GiB, partition=GiB,
                                 ram=4 * GiB, sample=1.0)
    v = timeline_view(r.timeline)
    assert v.numbers["samples"] == len(r.timeline)
    assert v.numbers["final_free_gib"] == 0
    assert v.numbers["written_gib"] > 0.9
    assert v.numbers["max_dirty_mib"] > 0
    assert v.numbers["max_writeback_mib"] > 0
    # mlocked pages leave dirtyable memory: the dirty limit falls as the mlock goes on
    assert v.numbers["max_mlocked_mib"] > 0
    assert v.numbers["last_dirty_limit_mib"] < v.numbers["first_dirty_limit_mib"]


def test_page_state_map_shows_pages_under_writeback():
    m, p, a = mapped("6.18")
    p.touch(a, 64 * PAGE, write=True)
    m.mounts["/data"].bdi.writeback_inodes_wb(64)               # submit the writes, do not wait
    v = page_state_map(kpageflags(m, p, a, 64 * PAGE))
    assert v.numbers["writeback"] == 64 and v.numbers["dirty"] == 0
    m.sleep(1)                                  # the disk has written them
    v = page_state_map(kpageflags(m, p, a, 64 * PAGE))
    assert v.numbers["writeback"] == 0 and v.numbers["clean"] == 64


def test_page_state_map_shows_mlocked_anonymous_pages_as_locked():
    m = mmsim.Machine(kernel="6.18")
    p = m.spawn()
    a = p.mmap(0, 8 * PAGE, PROT_READ | PROT_WRITE, mmsim.MAP_PRIVATE | mmsim.MAP_ANONYMOUS)
    p.touch(a, 8 * PAGE, write=True)
    p.mlock(a, 4 * PAGE)
    v = page_state_map(kpageflags(m, p, a, 8 * PAGE))
    assert v.numbers["anonymous, locked"] == 4 and v.numbers["anonymous"] == 4


def test_fault_path_view_lists_kernel_functions():
    before = scenarios.memtoy_hole20g("2.6.37", "ext2", "lock", size=64 * MiB,
                                      partition=GiB, ram=GiB)
    after = scenarios.memtoy_hole20g("2.6.38", "ext2", "lock", size=64 * MiB,
                                     partition=GiB, ram=GiB)
    v37, v38 = fault_path_view(before.functions), fault_path_view(after.functions)
    assert v37.numbers["do_wp_page"] == 16384
    assert "do_wp_page" not in v38.numbers and v38.numbers["follow_page"] == 16384


def test_compare_view_numbers():
    rs = [scenarios.memtoy_hole20g(k, "ext2", "lock", size=64 * MiB, partition=GiB, ram=GiB)
          for k in ("2.6.37", "2.6.38")]
    v = compare_view(rs, {"dirty MiB": lambda r: r.dirty_kb / 1024})
    assert v.numbers == {"dirty MiB [2.6.37]": 64.0, "dirty MiB [2.6.38]": 0.0}


def test_compare_view_keeps_an_all_zero_panel_at_zero():
    rs = [scenarios.memtoy_hole20g(k, "ext2", "lock", size=64 * MiB, partition=GiB, ram=GiB)
          for k in ("2.6.38", "6.18")]
    v = compare_view(rs, {"dirty MiB": lambda r: r.dirty_kb / 1024})
    assert v.figure.axes[0].get_ylim() == (0.0, 1.0)


def test_timeline_view_with_one_sample_warns_nothing(recwarn):
    m, p, a = mapped("6.18")
    m.record_timeline()
    v = timeline_view(m.timeline)
    assert v.numbers["samples"] == 1
    assert not [w for w in recwarn if "legend" in str(w.message).lower()]


def test_page_state_map_refuses_flags_the_host_cannot_show():
    """The real kernel without root: pagemap's flags only, a readable refusal."""
    f = PageFlags(0, 4, "pagemap", {k: np.zeros(4, bool)
                                    for k in ("present", "swap", "file", "exclusive")})
    with pytest.raises(OSError) as e:
        page_state_map(f)
    assert e.value.errno == errno.EINVAL and "kpageflags needs root" in str(e.value)
