"""The apps of chapters 01-04, as their notebooks build them, for bench_widgets.

Each builder returns (app, control): the App with the chapter's scenario,
controls (at their default values) and views, and the name of the control
the benchmark moves (through its options). The scenario functions
copy the chapters' code cells (book/0N_*.ipynb, the cell before "app ="):
keep them in step when a chapter's app changes.
"""

import os
from collections import Counter

import ipywidgets as ipw

import mmsim
import widgets
from mmsim import (GiB, MiB, PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_ANONYMOUS, MAP_PRIVATE,
                   MAP_SHARED, scenarios)
from mmsim.scenarios import kpageflags

RW = PROT_READ | PROT_WRITE


def new_machine(kernel, fs, caps=None):
    """Chapters 01 and 02: 1 GiB of RAM, the "2010" profile, a 256 MiB fs on /data."""
    m = mmsim.Machine(kernel=kernel, ram=GiB, profile="2010")
    m.mkfs("/data", fs=fs, size=256 * MiB)
    return m, m.spawn(caps=caps or set())


def map_kind(p, kind, npages, path="/data/f"):
    """mmap npages PROT_READ|PROT_WRITE of one kind; file kinds map a sparse file."""
    length = npages * PAGE_SIZE
    share = MAP_SHARED if kind.startswith("shared") else MAP_PRIVATE
    if kind.endswith("anonymous"):
        return p.mmap(0, length, RW, share | MAP_ANONYMOUS), None
    fd = p.open(path, os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, length)
    return p.mmap(0, length, RW, share, fd, 0), fd


# --- chapter 01: "Faults on one mapping"
KINDS_01 = ("private anonymous", "shared anonymous", "private file", "shared file")
ACCESSES = ("read", "write", "read, then write", "read, write, fsync, write")


def fault_lab(kernel, fs, mapping, access, size):
    """Chapter 01's experiment: map `size` bytes of one kind, access them, report per page."""
    npages = max(1, size // PAGE_SIZE)
    m, p = new_machine(kernel, fs)
    a, fd = map_kind(p, mapping, npages)
    length = npages * PAGE_SIZE
    steps = {"read": [False], "write": [True], "read, then write": [False, True],
             "read, write, fsync, write": [False, True, "fsync", True]}[access]
    for s in steps:
        if s == "fsync":
            if fd is not None:
                p.fsync(fd)
        else:
            p.touch(a, length, write=s)
    f = kpageflags(m, p, a, length)
    n = {k: int(v.sum()) for k, v in f.items()}
    n["writable+clean"] = int((f["writable"] & ~f["dirty"]).sum())
    ru = p.getrusage()
    return {"flags": f, "counts": n, "functions": m.trace.counts(), "minflt": ru.ru_minflt,
            "majflt": ru.ru_majflt, "title": f"{mapping}, {access}, {kernel}, {fs}"}


def app_01():
    app = widgets.App(
        fault_lab,
        {"kernel": widgets.kernel_control("2.6.37"),
         "fs": widgets.fs_control("ext4"),
         "mapping": ipw.Dropdown(options=KINDS_01, value="shared file", description="mapping"),
         "access": ipw.Dropdown(options=ACCESSES, value="read, then write", description="access"),
         "size": widgets.SizeControl("size", 64 * PAGE_SIZE, PAGE_SIZE, 16 * MiB)},
        [lambda r: widgets.page_state_map(r["flags"], title=r["title"]),
         lambda r: widgets.fault_path_view(r["functions"])],
        title="Faults on one mapping")
    return app, "kernel"


# --- chapter 02: "do_wp_page: reuse or copy"
KINDS_02 = ("private anonymous", "private file", "shared file")
HISTORIES = ("untouched", "read", "written", "written, then fork", "written, fork, child stores")
ACTIONS = ("store", "mlock")
OUTCOME = {"reuse_swap_page": "reuse", "wp_can_reuse_anon_folio": "reuse",
           "cow_user_page": "copy", "wp_page_copy": "copy",
           "alloc_zeroed_user_highpage_movable": "new zeroed page",
           "set_page_dirty_balance": "shared: reuse + dirty",
           "balance_dirty_pages_ratelimited": "shared: reuse + dirty",
           "fault_dirty_shared_page": "shared: reuse + dirty"}


def cow_lab(kernel, fs, mapping, history, action, size):
    """Chapter 02's experiment: prepare a mapping, then one store pass or mlock by the parent."""
    npages = max(1, size // PAGE_SIZE)
    length = npages * PAGE_SIZE
    m, p = new_machine(kernel, fs, caps={"CAP_IPC_LOCK"})
    a, _ = map_kind(p, mapping, npages)
    if history != "untouched":
        p.touch(a, length, write=history != "read")
    if "fork" in history:
        child = p.fork()
        if "child stores" in history:
            child.touch(a, length, write=True)
    m.trace.clear()
    if action == "store":
        p.touch(a, length, write=True)
    else:
        p.mlock(a, length)
    wp = Counter()
    for e in m.trace.query(pid=p.pid, function="do_wp_page"):
        wp[OUTCOME.get(e.path[-1], e.path[-1])] += e.pages
    return {"flags": kpageflags(m, p, a, length), "functions": m.trace.counts(), "outcomes": wp,
            "dirty_kb": m.meminfo()["Dirty"],
            "title": f"{mapping}, {history}, then {action} ({kernel}, {fs})"}


def app_02():
    app = widgets.App(
        cow_lab,
        {"kernel": widgets.kernel_control("2.6.37"),
         "fs": widgets.fs_control("ext4"),
         "mapping": ipw.Dropdown(options=KINDS_02, value="private anonymous", description="mapping"),
         "history": ipw.Dropdown(options=HISTORIES, value="written, then fork", description="before"),
         "action": ipw.ToggleButtons(options=ACTIONS, value="store", description="then"),
         "size": widgets.SizeControl("size", 64 * PAGE_SIZE, PAGE_SIZE, 16 * MiB)},
        [lambda r: widgets.page_state_map(r["flags"], title=r["title"]),
         lambda r: widgets.fault_path_view(r["functions"])],
        title="do_wp_page: reuse or copy")
    return app, "kernel"


# --- chapter 03: "memtoy's lock, scaled down"
def small_session(kernel, fs, size):
    """Chapter 03: Michel's session scaled down (partition half the file, RAM twice it)."""
    return scenarios.memtoy_hole20g(kernel=kernel, fs=fs, action="lock", size=size,
                                    partition=size // 2, ram=2 * size, sample=None, flags=True)


def lock_map(r):
    return widgets.page_state_map(
        r.flags, title=(f"{r.kernel}, {r.fs}: lock {r.outcome} after {r.seconds:.1f} s simulated; "
                        f"Dirty {r.dirty_kb // 1024} MiB, file blocks {r.file_blocks_kb // 1024} MiB"))


def app_03():
    app = widgets.App(small_session,
                      {"kernel": widgets.kernel_control("2.6.37"),
                       "fs": widgets.fs_control("ext2"),
                       "size": widgets.SizeControl("file size", 64 * MiB, 32 * MiB, 256 * MiB)},
                      [lock_map],
                      title="memtoy's lock, scaled down: a sparse file twice the free space, "
                            "RAM twice the file")
    return app, "kernel"


# --- chapter 04: "The >2x"
def before_after(size, profile):
    """Chapter 04: the shared mlock on both kernels, file `size`, RAM 4/3 of it."""
    return [scenarios.shared_mlock(kernel=k, fs="ext2", size=size, ram=size * 4 // 3, profile=profile)
            for k in ("2.6.37", "2.6.38")]


def speedup_view(results):
    old, new = results
    return widgets.compare_view(
        results, {"mlock (simulated s)": lambda r: r.seconds},
        title=(f"{old.size // MiB} MiB: 2.6.38 is {old.seconds / new.seconds:.2f}x faster; "
               f"2.6.37 wrote {old.disk['write_bytes'] // MiB} MiB back and seeked "
               f"{old.disk['read_seeks'] + old.disk['write_seeks']} times, "
               f"2.6.38 wrote {new.disk['write_bytes'] // MiB} MiB"))


def app_04():
    app = widgets.App(before_after,
                      {"size": widgets.SizeControl("file size", 128 * MiB, 64 * MiB, 512 * MiB),
                       "profile": widgets.profile_control("2010")},
                      [speedup_view],
                      title="The >2x: a shared mlock of an uncached file, before and after the patch")
    return app, "profile"


APPS = {"01 faults": app_01, "02 cow": app_02, "03 lock": app_03, "04 speed-up": app_04}
