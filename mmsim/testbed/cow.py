"""Chapter 02's experiments: copy-on-write after fork, the cases of do_wp_page, mlock's faults."""

from collections import Counter

from .._abi import PAGE_SIZE
from ..errors import EINVAL, error
from . import LOCK_OK, map_kind, new_machine, trace_paths

# The outcome of a do_wp_page call, from the last function its path names,
# under every kernel's names.
WP_OUTCOMES = {"reuse_swap_page": "reuse", "wp_can_reuse_anon_folio": "reuse",
               "cow_user_page": "copy", "wp_page_copy": "copy",
               "alloc_zeroed_user_highpage_movable": "new zeroed page",
               "set_page_dirty_balance": "shared: reuse + dirty",
               "balance_dirty_pages_ratelimited": "shared: reuse + dirty",
               "fault_dirty_shared_page": "shared: reuse + dirty"}
OUTCOMES = ("reuse", "copy", "new zeroed page", "shared: reuse + dirty")


def outcome_counts(paths):
    """Pages per do_wp_page outcome, from a Counter of paths (trace_paths).

    A path whose last function is not an outcome counts under that name.
    """
    out = Counter()
    for path, n in paths.items():
        out[WP_OUTCOMES.get(path[-1], path[-1])] += n
    return out


REGIONS = ("zero page", "anon, shared with a child", "anon, the child copied it",
           "private file, read", "shared file, read")


def do_wp_page_cases(kernel="2.6.37", fs="ext4", npages=8):
    """Set up one region of npages per REGIONS entry in one process, then store to each.

    The zero page: private anonymous memory only read. Two written private
    anonymous regions, shared with a child by fork; in the second the
    child has stored to every page. A private and a shared mapping of a
    sparse file, both read. Return {region: Counter of do_wp_page paths},
    for the parent's stores only, each path from do_wp_page on.
    """
    m, p = new_machine(kernel, fs, caps=LOCK_OK)
    length = npages * PAGE_SIZE
    zero, _ = map_kind(p, "private anonymous", npages)
    p.touch(zero, length)
    shared_anon, _ = map_kind(p, "private anonymous", npages)
    p.touch(shared_anon, length, write=True)
    copied_anon, _ = map_kind(p, "private anonymous", npages)
    p.touch(copied_anon, length, write=True)
    child = p.fork()
    child.touch(copied_anon, length, write=True)
    private, _ = map_kind(p, "private file", npages, "/data/private")
    p.touch(private, length)
    shared, _ = map_kind(p, "shared file", npages, "/data/shared")
    p.touch(shared, length)
    out = {}
    for region, a in zip(REGIONS, (zero, shared_anon, copied_anon, private, shared)):
        m.trace.clear()
        p.touch(a, length, write=True)
        out[region] = trace_paths(m.trace.query(pid=p.pid, function="do_wp_page"), at="do_wp_page")
    return out


def mlock_after_read(kernel, kind, fs="ext4", npages=16):
    """Read every page of a fresh mapping of one kind, then mlock it.

    Return the COW copies and the dirtying that mlock's do_wp_page calls
    did, Dirty (meminfo) and the mapping's Anonymous (smaps) in kB, and the
    paths of mlock's get_user_pages calls (a Counter of whole paths).
    """
    m, p = new_machine(kernel, fs, caps=LOCK_OK)
    a, _ = map_kind(p, kind, npages)
    p.touch(a, npages * PAGE_SIZE)
    m.trace.clear()
    p.mlock(a, npages * PAGE_SIZE)
    wp = outcome_counts(trace_paths(m.trace.query(op="mlock", function="do_wp_page")))
    gup = [e for e in m.trace.query(op="mlock") if "__get_user_pages" in e.path]
    return {"kernel": kernel, "kind": kind, "dirty_kb": m.meminfo()["Dirty"],
            "anon_kb": p.smaps(a)["Anonymous"], "copies": wp["copy"],
            "dirtied": wp["shared: reuse + dirty"], "paths": trace_paths(gup)}


HISTORIES = ("untouched", "read", "written", "written, then fork", "written, fork, child stores")
ACTIONS = ("store", "mlock")


def cow_lab(kernel, fs, mapping, history, action, size):
    """Prepare a mapping as one of HISTORIES, then let the parent store to every page or mlock it.

    Return the page flags, the kernel functions and do_wp_page outcomes of
    the parent's store pass (or mlock), Dirty in kB and a title.
    """
    if history not in HISTORIES or action not in ACTIONS:
        raise error(EINVAL, f"history must be one of {HISTORIES} and action one of {ACTIONS}")
    npages = max(1, size // PAGE_SIZE)
    length = npages * PAGE_SIZE
    m, p = new_machine(kernel, fs, caps=LOCK_OK)
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
    wp = outcome_counts(trace_paths(m.trace.query(pid=p.pid, function="do_wp_page")))
    return {"flags": p.pageflags(a, length), "functions": m.trace.counts(), "outcomes": wp,
            "dirty_kb": m.meminfo()["Dirty"],
            "title": f"{mapping}, {history}, then {action} ({kernel}, {fs})"}


def copies_after_fork(kernel, npages, child, parent):
    """Pages do_wp_page copied, in both processes: a process writes npages of private
    anonymous memory and forks; the child stores to its first `child` pages, then
    the parent to its first `parent` pages."""
    m, p = new_machine(kernel, caps=LOCK_OK)
    a, _ = map_kind(p, "private anonymous", npages)
    p.touch(a, npages * PAGE_SIZE, write=True)
    kid = p.fork()
    kid.touch(a, child * PAGE_SIZE, write=True)
    p.touch(a, parent * PAGE_SIZE, write=True)
    return outcome_counts(trace_paths(m.trace.query(function="do_wp_page")))["copy"]


# A mapping's history before the store: (kind, how it was prepared).
STORIES = {
    "private anonymous, read": ("private anonymous", "read"),
    "private anonymous, written, then forked": ("private anonymous", "fork"),
    "private file, read": ("private file", "read"),
    "shared file, read": ("shared file", "read"),
}


def last_function_of_store(kernel, fs, story):
    """The last kernel function on the path of a store to the first page of a
    4-page mapping with one of the STORIES, as the trace of that kernel names it."""
    if story not in STORIES:
        raise error(EINVAL, f"story must be one of {tuple(STORIES)}, not {story!r}")
    kind, before = STORIES[story]
    m, p = new_machine(kernel, fs, caps=LOCK_OK)
    a, _ = map_kind(p, kind, 4)
    p.touch(a, 4 * PAGE_SIZE, write=before == "fork")
    if before == "fork":
        p.fork()
    m.trace.clear()
    p.touch(a, PAGE_SIZE, write=True)
    return m.trace.query(pid=p.pid)[0].path[-1]
