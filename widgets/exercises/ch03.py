"""Chapter 03's exercises: mlock and the patch."""

from mmsim import MiB
from mmsim.testbed.mlock import mlock_once, small_session

from . import Exercise
from .forms import Words, kilobytes, sectors

_FLAGS = {"shared": "MAP_SHARED", "private": "MAP_PRIVATE"}
_PROT = {"rw": "PROT_READ|PROT_WRITE", "r": "PROT_READ", "w": "PROT_WRITE"}


def _mapped(mapping):
    """'shared, rw' -> 'PROT_READ|PROT_WRITE and MAP_SHARED'."""
    share, prot = mapping.split(", ")
    return f"{_PROT[prot]} and {_FLAGS[share]}"


def _mlock_make(mappings):
    """Draw a kernel, one of mappings and a size for a single mlock of a sparse ext4 file."""
    def make(rng):
        return {"kernel": rng.choice(["2.6.37", "2.6.38", "6.18"]), "mapping": rng.choice(mappings),
                "mib": rng.choice([4, 8, 16, 32])}
    return make


def _mlock_ask(what):
    """The question of a single mlock, asking what a line of /proc shows after it."""
    def ask(q):
        return (f"On kernel {q['kernel']}, a process maps a sparse {q['mib']} MiB file on ext4 "
                f"with {_mapped(q['mapping'])}, and mlocks all of it. What does {what} right "
                f"after the mlock?")
    return ask


def _blocks_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.38"]),
            "fs": rng.choice(["ext2", "ext3", "ext4", "xfs", "btrfs"]),
            "mib": rng.choice([4, 8, 16])}


def _blocks_ask(q):
    return (f"On kernel {q['kernel']}, a process maps a sparse {q['mib']} MiB file on {q['fs']} "
            f"with PROT_READ|PROT_WRITE and MAP_SHARED, and mlocks all of it. What is the "
            f"file's st_blocks right after the mlock, before any writeback?")


# How the lock of memtoy's session ends, as the question words it.
_ENDINGS = {"done": "done", "hung": "hung", "Cannot allocate memory": "ENOMEM"}


def _session_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.38"]),
            "fs": rng.choice(["ext2", "ext3", "ext4"]),
            "mib": rng.choice([48, 64, 96])}


def _session_ask(q):
    return (f"Michel's session, scaled down: on kernel {q['kernel']}, a sparse {q['mib']} MiB file "
            f"on an {q['fs']} partition with {q['mib'] // 2} MiB free, in a machine with "
            f"{2 * q['mib']} MiB of RAM, is mapped shared and writable, touched for reading, "
            f"then locked. What does the lock do?")


def _session_solve(q):
    outcome = small_session(q["kernel"], q["fs"], q["mib"] * MiB).outcome
    if outcome not in _ENDINGS:
        raise ValueError(f"exercise 03.4 has no word for the outcome {outcome!r}")
    return _ENDINGS[outcome]



EXERCISES = [
    Exercise(
        "03", 1, "Dirty pages after mlock", _mlock_make(["shared, rw", "private, rw"]),
        _mlock_ask("/proc/meminfo show as Dirty"),
        lambda q: mlock_once(q["kernel"], q["mapping"], size=q["mib"] * MiB)["Dirty"],
        kilobytes(),
        "Dirty counts file pages waiting for writeback. A write fault on a private mapping "
        "copies the page (the copy is anonymous memory); on a shared mapping it dirties the "
        "file's page. Which kernels make mlock write-fault a shared mapping?"),
    Exercise(
        "03", 2, "Anonymous memory after mlock",
        _mlock_make(["shared, rw", "private, rw", "private, r"]),
        _mlock_ask("the mapping's 'Anonymous:' line in /proc/PID/smaps show"),
        lambda q: mlock_once(q["kernel"], q["mapping"], size=q["mib"] * MiB)["Anonymous"],
        kilobytes(),
        "Anonymous pages in a file mapping are the private copies made by breaking COW. "
        "mlock breaks COW in advance only where a later store would need a copy."),
    Exercise(
        "03", 3, "Blocks after mlock, per filesystem", _blocks_make, _blocks_ask,
        lambda q: mlock_once(q["kernel"], "shared, rw", fs=q["fs"], size=q["mib"] * MiB)["st_blocks"],
        sectors(),
        "st_blocks counts blocks allocated and, on ext4, xfs and btrfs, blocks reserved by "
        "->page_mkwrite for delayed allocation. Which filesystems had a ->page_mkwrite in "
        "2.6.37, and when does each kernel's mlock call it?"),
    Exercise(
        "03", 4, "Michel's session, scaled down", _session_make, _session_ask, _session_solve,
        Words(["done", "hung", "ENOMEM"]),
        "Which kernel makes mlock dirty the pages? Then: does the filesystem find out about the "
        "missing space when a page is dirtied (->page_mkwrite, which makes the fault fail and "
        "mlock return an error) or only at writeback (where the dirtier waits for ever)?"),
]
