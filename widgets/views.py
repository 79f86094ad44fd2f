"""Views: functions of simulation results that draw a figure and expose its numbers.

Every view returns a View: ``.figure`` (matplotlib, the book's width and
resolution), ``.numbers`` (a dict of what it draws) and ``.text()`` (those
numbers as stable text, what nbval and tests compare).

Inside ``reuse(view)`` (an App's update does this) a view function draws
into ``view``'s figure when ``view`` was drawn by the same function with the
same layout: it moves the artists' data instead of building a new figure,
so a control change only re-renders.
"""

import io
from collections import Counter
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.colors import Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from mmsim import PAGE_SIZE
from mmsim.errors import EINVAL, error
from mmsim.testbed.enospc import OUTCOMES
from mmsim.testbed.regression import STATUSES

from .render import Canvas, png

matplotlib.rcParams["figure.max_open_warning"] = 0

# The book's figure style: every view's figure is WIDTH inches wide at DPI
# (800 pixels, as the chapters' inline figures), its text in these sizes.
WIDTH = 8.0
DPI = 100
FONT_SIZE = 9
STYLE = {"font.size": FONT_SIZE, "axes.labelsize": FONT_SIZE, "xtick.labelsize": FONT_SIZE,
         "ytick.labelsize": FONT_SIZE, "axes.titlesize": FONT_SIZE + 1,
         "figure.titlesize": FONT_SIZE + 1, "legend.fontsize": FONT_SIZE - 1,
         "legend.frameon": False,
         # titles at the top of their axes, where the views' titles are anyway (no view
         # has tick labels above its axes): matplotlib does not measure every tick
         # label at each draw to find out
         "axes.titley": 1.0}

# One colour per page state, in the order the page-state map stacks them;
# light for pages that are not mlocked, dark for mlocked ones. The timeline's
# Dirty and Writeback lines use the colours of those states.
COLOUR = {"not present": "#eeeeee", "clean": "#9ecae1", "dirty": "#fc9272",
          "writeback": "#fdae6b", "locked, clean": "#3182bd", "locked, dirty": "#de2d26",
          "locked, writeback": "#e6550d", "anonymous": "#a1d99b", "anonymous, locked": "#31a354"}
STATES = tuple(COLOUR)
_RGB = np.array([to_rgb(c) for c in COLOUR.values()])
# What is not a page state, in colours no state has: limits, free space, disk
# traffic, pages per kernel function, results side by side (one per result).
LINE = {"dirty limit": "#252525", "background limit": "#969696", "free blocks": "#636363",
        "disk read": "#6a51a3", "disk write": "#8c6d31", "functions": "#807dba"}
SERIES = ("#6a51a3", "#9e9ac8", "#cbc9e2", "#636363", "#bdbdbd")
# Simulated time as a colour (a block's allocation time): early dark, late light.
TIME_CMAP = "viridis"


@dataclass
class View:
    """A figure and the numbers behind it.

    kind and layout name the function and layout that drew it; parts holds
    its artists, so that the function can draw into it again (see reuse).
    """

    figure: Figure
    numbers: dict = field(default_factory=dict)
    kind: str = ""
    layout: tuple = ()
    parts: dict = field(default_factory=dict, repr=False)

    def text(self):
        """The numbers, one per line, in a fixed order: counts as integers, others to 3 places."""
        return "\n".join(f"{k}: {_format(v)}" for k, v in self.numbers.items())

    def _repr_png_(self):
        if self.figure.dpi == DPI and isinstance(self.figure.canvas, Canvas):
            return png(self.figure)
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=DPI)
        return buf.getvalue()

    def __repr__(self):
        return self.text()


def _format(v):
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.3f}"
    return str(v)


def _number(v):
    """A drawn value as plain Python: an int for a whole count, else a float."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)


_TARGET = ContextVar("view_target", default=None)


@contextmanager
def reuse(view):
    """Let the next view function called draw into view (None: into a new figure)."""
    token = _TARGET.set(view)
    try:
        yield
    finally:
        _TARGET.reset(token)


@contextmanager
def _drawing(kind, layout, height, build):
    """Yield the View to draw: the reuse target if kind and layout match, else a new one.

    build(figure, *layout) makes the artists of a new figure and returns
    them as a dict (the View's parts). Both run in the book's STYLE.
    """
    view = _TARGET.get()
    with matplotlib.rc_context(STYLE):
        if view is not None and view.kind == kind and view.layout == layout:
            _TARGET.set(None)                         # one view per figure
            if view.figure.get_figheight() != height:
                view.figure.set_size_inches(WIDTH, height)
        else:
            fig = Figure(figsize=(WIDTH, height), dpi=DPI)
            Canvas(fig)
            view = View(fig, kind=kind, layout=layout)
            view.parts = build(fig, *layout)
        yield view


def _span(lo, hi):
    """Axis limits for data from lo to hi that never collapse to a point."""
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def page_states(flags):
    """Code each page by STATES index from page flags (mmsim.results.PageFlags).

    A page under writeback counts as "writeback" even if a store dirtied it
    again meanwhile; "locked" is "mlocked" (PG_mlocked), for file and
    anonymous pages; a PTE mapping the zero page counts as not present, the
    mapping has no page of its own there. "Dirty" is PG_dirty or, where the
    backend shows PTE bits, a dirty PTE: the kernel moves that bit to the
    page when it unmaps or cleans it (zap_pte_range, page_mkclean).
    """
    keys = ("present", "zero", "dirty", "writeback", "mlocked", "anon")
    unknown = [k for k in keys if flags[k] is None]
    if unknown:
        raise error(EINVAL, f"page states need the page flags {', '.join(unknown)}, which this "
                            "host does not show (/proc/kpageflags needs root)")
    present, zero, dirty, wb, locked, anon = (flags[k] for k in keys)
    if flags["pte_dirty"] is not None:
        dirty = dirty | flags["pte_dirty"]
    filep = present & ~zero & ~anon
    kind = np.where(wb, 2, np.where(dirty, 1, 0))        # clean, dirty, writeback
    code = np.zeros(len(present), np.uint8)
    code[filep] = (1 + kind + 3 * locked)[filep]
    code[anon] = np.where(locked, 8, 7)[anon]
    return code


def _build_state_map(fig):
    fig.subplots_adjust(left=0.02, right=0.98, top=0.85, bottom=0.42)
    ax = fig.add_subplot()
    image = ax.imshow(np.zeros((1, 1, 3)), aspect="auto", interpolation="nearest",
                      origin="lower", extent=(0, 1, 0, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xticks([0, 1], ["", ""])
    first, last = ax.get_xticklabels()
    first.set_horizontalalignment("left")
    last.set_horizontalalignment("right")
    return {"ax": ax, "image": image, "shown": None}


def page_state_map(flags, title="pages of the mapping", bins=512, rows=60):
    """A strip of the mapping, left to right, coloured by page state.

    Millions of pages are aggregated into bins; each bin is a column whose
    height is shared among the states of its pages, stacked in STATES order
    from the bottom (drawn as one image, rows pixels high). The legend,
    under the strip, names the states present. numbers: pages per state.
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
    totals = counts.sum(axis=0)
    with _drawing("page_state_map", (), 1.8, _build_state_map) as v:
        ax = v.parts["ax"]
        v.parts["image"].set_data(_RGB[state.T])
        ax.set_xticks([0, 1], ["page 0", f"page {n - 1}"])
        ax.set_title(title)
        shown = tuple(k for k in range(nstates) if totals[k])
        if shown != v.parts["shown"]:
            ax.legend(handles=[Patch(color=_RGB[k], label=STATES[k]) for k in shown],
                      loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=5)
            v.parts["shown"] = shown
    v.numbers = {"pages": n, **{name: int(totals[k]) for k, name in enumerate(STATES)}}
    return v


def _build_timeline(fig):
    fig.subplots_adjust(left=0.09, right=0.98, top=0.86, bottom=0.4, wspace=0.42)
    ax, bx = fig.subplots(1, 2)
    ax2 = ax.twinx()
    lines = {       # the limits first, so that Dirty and Writeback are drawn over them
        "thresh": ax.plot([], [], label="dirty limit", color=LINE["dirty limit"], ls=":")[0],
        "bg": ax.plot([], [], label="background limit", color=LINE["background limit"],
                      ls=":")[0],
        "dirty": ax.plot([], [], label="Dirty", color=COLOUR["dirty"], lw=2)[0],
        "writeback": ax.plot([], [], label="Writeback", color=COLOUR["writeback"], lw=2)[0],
        "free": ax2.plot([], [], label="free blocks (GiB, right)", color=LINE["free blocks"],
                         ls="--")[0],
        "read": bx.plot([], [], label="disk read", color=LINE["disk read"])[0],
        "write": bx.plot([], [], label="disk write", color=LINE["disk write"])[0],
    }
    names = ("dirty", "writeback", "thresh", "bg", "free")
    ax.legend(handles=[lines[k] for k in names], loc="upper center",
              bbox_to_anchor=(0.5, -0.3), ncol=3)
    bx.legend(handles=[lines["read"], lines["write"]], loc="upper center",
              bbox_to_anchor=(0.5, -0.3), ncol=2)
    for a in (ax, bx):
        a.set_xlabel("simulated seconds")
    ax.set_ylabel("MiB")
    ax2.set_ylabel("GiB free")
    bx.set_ylabel("MB/s")
    ax2.yaxis.set_major_locator(MaxNLocator(nbins=5))
    return {"axes": (ax, ax2, bx), "lines": lines, "title": fig.suptitle("")}


def timeline_view(samples, title="over simulated time"):
    """Dirty and writeback memory against the dirty limits, free blocks, and disk
    read and write rates, against simulated time (samples of Machine.record_timeline).

    The limits move: mlocked pages are not dirtyable memory, so a large mlock
    lowers them as it proceeds (numbers: max_mlocked_mib). Legends are under
    the panels.
    """
    def series(key, scale=1 / 1024):
        return np.array([s[key] for s in samples], float) * scale

    with _drawing("timeline_view", (), 3.2, _build_timeline) as v:
        (ax, ax2, bx), lines = v.parts["axes"], v.parts["lines"]
        v.parts["title"].set_text(title)
        if not samples:
            for line in lines.values():
                line.set_data([], [])
            v.numbers = {"samples": 0}
            return v
        t = series("t", 1)
        data = {"dirty": series("dirty_kb"), "writeback": series("writeback_kb"),
                "thresh": series("dirty_thresh_kb"), "bg": series("background_thresh_kb")}
        mlocked = series("mlocked_kb")
        free = np.array([sum(s["free_blocks"].values()) for s in samples]) * 4 / 2**20
        rd, wr = series("read_bytes", 1), series("write_bytes", 1)
        rates = {"read": np.diff(rd), "write": np.diff(wr)}
        dt = np.maximum(np.diff(t), 1e-9)
        for k, y in data.items():
            lines[k].set_data(t, y)
        lines["free"].set_data(t, free)
        for k, y in rates.items():
            lines[k].set_data(t[1:], y / dt / 1e6)
        span = _span(t[0], t[-1])
        top = max(max(float(y.max()) for y in data.values()), 1.0)
        ax.set(xlim=span, ylim=(0, top * 1.08))
        ax2.set_ylim(0, max(float(free.max()), 1e-3) * 1.08)
        peak = max((float((y / dt).max()) / 1e6 for y in rates.values() if len(y)), default=0)
        bx.set(xlim=span, ylim=(0, max(peak, 1.0) * 1.08))
    v.numbers = {"samples": len(t), "seconds": float(t[-1] - t[0]),
                 "max_dirty_mib": float(data["dirty"].max()),
                 "max_writeback_mib": float(data["writeback"].max()),
                 "first_dirty_limit_mib": float(data["thresh"][0]),
                 "last_dirty_limit_mib": float(data["thresh"][-1]),
                 "max_mlocked_mib": float(mlocked.max()),
                 "final_free_gib": float(free[-1]),
                 "read_gib": float((rd[-1] - rd[0]) / 2**30),
                 "written_gib": float((wr[-1] - wr[0]) / 2**30)}
    return v


def _build_fault_paths(fig, top):
    ax = fig.add_subplot()
    bars = ax.barh(np.arange(top), np.zeros(top), color=LINE["functions"])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("pages")
    return {"ax": ax, "bars": bars}


def fault_path_view(functions, title="kernel functions, pages through each", top=12):
    """Which kernel functions ran and for how many pages (a bar per function, most first)."""
    items = sorted(Counter(functions).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    n = len(items)
    height = 0.3 * max(n, 1) + 0.9
    with _drawing("fault_path_view", (top,), height, _build_fault_paths) as v:
        ax = v.parts["ax"]
        v.figure.subplots_adjust(left=0.36, right=0.97, top=1 - 0.35 / height,
                                 bottom=0.55 / height)
        for i, bar in enumerate(v.parts["bars"]):
            bar.set_width(items[i][1] if i < n else 0)
            bar.set_visible(i < n)
        ax.set_yticks(range(n), [k for k, _ in items])
        ax.set_ylim(max(n, 1) - 0.5, -0.5)
        ax.set_xlim(0, max((c for _, c in items), default=0) * 1.05 or 1)
        ax.set_title(title)
    v.numbers = dict(items)
    return v


def _build_compare(fig, nfields, nlabels):
    fig.subplots_adjust(left=0.07, right=0.98, top=0.8, bottom=0.1, wspace=0.4)
    axes = fig.subplots(1, nfields, squeeze=False)[0]
    bars = [ax.bar(range(nlabels), np.zeros(nlabels), color=SERIES[:nlabels]) for ax in axes]
    for ax in axes:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    return {"axes": axes, "bars": bars, "title": fig.suptitle("")}


def compare_view(results, fields, labels=None, title="before and after"):
    """Bars of the same fields of several results (e.g. two kernels), a panel per field.

    fields: {name: function of a result}; a function that returns an int is
    a count, shown and exposed as a whole number.
    """
    labels = labels or [getattr(r, "kernel", str(i)) for i, r in enumerate(results)]
    values = {name: [_number(get(r)) for r in results] for name, get in fields.items()}
    layout = (len(fields), len(results))
    with _drawing("compare_view", layout, 3.0, _build_compare) as v:
        for ax, bars, (name, vals) in zip(v.parts["axes"], v.parts["bars"], values.items()):
            for bar, val in zip(bars, vals):
                bar.set_height(val)
            ax.set_xticks(range(len(labels)), labels)
            ax.set_ylim(0, max(max(vals), 0) * 1.1 or 1)   # all-zero panels stay readable
            ax.yaxis.get_major_locator().set_params(
                integer=all(isinstance(x, int) for x in vals))
            ax.set_title(name, fontsize=FONT_SIZE)
        v.parts["title"].set_text(title)
    v.numbers = {f"{name} [{lab}]": val for name, vals in values.items()
                 for lab, val in zip(labels, vals)}
    return v


# Per owner of memory (in the order the owners sort), the colours of its locked and
# its other resident pages: the page states' locked and unlocked pairs.
OWNER_COLOURS = ((COLOUR["anonymous, locked"], COLOUR["anonymous"]),
                 (COLOUR["locked, clean"], COLOUR["clean"]),
                 (COLOUR["locked, dirty"], COLOUR["dirty"]),
                 (COLOUR["locked, writeback"], COLOUR["writeback"]))
UNMAPPED_CACHE, FREE = "page cache, not mapped", "free"


def holder_layers(samples, owners):
    """Memory per holder and sample, in MiB, bottom layer first: {name: array}.

    samples: Machine.record_timeline(..., procs=True); owners: {pid: name},
    processes not in it are "other". Per owner, "<owner>, locked" (resident
    pages of VM_LOCKED vmas) and "<owner>, not locked" (its other resident
    pages); then the page cache no process maps (Cached less the processes'
    file pages, never below 0: a page two processes map counts twice in
    their RSS) and free memory.
    """
    names = sorted(set(owners.values()))
    if any(pid not in owners for s in samples for pid in s["procs"]):
        names.append("other")
    layers = {}
    for name in names:
        locked, rest = [], []
        for s in samples:
            mine = [v for pid, v in s["procs"].items() if owners.get(pid, "other") == name]
            locked.append(sum(v["locked_kb"] for v in mine))
            rest.append(sum(v["rss_kb"] - v["locked_kb"] for v in mine))
        layers[f"{name}, locked"] = np.array(locked, float) / 1024
        layers[f"{name}, not locked"] = np.array(rest, float) / 1024
    mapped_file = np.array([sum(v["rss_kb"] - v["anon_kb"] for v in s["procs"].values())
                            for s in samples], float)
    cached = np.array([s["cached_kb"] for s in samples], float)
    layers[UNMAPPED_CACHE] = np.maximum(cached - mapped_file, 0) / 1024
    layers[FREE] = np.array([s["free_kb"] for s in samples], float) / 1024
    return layers


def _layer_colour(name, owner_names):
    if name == UNMAPPED_CACHE:
        return SERIES[4]
    if name == FREE:
        return COLOUR["not present"]
    owner, kind = name.rsplit(", ", 1)
    pair = OWNER_COLOURS[owner_names.index(owner) % len(OWNER_COLOURS)]
    return pair[0] if kind == "locked" else pair[1]


def _build_holders(fig, names, npasses, marks):
    fig.subplots_adjust(left=0.08, right=0.98, top=0.85, bottom=0.36, wspace=0.35)
    grid = fig.add_gridspec(1, 3)
    ax, bx = fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2])
    owner_names = list(dict.fromkeys(n.rsplit(", ", 1)[0] for n in names
                                     if n not in (UNMAPPED_CACHE, FREE)))
    polys = [ax.fill_between([0, 1], [0, 0], [0, 0], color=_layer_colour(n, owner_names),
                             label=n, lw=0) for n in names]
    lines = [ax.axvline(0, color=LINE["dirty limit"], ls="--", lw=1) for _ in marks]
    labels = [ax.text(0, 1.01, m, transform=ax.get_xaxis_transform(), ha="center",
                      va="bottom", fontsize=FONT_SIZE - 1) for m in marks]
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("MiB")
    bars = bx.bar(range(1, npasses + 1), np.zeros(npasses), color=LINE["disk read"])
    texts = [bx.text(i + 1, 0, "", ha="center", va="bottom", fontsize=FONT_SIZE - 1)
             for i in range(npasses)]
    bx.set_xticks(range(1, npasses + 1))
    bx.set_xlabel("pass (major faults on top)")
    bx.set_ylabel("simulated seconds")
    return {"axes": (ax, bx), "polys": polys, "marks": list(zip(lines, labels)),
            "bars": bars, "texts": texts, "title": fig.suptitle(""), "shown": None}


def memory_holders_view(samples, owners, passes=(), marks=None, title="who holds the memory"):
    """Who holds the machine's memory over simulated time, and what one process's passes cost.

    Left: a stacked area of holder_layers (per owner its locked and other
    resident memory, the page cache no process maps, free memory), with a
    dashed line at each of marks ({label: simulated time}); the legend,
    under it, names the layers that hold any memory. Right: passes
    ([{"t", "seconds", "majflt"}], one process's passes over a file), a bar
    of simulated seconds each, its major faults written above it.
    numbers: per layer its largest and last MiB, per pass its seconds and
    major faults, each mark's time.
    """
    if not samples or "procs" not in samples[0]:
        raise error(EINVAL, "memory_holders_view needs samples taken with "
                            "record_timeline(..., procs=True)")
    marks = dict(marks or {})
    layers = holder_layers(samples, owners)
    layout = (tuple(layers), len(passes), tuple(marks))
    t = np.array([s["t"] for s in samples], float)
    with _drawing("memory_holders_view", layout, 3.0, _build_holders) as v:
        ax, bx = v.parts["axes"]
        shown = tuple(i for i, y in enumerate(layers.values()) if y.any())
        if shown != v.parts["shown"]:
            ax.legend(handles=[v.parts["polys"][i] for i in shown], loc="upper center",
                      bbox_to_anchor=(0.5, -0.3), ncol=3)
            v.parts["shown"] = shown
        lower = np.zeros(len(t))
        for poly, y in zip(v.parts["polys"], layers.values()):
            upper = lower + y
            poly.set_verts([np.column_stack([np.concatenate([t, t[::-1]]),
                                             np.concatenate([upper, lower[::-1]])])])
            lower = upper
        ax.set(xlim=_span(t[0], t[-1]), ylim=(0, max(float(lower.max()), 1.0) * 1.02))
        for (line, label), at in zip(v.parts["marks"], marks.values()):
            line.set_xdata([at, at])
            label.set_x(at)
        secs = [p["seconds"] for p in passes]
        top = max(secs, default=0) or 1.0
        for bar, text, p in zip(v.parts["bars"], v.parts["texts"], passes):
            bar.set_height(p["seconds"])
            text.set_position((bar.get_x() + bar.get_width() / 2, p["seconds"] + top * 0.02))
            text.set_text(f"{p['majflt']}")
        bx.set_ylim(0, top * 1.2)
        v.parts["title"].set_text(title)
    v.numbers = {"samples": len(t), "seconds": float(t[-1] - t[0])}
    for name, y in layers.items():
        v.numbers[f"{name} max MiB"] = float(y.max())
        v.numbers[f"{name} last MiB"] = float(y[-1])
    for i, p in enumerate(passes, 1):
        v.numbers[f"pass {i} s"] = float(p["seconds"])
        v.numbers[f"pass {i} majflt"] = int(p["majflt"])
    for name, at in marks.items():
        v.numbers[f"{name} at s"] = float(at)
    return v


# The source tree's top directories, for the call-chain view: where a
# function of a fault path lives (colours no page state has).
LAYER = {"arch/": "#d9d9d9", "mm/": "#bcbddc", "include/": "#efedf5", "fs/": "#e7cb94"}
_INDENT = 0.045         # of the axes' width, per call level


def _build_call_chain(fig, top):
    ax = fig.add_subplot()
    bars = ax.barh(np.arange(top), np.zeros(top), left=np.zeros(top), height=0.82,
                   color=LINE["functions"], edgecolor="#636363", linewidth=0.6)
    names = [ax.text(0, i, "", va="center", ha="left") for i in range(top)]
    files = [ax.text(0.99, i, "", va="center", ha="right", color="#525252",
                     fontsize=FONT_SIZE - 1) for i in range(top)]
    ax.set_xlim(0, 1)
    ax.set_axis_off()
    return {"ax": ax, "bars": bars, "names": names, "files": files}


def _layer(file):
    return next((k for k in LAYER if file.startswith(k)), None)


def call_chain_view(path, depths=None, files=None, title="the call chain, outermost first",
                    top=12):
    """A fault path drawn as the call chain it is: one row per function, outermost
    at the top, each indented under the function that calls it.

    path: kernel function names, outermost first (a trace event's path);
    depths: each function's call depth (0 for the outermost; default: each
    calls the next); files: each function's source file, which colours the
    row by its top directory (arch/, mm/, fs/, include/; the legend, under
    the rows, names them). numbers: "calls", then one line per row, indented
    by depth, with the file.
    """
    path = list(path)
    n = len(path)
    depths = list(range(n)) if depths is None else [int(d) for d in depths]
    files = [""] * n if files is None else list(files)
    if n > top:
        raise error(EINVAL, f"a chain of {n} functions does not fit {top} rows; pass top={n}")
    if len(depths) != n or len(files) != n:
        raise error(EINVAL, f"{n} functions, {len(depths)} depths and {len(files)} files: "
                            "give one of each per function")
    if n and (depths[0] != 0 or any(not 0 < d <= p + 1 for p, d in zip(depths, depths[1:]))):
        raise error(EINVAL, f"depths {depths}: the first must be 0 and each later one from 1 "
                            "to one more than the one before it")
    height = 0.27 * max(n, 1) + 1.0
    with _drawing("call_chain_view", (top,), height, _build_call_chain) as v:
        ax = v.parts["ax"]
        v.figure.subplots_adjust(left=0.02, right=0.98, top=1 - 0.38 / height,
                                 bottom=0.5 / height)
        for i, (bar, name, where) in enumerate(zip(v.parts["bars"], v.parts["names"],
                                                   v.parts["files"])):
            shown = i < n
            for artist in (bar, name, where):
                artist.set_visible(shown)
            if not shown:
                continue
            left = depths[i] * _INDENT
            bar.set_x(left)
            bar.set_width(1 - left)
            bar.set_facecolor(LAYER.get(_layer(files[i]), LINE["functions"]))
            name.set_position((left + 0.008, i))
            name.set_text(path[i])
            where.set_text(files[i])
        ax.set_ylim(max(n, 1) - 0.5, -0.5)
        ax.set_title(title)
        layers = [k for k in LAYER if any(_layer(f) == k for f in files)]
        if layers:
            ax.legend(handles=[Patch(facecolor=LAYER[k], edgecolor="#636363", label=k)
                               for k in layers],
                      loc="upper center", bbox_to_anchor=(0.5, 0), ncol=len(layers))
        elif ax.get_legend() is not None:
            ax.get_legend().remove()
    v.numbers = {"calls": n}
    for i, (fn, d, f) in enumerate(zip(path, depths, files), 1):
        v.numbers[str(i)] = "  " * d + fn + (f"  ({f})" if f else "")
    return v


# The ends of a run that stores into a hole on a full filesystem (chapter 06),
# in colours no page state has; the text in a cell is white on the dark ones.
OUTCOME_COLOUR = dict(zip(OUTCOMES, ("#54278f", "#fec44f", "#ce1256", "#41ab5d")))
_DARK = {"hung", "lost"}


def _build_grid(fig, nrows, ncols, legend, left):
    """Make a grid of nrows x ncols coloured cells with a text in each; legend {label: colour} under it."""
    height = fig.get_figheight()
    fig.subplots_adjust(left=left, right=0.99, top=1 - 0.75 / height, bottom=0.45 / height)
    ax = fig.add_subplot()
    image = ax.imshow(np.ones((nrows, ncols, 3)), aspect="auto", interpolation="nearest",
                      extent=(-0.5, ncols - 0.5, nrows - 0.5, -0.5))
    ax.set_xticks(np.arange(ncols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(nrows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="both", length=0)
    ax.tick_params(axis="x", labelsize=FONT_SIZE - 1)
    ax.xaxis.tick_top()
    for side in ax.spines.values():
        side.set_visible(False)
    texts = [[ax.text(c, r, "", ha="center", va="center", fontsize=FONT_SIZE - 2, linespacing=1.15)
              for c in range(ncols)] for r in range(nrows)]
    ax.legend(handles=[Patch(color=c, label=k) for k, c in legend.items()],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=len(legend))
    return {"ax": ax, "image": image, "texts": texts, "title": fig.suptitle("")}


def _grid(kind, items, what, rows, columns, status_of, label_of, colours, dark, title, height,
          left=0.15, names=None, legend=None):
    """Draw a grid of items {(row, column): item}, one cell each (EINVAL if one is missing).

    A cell is coloured by colours[status_of(item)] (EINVAL for a status with
    no colour) and labelled label_of(item, (row, column)); dark: the
    statuses whose cells take white text; names: the row labels (rows by
    default); legend: {status: label} for the legend (the statuses by
    default). Return the View and the statuses {(row, column): status}.
    """
    missing = [(r, c) for r in rows for c in columns if (r, c) not in items]
    if missing:
        raise error(EINVAL, f"{kind}: no {what} for {missing[0]}")
    status = {(r, c): status_of(items[r, c]) for r in rows for c in columns}
    bad = sorted(set(status.values()) - set(colours))
    if bad:
        raise error(EINVAL, f"{kind}: unknown status {bad[0]!r}; one of {', '.join(colours)}")
    label = {k: label_of(items[k], k) for k in status}
    rgb = np.array([to_rgb(colours[status[r, c]]) for r in rows for c in columns]).reshape(
        len(rows), len(columns), 3)
    legend = {(legend or {}).get(k, k): colour for k, colour in colours.items()}
    build = lambda fig, nrows, ncols: _build_grid(fig, nrows, ncols, legend, left)
    with _drawing(kind, (len(rows), len(columns)), height, build) as v:
        ax = v.parts["ax"]
        v.parts["image"].set_data(rgb)
        ax.set_xticks(range(len(columns)), columns)
        ax.set_yticks(range(len(rows)), rows if names is None else names)
        for i, r in enumerate(rows):
            for j, c in enumerate(columns):
                text = v.parts["texts"][i][j]
                text.set_text(label[r, c])
                text.set_color("white" if status[r, c] in dark else "black")
        v.parts["title"].set_text(title)
    return v, status


def _short_seconds(s):
    """Simulated seconds for a cell: 2.2 s, 0.19 s, 0.036 s."""
    return f"{s:.1f} s" if s >= 1 else f"{s:.2g} s"


def outcome_grid(runs, rows, columns, title="how the stores end"):
    """A grid of runs, a cell per (row, column), coloured by how the run ended.

    runs: {(row, column): run}, each run with .outcome (one of OUTCOMES, the
    colour), .word (what the cell calls it, e.g. mlock's "ENOMEM" for a
    refused fault), .seconds (simulated, until the outcome), .stored (pages
    stored) and .read_back ("all", "partly", "zeros", or "-" when nothing
    was stored), as mmsim.testbed.enospc.enospc_run returns them. The label
    in each cell has the word, the time, the pages stored and what read
    back; the legend is under the grid. numbers: cells per outcome, then
    every cell.
    """
    rows, columns = list(rows), list(columns)
    v, status = _grid("outcome_grid", runs, "run", rows, columns, lambda run: run.outcome,
                      lambda run, _: (f"{run.word}\n{_short_seconds(run.seconds)}\n{run.stored} stored"
                                      + (f"\nback: {run.read_back}" if run.stored else "")),
                      OUTCOME_COLOUR, _DARK, title, 0.62 * len(rows) + 1.2)
    counts = Counter(status.values())
    v.numbers = {**{k: counts[k] for k in OUTCOMES},
                 **{f"{r} | {' '.join(c.split())}": (
                     f"{runs[r, c].word}, {runs[r, c].seconds:.3f} s, {runs[r, c].stored} "
                     f"stored, read back {runs[r, c].read_back}") for r in rows for c in columns}}
    return v


# A regression test's statuses (chapter 09), in colours no page state has;
# a light cell for a test that does not apply.
TEST_COLOUR = dict(zip(STATUSES, ("#41ab5d", "#ce1256", "#f0f0f0")))
_TEST_WORD = {"passed": "passed", "failed": "FAILED", "not applicable": "n/a"}


def regression_grid(outcomes, rows, columns, title="the tests, per kernel and filesystem"):
    """A grid of test outcomes, a cell per (row, column), coloured by status.

    outcomes: {(row, column): outcome}, each with .status (one of
    mmsim.testbed.regression.STATUSES), as regression.run_test returns
    them; rows are e.g. (test, kernel) pairs, shown as "test  kernel".
    numbers: cells per status, then per row the statuses across the
    columns, counted ("failed 6", "passed 1, n/a 5").
    """
    rows, columns = list(rows), list(columns)
    names = ["  ".join(r) if isinstance(r, tuple) else str(r) for r in rows]
    v, status = _grid("regression_grid", outcomes, "outcome", rows, columns, lambda o: o.status,
                      lambda o, _: _TEST_WORD[o.status], TEST_COLOUR, {"failed"}, title,
                      0.3 * len(rows) + 1.3, left=0.2, names=names)
    counts = Counter(status.values())
    v.numbers = {k: counts[k] for k in STATUSES}
    for name, r in zip(names, rows):
        row = Counter(outcomes[r, c].status for c in columns)
        v.numbers[name] = ", ".join(f"{'n/a' if k == 'not applicable' else k} {row[k]}"
                                    for k in STATUSES if row[k])
    return v


def _build_block_layout(fig, n):
    fig.subplots_adjust(left=0.09, right=0.86, top=0.78, bottom=0.16, wspace=0.35)
    axes = fig.subplots(1, n, squeeze=False)[0]
    points = [ax.scatter(np.zeros(0), np.zeros(0), c=np.zeros(0), s=3, marker="s",
                         linewidths=0, cmap=TIME_CMAP, norm=Normalize(0.0, 1.0)) for ax in axes]
    for ax in axes:
        ax.set_xlabel("file offset (MiB)")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    axes[0].set_ylabel("disk position (MiB)")
    cax = fig.add_axes((0.89, 0.16, 0.015, 0.62))       # the colour bar, right of the data
    bar = fig.colorbar(points[0], cax=cax)
    bar.set_label("allocated at (simulated s)")
    return {"axes": axes, "points": points, "bar": bar, "title": fig.suptitle("")}


def block_layout_view(layouts, labels=None, notes=None, title="the file's blocks on the disk"):
    """Each allocated page of a file: its offset in the file against its block's
    position on the disk, coloured by when the block was allocated; a panel per file.

    layouts: dicts as Machine.layout returns them ("block" and
    "allocated_at" per page; holes and delalloc reservations are not
    drawn); labels name the panels (and their numbers), notes add a second
    line under each label; one colour scale for all panels. A file laid out
    in order is one diagonal line; each break in it is a seek for a
    sequential read. numbers, per panel: blocks, seeks (discontiguities
    plus the first), the distinct allocation times, the first and the last.
    """
    layouts = list(layouts)
    labels = list(labels or [str(i) for i in range(len(layouts))])
    notes = list(notes or [""] * len(layouts))
    if not layouts or not len(labels) == len(notes) == len(layouts):
        raise error(EINVAL, f"need one label and note per layout: {len(labels)} and "
                            f"{len(notes)} for {len(layouts)}")
    mib = PAGE_SIZE / 2**20
    drawn = []
    for lay in layouts:
        block = np.asarray(lay["block"])
        pages = np.flatnonzero(block >= 0)
        drawn.append((pages, block[pages], np.asarray(lay["allocated_at"])[pages]))
    times = np.concatenate([t for _, _, t in drawn])
    lo, hi = (float(times.min()), float(times.max())) if len(times) else (0.0, 0.0)
    with _drawing("block_layout_view", (len(layouts),), 3.0, _build_block_layout) as v:
        parts = v.parts
        norm = Normalize(*_span(lo, hi))         # one scale for every panel, set at once
        for ax, sc, label, note, (pages, blocks, at), lay in zip(
                parts["axes"], parts["points"], labels, notes, drawn, layouts):
            sc.norm = norm
            sc.set_offsets(np.column_stack([pages * mib, blocks * mib]))
            sc.set_array(at)
            ax.set_xlim(0, max(len(lay["block"]), 1) * mib)
            ax.set_ylim(*_span(float(blocks.min()) * mib, float(blocks.max() + 1) * mib)
                        if len(blocks) else (0, 1))
            ax.set_title(f"{label}\n{note}" if note else label, fontsize=FONT_SIZE)
        parts["bar"].update_normal(parts["points"][0])
        parts["title"].set_text(title)
    v.numbers = {}
    for label, (pages, blocks, at) in zip(labels, drawn):
        seeks = int(np.count_nonzero(np.diff(blocks) != 1)) + (1 if len(blocks) else 0)
        v.numbers.update({f"blocks [{label}]": len(blocks), f"seeks [{label}]": seeks,
                          f"allocation times [{label}]": len(np.unique(at)),
                          f"first allocated s [{label}]": float(at.min()) if len(at) else 0.0,
                          f"last allocated s [{label}]": float(at.max()) if len(at) else 0.0})
    return v


# A comparison of the real kernel and the simulator, as one word (mmsim.testbed.lab.verdict),
# in colours no page state or outcome has.
VERDICT_COLOUR = {"agree": "#1a9850", "differs": "#a6d96a", "DISAGREE": "#d73027",
                  "not run": "#d9d9d9"}
VERDICT_LABEL = {"agree": "agree", "differs": "differs (legitimately only)",
                 "DISAGREE": "DISAGREE", "not run": "not run"}


def verdict_grid(tables, rows, columns, title="the real kernel against the simulator", notes=None):
    """A grid of comparisons (mmsim.experiment.Table), a cell per (row, column), coloured by verdict.

    tables: {(row, column): Table}. A cell is DISAGREE if any field
    disagrees, "not run" if a side could not run, "differs" if the only
    differences are legitimate ones, else "agree"; its label counts the
    fields that agree out of all, and adds notes[(row, column)] if given
    (e.g. what the real run ended with). numbers: cells per verdict, then
    each cell's verdict and counts (and note).
    """
    notes = dict(notes or {})
    from mmsim.testbed.lab import counts, verdict
    rows, columns = list(rows), list(columns)

    def label(t, cell):
        word = verdict(t)
        text = word if word == "not run" else f"{word}\n{counts(t)['agree']}/{len(t.rows)} agree"
        return text + (f"\n{notes[cell]}" if cell in notes else "")

    v, words = _grid("verdict_grid", tables, "comparison", rows, columns, verdict, label,
                     VERDICT_COLOUR, {"agree", "DISAGREE"}, title,
                     (0.6 if notes else 0.45) * len(rows) + 1.2, left=0.3, legend=VERDICT_LABEL)
    tally = Counter(words.values())
    v.numbers = {k: tally[k] for k in VERDICT_COLOUR}
    for r in rows:
        for c in columns:
            n = counts(tables[r, c])
            v.numbers[f"{r} | {c}"] = (f"{words[r, c]}, {n['agree']} agree, {n['differs']} differ, "
                                       f"{n['DISAGREE']} DISAGREE of {len(tables[r, c].rows)}"
                                       + (f"; {notes[r, c]}" if (r, c) in notes else ""))
    return v
