"""Views: functions of simulation results that draw a figure and expose its numbers.

Every view returns a View: ``.figure`` (matplotlib, fixed size), ``.numbers``
(a dict of what it draws) and ``.text()`` (those numbers as stable text, what
nbval and tests compare).
"""

from collections import Counter
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mmsim.errors import EINVAL, error

matplotlib.rcParams["figure.max_open_warning"] = 0

STATES = ("not present", "clean", "dirty", "writeback", "locked, clean", "locked, dirty",
          "locked, writeback", "anonymous", "anonymous, locked")
COLOURS = ("#eeeeee", "#9ecae1", "#fc9272", "#fdd0a2", "#3182bd", "#de2d26",
           "#e6550d", "#a1d99b", "#31a354")
COLOUR = dict(zip(STATES, COLOURS))
_RGB = np.array([to_rgb(c) for c in COLOURS])


@dataclass
class View:
    """A figure and the numbers behind it."""

    figure: Figure
    numbers: dict = field(default_factory=dict)

    def text(self):
        """The numbers, one per line, in a fixed order and format."""
        lines = []
        for k, v in self.numbers.items():
            if isinstance(v, float):
                v = f"{v:.3f}"
            lines.append(f"{k}: {v}")
        return "\n".join(lines)

    def _repr_png_(self):
        import io
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=72)
        return buf.getvalue()

    def __repr__(self):
        return self.text()


def page_states(flags):
    """Code each page by STATES index from page flags (mmsim.results.PageFlags).

    A page under writeback counts as "writeback" even if a store dirtied it
    again meanwhile; "locked" is "mlocked" (PG_mlocked), for file and
    anonymous pages; a PTE mapping the zero page counts as not present, the
    mapping has no page of its own there.
    """
    keys = ("present", "zero", "dirty", "writeback", "mlocked", "anon")
    unknown = [k for k in keys if flags[k] is None]
    if unknown:
        raise error(EINVAL, f"page states need the page flags {', '.join(unknown)}, which this "
                            "host does not show (/proc/kpageflags needs root)")
    present, zero, dirty, wb, locked, anon = (flags[k] for k in keys)
    filep = present & ~zero & ~anon
    kind = np.where(wb, 2, np.where(dirty, 1, 0))        # clean, dirty, writeback
    code = np.zeros(len(present), np.uint8)
    code[filep] = (1 + kind + 3 * locked)[filep]
    code[anon] = np.where(locked, 8, 7)[anon]
    return code


def page_state_map(flags, title="pages of the mapping", bins=512, rows=60):
    """A strip of the mapping, left to right, coloured by page state.

    Millions of pages are aggregated into bins; each bin is a column whose
    height is shared among the states of its pages, stacked in STATES order
    from the bottom (drawn as one image, rows pixels high, so that a change
    of control redraws quickly). numbers: pages per state.
    """
    code = page_states(flags)
    n = len(code)
    nstates = len(STATES)
    bins = max(1, min(bins, n))
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    which = np.repeat(np.arange(bins), np.diff(edges))
    counts = np.bincount(which * nstates + code, minlength=bins * nstates).reshape(bins, nstates)
    cum = np.cumsum(counts, axis=1) / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    levels = (np.arange(rows) + 0.5) / rows
    state = np.minimum((cum[:, None, :] <= levels[None, :, None]).sum(axis=2), nstates - 1)
    fig = Figure(figsize=(8, 1.8))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.85, bottom=0.42)
    ax = fig.add_subplot()
    ax.imshow(_RGB[state.T], aspect="auto", interpolation="nearest", origin="lower",
              extent=(0, bins, 0, 1))
    ax.set_xlim(0, bins)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xticks([0, bins], ["page 0", f"page {n - 1}"])
    first, last = ax.get_xticklabels()
    first.set_horizontalalignment("left")
    last.set_horizontalalignment("right")
    ax.set_title(title, fontsize=10)
    totals = counts.sum(axis=0)
    shown = [Patch(color=COLOURS[k], label=STATES[k]) for k in range(nstates) if totals[k]]
    ax.legend(handles=shown, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=5,
              fontsize=8, frameon=False)
    numbers = {name: int(totals[k]) for k, name in enumerate(STATES)}
    return View(fig, {"pages": n, **numbers})


def timeline_view(samples, title="over simulated time"):
    """Dirty and writeback memory against the dirty limits, free blocks, and disk
    read and write rates, against simulated time (samples of Machine.record_timeline).

    The limits move: mlocked pages are not dirtyable memory, so a large mlock
    lowers them as it proceeds.
    """
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    if not samples:
        return View(fig, {"samples": 0})

    def series(key, scale=1 / 1024):
        return np.array([s[key] for s in samples], float) * scale

    t = series("t", 1)
    dirty, wb = series("dirty_kb"), series("writeback_kb")
    thresh, bg = series("dirty_thresh_kb"), series("background_thresh_kb")
    mlocked = series("mlocked_kb")
    free = np.array([sum(s["free_blocks"].values()) for s in samples]) * 4 / 2**20
    rd, wr = series("read_bytes", 1), series("write_bytes", 1)
    dt = np.maximum(np.diff(t), 1e-9)
    ax.plot(t, dirty, label="Dirty (MiB)", color=COLOUR["dirty"])
    ax.plot(t, wb, label="Writeback (MiB)", color=COLOUR["locked, writeback"])
    ax.plot(t, thresh, label="dirty limit", color=COLOUR["locked, dirty"], linestyle=":")
    ax.plot(t, bg, label="background limit", color=COLOUR["clean"], linestyle=":")
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("MiB")
    ax2 = ax.twinx()
    ax2.plot(t, free, label="free blocks (GiB)", color="#555555", linestyle="--")
    ax2.set_ylabel("GiB free")
    ax.legend(loc="upper left", fontsize=7)
    ax2.legend(loc="upper right", fontsize=7)
    if len(t) > 1:
        bx.plot(t[1:], np.diff(rd) / dt / 1e6, label="disk read MB/s", color=COLOUR["locked, clean"])
        bx.plot(t[1:], np.diff(wr) / dt / 1e6, label="disk write MB/s", color=COLOUR["dirty"])
        bx.legend(fontsize=8)
    bx.set_xlabel("simulated seconds")
    fig.suptitle(title, fontsize=10)
    return View(fig, {"samples": len(t), "seconds": float(t[-1] - t[0]),
                      "max_dirty_mib": float(dirty.max()), "max_writeback_mib": float(wb.max()),
                      "first_dirty_limit_mib": float(thresh[0]),
                      "last_dirty_limit_mib": float(thresh[-1]),
                      "max_mlocked_mib": float(mlocked.max()), "final_free_gib": float(free[-1]),
                      "read_gib": float((rd[-1] - rd[0]) / 2**30),
                      "written_gib": float((wr[-1] - wr[0]) / 2**30)})


def fault_path_view(functions, title="kernel functions, pages through each", top=12):
    """Which kernel functions ran and for how many pages (a bar per function)."""
    items = sorted(Counter(functions).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    height = 0.3 * max(len(items), 1) + 0.9
    fig = Figure(figsize=(8, height))
    fig.subplots_adjust(left=0.36, right=0.97, top=1 - 0.35 / height, bottom=0.55 / height)
    ax = fig.add_subplot()
    names = [k for k, _ in items][::-1]
    vals = [v for _, v in items][::-1]
    ax.barh(names, vals, color=COLOUR["locked, clean"])
    ax.set_xlabel("pages")
    ax.set_title(title, fontsize=10)
    return View(fig, dict(items))


def compare_view(results, fields, labels=None, title="before and after"):
    """Grouped bars of the same fields of several results (e.g. two kernels)."""
    labels = labels or [getattr(r, "kernel", str(i)) for i, r in enumerate(results)]
    fig = Figure(figsize=(8, 3), layout="constrained")
    axes = fig.subplots(1, len(fields), squeeze=False)[0]
    numbers = {}
    for ax, (name, get) in zip(axes, fields.items()):
        vals = [float(get(r)) for r in results]
        ax.bar(labels, vals, color=COLOURS[1:1 + len(vals)])
        ax.set_ylim(bottom=0, top=max(max(vals), 0) * 1.1 or 1)   # all-zero panels stay readable
        ax.set_title(name, fontsize=9)
        for lab, v in zip(labels, vals):
            numbers[f"{name} [{lab}]"] = v
    fig.suptitle(title, fontsize=10)
    return View(fig, numbers)
