"""Chapter 01's exercises: pages, VMAs and faults."""

import mmsim
from mmsim.testbed import ordinal
from mmsim.testbed.faults import (faults_read_then_store_every, major_faults_reading_twice,
                                  rss_after_stores)

from . import Exercise
from .forms import a, count, first, kilobytes


def _faults_make(rng):
    return {"kernel": rng.choice(mmsim.KERNEL_VERSIONS), "fs": rng.choice(["ext2", "ext4", "xfs"]),
            "npages": rng.choice([16, 32, 48, 64]), "every": rng.choice([2, 3, 4, 5, 8])}


def _faults_ask(q):
    e = q["every"]
    return (f"Kernel {q['kernel']}, {q['fs']}: a process maps {q['npages']} pages of a sparse "
            f"file MAP_SHARED with PROT_READ|PROT_WRITE, reads every page once, then stores one "
            f"byte to every {ordinal(e)} page (pages 0, {e}, {2 * e} ...). How many page faults "
            f"does it take in all?")


def _rss_make(rng):
    return {"kernel": rng.choice(mmsim.KERNEL_VERSIONS),
            "kind": rng.choice(["private anonymous", "private anonymous", "shared anonymous",
                                "private file"]),
            "npages": rng.choice([32, 64, 128]), "stores": rng.choice([1, 3, 5, 10, 20])}


def _rss_ask(q):
    on_ext4 = ", a sparse file on ext4" if "file" in q["kind"] else ""
    return (f"Kernel {q['kernel']}: a process maps {q['npages']} pages ({q['kind']}, "
            f"PROT_READ|PROT_WRITE{on_ext4}), reads every page once, then stores to "
            f"{first(q['stores'])}. What does /proc/PID/smaps show as Rss for the mapping?")


def _major_make(rng):
    return {"fs": rng.choice(["ext2", "ext4", "xfs"]), "kib": 128 * rng.randint(2, 24)}


def _major_ask(q):
    return (f"On {q['fs']} (kernel 2.6.37), {a(q['kib'])} KiB file has all its blocks on disk "
            f"and none of its pages in the page cache. A process maps it PROT_READ, MAP_SHARED, "
            f"reads every page, unmaps it, then maps and reads it all again. How many of its "
            f"page faults are major, as the simulator counts them?")


EXERCISES = [
    Exercise(
        "01", 1, "Faults of a read pass and some stores", _faults_make, _faults_ask,
        lambda q: faults_read_then_store_every(q["kernel"], q["fs"], q["npages"], q["every"]),
        count("faults"),
        "every first access to a page faults; then ask whether the read left the PTE writable"),
    Exercise(
        "01", 2, "Rss after reads and a few stores", _rss_make, _rss_ask,
        lambda q: rss_after_stores(q["kernel"], q["kind"], q["npages"], q["stores"]),
        kilobytes(),
        "count the pages the PTEs point to: a read of private anonymous memory maps the zero "
        "page, which smaps does not count; a read of a file or of shmem maps a page-cache page, "
        "which it does; a store to a private page replaces it with a copy"),
    Exercise(
        "01", 3, "Major faults of reading a file twice", _major_make, _major_ask,
        lambda q: major_faults_reading_twice(q["fs"], q["kib"]),
        count("major faults"),
        "the simulator counts one major fault per 128 KiB (32 pages) read from the disk; "
        "the second pass finds every page in the page cache"),
]
