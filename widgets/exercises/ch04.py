"""Chapter 04's exercises: dirty pages and writeback."""

from mmsim import MiB
from mmsim.testbed.writeback import (dirty_limit_run, kupdate_clean_time, refaults_after_sleep,
                                     shared_mlock_both)

from . import Exercise
from .forms import a, count, mebibytes, ratio, seconds


def _limit_make(rng):
    ram = rng.choice([512, 1024, 2048])
    return {"ram": ram, "locked": ram * rng.choice([0, 1, 2]) // 4}


def _limit_ask(q):
    return (f"A 2.6.37 machine has {q['ram']} MiB of RAM and empty disks. Process A mlocks "
            f"{q['locked']} MiB of a file (mapped read-only). Process B then stores to every page "
            f"of {a(q['ram'] // 2)} MiB sparse file mapped shared. What is the largest "
            f"Dirty + Writeback during B's stores?")


def _limit_solve(q):
    run = dirty_limit_run("2.6.37", q["locked"] * MiB, ram=q["ram"] * MiB,
                          write=q["ram"] // 2 * MiB)
    return run["peak_kb"] / 1024


def _kupdate_make(rng):
    return {"mib": rng.choice([1, 2, 4, 8]), "at": round(rng.uniform(0.5, 20.0), 1)}


def _kupdate_ask(q):
    return (f"On a 2.6.37 machine with 1 GiB of RAM, a process stores to every page of "
            f"{a(q['mib'])} MiB shared file mapping at t = {q['at']} s (simulated, since boot), then "
            f"nothing else happens. At what time t is Dirty in /proc/meminfo back to 0?")


def _refault_make(rng):
    return {"kernel": rng.choice(["2.6.37", "2.6.38"]), "fs": rng.choice(["ext2", "ext4"]),
            "mib": rng.choice([4, 8, 16]), "sleep": rng.choice([10, 25, 40, 60])}


def _refault_ask(q):
    return (f"On kernel {q['kernel']}, a process mlocks {a(q['mib'])} MiB sparse file on {q['fs']} "
            f"mapped shared and writable, stores to every page once, sleeps {q['sleep']} s, and "
            f"stores to every page again. How many page faults does the second pass take?")


def _speedup_make(rng):
    return {"mib": rng.choice([128, 192, 256, 384]), "profile": rng.choice(["2010", "modern"])}


def _speedup_ask(q):
    return (f"{a(q['mib']).capitalize()} MiB file, fully allocated and not cached, is mapped shared and writable "
            f"on ext2 and mlocked, on a machine with {q['mib'] * 4 // 3} MiB of RAM and "
            f"'{q['profile']}' hardware. How many times longer does the mlock take on 2.6.37 "
            f"than on 2.6.38? (Use the app above.)")


def _speedup_solve(q):
    old, new = shared_mlock_both(q["mib"] * MiB, q["profile"])
    return round(old.seconds / new.seconds, 3)


EXERCISES = [
    Exercise(
        "04", 1, "The dirty threshold, with part of the RAM locked", _limit_make, _limit_ask,
        _limit_solve, mebibytes(tolerance=0.05, decimals=1),
        "The ratios apply to the dirtyable memory: free pages plus file pages that are not "
        "mlocked. 2.6.37 lets a writer run free up to halfway between the 10% and the 20% "
        "threshold; above that it is held at its own limit on the disk, which on a freshly "
        "booted machine is still below the halfway mark. It may overshoot by one ratelimit "
        "batch (4 MiB)."),
    Exercise(
        "04", 2, "When does kupdate write?", _kupdate_make, _kupdate_ask,
        lambda q: kupdate_clean_time(q["mib"], q["at"]), seconds(tolerance=0.02),
        "Below the background threshold only kupdate writes: it wakes every 5 s (at 5, 10, "
        "15 ... s) and writes inodes dirtied more than 30 s earlier. Add the disk time "
        "(100 MB/s)."),
    Exercise(
        "04", 3, "Refaults after a sleep", _refault_make, _refault_ask,
        lambda q: refaults_after_sleep(q["kernel"], q["fs"], q["mib"], q["sleep"]),
        count("faults"),
        "A store faults only if the PTE is read-only. Writeback makes it read-only again "
        "(clear_page_dirty_for_io -> page_mkclean). When does kupdate write these pages back, "
        "counting from when they were first dirtied?"),
    Exercise(
        "04", 4, "The speed-up for another file size and disk", _speedup_make, _speedup_ask,
        _speedup_solve, ratio(tolerance=0.05),
        "2.6.37 must also write back most of what it dirties, on the same disk, paying a seek "
        "each time the head switches between reading and writing; seeks cost much less on the "
        "'modern' profile."),
]
