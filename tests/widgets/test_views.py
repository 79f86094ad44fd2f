"""Views draw what the simulation did and expose the same numbers."""

import errno
import os

import numpy as np
import pytest

import mmsim
from mmsim import GiB, MiB, MAP_SHARED, PROT_READ, PROT_WRITE, scenarios
from mmsim.fs.proc import kpageflags
from mmsim.results import PageFlags
from widgets import (block_layout_view, call_chain_view, compare_view, fault_path_view,
                     page_state_map, timeline_view)

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


def _all_views():
    r = scenarios.memtoy_hole20g("2.6.37", "ext2", "lock", size=64 * MiB, partition=32 * MiB,
                                 ram=128 * MiB, sample=0.5, flags=True)
    return [page_state_map(r.flags), timeline_view(r.timeline), fault_path_view(r.functions),
            compare_view([r, r], {"dirty MiB": lambda x: x.dirty_kb / 1024}, labels=["a", "b"]),
            call_chain_view(["do_page_fault", "handle_mm_fault"], files=["arch/x86/mm/fault.c",
                                                                         "mm/memory.c"]),
            block_layout_view([laid_out("2.6.38")[0].layout("/data/f")])]


def test_every_view_has_the_book_s_width_and_resolution():
    import struct

    from widgets.views import DPI, WIDTH
    for v in _all_views():
        assert v.figure.dpi == DPI and v.figure.get_figwidth() == WIDTH
        png = v._repr_png_()
        width, height = struct.unpack(">II", png[16:24])        # the PNG's IHDR
        assert (width, height) == (round(WIDTH * DPI), round(v.figure.get_figheight() * DPI))
    assert repr(_all_views()[0].figure) == "<Figure size 800x180 with 1 Axes>"


def test_legends_are_outside_the_data():
    checked = 0
    for v in _all_views()[:2]:                  # the page-state map and the timeline
        v.figure.canvas.draw()
        renderer = v.figure.canvas.get_renderer()
        for ax in v.figure.axes:
            legend = ax.get_legend()
            if legend is not None:
                assert legend.get_window_extent(renderer).y1 < ax.get_window_extent(renderer).y0
                checked += 1
    assert checked == 3


def test_whole_counts_print_as_integers():
    rs = [scenarios.memtoy_hole20g(k, "ext2", "lock", size=64 * MiB, partition=GiB, ram=GiB)
          for k in ("2.6.37", "2.6.38")]
    v = compare_view(rs, {"pages": lambda r: r.pages, "dirty MiB": lambda r: r.dirty_kb / 1024})
    assert v.text().splitlines() == ["pages [2.6.37]: 16384", "pages [2.6.38]: 16384",
                                     "dirty MiB [2.6.37]: 64.000", "dirty MiB [2.6.38]: 0.000"]
    assert "do_wp_page: 16384" in fault_path_view(rs[0].functions).text()


def test_a_page_state_has_one_colour_in_every_view():
    from matplotlib.colors import to_rgb

    from widgets.views import COLOUR, STATES
    m, p, a = mapped("6.18")
    p.touch(a, 64 * PAGE, write=True)
    v = page_state_map(kpageflags(m, p, a, 256 * PAGE))
    image = v.figure.axes[0].get_images()[0].get_array()
    assert tuple(image[0, 0]) == to_rgb(COLOUR["dirty"])
    assert tuple(image[0, -1]) == to_rgb(COLOUR["not present"])
    assert [h.get_label() for h in v.figure.axes[0].get_legend().legend_handles] == \
        ["not present", "dirty"]
    assert list(STATES) == list(COLOUR)
    m.record_timeline()
    lines = {line.get_label(): line for line in timeline_view(m.timeline).figure.axes[0].lines}
    assert lines["Dirty"].get_color() == COLOUR["dirty"]
    assert lines["Writeback"].get_color() == COLOUR["writeback"]


def test_a_view_draws_into_the_figure_it_is_given_to_reuse():
    from widgets.views import reuse
    m, p, a = mapped("2.6.37")
    first = page_state_map(kpageflags(m, p, a, 256 * PAGE), title="before")
    p.touch(a, 256 * PAGE, write=True)
    with reuse(first):
        again = page_state_map(kpageflags(m, p, a, 256 * PAGE), title="after")
    assert again is first and again.figure.axes[0].get_title() == "after"
    assert again.numbers["dirty"] == 256 and again.numbers["not present"] == 0
    with reuse(first):                          # another kind of view: a figure of its own
        other = fault_path_view(m.trace.counts())
    assert other.figure is not first.figure
    fresh = page_state_map(kpageflags(m, p, a, 256 * PAGE))
    assert fresh.figure is not first.figure     # outside reuse: always a new figure


def test_fault_path_view_resizes_a_reused_figure_to_its_bars():
    from widgets.views import reuse
    few = fault_path_view({"a": 3, "b": 1})
    height = few.figure.get_figheight()
    with reuse(few):
        many = fault_path_view({f"f{i}": i + 1 for i in range(10)})
    assert many.figure is few.figure and many.figure.get_figheight() > height
    bars = [b for b in many.parts["bars"] if b.get_visible()]
    assert [b.get_width() for b in bars] == list(range(10, 0, -1))
    assert [t.get_text() for t in many.figure.axes[0].get_yticklabels()][:2] == ["f9", "f8"]


def holders_run(memlock, lock=192 * MiB):
    from mmsim.testbed.memlock import dos_run
    return dos_run("2.6.37", memlock, lock, ram=256 * MiB, file_size=128 * MiB, passes=3,
                   lock_before=2, sample=0.2)


def test_memory_holders_view_stacks_what_each_holder_has():
    from widgets import memory_holders_view
    r = holders_run(mmsim.RLIM_INFINITY)
    v = memory_holders_view(r.timeline, r.owners, r.passes, {"A locks": r.lock_at})
    n = v.numbers
    assert n["A, locked max MiB"] == n["A, locked last MiB"] == 192.0
    assert n["B, not locked max MiB"] == 128.0 and n["B, not locked last MiB"] <= 64.0
    assert n["free last MiB"] == 0.0 and n["A locks at s"] == r.lock_at
    assert [n[f"pass {i} majflt"] for i in (1, 2)] == [1024, 0] and n["pass 3 majflt"] > 0
    assert n["pass 3 s"] == r.passes[2]["seconds"] and n["samples"] == len(r.timeline)
    # the stack adds up to the machine's RAM at every sample
    ax = v.figure.axes[0]
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert abs(top - 256.0) < 1e-6
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["A, locked", "B, not locked", "free"]      # empty layers left out
    assert [t.get_text() for t in v.parts["texts"]] == ["1024", "0", str(r.passes[2]["majflt"])]


def test_memory_holders_view_draws_into_its_figure_again():
    from widgets import memory_holders_view
    from widgets.views import reuse
    big, small = holders_run(mmsim.RLIM_INFINITY), holders_run(64 * 1024)
    first = memory_holders_view(big.timeline, big.owners, big.passes, {"A locks": big.lock_at})
    with reuse(first):
        again = memory_holders_view(small.timeline, small.owners, small.passes,
                                    {"A locks": small.lock_at}, title="64 KiB")
    assert again is first and again.numbers["A, locked max MiB"] == 0.0625
    assert again.parts["bars"][2].get_height() == 0.0
    assert again.figure.texts[-1].get_text() == "64 KiB"


def test_memory_holders_view_needs_per_process_samples():
    from widgets import memory_holders_view
    m, p, a = mapped("6.18")
    m.record_timeline()
    with pytest.raises(OSError) as e:
        memory_holders_view(m.timeline, {p.pid: "A"})
    assert e.value.errno == errno.EINVAL and "procs=True" in str(e.value)


def test_call_chain_view_indents_each_function_under_its_caller():
    path = ("do_page_fault", "handle_mm_fault", "do_wp_page", "ext4_page_mkwrite", "set_page_dirty")
    files = ("arch/x86/mm/fault.c", "mm/memory.c", "mm/memory.c", "fs/ext4/inode.c",
             "mm/page-writeback.c")
    v = call_chain_view(path, [0, 1, 2, 3, 3], files, title="first store")
    assert v.text().splitlines() == [
        "calls: 5", "1: do_page_fault  (arch/x86/mm/fault.c)", "2:   handle_mm_fault  (mm/memory.c)",
        "3:     do_wp_page  (mm/memory.c)", "4:       ext4_page_mkwrite  (fs/ext4/inode.c)",
        "5:       set_page_dirty  (mm/page-writeback.c)"]
    bars = [b for b in v.parts["bars"] if b.get_visible()]
    lefts = [b.get_x() for b in bars]
    assert lefts[0] == 0 and lefts[1] < lefts[2] < lefts[3] == lefts[4]
    assert all(abs(b.get_x() + b.get_width() - 1) < 1e-9 for b in bars)   # callees nest in callers
    from matplotlib.colors import to_rgba

    from widgets.views import LAYER
    assert bars[3].get_facecolor() == to_rgba(LAYER["fs/"])
    assert bars[0].get_facecolor() == to_rgba(LAYER["arch/"])
    legend = [t.get_text() for t in v.figure.axes[0].get_legend().get_texts()]
    assert legend == ["arch/", "mm/", "fs/"]
    assert call_chain_view(path).numbers["5"] == "        set_page_dirty"   # default: a strict chain


def test_call_chain_view_refuses_what_it_cannot_draw():
    for args, what in ((((), [1]), "depths"), ((("a", "b"), [0, 2]), "depths"),
                       ((("a", "b"), [0, 0]), "depths"), ((("a",) * 13,), "rows")):
        with pytest.raises(OSError) as e:
            call_chain_view(*args)
        assert e.value.errno == errno.EINVAL and what in str(e.value)
    assert call_chain_view(()).numbers == {"calls": 0}


def test_call_chain_view_redraws_a_reused_figure_with_another_chain():
    from widgets.views import reuse
    long = call_chain_view(["f0", "f1", "f2", "f3", "f4"], files=["mm/a.c"] * 5)
    height = long.figure.get_figheight()
    with reuse(long):
        short = call_chain_view(["g0", "g1"], [0, 1], ["fs/x.c", "fs/x.c"])
    assert short.figure is long.figure and short.figure.get_figheight() < height
    assert [b.get_visible() for b in short.parts["bars"][:3]] == [True, True, False]
    assert [t.get_text() for t in short.figure.axes[0].get_legend().get_texts()] == ["fs/"]
    with reuse(short):
        empty = call_chain_view([])
    assert empty.figure.axes[0].get_legend() is None


# -- the outcome grid (chapter 06) ---------------------------------------------------------------

def _run(outcome, word=None, seconds=0.5, stored=10, read_back="all"):
    from types import SimpleNamespace
    return SimpleNamespace(outcome=outcome, word=word or outcome, seconds=seconds, stored=stored,
                           read_back=read_back)


def _small_grid():
    runs = {("a", "x"): _run("hung", seconds=2.25, stored=6600, read_back="partly"),
            ("a", "y"): _run("SIGBUS", seconds=0.036, stored=4096),
            ("b", "x"): _run("lost", seconds=0.187, stored=8192, read_back="partly"),
            ("b", "y"): _run("SIGBUS", word="ENOMEM", stored=0, read_back="-")}
    return runs, ["a", "b"], ["x", "y"]


def test_outcome_grid_colours_each_cell_by_its_outcome_and_labels_it():
    from matplotlib.colors import to_rgb

    from widgets import outcome_grid
    from widgets.views import OUTCOME_COLOUR
    runs, rows, cols = _small_grid()
    v = outcome_grid(runs, rows, cols, title="t")
    image = v.figure.axes[0].get_images()[0].get_array()
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            assert tuple(image[i, j]) == to_rgb(OUTCOME_COLOUR[runs[r, c].outcome])
    labels = [t.get_text() for t in v.figure.axes[0].texts]
    assert labels == ["hung\n2.2 s\n6600 stored\nback: partly", "SIGBUS\n0.036 s\n4096 stored\nback: all",
                      "lost\n0.19 s\n8192 stored\nback: partly", "ENOMEM\n0.5 s\n0 stored"]
    assert [t.get_text() for t in v.figure.axes[0].get_xticklabels()] == cols
    assert v.numbers["hung"] == 1 and v.numbers["SIGBUS"] == 2 and v.numbers["ok"] == 0
    assert v.numbers["b | y"] == "ENOMEM, 0.500 s, 0 stored, read back -"
    assert v.text().splitlines()[:4] == ["hung: 1", "SIGBUS: 2", "lost: 1", "ok: 0"]


def _assert_book_size_legend_below(v, labels):
    """The view's figure has the book's size and DPI, and its legend (labels) below the axes."""
    from widgets.views import DPI, WIDTH
    assert v.figure.dpi == DPI and v.figure.get_figwidth() == WIDTH
    v.figure.canvas.draw()
    renderer = v.figure.canvas.get_renderer()
    ax = v.figure.axes[0]
    assert ax.get_legend().get_window_extent(renderer).y1 < ax.get_window_extent(renderer).y0
    assert [h.get_label() for h in ax.get_legend().legend_handles] == labels


def test_outcome_grid_has_the_book_s_width_and_its_legend_outside_the_cells():
    from widgets import outcome_grid
    from widgets.views import OUTCOMES
    v = outcome_grid(*_small_grid())
    _assert_book_size_legend_below(v, list(OUTCOMES))


def test_outcome_grid_refuses_a_missing_cell_or_an_unknown_outcome():
    from widgets import outcome_grid
    runs, rows, cols = _small_grid()
    with pytest.raises(OSError) as e:
        outcome_grid(runs, rows + ["c"], cols)
    assert e.value.errno == errno.EINVAL and "no run for ('c', 'x')" in str(e.value)
    runs["a", "x"] = _run("crashed")
    with pytest.raises(OSError) as e:
        outcome_grid(runs, rows, cols)
    assert e.value.errno == errno.EINVAL and "'crashed'" in str(e.value)


def test_outcome_grid_draws_into_the_figure_it_is_given_to_reuse():
    from widgets import outcome_grid
    from widgets.views import reuse
    runs, rows, cols = _small_grid()
    first = outcome_grid(runs, rows, cols, title="first")
    runs["a", "x"] = _run("ok", seconds=1.0, stored=5)
    with reuse(first):
        again = outcome_grid(runs, rows, cols, title="again")
    assert again is first and again.numbers["ok"] == 1
    assert again.figure.axes[0].texts[0].get_text() == "ok\n1.0 s\n5 stored\nback: all"
    with reuse(first):                      # another layout: a figure of its own
        other = outcome_grid(runs, rows[:1], cols)
    assert other.figure is not first.figure


def test_outcome_grid_of_a_simulated_kernel():
    from mmsim.testbed.enospc import kernel_grid
    from widgets import outcome_grid
    g = kernel_grid("6.18")
    v = outcome_grid(g.runs, g.rows, g.columns)
    assert v.numbers["6.18 | ext2"] == "SIGBUS, 0.036 s, 4096 stored, read back all"
    assert v.numbers["6.18 | ext2 ext2_driver"].startswith("lost, ")
    assert v.figure.get_figheight() == pytest.approx(0.62 * 2 + 1.2)


def laid_out(kernel, fs="ext2", n=64):
    """A sparse n-page file on fs, stored to back to front in two halves 40 s apart, fsynced."""
    m = mmsim.Machine(kernel=kernel)
    m.mkfs("/data", fs=fs, size=64 * MiB)
    p = m.spawn()
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, n * PAGE)
    a = p.mmap(0, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    p.touch(a + n // 2 * PAGE, n // 2 * PAGE, write=True)
    m.sleep(40)                                  # kupdate writes (and places) the second half
    p.touch(a, n // 2 * PAGE, write=True)
    p.fsync(fd)
    return m, p


def test_block_layout_view_draws_every_block_where_and_when_it_was_allocated():
    m, _ = laid_out("2.6.38")
    lay = m.layout("/data/f")
    v = block_layout_view([lay, lay], ["ext2", "again"], ["two passes", ""])
    assert v.numbers["blocks [ext2]"] == 64
    assert v.numbers["seeks [ext2]"] == lay["seeks"] == 2       # second half first on the disk
    assert v.numbers["allocation times [ext2]"] == 2
    assert v.numbers["first allocated s [ext2]"] == pytest.approx(30.0)   # kupdate's expiry
    assert v.numbers["last allocated s [ext2]"] == pytest.approx(m.now, abs=1e-3)
    ax = v.figure.axes[0]
    xy = ax.collections[0].get_offsets()
    assert len(xy) == 64 and xy[0][0] == 0 and xy[0][1] == pytest.approx(32 * PAGE / MiB)
    assert ax.get_title() == "ext2\ntwo passes" and v.figure.axes[1].get_title() == "again"
    colours = ax.collections[0].get_array()
    assert colours[0] > colours[-1]                               # the first half came later
    assert "seeks [again]: 2" in v.text()
    assert v.figure.axes[-1].get_ylabel() == "allocated at (simulated s)"   # the colour bar
    v.figure.canvas.draw()
    assert v.figure.axes[-1].get_ylim() == pytest.approx((30.0, m.now), abs=1e-3)
    with pytest.raises(OSError) as e:
        block_layout_view([lay], ["a", "b"])
    assert e.value.errno == errno.EINVAL


def test_block_layout_view_skips_holes_and_reuses_its_figure():
    from widgets.views import reuse
    m, p, a = mapped("2.6.38")
    p.touch(a, 4 * PAGE, write=True)
    p.msync(a, 4 * PAGE, mmsim.MS_SYNC)
    sparse = block_layout_view([m.layout("/data/f")], ["four pages"])
    assert sparse.numbers["blocks [four pages]"] == 4            # 252 holes drawn as nothing
    assert sparse.figure.axes[0].get_xlim() == (0.0, 256 * PAGE / MiB)
    m2, _ = laid_out("2.6.37")
    with reuse(sparse):
        again = block_layout_view([m2.layout("/data/f")], ["2.6.37"])
    assert again.figure is sparse.figure and again.numbers["blocks [2.6.37]"] == 64
    assert len(again.figure.axes[0].collections[0].get_offsets()) == 64
    with reuse(again):                                  # two panels: a figure of its own
        two = block_layout_view([m2.layout("/data/f")] * 2, ["a", "b"])
    assert two.figure is not again.figure


def _small_tests():
    from mmsim.testbed.regression import Outcome
    o = {(("dave", "2.6.37"), "ext2"): Outcome("dave", "2.6.37", "ext2", "failed", "mlock dirtied"),
         (("dave", "2.6.37"), "xfs"): Outcome("dave", "2.6.37", "xfs", "failed", "mlock dirtied"),
         (("xfs/166", "6.18"), "ext2"): Outcome("xfs/166", "6.18", "ext2", "not applicable", "xfs"),
         (("xfs/166", "6.18"), "xfs"): Outcome("xfs/166", "6.18", "xfs", "passed")}
    return o, [("dave", "2.6.37"), ("xfs/166", "6.18")], ["ext2", "xfs"]


def test_regression_grid_colours_each_cell_by_status_and_counts_rows():
    from matplotlib.colors import to_rgb

    from widgets import regression_grid
    from widgets.views import TEST_COLOUR
    outcomes, rows, cols = _small_tests()
    v = regression_grid(outcomes, rows, cols, title="t")
    image = v.figure.axes[0].get_images()[0].get_array()
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            assert tuple(image[i, j]) == to_rgb(TEST_COLOUR[outcomes[r, c].status])
    assert [t.get_text() for t in v.figure.axes[0].texts] == ["FAILED", "FAILED", "n/a", "passed"]
    assert [t.get_text() for t in v.figure.axes[0].get_yticklabels()] == ["dave  2.6.37", "xfs/166  6.18"]
    assert v.text().splitlines() == ["passed: 1", "failed: 2", "not applicable: 1",
                                     "dave  2.6.37: failed 2", "xfs/166  6.18: passed 1, n/a 1"]
    _assert_book_size_legend_below(v, list(TEST_COLOUR))


def test_regression_grid_refuses_a_missing_cell_or_an_unknown_status():
    from mmsim.testbed.regression import Outcome
    from widgets import regression_grid
    outcomes, rows, cols = _small_tests()
    with pytest.raises(OSError) as e:
        regression_grid(outcomes, rows, cols + ["btrfs"])
    assert e.value.errno == errno.EINVAL and "no outcome for" in str(e.value)
    outcomes[("dave", "2.6.37"), "ext2"] = Outcome("dave", "2.6.37", "ext2", "flaky")
    with pytest.raises(OSError) as e:
        regression_grid(outcomes, rows, cols)
    assert e.value.errno == errno.EINVAL and "'flaky'" in str(e.value)
