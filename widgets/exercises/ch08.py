"""Chapter 08's exercises: RLIMIT_MEMLOCK, its errnos, VmLck, and the DoS."""

from mmsim import (MAP_LOCKED, MCL_CURRENT, MCL_FUTURE, MiB, MLOCK_ONFAULT, PAGE_SIZE,
                   RLIM_INFINITY)
from mmsim.testbed.memlock import (BUFFER_PAGES, KERNELS, PRESETS, call_text, dos_run,
                                   limit_text, reread_seconds, run_case)

from . import Exercise
from .forms import Words, a, kilobytes, seconds

RESULTS = ("ok", "EPERM", "ENOMEM", "EAGAIN", "ENOSYS", "EINVAL")
_SET_UP = (f"an unprivileged process (no CAP_IPC_LOCK) has {BUFFER_PAGES} pages of private "
           f"anonymous memory mapped at address a and nothing else locked")


def _calls_text(calls):
    return "; then ".join(call_text(c) for c in calls)


def _errno_make(rng):
    n = rng.choice([2, 8, 24])
    calls = rng.choice([
        (("mlock", 0, n),),
        (("mlock", 0, n), ("mlock", 0, n)),
        (("mlock2", 0, n, rng.choice([0, MLOCK_ONFAULT])),),
        (("mlockall", MCL_CURRENT),),
        (("mlockall", MCL_FUTURE), ("mmap", n, 0)),
        (("mmap", n, MAP_LOCKED),),
    ])
    return {"kernel": rng.choice(KERNELS), "limit_pages": rng.choice([0, 4, 16, 64]),
            "calls": calls}


def _errno_ask(q):
    limit = limit_text(q["limit_pages"] * PAGE_SIZE)
    return (f"On kernel {q['kernel']}, {_SET_UP}; its RLIMIT_MEMLOCK is {limit} (soft and "
            f"hard). It calls {_calls_text(q['calls'])}. What does the first call that fails "
            f"return (ok if none fails)?")


def _errno_solve(q):
    return run_case(q["kernel"], q["limit_pages"] * PAGE_SIZE, q["calls"])["result"]


def _vmlck_make(rng):
    kind = rng.choice(["hole", "overlap", "future"])
    if kind == "hole":
        h = rng.randint(2, 12)
        calls = (("munmap", h, 1), ("mlock", 0, rng.randint(h + 1, 16)))
    elif kind == "overlap":
        x = rng.randint(4, 12)
        calls = (("mlock", 0, x), ("mlock", rng.randint(0, x - 1), rng.choice([4, 8, 12])))
    else:
        calls = (("mlockall", MCL_FUTURE), ("mmap", rng.choice([4, 8, 12, 20]), 0))
    return {"kernel": rng.choice(KERNELS), "calls": calls}


def _vmlck_ask(q):
    return (f"On kernel {q['kernel']}, {_SET_UP}; its RLIMIT_MEMLOCK is 64 KiB (16 pages of "
            f"{PAGE_SIZE} bytes). It calls {_calls_text(q['calls'])}, and stops at the first "
            f"call that fails. What does the VmLck line of /proc/PID/status show afterwards?")


def _vmlck_solve(q):
    return run_case(q["kernel"], 16 * PAGE_SIZE, q["calls"])["VmLck"]


def _reread_make(rng):
    return {"limit": rng.choice(list(PRESETS) + ["unlimited"] * 3),
            "file": rng.choice([256, 384, 512]), "lock": rng.choice([512, 640, 768, 896])}


def _reread_ask(q):
    return (f"A 2.6.37 machine with 1 GiB of RAM and no swap. User B has {a(q['file'])} MiB "
            f"file on disk, not cached, mapped read-only; it reads every page, rests 1 s, "
            f"reads every page again, rests 1 s. Then user A, with RLIMIT_MEMLOCK "
            f"{q['limit']}, mmaps {q['lock']} MiB of anonymous memory and mlocks it (if "
            f"refused with ENOMEM, it mlocks what its limit allows). How long does B's third "
            f"pass over its file take, in simulated seconds? (The app above runs this.)")


def _reread_solve(q):
    run = dos_run("2.6.37", PRESETS[q["limit"]][0], q["lock"] * MiB, file_size=q["file"] * MiB,
                  passes=3, lock_before=2)
    return round(reread_seconds(run), 3)


def _oom_make(rng):
    return {"lockers": rng.choice([1, 2, 3, 4, 6]), "heap": rng.choice([192, 256, 320, 384]),
            "lock": rng.choice([768, 960])}


def _oom_ask(q):
    each = q["lock"] // q["lockers"]
    who = (f"one process that mlocks {q['lock']} MiB" if q["lockers"] == 1 else
           f"{q['lockers']} processes that each mlock {a(each)} MiB region")
    return (f"A 2.6.37 machine with 1 GiB of RAM and no swap. User B's process has written "
            f"{a(q['heap'])} MiB anonymous heap and reads a 64 MiB file. User A, with "
            f"RLIMIT_MEMLOCK unlimited, then starts {who} of anonymous memory, one after the "
            f"other. Whom does the OOM killer kill first: the attacker (one of A's "
            f"processes), the victim (B), or nobody?")


def _oom_solve(q):
    run = dos_run("2.6.37", RLIM_INFINITY, q["lock"] * MiB, lockers=q["lockers"], file_size=64 * MiB,
                  heap=q["heap"] * MiB, passes=2, lock_before=1)
    if not run.killed:
        return "nobody"
    return "victim" if run.killed[0] == "B" else "attacker"


EXERCISES = [
    Exercise(
        "08", 1, "Which errno", _errno_make, _errno_ask, _errno_solve,
        Words(RESULTS, "one word"),
        "The kernel checks in a fixed order. mlock2 does not exist before Linux 4.4 "
        "(ENOSYS), and checks its flags before anything else. A limit of 0 without "
        "CAP_IPC_LOCK is EPERM. Over the limit, mlock and mlockall give ENOMEM, an mmap that "
        "would be locked (MAP_LOCKED, or after mlockall(MCL_FUTURE)) EAGAIN. mlockall"
        "(MCL_CURRENT) counts every mapped page, and since Linux 4.9 mlock does not count "
        "pages that are already locked twice."),
    Exercise(
        "08", 2, "VmLck after a sequence of calls", _vmlck_make, _vmlck_ask, _vmlck_solve,
        kilobytes(),
        "VmLck is mm->locked_vm, the pages of VM_LOCKED mappings, resident or not. A hole "
        "in the range stops mlock with ENOMEM after it has locked the mappings before the "
        "hole. A call refused by the limit check locks nothing; since Linux 4.9 pages that "
        "are already locked are not counted twice against the limit. mlockall(MCL_FUTURE) "
        "locks no current mapping, only the ones mapped later."),
    Exercise(
        "08", 3, "The victim's next pass", _reread_make, _reread_ask, _reread_solve,
        seconds(tolerance=0.02),
        "The first pass reads the whole file from the disk (100 MB/s); while it fits in "
        "RAM, a later pass finds every page still mapped and costs nothing. What A manages "
        "to lock depends on its limit; what it locks cannot be reclaimed, and B's file pages "
        "are what reclaim takes instead. Use the app above with these values."),
    Exercise(
        "08", 4, "Whom the OOM killer kills", _oom_make, _oom_ask, _oom_solve,
        Words(("attacker", "victim", "nobody"), "one word"),
        "Anonymous memory cannot be evicted without swap, so when A's locked memory and B's "
        "heap do not fit, the OOM killer runs. It kills the process with the largest "
        "resident set at that moment (oom_badness), wherever the memory pressure comes "
        "from, and RLIMIT_MEMLOCK is per process: several small lockers add up."),
]
