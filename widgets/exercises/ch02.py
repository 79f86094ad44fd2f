"""Chapter 02's exercises: copy-on-write and do_wp_page."""

import mmsim
from mmsim.testbed.cow import STORIES, copies_after_fork, last_function_of_store, mlock_after_read

from . import Exercise
from .forms import Words, count, first, kilobytes


def _copies_make(rng):
    n = rng.choice([16, 32, 64])
    return {"kernel": rng.choice(mmsim.KERNEL_VERSIONS), "npages": n,
            "child": rng.randint(1, n), "parent": rng.randint(1, n)}


def _copies_ask(q):
    return (f"Kernel {q['kernel']}: a process writes all {q['npages']} pages of a private "
            f"anonymous mapping and forks. The child stores to {first(q['child'])}; then the "
            f"parent stores to {first(q['parent'], whose='its')}. How many pages does "
            f"do_wp_page copy in all, in both processes?")


def _function_make(rng):
    return {"kernel": rng.choice(mmsim.KERNEL_VERSIONS), "fs": rng.choice(["ext2", "ext4"]),
            "story": rng.choice(sorted(STORIES))}


def _function_ask(q):
    return (f"Kernel {q['kernel']}, {q['fs']}: a process has a mapping that is "
            f"'{q['story']}'. It stores to the first page. Which kernel function does the "
            f"simulator's trace name last on the path of that store (the name as kernel "
            f"{q['kernel']} spells it)?")


def _function_form(q):
    """The last functions of a store in every story, on this kernel and filesystem."""
    names = {last_function_of_store(q["kernel"], q["fs"], story) for story in sorted(STORIES)}
    return Words(sorted(names), "one kernel function name")


def _dirty_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.37", "2.6.38", "6.18"]),
            "kind": rng.choice(["shared file", "shared file", "private file", "private anonymous"]),
            "fs": rng.choice(["ext2", "ext4", "xfs"]), "npages": rng.choice([8, 16, 24, 40])}


def _dirty_ask(q):
    on_fs = f", a sparse file on {q['fs']}" if "file" in q["kind"] else ""
    return (f"Kernel {q['kernel']}: a process maps {q['npages']} pages ({q['kind']}, "
            f"PROT_READ|PROT_WRITE{on_fs}), reads every page, then mlocks the whole mapping. "
            f"What does /proc/meminfo show as Dirty afterwards?")


EXERCISES = [
    Exercise(
        "02", 1, "Copies after a fork", _copies_make, _copies_ask,
        lambda q: copies_after_fork(q["kernel"], q["npages"], q["child"], q["parent"]),
        count("pages"),
        "after the fork every page has two users; a store copies a page only while the other "
        "process still maps it, and reuses it once the other process has made its own copy"),
    Exercise(
        "02", 2, "Name the function", _function_make, _function_ask,
        lambda q: last_function_of_store(q["kernel"], q["fs"], q["story"]),
        _function_form,
        "find the do_wp_page case first (zero page, anonymous page with one or two users, "
        "private file page, shared file page), then its last step in this kernel's names: see "
        "the table of section 2"),
    Exercise(
        "02", 3, "Dirty after mlock", _dirty_make, _dirty_ask,
        lambda q: mlock_after_read(q["kernel"], q["kind"], fs=q["fs"], npages=q["npages"])["dirty_kb"],
        kilobytes(),
        "mlock faults pages in for writing only where the kernel sets FOLL_WRITE for that "
        "mapping; a write fault dirties a page of the file only in a shared mapping; a COW copy "
        "is anonymous memory, which Dirty does not count"),
]
