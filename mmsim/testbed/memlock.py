"""Chapter 08's experiments: RLIMIT_MEMLOCK's errnos, what a failed call leaves, and the DoS.

Three kinds of experiment, each a function of plain parameters:

* cases: a sequence of calls (mlock, mlock2, mlockall, munlock, munmap,
  mmap) by a process with a given RLIMIT_MEMLOCK on a buffer of
  BUFFER_PAGES private anonymous pages; run_case() says what the last call
  returned and what is locked afterwards. CASES holds one case per check
  of the kernel, in the order the kernel makes them.
* dos_run: Ted Ts'o's point (19 Nov 2010): user A locks memory under its
  RLIMIT_MEMLOCK while user B works on a file (and, if asked, its own
  anonymous memory); who holds the RAM over simulated time, how long B's
  passes over its file take, and whom the OOM killer picks.
* the limits themselves: the presets the chapter compares.
"""

import errno
import signal
from dataclasses import dataclass, field
from functools import lru_cache

from .._abi import (GiB, KiB, MAP_ANONYMOUS, MAP_LOCKED, MAP_PRIVATE, MAP_SHARED, MCL_CURRENT,
                    MCL_FUTURE, MCL_ONFAULT, MiB, MLOCK_ONFAULT, PAGE_SIZE, PROT_READ,
                    RLIM_INFINITY, RLIMIT_MEMLOCK)
from ..errors import EINVAL, Signal, error
from ..machine import Machine
from . import RW, allocated_uncached

KERNELS = ("2.6.37", "2.6.38", "6.18")
BUFFER_PAGES = 32              # the buffer every case starts with, at address a
ANON = MAP_PRIVATE | MAP_ANONYMOUS

# RLIMIT_MEMLOCK values the chapter compares: what each was, and who says so.
PRESETS = {
    "16 KiB": (16 * KiB, "RHEL 4 and 5 pam_limits, as Ted Ts'o says"),
    "64 KiB": (64 * KiB, "the kernel's default in 2.6.37 (MLOCK_LIMIT)"),
    "8 MiB": (8 * MiB, "the kernel's default since 5.16, and systemd's"),
    "unlimited": (RLIM_INFINITY, "Ubuntu in 2010, as Ted Ts'o says"),
}


def limit_text(limit):
    """An RLIMIT_MEMLOCK value as limits.conf and the chapter write it: 64 KiB, unlimited."""
    if limit == RLIM_INFINITY:
        return "unlimited"
    if limit == 0:
        return "0"
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} B"


def outcome(call, *args):
    """Run call(*args) and say how it ended: "ok", the errno's name, or the signal."""
    try:
        call(*args)
    except OSError as e:
        return errno.errorcode[e.errno]
    except Signal as e:
        return signal.Signals(e.signo).name
    return "ok"


# -- cases: calls on a buffer ------------------------------------------------------------

_FLAG_NAMES = {"mlockall": ((MCL_CURRENT, "MCL_CURRENT"), (MCL_FUTURE, "MCL_FUTURE"),
                            (MCL_ONFAULT, "MCL_ONFAULT")),
               "mlock2": ((MLOCK_ONFAULT, "MLOCK_ONFAULT"),),
               "mmap": ((MAP_LOCKED, "MAP_LOCKED"),)}
_CALLS = ("mlock", "munlock", "mlock2", "munmap", "mlockall", "mmap")


def _flags_text(name, flags):
    known = [n for bit, n in _FLAG_NAMES[name] if flags & bit]
    rest = flags & ~sum(bit for bit, _ in _FLAG_NAMES[name])
    return "|".join(known + ([f"{rest:#x}"] if rest else [])) or "0"


def _pages(n):
    return f"{n} page" if n == 1 else f"{n} pages"


def call_text(call):
    """One call of a case as the chapter prints it: mlock(a + 8 pages, 4 pages);
    mmap(32 pages, MAP_LOCKED) for a new private anonymous mapping."""
    name, *args = call
    if name == "mlockall":
        return f"mlockall({_flags_text(name, args[0])})"
    if name == "mmap":
        extra = f", {_flags_text(name, args[1])}" if args[1] else ""
        return f"mmap({_pages(args[0])}{extra})"
    off, n = args[0], args[1]
    where = "a" if off == 0 else f"a + {_pages(off)}"
    tail = f", {_flags_text(name, args[2])}" if name == "mlock2" else ""
    return f"{name}({where}, {_pages(n)}{tail})"


def _run_call(p, a, call):
    name, *args = call
    if name == "mlockall":
        return p.mlockall(args[0])
    if name == "mmap":
        return p.mmap(0, args[0] * PAGE_SIZE, RW, ANON | args[1])
    start, length = a + args[0] * PAGE_SIZE, args[1] * PAGE_SIZE
    if name == "mlock2":
        return p.mlock2(start, length, args[2])
    return getattr(p, name)(start, length)


def check_calls(calls):
    """Refuse a malformed sequence of calls with EINVAL, naming what is wrong."""
    if not calls:
        raise error(EINVAL, "a case needs at least one call")
    for call in calls:
        if not call or call[0] not in _CALLS:
            raise error(EINVAL, f"each call is one of {_CALLS} with its arguments, not {call!r}")
        want = {"mlockall": 2, "mmap": 3, "mlock2": 4}.get(call[0], 3)
        if len(call) != want or not all(isinstance(x, int) and x >= 0 for x in call[1:]):
            raise error(EINVAL, f"{call[0]} takes {want - 1} whole numbers, not {call[1:]!r}")


@dataclass(frozen=True)
class Case:
    """A sequence of calls by a process with RLIMIT_MEMLOCK limit (soft and hard), on a
    buffer a of BUFFER_PAGES private anonymous pages (mapped, nothing touched).

    calls: ("mlock", offset, pages), ("munlock", offset, pages), ("munmap",
    offset, pages), ("mlock2", offset, pages, flags), ("mlockall", flags),
    ("mmap", pages, flags): a new anonymous mapping with those mmap flags.
    Offsets and lengths are in pages.
    """

    syscall: str            # the call whose checks the case is about
    check: str              # the check, in words
    limit: int              # bytes, or RLIM_INFINITY
    calls: tuple
    caps: frozenset = frozenset()

    def text(self):
        """The calls, as the chapter prints them."""
        return "; ".join(call_text(c) for c in self.calls)


P16 = 16 * PAGE_SIZE       # 64 KiB: 2.6.37's default, 16 pages

# One case per check, in the order each call makes them (mm/mlock.c, mm/mmap.c).
CASES = (
    Case("mlock", "limit 0", 0, (("mlock", 0, 1),)),
    Case("mlock", "limit 0, unmapped address", 0, (("mlock", 64, 1),)),
    Case("mlock", "over the limit", P16, (("mlock", 0, 17),)),
    Case("mlock", "locked pages counted twice?", P16, (("mlock", 0, 8), ("mlock", 0, 16))),
    Case("mlock", "a hole in the range", P16, (("munmap", 8, 1), ("mlock", 0, 16))),
    Case("mlock2", "exists? (Linux 4.4)", P16, (("mlock2", 0, 8, MLOCK_ONFAULT),)),
    Case("mlock2", "unknown flag, limit 0", 0, (("mlock2", 0, 1, 2),)),
    Case("mlock2", "limit 0", 0, (("mlock2", 0, 1, 0),)),
    Case("mlock2", "over the limit", P16, (("mlock2", 0, 17, 0),)),
    Case("mlockall", "no flag, limit 0", 0, (("mlockall", 0),)),
    Case("mlockall", "MCL_ONFAULT alone", P16, (("mlockall", MCL_ONFAULT),)),
    Case("mlockall", "limit 0", 0, (("mlockall", MCL_FUTURE),)),
    Case("mlockall", "MCL_CURRENT over the limit", P16, (("mlockall", MCL_CURRENT),)),
    Case("mlockall", "MCL_FUTURE, mmap over it", P16, (("mlockall", MCL_FUTURE), ("mmap", 32, 0))),
    Case("mmap", "MAP_LOCKED, limit 0", 0, (("mmap", 1, MAP_LOCKED),)),
    Case("mmap", "MAP_LOCKED over the limit", P16, (("mmap", 32, MAP_LOCKED),)),
    Case("any", "CAP_IPC_LOCK, limit 0", 0,
         (("mlock", 0, 32), ("mmap", 32, MAP_LOCKED)), frozenset({"CAP_IPC_LOCK"})),
)


def run_case(kernel, limit, calls, caps=()):
    """Run calls in order on a fresh machine; stop at the first that fails.

    The process is spawned with RLIMIT_MEMLOCK (limit, limit) and caps, and
    maps the buffer a first. Return what the last call run returned ("ok"
    or the errno's name), how many calls ran, and afterwards VmLck (kB)
    and per VMA in address order its first page (counted from a), Size,
    Rss and Locked (kB; None on 2.6.37, whose smaps has no Locked line).
    Results are cached: the same case on the same kernel runs once.
    """
    calls = tuple(tuple(c) for c in calls)
    check_calls(calls)
    return _run_case(kernel, limit, calls, frozenset(caps))


@lru_cache(maxsize=1024)
def _run_case(kernel, limit, calls, caps):
    m = Machine(kernel=kernel, ram=GiB, profile="2010")
    p = m.spawn(memlock=(limit, limit), caps=set(caps))
    a = p.mmap(0, BUFFER_PAGES * PAGE_SIZE, RW, ANON)
    result, ran = "ok", 0
    for call in calls:
        ran += 1
        result = outcome(_run_call, p, a, call)
        if result != "ok":
            break
    vmas = [{"start_page": (v["start"] - a) // PAGE_SIZE, "Size": v["Size"], "Rss": v["Rss"],
             "Locked": v.get("Locked")} for v in p.smaps()]
    return {"kernel": kernel, "result": result, "ran": ran, "VmLck": p.status()["VmLck"],
            "vmas": vmas}


def errno_rows(cases=CASES, kernels=KERNELS):
    """Table rows: the call, the check, the limit, the calls, then per kernel the
    result and VmLck in kB afterwards ("ENOMEM, 32")."""
    rows = []
    for c in cases:
        cells = [f"{r['result']}, {r['VmLck']}"
                 for r in (run_case(k, c.limit, c.calls, c.caps) for k in kernels)]
        rows.append((c.syscall, c.check, limit_text(c.limit), c.text(), *cells))
    return rows


# -- the DoS -------------------------------------------------------------------------------

@dataclass
class DosRun:
    """What user A's mlock did to user B, over simulated time."""

    kernel: str
    limit: int                    # A's soft RLIMIT_MEMLOCK in bytes, RLIM_INFINITY if unlimited
    lock: int                     # bytes A's processes asked to lock, in all
    lockers: int                  # A's processes
    locked: int                   # bytes A's processes hold locked at the end
    lock_errors: list             # per locker: "" or what its first mlock returned
    lock_at: float                # simulated time A started locking
    victim: int                   # B's pid
    owners: dict                  # pid -> "A" or "B"
    passes: list                  # B's passes over its file: t, seconds, majflt
    oom_kills: list               # (t, pid, rss kB) per OOM kill, as m.oom_kills
    victim_killed_at: float = None
    timeline: list = field(default_factory=list, repr=False)

    @property
    def killed(self):
        """The owners of the processes the OOM killer killed, in order."""
        return [self.owners[pid] for _, pid, _ in self.oom_kills]


def _lock_all_allowed(p, size):
    """mlock size bytes of a new anonymous mapping; on ENOMEM, lock what the limit allows.

    Return "" if the first mlock worked, else what it returned ("SIGKILL"
    if the OOM killer chose p meanwhile).
    """
    y = p.mmap(0, size, RW, ANON)
    first = outcome(p.mlock, y, size)
    if first == "ENOMEM":
        allowed = p.getrlimit(RLIMIT_MEMLOCK)[0] // PAGE_SIZE * PAGE_SIZE
        if 0 < allowed < size:
            outcome(p.mlock, y, allowed)
    return "" if first == "ok" else first


@lru_cache(maxsize=256)
def dos_run(kernel="2.6.37", memlock=RLIM_INFINITY, lock=768 * MiB, lockers=1, ram=GiB,
            file_size=512 * MiB, heap=0, passes=6, lock_before=2, gap=1.0, sample=0.1,
            profile="2010"):
    """User B reads its file passes times; before pass lock_before, user A locks.

    B (the kernel's default limit) has a file_size file on ext4, written and
    not cached, mapped shared and read-only for the whole run, and heap
    bytes of anonymous memory it has written (its own working set; no swap
    is configured, so that cannot be evicted). Each pass touches every page
    of the file, then B sleeps gap seconds. A runs lockers processes with
    RLIMIT_MEMLOCK memlock (bytes for soft and hard, or a (soft, hard)
    tuple; RLIM_INFINITY: unlimited), each mlocking lock / lockers bytes of
    anonymous memory; one refused with ENOMEM locks what its limit allows.
    RLIMIT_MEMLOCK is per process: lockers processes lock lockers times
    the limit. The timeline is sampled every sample seconds, per process.
    Runs are cached by their arguments: treat the DosRun returned as read-only.
    """
    if lockers < 1 or lock < 0 or not 0 <= lock_before <= passes:
        raise error(EINVAL, "lockers must be at least 1, lock at least 0, lock_before in 0..passes")
    memlock = memlock if isinstance(memlock, tuple) else (memlock, memlock)
    m = Machine(kernel=kernel, ram=ram, profile=profile)
    m.mkfs("/data", fs="ext4", size=file_size + 64 * MiB)
    b = m.spawn()
    fd = allocated_uncached(m, b, "/data/db", file_size)
    x = b.mmap(0, file_size, PROT_READ, MAP_SHARED, fd, 0)
    if heap:
        h = b.mmap(0, heap, RW, ANON)
        b.touch(h, heap, write=True)
    owners, lockers_run = {b.pid: "B"}, []
    m.record_timeline(sample, procs=True)
    run = DosRun(kernel, memlock[0], lock, lockers, 0, [], None, b.pid, owners, [], [])
    each = lock // lockers // PAGE_SIZE * PAGE_SIZE
    for i in range(passes + 1):
        if i == lock_before:
            run.lock_at = m.now
            for _ in range(lockers):
                a = m.spawn(memlock=memlock)
                owners[a.pid] = "A"
                lockers_run.append(a)
                run.lock_errors.append(_lock_all_allowed(a, each) if each else "")
            run.locked = sum(a.status()["VmLck"] * KiB for a in lockers_run if a.alive)
        if i == passes or not b.alive:
            break
        t0, maj = m.now, b.getrusage().ru_majflt
        try:
            b.touch(x, file_size)
        except Signal:
            break
        run.passes.append({"t": t0, "seconds": m.now - t0,
                           "majflt": b.getrusage().ru_majflt - maj})
        m.sleep(gap)
    m.sleep(gap)
    run.oom_kills = list(m.oom_kills)
    if not b.alive:
        run.victim_killed_at = next(t for t, pid, _ in m.oom_kills if pid == b.pid)
    run.timeline = m.timeline
    return run


def after_lock(run):
    """B's passes that began once A had locked."""
    return [p for p in run.passes if p["t"] >= run.lock_at]


def reread_seconds(run):
    """B's first pass after A locked, in simulated seconds (None if B did not get there)."""
    after = after_lock(run)
    return after[0]["seconds"] if after else None


def dos_summary(run):
    """One line on a dos_run: A's limit and what it locks, then B's next pass or B's end."""
    head = (f"{run.kernel}: A's limit {limit_text(run.limit)}, A locks {limit_text(run.locked)}; ")
    if run.victim_killed_at is not None:
        return head + f"the OOM killer killed B at {run.victim_killed_at:.3f} s"
    after = reread_seconds(run)
    return head + ("B made no pass after it" if after is None else
                   f"B's next pass {after:.3f} s simulated")


def dos_rows(runs):
    """Table rows, one per dos_run of runs ({label: run}): A's limit, what A's mlock
    returned first, what A holds locked (as limit_text writes it), then B's passes
    before and after A locked (simulated seconds) and the major faults of its first
    pass after."""
    rows = []
    for label, r in runs.items():
        before = [p for p in r.passes if p["t"] < r.lock_at]
        after = after_lock(r)
        rows.append((label, r.lock_errors[0] or "ok", limit_text(r.locked),
                     " ".join(f"{p['seconds']:.3f}" for p in before),
                     " ".join(f"{p['seconds']:.3f}" for p in after),
                     after[0]["majflt"] if after else "-"))
    return rows


def oom_rows(runs):
    """Table rows, one per dos_run of runs ({lockers: run}): A's processes, MiB each
    asked to lock, what A holds locked at the end, then each OOM kill (whose process,
    its RSS in MiB, when) and whether B is still alive."""
    rows = []
    for n, r in runs.items():
        kills = "; ".join(f"{r.owners[pid]} (pid {pid}, RSS {kb // 1024} MiB) at {t:.3f} s"
                          for t, pid, kb in r.oom_kills) or "none"
        rows.append((n, r.lock // n // MiB, limit_text(r.locked), kills,
                     "killed" if r.victim_killed_at is not None else "alive"))
    return rows


# The case behind Ted's 16k: four pages lock, a fifth one does not.
CRYPTO = Case("mlock", "16 KiB: four pages, then one more", 16 * KiB,
              (("mlock", 0, 4), ("mlock", 4, 1)))


def claims_rows(runs, kernel="2.6.37"):
    """The thread's claims (Ted Ts'o, Fri 19 Nov 2010, 16:22) against simulated numbers.

    runs maps PRESETS labels to their dos_run; the 16k claim is CRYPTO run on kernel.
    """
    crypto = run_case(kernel, CRYPTO.limit, CRYPTO.calls)

    def effect(r):
        after = after_lock(r)
        return (f"A locks {limit_text(r.locked)}; B's next pass {after[0]['seconds']:.3f} s, "
                f"{after[0]['majflt']} major faults")
    ted = "Ted, 19 Nov 16:22"
    return [
        (ted, "RHEL 4/5: unprivileged mlock() of at most 16k",
         f"mlock of 4 pages ok, a 5th page {crypto['result']}; VmLck {crypto['VmLck']} kB"),
        (ted, "16k is enough to protect crypto keys",
         f"16 KiB = {16 * KiB // PAGE_SIZE} pages of {PAGE_SIZE} bytes"),
        (ted, "unprivileged users grab too much with mlock", effect(runs["unlimited"])),
        (ted, "Ubuntu's unlimited memlock: open to a DoS",
         f"B's pass {after_lock(runs['unlimited'])[0]['seconds']:.3f} s instead of "
         f"{after_lock(runs['16 KiB'])[0]['seconds']:.3f} s with 16 KiB"),
        (ted, "fix: a small change to limits.conf",
         "; ".join(f"{k}: A locks {limit_text(r.locked)}" for k, r in runs.items()
                   if k != "unlimited")),
    ]


__all__ = ["BUFFER_PAGES", "CASES", "CRYPTO", "Case", "DosRun", "KERNELS", "PRESETS",
           "after_lock", "call_text", "check_calls", "claims_rows", "dos_rows", "dos_run",
           "dos_summary",
           "errno_rows", "limit_text", "oom_rows", "outcome", "reread_seconds", "run_case"]
