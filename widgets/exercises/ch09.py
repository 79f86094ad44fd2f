"""Chapter 09's exercises: the regression tests the thread asked for."""

from mmsim import MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE
from mmsim.testbed.regression import (KERNELS, PROBE_FIELDS, REGRESSIONS, catching, planted,
                                      probe, run_test)

from . import Exercise
from .forms import Assertion, Planted, Words, count

PROTS = {"PROT_WRITE": PROT_WRITE, "PROT_READ": PROT_READ,
         "PROT_READ|PROT_WRITE": PROT_READ | PROT_WRITE, "PROT_NONE": PROT_NONE}
SHARES = {"MAP_SHARED": MAP_SHARED, "MAP_PRIVATE": MAP_PRIVATE}


def _catch_make(rng):
    return {"switch": rng.choice(sorted(REGRESSIONS))}


def _catch_ask(q):
    value, what = REGRESSIONS[q["switch"]]
    good = probe("6.18")
    fields = ", ".join(f"{k}={good[k]!r}" for k in PROBE_FIELDS)
    return (f"Kernel 6.18-broken is 6.18 with one switch changed, {q['switch']}={value}: "
            f"{what}. The chapter's probe (mmsim.testbed.regression.probe, on ext4) returns on "
            f"6.18: {fields}. Write the one assertion a regression test would make: it must "
            f"hold on 6.18 and fail on 6.18-broken.")


def _catch_solve(q):
    good, bad = probe("6.18"), probe(planted(q["switch"]))
    field = catching(q["switch"])[0]
    return Planted(f"{field} == {good[field]!r}", "6.18", good, "6.18-broken", bad)


def _mlock04_make(rng):
    return {"kernel": rng.choice(["2.6.38-rc2", "2.6.38-rc2", *KERNELS]),
            "prot": rng.choice(sorted(PROTS)), "share": rng.choice(sorted(SHARES))}


def _mlock04_ask(q):
    return (f"LTP's mlock04, varied: on kernel {q['kernel']}, a process maps a 40960-byte "
            f"file (ftruncate, no blocks) with {q['prot']} and {q['share']}, and mlocks the "
            f"whole mapping. What does mlock return?")


def _mlock04_solve(q):
    r = run_test("mlock04", q["kernel"], "ext4", prot=PROTS[q["prot"]], flags=SHARES[q["share"]])
    return r.observed["mlock"] or "0"


def _xfs_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.38", "6.18"]), "mlock_first": rng.random() < 0.5,
            "no_page_mkwrite": rng.random() < 0.3}


def _xfs_ask(q):
    how = ("mounted with the simulator-only option no_page_mkwrite (a store never calls "
           "->page_mkwrite)" if q["no_page_mkwrite"] else "mounted with the defaults")
    lock = " and mlocks the mapping before the stores" if q["mlock_first"] else ""
    return (f"fstests xfs/166 on kernel {q['kernel']}, on XFS {how}: unwritten_mmap preallocates "
            f"a 1 MiB file (XFS_IOC_RESVSP64), maps it shared and writable{lock}, stores a zero "
            f"at offsets 1048575, 524288 and 0, unmaps it and fsyncs. How many extents does "
            f"xfs_bmap list (166.out expects 5)?")


def _xfs_solve(q):
    options = "no_page_mkwrite" if q["no_page_mkwrite"] else ""
    r = run_test("xfs/166", q["kernel"], "xfs", options=options, mlock_first=q["mlock_first"])
    return len(r.observed["extents"])


EXERCISES = [
    Exercise(
        "09", 1, "Write the assertion that catches a planted regression", _catch_make, _catch_ask,
        _catch_solve, Assertion(PROBE_FIELDS),
        "Read what the switch stands for (mmsim/kernels.py names its commit) and find the call in "
        "the probe whose result it decides; then assert the value 6.18 gives. An assertion that "
        "also holds on the broken kernel tests nothing about it; one that fails on 6.18 would "
        "fail a correct kernel."),
    Exercise(
        "09", 2, "mlock04, varied", _mlock04_make, _mlock04_ask, _mlock04_solve,
        Words(["0", "ENOMEM", "EPERM", "EAGAIN", "EFAULT"], "the return value or the errno"),
        "Since 5ecfda041e4b mlock read-faults a shared mapping; a mapping without PROT_READ "
        "can be read only with FOLL_FORCE, which fdf4c587a793 (after 2.6.38-rc2) adds for every "
        "mapping that is not PROT_NONE. A private writable mapping is write-faulted (COW), "
        "which PROT_WRITE allows. mlock reports a failed fault-in as ENOMEM."),
    Exercise(
        "09", 3, "xfs/166's extents", _xfs_make, _xfs_ask, _xfs_solve, count("extents"),
        "Writeback converts an unwritten extent to written only where ->page_mkwrite marked the "
        "page's buffers; without the call nothing is converted and the stores read back as "
        "zeros. Which kernel's mlock write-faults (and so marks) every page of a shared "
        "mapping?"),
]
