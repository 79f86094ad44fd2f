"""Chapter 01's experiments: faults step by step, write-notify, the fault lab, the exercises' counts."""

from .._abi import MAP_SHARED, PAGE_SIZE, PROT_READ
from ..errors import EINVAL, error
from . import allocated_uncached, flag_counts, map_kind, new_machine, ordinal, trace_paths

ACCESSES = ("read", "write", "read, then write", "read, write, fsync, write")


def record_steps(m, p, addr, npages, steps):
    """Run steps, (label, action) pairs, one after the other on a mapping of npages.

    After each action, record the faults it took (minor and major, from
    getrusage), the mapping's page flags and their counts (flag_counts),
    its Rss in kB, the kernel functions of the whole step, and the paths of
    its faults after handle_mm_fault. Return one dict per step.
    """
    out = []
    for label, action in steps:
        m.trace.clear()
        before = p.getrusage()
        action()
        after = p.getrusage()
        flags = p.pageflags(addr, npages * PAGE_SIZE)
        out.append({"step": label, "faults": after.ru_minflt - before.ru_minflt,
                    "major": after.ru_majflt - before.ru_majflt, "flags": flags,
                    **flag_counts(flags), "rss_kb": p.smaps(addr)["Rss"],
                    "functions": m.trace.counts(),
                    "paths": trace_paths(m.trace.query(op="touch"), after="handle_mm_fault")})
    return out


def store_every(p, addr, npages, every):
    """Store one byte to pages 0, every, 2 * every ... of the mapping at addr."""
    for i in range(0, npages, every):
        p.touch(addr + i * PAGE_SIZE, 1, write=True)


def write_notify_story(kernel="2.6.37", fs="ext4", kind="shared file", npages=16, every=4):
    """Read every page; store to every `every`-th page; fsync; store to them again.

    Anonymous kinds have no file to fsync: their story ends after the first
    stores. Return record_steps' dicts, one per step.
    """
    m, p = new_machine(kernel, fs)
    a, fd = map_kind(p, kind, npages)
    steps = [("read every page", lambda: p.touch(a, npages * PAGE_SIZE)),
             (f"store to every {ordinal(every)}", lambda: store_every(p, a, npages, every))]
    if fd is not None:
        steps += [("fsync", lambda: p.fsync(fd)),
                  ("store again", lambda: store_every(p, a, npages, every))]
    return record_steps(m, p, a, npages, steps)


def fault_lab(kernel, fs, mapping, access, size):
    """Map size bytes of one kind, access every page as ACCESSES says, report per page.

    Return the page flags and their counts, the kernel functions of every
    fault, the faults taken and a title.
    """
    if access not in ACCESSES:
        raise error(EINVAL, f"access must be one of {ACCESSES}, not {access!r}")
    npages = max(1, size // PAGE_SIZE)
    length = npages * PAGE_SIZE
    m, p = new_machine(kernel, fs)
    a, fd = map_kind(p, mapping, npages)
    for step in access.split(", "):
        if step == "fsync":
            if fd is not None:
                p.fsync(fd)
        else:
            p.touch(a, length, write=step.endswith("write"))
    flags = p.pageflags(a, length)
    ru = p.getrusage()
    return {"flags": flags, "counts": flag_counts(flags), "functions": m.trace.counts(),
            "minflt": ru.ru_minflt, "majflt": ru.ru_majflt,
            "title": f"{mapping}, {access}, {kernel}, {fs}"}


def faults_read_then_store_every(kernel, fs, npages, every):
    """Minor faults of: read every page of a shared file mapping, then store to every k-th."""
    m, p = new_machine(kernel, fs)
    a, _ = map_kind(p, "shared file", npages)
    p.touch(a, npages * PAGE_SIZE)
    store_every(p, a, npages, every)
    return p.getrusage().ru_minflt


def rss_after_stores(kernel, kind, npages, stores):
    """Rss in kB of a mapping after reading every page and storing to the first `stores`."""
    m, p = new_machine(kernel)
    a, _ = map_kind(p, kind, npages)
    p.touch(a, npages * PAGE_SIZE)
    p.touch(a, stores * PAGE_SIZE, write=True)
    return p.smaps(a)["Rss"]


def major_faults_reading_twice(fs, kib, kernel="2.6.37"):
    """Major faults of reading an allocated, uncached file of kib KiB twice, mapping by mapping."""
    m, p = new_machine(kernel, fs)
    length = kib * 1024
    fd = allocated_uncached(m, p, "/data/f", length)
    before = p.getrusage().ru_majflt
    for _ in range(2):
        a = p.mmap(0, length, PROT_READ, MAP_SHARED, fd, 0)
        p.touch(a, length)
        p.munmap(a, length)
    return p.getrusage().ru_majflt - before
