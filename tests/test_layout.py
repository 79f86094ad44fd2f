"""The engine's shape: mm -> fs -> block without cycles, a Machine with only what a
user of the machine touches, one clock, and getters that change nothing."""

import ast
import os
from pathlib import Path

import numpy as np
import pytest

import mmsim
from mmsim import GiB, MiB, MAP_SHARED, PROT_READ, PROT_WRITE

ROOT = Path(mmsim.__file__).resolve().parent


def module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path):
    """The mmsim modules a file imports, at any depth of its code."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod + "." + a.name for a in node.names]
            for cand in [mod] + names:
                if cand.startswith("mmsim"):
                    out.add(cand)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("mmsim"))
    return out


def graph():
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    g = {}
    for name, path in files.items():
        g[name] = {m for m in imports_of(path) if m in files and m != name}
    return g


def test_no_import_cycle_between_files():
    g = graph()
    assert "mmsim.mm.page_alloc" in g["mmsim.mm.memory"]      # the graph sees imports
    # a package's __init__ re-exports; only file-to-file edges below it count
    g = {k: {m for m in v if not (g.get(m) is not None and k.startswith(m + "."))}
         for k, v in g.items()}
    state = {}
    stack = []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(g[n]):
            if m == "mmsim":
                continue
            if state.get(m) == "open":
                cycle = stack[stack.index(m):] + [m]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = "done"

    for n in sorted(g):
        if n not in state and n != "mmsim":
            visit(n)


def test_mm_does_not_reach_the_block_layer():
    """mm/ asks the filesystem for I/O; only fs/ talks to the disk."""
    g = graph()
    for name, deps in g.items():
        if name.startswith("mmsim.mm."):
            assert not any(d.startswith("mmsim.block") for d in deps), name


# What a user of the machine touches; the kernel's own work lives in mm/ and fs/.
MACHINE_SURFACE = {"mkfs", "spawn", "sleep", "record_timeline", "sync", "drop_caches",
                   "pages_lost", "stat", "statfs", "fiemap", "layout", "meminfo"}


def test_machine_has_only_the_users_surface():
    public = {n for n, v in vars(mmsim.Machine).items()
              if callable(v) and not n.startswith("_")}
    assert public == MACHINE_SURFACE


def test_no_subsystem_keeps_its_own_time():
    """One clock: no module but clock.py holds a simulated time of its own."""
    for path in ROOT.rglob("*.py"):
        if path.name == "clock.py":
            continue
        text = path.read_text()
        for banned in ("flush_until", "_next_sample", "next_kupdate", "self.time ="):
            assert banned not in text, f"{path.name}: {banned}"


def snapshot(m):
    """Everything a getter could change, as comparable data."""
    arrays = []
    for sb in list(m.mounts.values()) + [m.shm_mnt]:
        for inode in sb.inodes.values():
            mp = inode.mapping
            arrays += [mp.flags.tobytes(), mp.mapcount.tobytes(), mp.mlock.tobytes(),
                       mp.data.tobytes(), inode.block.tobytes(), inode.bstate.tobytes()]
    for p in m.procs.values():
        for v in p.mm.vmas:
            arrays.append(v.pte.tobytes())
    return (m.now, len(m.clock), m.clock.peek(), dict(vars(m.vmstat)), len(m.trace),
            [sb.bdi.dirty_exceeded for sb in m.mounts.values()], [p.minflt for p in m.procs.values()], arrays)


@pytest.mark.parametrize("kernel", ["2.6.37", "6.18"])
def test_getters_change_nothing(kernel):
    m = mmsim.Machine(kernel=kernel, ram=GiB, profile="2010")
    m.mkfs("/data", fs="ext4", size=256 * MiB)
    p = m.spawn(caps={"CAP_IPC_LOCK"})
    fd = p.open("/data/f", os.O_RDWR | os.O_CREAT)
    p.ftruncate(fd, 64 * MiB)
    a = p.mmap(0, 64 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    p.touch(a, 64 * MiB, write=True)     # writes in flight, flusher work pending
    m.record_timeline(0.5)
    before = snapshot(m)
    for _ in range(2):
        m.meminfo(), m.stat("/data/f"), m.statfs("/data"), m.fiemap("/data/f")
        m.layout("/data/f"), m.pages_lost(), m.now, m.clock.peek()
        p.smaps(), p.smaps(a), p.status(), p.getrusage(), p.pageflags(a, 64 * MiB)
        p.getrlimit(mmsim.RLIMIT_MEMLOCK), m.trace.query(op="touch"), m.trace.counts()
        m.wb.global_dirty_limits(), m.wb.ratelimit(p, m.mounts["/data"].bdi)
        m.wb.next_completion(), m.mounts["/data"].bdi.completions.fraction()
        m.wb.bdi_thresh(p, m.mounts["/data"].bdi, 1000)
    after = snapshot(m)
    assert after[:7] == before[:7]
    assert all(np.array_equal(x, y) for x, y in zip(after[7], before[7]))
