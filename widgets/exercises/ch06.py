"""Chapter 06's exercises: ENOSPC through a mapping, and through write(2)."""

from mmsim import MiB
from mmsim.testbed.enospc import enospc_run, pwrite_run, stores_before_sigbus

from . import Exercise
from .forms import Words, a, count, mebibytes

# (fs, mount options) a question may name, without and with a ->page_mkwrite on
# each kernel; ext2_driver only means something on 6.18, where ext4 mounts ext2
_NO_MKWRITE = {"2.6.37": (("ext2", ""), ("ext3", "")), "2.6.38": (("ext2", ""), ("ext3", "")),
               "6.18": (("ext2", "ext2_driver"),)}
_MKWRITE = {"2.6.37": (("ext4", ""), ("xfs", ""), ("btrfs", "")),
            "2.6.38": (("ext4", ""), ("xfs", ""), ("btrfs", "")),
            "6.18": (("ext2", ""), ("ext3", ""), ("ext4", ""), ("xfs", ""))}
_ENDS = ["hung", "SIGBUS", "ENOMEM", "lost", "ok"]


def _mounted(fs, options):
    """What /data is, as the question says it: 'ext2 filesystem mounted with ...'."""
    how = f"{fs} filesystem mounted with `mount -t {fs}`"
    if options == "ext2_driver":
        how += " by the old fs/ext2 driver (the simulator's ext2_driver option)"
    return how


def _end_make(rng):
    kernel = rng.choice(["2.6.37", "2.6.38", "6.18"])
    fs, options = rng.choice((_NO_MKWRITE if rng.random() < 0.6 else _MKWRITE)[kernel])
    return {"kernel": kernel, "fs": fs, "options": options, "mlock": rng.choice([False, True]),
            "ram": rng.choice([64, 256])}


def _end_ask(q):
    lock = "mlocks all of it, then " if q["mlock"] else ""
    return (f"On kernel {q['kernel']}, with {q['ram']} MiB of RAM, /data is an empty 16 MiB "
            f"{_mounted(q['fs'], q['options'])}. "
            f"A program maps a 32 MiB sparse file on it shared and writable, {lock}stores into "
            f"every page (memtoy's touch write), msyncs and exits. How does it end: hung in "
            f"balance_dirty_pages, SIGBUS at a store, ENOMEM from mlock, the stores all return "
            f"but data is lost, or ok?")


def _end_solve(q):
    return enospc_run(q["kernel"], q["fs"], q["options"], q["mlock"], ram=q["ram"] * MiB).word


def _sigbus_make(rng):
    kernel = rng.choice(["2.6.37", "2.6.38", "6.18"])
    choices = ["ext4", "xfs", "btrfs", "gfs2"] + (["ext2", "ext3"] if kernel == "6.18" else [])
    size = rng.choice([8, 12, 16, 24])
    return {"kernel": kernel, "fs": rng.choice(choices), "mib": size,
            "used": rng.randint(1, size // 2)}


def _sigbus_ask(q):
    return (f"On kernel {q['kernel']}, /data is an empty {q['mib']} MiB {q['fs']} filesystem "
            f"(`mount -t {q['fs']}`). A program writes {a(q['used'])} MiB file there with write(2) "
            f"and fsyncs it, then maps a {2 * q['mib']} MiB sparse file shared and writable and "
            f"stores into every page in order. How many pages does it store before SIGBUS stops it?")


def _loss_make(rng):
    return {"kernel": rng.choice(["2.6.38", "6.18"]),
            "mount": rng.choice(["ext2 -o ext2_driver", "xfs -o no_page_mkwrite"]),
            "over": rng.choice([2, 4, 6, 8])}


def _loss_mount(q):
    fs, _, options = q["mount"].partition(" -o ")
    return fs, options


def _loss_ask(q):
    fs, options = _loss_mount(q)
    what = ("the old fs/ext2 driver (the simulator's ext2_driver option)" if options == "ext2_driver"
            else "xfs with its ->page_mkwrite skipped (the simulator's no_page_mkwrite option)")
    return (f"On kernel {q['kernel']}, with 256 MiB of RAM, /data is an empty 16 MiB filesystem "
            f"mounted by {what}. A program maps a sparse file of {16 + q['over']} MiB on it "
            f"shared and writable, stores into every page (every store returns), calls "
            f"msync(MS_SYNC) (it fails with ENOSPC) and exits. Then `sync`, "
            f"`echo 1 > /proc/sys/vm/drop_caches`, and another process reads the file. How many of "
            f"the pages the program stored read back as zeros?")


def _loss_solve(q):
    fs, options = _loss_mount(q)
    return enospc_run(q["kernel"], fs, options, ram=256 * MiB,
                      file_size=(16 + q["over"]) * MiB).zeros


def _write_make(rng):
    size = rng.choice([8, 12, 16, 24])
    return {"kernel": rng.choice(["2.6.37", "2.6.38", "6.18"]),
            "fs": rng.choice(["ext2", "ext3", "ext4", "xfs", "gfs2"]), "mib": size,
            "pre": rng.randint(1, size // 2)}


def _write_ask(q):
    return (f"On kernel {q['kernel']}, /data is an empty {q['mib']} MiB {q['fs']} filesystem. A "
            f"program makes a {2 * q['mib']} MiB sparse file, writes its first {q['pre']} MiB "
            f"with write(2) and fsyncs, then calls pwrite(fd, buf, {2 * q['mib']} MiB, 0) to write "
            f"the whole file from the start. What does that pwrite return?")


EXERCISES = [
    Exercise(
        "06", 1, "Hang, SIGBUS or silent loss", _end_make, _end_ask, _end_solve, Words(_ENDS),
        "Does the filesystem have a ->page_mkwrite on this kernel (ext2 and ext3 on 6.18 are "
        "mounted by the ext4 driver)? If it has, the first store past the free space fails at "
        "the fault, and 2.6.37's mlock takes that fault itself. If not, compare the 16 MiB that "
        "cannot fit with the room the dirty throttle leaves: about 15% of the memory that is "
        "free or page cache and not mlocked. More than that left to dirty once the disk is "
        "full, and the task waits for writeback that cannot succeed."),
    Exercise(
        "06", 2, "How far the stores get", _sigbus_make, _sigbus_ask,
        lambda q: stores_before_sigbus(q["kernel"], q["fs"], q["mib"] * MiB, q["used"] * MiB),
        count("pages"),
        "Each first store into a hole goes through ->page_mkwrite, which reserves or allocates "
        "one 4 KiB block; it fails when the free blocks are gone. The simulator keeps no "
        "filesystem metadata on the disk."),
    Exercise(
        "06", 3, "What reads back after a silent loss", _loss_make, _loss_ask, _loss_solve,
        count("pages"),
        "Only the pages with a block on disk can come back. Writeback cleans a page it cannot "
        "place and keeps the error for msync; today's integrity writeback (msync, fsync, sync) "
        "goes through every page of the range, while 2.6.38's stops at the first page that "
        "fails, so the others stay dirty in RAM and still read back from there."),
    Exercise(
        "06", 4, "write(2) into a full filesystem", _write_make, _write_ask,
        lambda q: pwrite_run(q["kernel"], q["fs"], fs_size=q["mib"] * MiB,
                             prewritten=q["pre"] * MiB)["first"] / MiB,
        mebibytes(),
        "->write_begin gets each page its block before the data is copied, so the write "
        "stops at the first page with no room and returns the bytes it copied. Pages that "
        "already have a block need no new one."),
]
