"""Chapter 07's exercises: sparse-file layout."""

from mmsim.testbed.layout import fill

from . import Exercise
from .forms import Words, count, seconds

_ORDERS = {"sequential": "in file order", "reverse": "from the last page to the first",
           "strided": "in strides of 16 pages (pages 0, 16, 32 ..., then 1, 17, 33 ...)",
           "random": "in a random order (the shuffle of seed 0)"}
_FS = {"ext2": "ext2", "ext4": "ext4", "ext4 nodelalloc": "ext4 mounted -o nodelalloc",
       "xfs": "xfs"}
_PREPARED = {"mlock": "mlocks it", "fallocate, mlock": "calls fallocate() on the whole file, "
             "then mlocks it", "MADV_POPULATE_WRITE, mlock": "calls madvise(MADV_POPULATE_WRITE) "
             "on the whole mapping, then mlocks it"}


def _program(q):
    """The program of the chapter, in words, for these parameters."""
    spread = ("all at once" if not q["spread"] else
              f"in bursts, one a second, spread over {q['spread']} s")
    return (f"On kernel {q['kernel']}, a program creates a sparse {q['mib']} MiB file on "
            f"{_FS[q['fs']]} (an empty filesystem, 1 GiB of RAM, the '2010' disk), maps it "
            f"shared and writable, {_PREPARED[q.get('prepare', 'mlock')]}, stores once to "
            f"every page {_ORDERS[q['pattern']]}, {spread}, then calls fsync().")


def _run(q):
    return fill(q["kernel"], q["fs"], q["pattern"], q.get("prepare", "mlock"), q["mib"],
                q["spread"])


def _extents_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.38", "2.6.38", "2.6.38"]),
            "fs": rng.choice(["ext2", "ext4", "ext4 nodelalloc", "xfs"]),
            "pattern": rng.choice(["reverse", "strided", "strided", "sequential"]),
            "spread": rng.choice([45, 75, 105]), "mib": rng.choice([2, 4])}


def _extents_ask(q):
    return (f"{_program(q)} How many extents does filefrag report for the file afterwards? "
            f"(The app above runs the same program.)")


def _read_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.38", "2.6.38", "2.6.38"]),
            "fs": rng.choice(["ext2", "ext4", "ext4 nodelalloc"]),
            "pattern": rng.choice(["strided", "random"]),
            "spread": rng.choice([10, 40, 90]), "mib": rng.choice([2, 4])}


def _read_ask(q):
    return (f"{_program(q)} The file is then closed, the page cache dropped, and the whole "
            f"file read with one pread() from offset 0. How long does the read take, in "
            f"simulated seconds?")


def _when_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.38", "6.18"]),
            "fs": rng.choice(["ext2", "ext4", "ext4 nodelalloc", "xfs"]),
            "prepare": rng.choice(["mlock", "fallocate, mlock", "MADV_POPULATE_WRITE, mlock"]),
            "pattern": "random", "spread": 60, "mib": 2}


def _when_ask(q):
    return (f"{_program(q)} Calls the kernel refuses fail and the program goes on without "
            f"them. When did most of the file's blocks get allocated: in fallocate, in "
            f"MADV_POPULATE_WRITE, in mlock, at the stores (store), or by writeback (the "
            f"flusher or the fsync)?")


EXERCISES = [
    Exercise(
        "07", 1, "Extents after the stores", _extents_make, _extents_ask,
        lambda q: _run(q).extents, count("extents"),
        "Find when the blocks are chosen: at the store (a ->page_mkwrite that allocates), or "
        "when writeback writes the page (ext2, and delayed allocation), and on 2.6.37 whether "
        "mlock dirtied every page first. Writeback takes the dirty pages in file order; "
        "kupdate writes a file 30 s after it was first dirtied, checking every 5 s, and the "
        "fsync writes what is left. Each pass continues after the blocks allocated before it."),
    Exercise(
        "07", 2, "The cold sequential read", _read_make, _read_ask,
        lambda q: round(_run(q).read_seconds, 3), seconds(tolerance=0.05, decimals=3),
        "A sequential read costs one seek (8 ms on the '2010' disk) for every place where "
        "the next page of the file is not the next block on the disk, plus the transfer at "
        "100 MB/s. Count the discontiguities the allocation left (the app shows them)."),
    Exercise(
        "07", 3, "When the blocks were allocated", _when_make, _when_ask,
        lambda q: _run(q).allocated_during(),
        Words(["fallocate", "MADV_POPULATE_WRITE", "mlock", "store", "writeback"]),
        "Which calls exist on this kernel and filesystem (fallocate: ext4 and xfs; "
        "MADV_POPULATE_WRITE: 5.14)? Which of them write-fault the pages, and what does this "
        "filesystem's ->page_mkwrite do then: nothing (ext2 in 2.6), reserve (delayed "
        "allocation) or allocate (nodelalloc)?"),
]
